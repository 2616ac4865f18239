"""softmax-exp benchmark suite: one process tree, one sitting, figures as ratios.

    .venv/bin/python benchmarks/run.py            # about 5 minutes on 2 cores

Measures, side by side: the chapter-style training loop against ours (same
config), a 12-trial learning-rate x weight-decay sweep fused and unfused against
a one-trial sweep (in a process that has imported MXNet and loaded the data,
and as whole `softmax sweep` commands), start-up of `softmax --help`, loading
the decoded dataset from the cache, the peak RSS of a chapter-config
`softmax train`, `softmax report` of a 100-trial sweep, the fused loop's useful
GFLOPS against numpy's sgemm of the same shape, and peak RSS and the driver's cost
per event of random sweeps of 100 and 1,000 trials (with --scale also 10,000 trials
x 1 epoch, 1,000 x 10 epochs, and Ray's object-store put of the dataset). Prints
one table with the targets of the performance issues. Timings on a shared machine are
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
from typing import Optional

from softmax_exp.mxnet_compat import load_mxnet

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
    if mode == "gflops_2":  # two processes of their own
        return measure_gflops_side_by_side(Path(tmp))
    from softmax_exp.data import load_dataset
    from softmax_exp.mxnet_compat import load_mxnet

    load_mxnet()

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
        return {
            "seconds": clock.ended - clock.started,
            "with_setup_s": seconds,
            "test_acc": outcomes[0].history[-1].test_acc,
        }
    if mode == "gflops":
        return measure_gflops(dataset)
    if mode.startswith("scale:"):
        _, trials, epochs = mode.split(":")
        return measure_scale(Path(tmp), int(trials), int(epochs))
    if mode == "ray_put":
        return measure_ray_put(dataset)
    from softmax_exp.sweep import ProcessExecutor, SerialExecutor, run_sweep

    _, spec, fuse, workers = mode.split(":")
    workers = int(workers)
    executor = SerialExecutor() if workers == 1 else ProcessExecutor(workers)
    out = Path(tmp) / f"{mode.replace(':', '-')}-{time.time_ns()}"
    seconds, _ = timed(
        run_sweep,
        Path(tmp) / spec,
        out=out,
        executor=executor,
        fuse=fuse == "fuse",
        argv=["bench"],
        workers=workers,
    )
    return {"seconds": seconds}


FUSED_TRIALS = 32  # MAX_FUSED: a full group


def measure_gflops(dataset, trials: int = FUSED_TRIALS, epochs: int = 3) -> dict:
    """Useful arithmetic of the fused loop: the model's own multiply-adds, forward and
    weight gradient, 2 x 2 x images x 784 x 10 per trial and epoch, per second of the
    training loop (padding, evaluation and everything else is overhead). Also MXNet's
    FullyConnected (oneDNN) for the stacked forward, in this process, for reference:
    MXNet runs it on half the CPUs unless OMP_NUM_THREADS says otherwise."""
    mx = load_mxnet()
    import numpy as np

    from softmax_exp.config import TrainConfig
    from softmax_exp.device import resolve_context
    from softmax_exp.split import split_dataset
    from softmax_exp.training import train_group

    configs = [
        TrainConfig(epochs=epochs, lr=0.01 * (k + 1), val_fraction=0.1) for k in range(trials)
    ]
    split = split_dataset(dataset, configs[0])
    clock = LoopClock()
    train_group(configs, split, resolve_context("cpu"), clock)
    seconds = clock.ended - clock.started
    images = len(split.train_labels)
    useful = trials * epochs * images * 784 * 10 * 2 * 2 / seconds / 1e9
    rng = np.random.default_rng(0)
    x = mx.nd.array(rng.random((256, 784), dtype=np.float32))
    w = mx.nd.array(rng.random((10 * trials, 784), dtype=np.float32))
    out = mx.nd.zeros((256, 10 * trials))
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(200):
            mx.nd.FullyConnected(x, w, no_bias=True, num_hidden=10 * trials, out=out)
        mx.nd.waitall()
        best = min(best, (time.perf_counter() - started) / 200)
    return {
        "seconds": seconds,
        "useful_gflops": useful,
        "mxnet_fc_gflops": 2 * 256 * 784 * 10 * trials / best / 1e9,
    }


def openblas_core() -> str:
    """The OpenBLAS kernel for this CPU. numpy's OpenBLAS does not recognise every CPU
    model (this VM's "Intel Xeon Processor" is taken for a Prescott, SSE3: 55 against
    230 GFLOPS), so it is named from the CPU's flags; "" where none fits."""
    try:
        flags = set(
            next(
                line
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("flags")
            )
            .partition(":")[2]
            .split()
        )
    except (OSError, StopIteration):
        return ""
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "SkylakeX"
    return "Haswell" if {"avx2", "fma"} <= flags else ""


