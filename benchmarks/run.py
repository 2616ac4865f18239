"""softmax-exp benchmark suite: one process tree, one sitting, figures as ratios.

    .venv/bin/python benchmarks/run.py            # about 5 minutes on 2 cores

Measures, side by side: the chapter-style training loop against ours (same
config), a 12-trial learning-rate x weight-decay sweep fused and unfused against
a one-trial sweep (in a process that has imported MXNet and loaded the data,
and as whole `softmax sweep` commands), start-up of `softmax --help`, loading
the decoded dataset from the cache, and the peak RSS of a chapter-config
`softmax train`, and `softmax report` of a 100-trial sweep. Prints one
table with the targets of the performance issue. Timings on a shared machine are
noisy: every measurement runs in a fresh process, the kinds are interleaved
round by round, and each figure is the median of its rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

GRID = """\
grid:
  lr: [0.03, 0.1, 0.3, 1.0]
  weight_decay: [0.0, 0.0001, 0.001]
"""
ONE = "grid:\n  lr: [0.1]\n"


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


class LoopClock:
    """Train hooks that note when the first epoch starts and the last trial ends."""

    def __init__(self):
        from softmax_exp.training import TrainHooks

        self.hooks = TrainHooks()
        self.started = self.ended = None

    def __getattr__(self, name):
        return getattr(self.hooks, name)

    def epoch_started(self, epoch, num_batches):
        if self.started is None:
            self.started = time.perf_counter()

    def trial_ended(self, index, outcome):
        self.ended = time.perf_counter()


def measure(mode: str, tmp: str) -> dict:
    """One measurement, in this (fresh) process. Prints nothing; returns figures.

    MXNet is imported and the data loaded before the clock starts: start-up is
    measured on its own, and would otherwise flatter the slower side of a ratio.
    """
    import mxnet  # noqa: F401

    from softmax_exp.data import load_dataset

    dataset = load_dataset()
    if mode == "chapter":
        from chapter_loop import chapter_train

        seconds, (_, history) = timed(chapter_train, dataset)
        return {"seconds": seconds, "test_acc": history[-1][3]}
    if mode == "ours":
        from softmax_exp.config import TrainConfig
        from softmax_exp.device import resolve_context
        from softmax_exp.split import split_dataset
        from softmax_exp.training import train_group

        config = TrainConfig()
        split, ctx = split_dataset(dataset, config), resolve_context("cpu")
        clock = LoopClock()
        seconds, outcomes = timed(train_group, [config], split, ctx, clock)
        # The same region as the chapter loop's clock: from the first batch to the end of
        # the last epoch's evaluation; building the net and the trainer is reported apart.
        return {"seconds": clock.ended - clock.started, "with_setup_s": seconds,
                "test_acc": outcomes[0].history[-1].test_acc}
    if mode == "gflops":
        return measure_gflops(dataset)
    from softmax_exp.sweep import ProcessExecutor, SerialExecutor, run_sweep

    _, spec, fuse, workers = mode.split(":")
    workers = int(workers)
    executor = SerialExecutor() if workers == 1 else ProcessExecutor(workers)
    out = Path(tmp) / f"{mode.replace(':', '-')}-{time.time_ns()}"
    seconds, _ = timed(run_sweep, Path(tmp) / spec, out=out, executor=executor,
                       fuse=fuse == "fuse", argv=["bench"], workers=workers)
    return {"seconds": seconds}


def measure_gflops(dataset, trials: int = 32, epochs: int = 3) -> dict:
    """Useful arithmetic of the fused loop against the machine's sgemm, side by side.

    Useful: the model's own multiply-adds, forward and weight gradient, 2 x 2 x images x
    784 x 10 per trial and epoch (padding, evaluation and everything else is overhead).
    The rate to compare with is the machine's sgemm for the same stacked shape (batch 256
    x 784 times 784 x 10 K), the better of numpy's (OpenBLAS) and MXNet's FullyConnected
    (oneDNN), in the same process, seconds apart.
    """
    import mxnet as mx
    import numpy as np

    from softmax_exp.config import TrainConfig
    from softmax_exp.device import resolve_context
    from softmax_exp.split import split_dataset
    from softmax_exp.training import train_group

    configs = [TrainConfig(epochs=epochs, lr=0.01 * (k + 1), val_fraction=0.1)
               for k in range(trials)]
    split = split_dataset(dataset, configs[0])
    clock = LoopClock()
    train_group(configs, split, resolve_context("cpu"), clock)
    seconds = clock.ended - clock.started
    images = len(split.train_labels)
    useful = trials * epochs * images * 784 * 10 * 2 * 2 / seconds / 1e9
    rng = np.random.default_rng(0)
    x = rng.random((256, 784), dtype=np.float32)
    w = rng.random((784, 10 * trials), dtype=np.float32)
    x_nd, w_nd = mx.nd.array(x), mx.nd.array(w.T)
    out = mx.nd.zeros((256, 10 * trials))
    products = {"numpy": lambda: x @ w,
                "mxnet": lambda: mx.nd.FullyConnected(x_nd, w_nd, no_bias=True,
                                                      num_hidden=10 * trials, out=out)}
    rates = {}
    for name, product in products.items():
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(200):
                product()
            mx.nd.waitall()
            best = min(best, (time.perf_counter() - started) / 200)
        rates[name] = 2 * 256 * 784 * 10 * trials / best / 1e9
    return {"seconds": seconds, "useful_gflops": useful,
            "sgemm_gflops": max(rates.values()), "sgemm_by": rates}


def bench_scale(tmp: Path) -> dict:
    """A 1,000-trial random sweep of 10 epochs (batch 256) as one command: wall time and
    peak RSS (minutes; only with --scale)."""
    (tmp / "scale.yaml").write_text("base: {epochs: 10}\nrandom:\n  trials: 1000\n  space:\n"
                                    "    lr: {loguniform: [0.001, 1.0]}\n"
                                    "    weight_decay: {loguniform: [0.000001, 0.01]}\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    seconds = command_seconds([sys.executable, "-m", "softmax_exp_cli",
                               "sweep", str(tmp / "scale.yaml"), "--out", str(tmp / "scale"),
                               "--quiet", "--no-report"], 1)[0]
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": seconds, "peak_rss_mb": max(before, after) / 1024}


MXNET_OPS = "mxnet-ops/"  # mode prefix: train with MXNet's operators, not the fused kernels


def in_subprocess(mode: str, tmp: Path) -> dict:
    env = dict(os.environ)
    if mode.startswith(MXNET_OPS):
        mode, env["SOFTMAX_EXP_KERNELS"] = mode[len(MXNET_OPS):], "mxnet"
    if mode.startswith("command:"):  # the whole `softmax sweep` command, start-up included
        spec = mode.split(":")[1]
        out = tmp / f"command-{time.time_ns()}"
        args = [sys.executable, "-m", "softmax_exp_cli", "sweep",
                str(tmp / spec), "--out", str(out), "--quiet", "--no-report"]
        return {"seconds": command_seconds(args, 1)[0]}
    done = subprocess.run([sys.executable, __file__, "--measure", mode, "--tmp", str(tmp)],
                          check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_rounds(tmp: Path, rounds: int) -> dict:
    """Every measurement in a fresh process, the kinds interleaved round by round, so
    that a slow minute on a shared machine hits all of them alike."""
    (tmp / "grid.yaml").write_text(GRID)
    (tmp / "one.yaml").write_text(ONE)
    modes = {"chapter": "chapter", "ours": "ours", "one": "sweep:one.yaml:fuse:1",
             "fused": "sweep:grid.yaml:fuse:1", "fused_j2": "sweep:grid.yaml:fuse:2",
             "unfused": "sweep:grid.yaml:nofuse:1", "command_one": "command:one.yaml",
             "command_fused": "command:grid.yaml",
             "gflops": "gflops",
             "one_mxnet": f"{MXNET_OPS}sweep:one.yaml:fuse:1",
             "fused_mxnet": f"{MXNET_OPS}sweep:grid.yaml:fuse:1"}
    results: dict = {name: [] for name in modes}
    for round_number in range(rounds):
        for name, mode in modes.items():
            if name == "unfused" and round_number > 0:
                continue  # 40 s a go, and only an illustration
            results[name].append(in_subprocess(mode, tmp))
    return results


def command_seconds(args: list[str], repeats: int) -> list[float]:
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        runs.append(time.perf_counter() - started)
    return runs


def bench_startup(repeats: int) -> dict:
    softmax = [sys.executable, "-m", "softmax_exp_cli"]
    load = ("import time; from softmax_exp.data import load_dataset; t = time.perf_counter(); "
            "load_dataset(); print(time.perf_counter() - t)")
    loads = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", load], check=True, capture_output=True,
                              text=True)
        loads.append(float(done.stdout.strip()))
    return {"help_s": command_seconds([*softmax, "--help"], repeats), "data_load_s": loads}


def bench_report(tmp: Path, repeats: int) -> dict:
    """`softmax report` of a made-up 100-trial, 10-epoch sweep (start-up included; no
    best.params, so no per-class evaluation), and the size of the page."""
    sys.path.insert(0, str(ROOT / "tests"))
    from helpers import write_fake_sweep

    sweep = write_fake_sweep(tmp / "report-sweep", trials=100, epochs=10,
                             statuses=("completed", "completed", "pruned", "diverged"))
    args = [sys.executable, "-m", "softmax_exp_cli", "report", str(sweep)]
    return {"seconds": command_seconds(args, repeats),
            "bytes": (sweep / "report.html").stat().st_size}


def bench_rss(tmp: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-m", "softmax_exp_cli", "train",
                    "--quiet", "--out", str(tmp / "rss")], check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"train_peak_rss_mb": max(before, after) / 1024}


def report(r: dict) -> list[tuple]:
    med = statistics.median

    def seconds(name):
        return med(x["seconds"] for x in r["runs"][name])

    chapter, ours, one = seconds("chapter"), seconds("ours"), seconds("one")
    samples = 60000 * 10

    def versus_one(name):
        ratio = seconds(name) / one
        return f"{ratio:.2f}x one trial (target <= 3x): {'PASS' if ratio <= 3 else 'FAIL'}"

    return [
        ("chapter-style loop, 10 epochs", f"{chapter:.2f} s", f"{samples / chapter:,.0f}/s", ""),
        ("softmax train loop, 10 epochs", f"{ours:.2f} s", f"{samples / ours:,.0f}/s",
         f"1/{chapter / ours:.1f} of chapter (target <= 1/8): "
         f"{'PASS' if ours * 8 <= chapter else 'FAIL'}"),
        ("  with net and trainer set-up",
         f"{med(x['with_setup_s'] for x in r['runs']['ours']):.2f} s", "",
         f"1/{chapter / med(x['with_setup_s'] for x in r['runs']['ours']):.1f} of chapter"),
        ("  test acc chapter / ours",
         f"{r['runs']['chapter'][0]['test_acc']:.4f} / {r['runs']['ours'][0]['test_acc']:.4f}",
         "", ""),
        ("sweep, 1 trial", f"{one:.2f} s", "", ""),
        ("sweep, 12 trials fused", f"{seconds('fused'):.2f} s", "", versus_one("fused")),
        ("sweep, 12 trials fused, -j 2", f"{seconds('fused_j2'):.2f} s", "",
         versus_one("fused_j2")),
        ("sweep, 1 trial, MXNet's operators", f"{seconds('one_mxnet'):.2f} s", "", ""),
        ("sweep, 12 trials fused, MXNet's operators", f"{seconds('fused_mxnet'):.2f} s", "",
         f"{seconds('fused_mxnet') / seconds('one_mxnet'):.2f}x its one trial; the fused "
         f"kernels are {seconds('fused_mxnet') / seconds('fused'):.2f}x faster"),
        ("sweep, 12 trials --no-fuse", f"{seconds('unfused'):.2f} s", "",
         f"{seconds('unfused') / one:.1f}x one trial; fusing is "
         f"{seconds('unfused') / seconds('fused'):.1f}x faster"),
        ("command, 1 trial (start-up included)", f"{seconds('command_one'):.2f} s", "", ""),
        ("command, 12 trials fused", f"{seconds('command_fused'):.2f} s", "",
         f"{seconds('command_fused') / seconds('command_one'):.2f}x the 1-trial command"),
        ("softmax --help", f"{med(r['startup']['help_s']):.3f} s", "",
         f"target < 0.5 s: {'PASS' if med(r['startup']['help_s']) < 0.5 else 'FAIL'}"),
        ("load decoded dataset (cache)", f"{med(r['startup']['data_load_s']):.3f} s", "",
         f"target < 0.3 s: {'PASS' if med(r['startup']['data_load_s']) < 0.3 else 'FAIL'}"),
        ("peak RSS, softmax train", f"{r['rss']['train_peak_rss_mb']:.0f} MB", "",
         f"target <= 450 MB: {'PASS' if r['rss']['train_peak_rss_mb'] <= 450 else 'FAIL'}"),
        gflops_row(r["runs"]["gflops"]),
        *scale_rows(r.get("scale")),
        ("softmax report, 100 trials x 10 epochs", f"{med(r['report']['seconds']):.2f} s",
         f"{r['report']['bytes'] / 1e6:.1f} MB",
         f"target < 3 s: {'PASS' if med(r['report']['seconds']) < 3 else 'FAIL'}"),
    ]


def gflops_row(runs: list) -> tuple:
    med = statistics.median
    useful, sgemm = med(x["useful_gflops"] for x in runs), med(x["sgemm_gflops"] for x in runs)
    return ("fused loop, 32 trials: useful GFLOPS", f"{useful:.0f} GFLOPS",
            f"sgemm {sgemm:.0f}", f"{useful / sgemm:.0%} of the sgemm rate for that shape "
            f"(target >= 80%): {'PASS' if useful >= 0.8 * sgemm else 'FAIL'}")


def scale_rows(scale) -> list:
    if not scale:
        return []
    return [("sweep, 1,000 trials x 10 epochs (command)", f"{scale['seconds']:.1f} s", "",
             f"target <= 90 s: {'PASS' if scale['seconds'] <= 90 else 'FAIL'}"),
            ("  its peak RSS", f"{scale['peak_rss_mb']:.0f} MB", "",
             f"target < 600 MB: {'PASS' if scale['peak_rss_mb'] < 600 else 'FAIL'}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each kind")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--scale", action="store_true",
                        help="also run a 1,000-trial x 10-epoch sweep (minutes)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: one measurement
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.tmp)))
        return

    from softmax_exp.data import load_dataset

    load_dataset()  # build the decoded cache and the kernels before anything is timed
    subprocess.run([sys.executable, "-m", "softmax_exp.kernels"], check=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["startup"] = bench_startup(5)
        results["rss"] = bench_rss(Path(tmp))
        results["report"] = bench_report(Path(tmp), 3)
        results["runs"] = bench_rounds(Path(tmp), args.rounds)
        if args.scale:
            results["scale"] = bench_scale(Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    rows = report(results)
    width = max(len(r[0]) for r in rows)
    for name, seconds, rate, verdict in rows:
        print(f"{name:<{width}}  {seconds:>16}  {rate:>12}  {verdict}")


if __name__ == "__main__":
    main()
