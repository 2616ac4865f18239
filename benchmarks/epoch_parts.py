"""Where a fused group's epoch goes: the two matrix products against everything else.

    .venv/bin/python benchmarks/epoch_parts.py          # 32 trials, 2 epochs, 1 thread

One fused group of 32 trials (batch 256, the chapter's split) trains as a worker of a
sweep trains it: one thread, MXNet's engine with one worker thread. MXNet's profiler
sums each training operator's time; the evaluation of the validation and test sets is
timed around its calls, the profiler paused; the loop's own Python time is the main
thread's CPU time. Figures per group epoch, after one warm-up run.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MXNET_CPU_WORKER_NTHREADS", "1")

PARTS = {
    "products (stacked_dense, forward and weight gradient)": (
        "stacked_dense",
        "_backward_stacked_dense",
    ),
    "loss, accuracy and their gradient (stacked_xent)": (
        "stacked_xent",
        "_backward_stacked_xent",
    ),
    "batch gather (gather_pixels)": ("gather_pixels",),
    "update (stacked_sgd)": ("stacked_sgd",),
}


def main(trials: int = 32, epochs: int = 2) -> None:
    from softmax_exp.config import TrainConfig
    from softmax_exp.data import load_dataset
    from softmax_exp.device import resolve_context
    from softmax_exp.mxnet_compat import load_mxnet
    from softmax_exp.split import split_dataset
    from softmax_exp.training import TrainHooks, _GroupTrainer, train_group

    mx = load_mxnet()
    configs = [TrainConfig(epochs=epochs, lr=0.01 * (k + 1)) for k in range(trials)]
    split = split_dataset(load_dataset(), configs[0])
    ctx = resolve_context("cpu")
    train_group(configs, split, ctx, TrainHooks())  # warm-up: kernels, graphs, caches
    evaluating = [0.0]
    evaluate = _GroupTrainer._evaluate

    def timed_evaluate(self, part):  # apart: the profiler sums the training's operators
        mx.nd.waitall()
        mx.profiler.pause()
        started = time.perf_counter()
        found = evaluate(self, part)  # reads its results back: synchronous
        evaluating[0] += time.perf_counter() - started
        mx.profiler.resume()
        return found

    _GroupTrainer._evaluate = timed_evaluate
    # a file of its own: MXNet's profiler replaces its file, and os.devnull replaced would
    # leave the machine without a /dev/null
    handle, trace = tempfile.mkstemp(suffix=".json")
    os.close(handle)
    mx.profiler.set_config(profile_all=True, aggregate_stats=True, filename=trace)
    mx.profiler.set_state("run")
    started, cpu = time.perf_counter(), time.thread_time()
    train_group(configs, split, ctx, TrainHooks())
    mx.nd.waitall()
    wall, python = time.perf_counter() - started, time.thread_time() - cpu
    mx.profiler.set_state("stop")
    ops = json.loads(mx.profiler.dumps(reset=True, format="json"))["Time"]["operator"]
    os.unlink(trace)
    parts = {
        name: sum(ops[op]["Total"] for op in names if op in ops) / 1e3 / epochs
        for name, names in PARTS.items()
    }
    parts["evaluation of the validation and test sets (all its operators)"] = evaluating[0] / epochs
    print(f"{trials} trials, {epochs} epochs on 1 thread: {wall / epochs:.3f} s a group epoch")
    for name, seconds in parts.items():
        print(f"  {name:<66} {seconds:6.3f} s  {seconds / (wall / epochs):4.0%}")
    print(
        f"  {'the loop Python thread: CPU time (beside the kernels thread)':<66} "
        f"{python / epochs:6.3f} s"
    )


if __name__ == "__main__":
    main()