SGEMM = """
import json, time
import numpy as np
rng = np.random.default_rng(0)
def rate(m, k, n):
    a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(100):
            a @ b
        best = min(best, (time.perf_counter() - started) / 100)
    return best
# the fused loop's two products for a full group: scores (256 x 784 x 320) and
# weight gradient (784 x 256 x 320)
seconds = rate(256, 784, %d) + rate(784, 256, %d)
print(json.dumps(2 * 2 * 256 * 784 * %d / seconds / 1e9))
"""


def measure_sgemm() -> dict:
    """numpy's sgemm of the fused shapes, in fresh processes without MXNet (whose
    OpenMP threads would compete with OpenBLAS's): with OpenBLAS's kernel for this CPU,
    and as numpy picks it."""
    rates = {
        "numpy": sgemm_rate(openblas_core()),
        "numpy_1_thread": sgemm_rate(openblas_core(), threads=1),
        "numpy_as_detected": sgemm_rate(""),
    }
    return {"sgemm_gflops": rates["numpy"], "sgemm_by": rates, "openblas_core": openblas_core()}


def sgemm_rate(core: str, threads: Optional[int] = None) -> float:
    """GFLOPS of numpy's sgemm of a full group's two products, in a fresh process:
    OpenBLAS's kernel `core` ("": as numpy detects it), on `threads` threads (None: as
    many as OpenBLAS takes)."""
    width = 10 * FUSED_TRIALS
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    if core:
        env["OPENBLAS_CORETYPE"] = core
    if threads:
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(threads)
    done = subprocess.run(
        [sys.executable, "-c", SGEMM % (width, width, width)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return float(done.stdout.strip().splitlines()[-1])


def measure_gflops_side_by_side(tmp: Path, processes: int = 2) -> dict:
    """The fused loop as a sweep of several groups runs it: one group per process, one
    thread each, all at once; the useful GFLOPS of all of them together."""
    runs = [
        subprocess.Popen(
            [sys.executable, __file__, "--measure", "gflops", "--tmp", str(tmp)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    found = [json.loads(run.communicate()[0].strip().splitlines()[-1]) for run in runs]
    return {"useful_gflops": sum(f["useful_gflops"] for f in found), "processes": processes}


def measure_scale(tmp: Path, trials: int, epochs: int) -> dict:
    """A random sweep of `trials` x `epochs` (batch 256, fused, the default executor: its
    groups side by side on worker processes, one per core), driven from this process
    (MXNet imported and the data loaded before the clock): wall time, peak RSS of the
    driver, and the driver's own time per kind of event (writing each trial's files and
    the sweep tables), from the sweep's event handler. benchmarks/sweeps.py times whole
    commands, with the workers' memory."""
    from softmax_exp.sweep import make_executor, run_sweep
    from softmax_exp.sweep.runner import _Driver

    spec = tmp / f"scale-{trials}x{epochs}.yaml"
    spec.write_text(
        f"base: {{epochs: {epochs}}}\nrandom:\n  trials: {trials}\n  space:\n"
        "    lr: {loguniform: [0.001, 1.0]}\n"
        "    weight_decay: {loguniform: [0.000001, 0.01]}\n"
    )
    driver: dict = {}
    handle = _Driver.handle

    def timed_handle(self, event):
        started = time.perf_counter()
        handle(self, event)
        kind = type(event).__name__
        seconds, count = driver.get(kind, (0.0, 0))
        driver[kind] = (seconds + time.perf_counter() - started, count + 1)

    _Driver.handle = timed_handle
    seconds, _ = timed(
        run_sweep,
        spec,
        out=tmp / f"scale-{trials}x{epochs}-{time.time_ns()}",
        executor=make_executor("local"),
        argv=["bench"],
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": seconds,
        "peak_rss_mb": peak,
        "trials": trials,
        "epochs": epochs,
        "driver": {kind: {"seconds": s, "events": n} for kind, (s, n) in driver.items()},
    }


def measure_ray_put(dataset) -> dict:
    """Ray's object store, on a local instance of our own: put the dataset once, and get
    it back in a task (what each node's first task does). Start-up is reported apart."""
    from softmax_exp.sweep import ray_cluster

    started = time.perf_counter()
    ray = ray_cluster.connect(None, False)
    start_s = time.perf_counter() - started
    try:
        put_s, ref = timed(ray.put, dataset)
        size = sum(
            getattr(dataset, name).nbytes
            for name in ("train_images", "train_labels", "test_images", "test_labels")
        )

        @ray.remote
        def touch(data):
            return int(data.train_labels[:10].sum())

        ray.get(touch.remote(ref))  # a worker started, its first task done
        get_s, _ = timed(ray.get, touch.remote(ref))
    finally:
        ray.shutdown()
    return {"start_s": start_s, "put_s": put_s, "task_get_s": get_s, "bytes": size}


def bench_scale(tmp: Path, scale: bool) -> dict:
    """Random sweeps of growing size, each in a fresh process: 100 and 1,000 trials x 1
    epoch; with `scale` (minutes) also 10,000 x 1, 1,000 x 10 and the Ray put."""
    sizes = [(100, 1), (1000, 1)] + ([(10000, 1), (1000, 10)] if scale else [])
    found = {f"{t}x{e}": in_subprocess(f"scale:{t}:{e}", tmp) for t, e in sizes}
    if scale:
        found["ray_put"] = in_subprocess("ray_put", tmp)
    return found


MXNET_OPS = "mxnet-ops/"  # mode prefix: train with MXNet's operators, not the fused kernels


def in_subprocess(mode: str, tmp: Path) -> dict:
    env = dict(os.environ)
    if mode.startswith(MXNET_OPS):
        mode, env["SOFTMAX_EXP_KERNELS"] = mode[len(MXNET_OPS) :], "mxnet"
    if mode == "sgemm":
        return measure_sgemm()
    if mode.startswith("command:"):  # the whole `softmax sweep` command, start-up included
        spec = mode.split(":")[1]
        out = tmp / f"command-{time.time_ns()}"
        args = [
            sys.executable,
            "-m",
            "softmax_exp_cli",
            "sweep",
            str(tmp / spec),
            "--out",
            str(out),
            "--quiet",
            "--no-report",
        ]
        return {"seconds": command_seconds(args, 1)[0]}
    done = subprocess.run(
        [sys.executable, __file__, "--measure", mode, "--tmp", str(tmp)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_rounds(tmp: Path, rounds: int) -> dict:
    """Every measurement in a fresh process, the kinds interleaved round by round, so
    that a slow minute on a shared machine hits all of them alike."""
    (tmp / "grid.yaml").write_text(GRID)
    (tmp / "one.yaml").write_text(ONE)
    modes = {
        "chapter": "chapter",
        "ours": "ours",
        "one": "sweep:one.yaml:fuse:1",
        "fused": "sweep:grid.yaml:fuse:1",
        "fused_j2": "sweep:grid.yaml:fuse:2",
        "unfused": "sweep:grid.yaml:nofuse:1",
        "command_one": "command:one.yaml",
        "command_fused": "command:grid.yaml",
        "gflops": "gflops",
        "gflops_2": "gflops_2",
        "sgemm": "sgemm",
        "one_mxnet": f"{MXNET_OPS}sweep:one.yaml:fuse:1",
        "fused_mxnet": f"{MXNET_OPS}sweep:grid.yaml:fuse:1",
    }
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
    load = (
        "import time; from softmax_exp.data import load_dataset; t = time.perf_counter(); "
        "load_dataset(); print(time.perf_counter() - t)"
    )
    loads = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-c", load], check=True, capture_output=True, text=True
        )
        loads.append(float(done.stdout.strip()))
    return {"help_s": command_seconds([*softmax, "--help"], repeats), "data_load_s": loads}


def bench_report(tmp: Path, repeats: int) -> dict:
    """`softmax report` of a made-up 100-trial, 10-epoch sweep (start-up included; no
    best.params, so no per-class evaluation), and the size of the page."""
    sys.path.insert(0, str(ROOT / "tests"))
    from helpers import write_fake_sweep

    sweep = write_fake_sweep(
        tmp / "report-sweep",
        trials=100,
        epochs=10,
        statuses=("completed", "completed", "pruned", "diverged"),
    )
    args = [sys.executable, "-m", "softmax_exp_cli", "report", str(sweep)]
    return {
        "seconds": command_seconds(args, repeats),
        "bytes": (sweep / "report.html").stat().st_size,
    }


def bench_rss(tmp: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(
        [sys.executable, "-m", "softmax_exp_cli", "train", "--quiet", "--out", str(tmp / "rss")],
        check=True,
        capture_output=True,
    )
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
        (
            "softmax train loop, 10 epochs",
            f"{ours:.2f} s",
            f"{samples / ours:,.0f}/s",
            f"1/{chapter / ours:.1f} of chapter (target <= 1/8): "
            f"{'PASS' if ours * 8 <= chapter else 'FAIL'}",
        ),
        (
            "  with net and trainer set-up",
            f"{med(x['with_setup_s'] for x in r['runs']['ours']):.2f} s",
            "",
            f"1/{chapter / med(x['with_setup_s'] for x in r['runs']['ours']):.1f} of chapter",
        ),
        (
            "  test acc chapter / ours",
            f"{r['runs']['chapter'][0]['test_acc']:.4f} / {r['runs']['ours'][0]['test_acc']:.4f}",
            "",
            "",
        ),
        ("sweep, 1 trial", f"{one:.2f} s", "", ""),
        ("sweep, 12 trials fused", f"{seconds('fused'):.2f} s", "", versus_one("fused")),
        (
            "sweep, 12 trials fused, -j 2",
            f"{seconds('fused_j2'):.2f} s",
            "",
            versus_one("fused_j2"),
        ),
        ("sweep, 1 trial, MXNet's operators", f"{seconds('one_mxnet'):.2f} s", "", ""),
        (
            "sweep, 12 trials fused, MXNet's operators",
            f"{seconds('fused_mxnet'):.2f} s",
            "",
            f"{seconds('fused_mxnet') / seconds('one_mxnet'):.2f}x its one trial; the fused "
            f"kernels are {seconds('fused_mxnet') / seconds('fused'):.2f}x faster",
        ),
        (
            "sweep, 12 trials --no-fuse",
            f"{seconds('unfused'):.2f} s",
            "",
            f"{seconds('unfused') / one:.1f}x one trial; fusing is "
            f"{seconds('unfused') / seconds('fused'):.1f}x faster",
        ),
        ("command, 1 trial (start-up included)", f"{seconds('command_one'):.2f} s", "", ""),
        (
            "command, 12 trials fused",
            f"{seconds('command_fused'):.2f} s",
            "",
            f"{seconds('command_fused') / seconds('command_one'):.2f}x the 1-trial command",
        ),
        (
            "softmax --help",
            f"{med(r['startup']['help_s']):.3f} s",
            "",
            f"target < 0.5 s: {'PASS' if med(r['startup']['help_s']) < 0.5 else 'FAIL'}",
        ),
        (
            "load decoded dataset (cache)",
            f"{med(r['startup']['data_load_s']):.3f} s",
            "",
            f"target < 0.3 s: {'PASS' if med(r['startup']['data_load_s']) < 0.3 else 'FAIL'}",
        ),
        (
            "peak RSS, softmax train",
            f"{r['rss']['train_peak_rss_mb']:.0f} MB",
            "",
            f"target <= 450 MB: {'PASS' if r['rss']['train_peak_rss_mb'] <= 450 else 'FAIL'}",
        ),
        *gflops_rows(r["runs"]),
        *scale_rows(r["scale"], med(x["sgemm_gflops"] for x in r["runs"]["sgemm"])),
        (
            "softmax report, 100 trials x 10 epochs",
            f"{med(r['report']['seconds']):.2f} s",
            f"{r['report']['bytes'] / 1e6:.1f} MB",
            f"target < 3 s: {'PASS' if med(r['report']['seconds']) < 3 else 'FAIL'}",
        ),
    ]


def gflops_rows(runs: dict) -> list:
    """Useful GFLOPS of the fused loop and numpy's sgemm, measured one after the other in
    each round; the ratio is the median of the rounds' ratios."""
    med = statistics.median
    useful = [x["useful_gflops"] for x in runs["gflops"]]
    useful_2 = [x["useful_gflops"] for x in runs["gflops_2"]]
    sgemm = [x["sgemm_gflops"] for x in runs["sgemm"]]
    sgemm_1 = [x["sgemm_by"]["numpy_1_thread"] for x in runs["sgemm"]]
    ratio = med(u / s for u, s in zip(useful_2, sgemm))
    core = runs["sgemm"][0]["openblas_core"] or "as detected"
    return [
        (
            f"fused loop, {FUSED_TRIALS} trials, 1 thread: useful GFLOPS",
            f"{med(useful):.0f} GFLOPS",
            f"sgemm {med(sgemm_1):.0f}",
            f"{med(u / s for u, s in zip(useful, sgemm_1)):.0%} of numpy's 1-thread sgemm",
        ),
        (
            f"fused loop, 2 groups of {FUSED_TRIALS} side by side (1 thread each)",
            f"{med(useful_2):.0f} GFLOPS",
            f"sgemm {med(sgemm):.0f}",
            f"{ratio:.0%} of numpy's 2-thread sgemm for that shape (target >= 80%): "
            f"{'PASS' if ratio >= 0.8 else 'FAIL'}",
        ),
        (
            "  sgemm: numpy as detected, MXNet FC",
            "",
            f"{med(x['sgemm_by']['numpy_as_detected'] for x in runs['sgemm']):.0f}, "
            f"{med(x['mxnet_fc_gflops'] for x in runs['gflops']):.0f}",
            f"numpy above with OPENBLAS_CORETYPE={core}",
        ),
    ]


def scale_rows(scale: dict, sgemm_gflops: float) -> list:
    """The sweeps of growing size; the 1,000 x 10 one also as a multiple of the time its
    products alone take at numpy's 2-thread sgemm rate, measured in this sitting."""
    rows = []
    for name, found in scale.items():
        if name == "ray_put":
            continue
        trials, epochs = found["trials"], found["epochs"]
        driver = found["driver"]
        per_event = sum(d["seconds"] for d in driver.values()) / max(
            1, sum(d["events"] for d in driver.values())
        )
        verdict = f"driver {per_event * 1e3:.2f} ms/event"
        if (trials, epochs) == (1000, 10):
            products = trials * epochs * 54_000 * 784 * 10 * 2 * 2 / (sgemm_gflops * 1e9)
            verdict += (
                f"; {found['seconds'] / products:.2f}x the 2-thread sgemm time of its "
                f"products ({products:.0f} s), {products / found['seconds']:.0%} of that rate"
            )
        rows.append(
            (
                f"sweep, {trials:,} trials x {epochs} epoch{'s' if epochs > 1 else ''}",
                f"{found['seconds']:.1f} s",
                f"{found['peak_rss_mb']:.0f} MB",
                f"{verdict}; RSS target < 600 MB: "
                f"{'PASS' if found['peak_rss_mb'] < 600 else 'FAIL'}",
            )
        )
    if "ray_put" in scale:
        ray = scale["ray_put"]
        rows.append(
            (
                "Ray: put the dataset / a task gets it",
                f"{ray['put_s']:.3f} s",
                f"{ray['task_get_s']:.3f} s",
                f"{ray['bytes'] / 1e6:.0f} MB; local instance started in {ray['start_s']:.1f} s",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each kind")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument(
        "--scale",
        action="store_true",
        help="also 10,000 trials x 1 epoch, 1,000 x 10 epochs and Ray's "
        "object store (about 10 minutes more)",
    )
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
        results["scale"] = bench_scale(Path(tmp), args.scale)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    rows = report(results)
    width = max(len(r[0]) for r in rows)
    for name, seconds, rate, verdict in rows:
        print(f"{name:<{width}}  {seconds:>16}  {rate:>12}  {verdict}")


if __name__ == "__main__":
    main()
