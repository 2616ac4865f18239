"""softmax-exp benchmark suite: one process tree, one sitting, figures as ratios.

    .venv/bin/python benchmarks/run.py            # about 3 minutes on 2 cores

Measures, side by side: the chapter-style training loop against ours (same
config), a 12-trial learning-rate x weight-decay sweep fused and unfused against
a one-trial sweep, start-up of `softmax --help`, loading the decoded dataset
from the cache, and the peak RSS of a chapter-config `softmax train`. Prints one
table with the targets of the performance issue. Timings on a shared machine are
noisy: every ratio divides two figures measured minutes apart in this run.
"""

from __future__ import annotations

import argparse
import json
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


def bench_training(dataset, repeats: int) -> dict:
    from chapter_loop import chapter_train

    from softmax_exp.config import TrainConfig
    from softmax_exp.device import resolve_context
    from softmax_exp.split import split_dataset
    from softmax_exp.training import train_group

    config = TrainConfig()
    split = split_dataset(dataset, config)
    ctx = resolve_context("cpu")
    train_group([TrainConfig(epochs=1)], split, ctx)  # warm-up: kernels, allocations
    ours, chapter = [], []
    for _ in range(repeats):
        seconds, outcomes = timed(train_group, [config], split, ctx)
        ours.append(seconds)
        seconds, (_, history) = timed(chapter_train, dataset)
        chapter.append(seconds)
    return {"chapter_s": chapter, "ours_s": ours,
            "ours_test_acc": outcomes[0].history[-1].test_acc,
            "chapter_test_acc": history[-1][3]}


def bench_sweeps(tmp: Path) -> dict:
    from softmax_exp.sweep import ProcessExecutor, SerialExecutor, run_sweep

    (tmp / "grid.yaml").write_text(GRID)
    (tmp / "one.yaml").write_text(ONE)
    times = {}
    for name, spec, fuse, workers in (("one", "one.yaml", True, 1),
                                      ("fused", "grid.yaml", True, 1),
                                      ("fused_j2", "grid.yaml", True, 2),
                                      ("unfused", "grid.yaml", False, 1),
                                      ("one_again", "one.yaml", True, 1)):
        executor = SerialExecutor() if workers == 1 else ProcessExecutor(workers)
        seconds, _ = timed(run_sweep, tmp / spec, out=tmp / name, executor=executor,
                           fuse=fuse, argv=["bench"], workers=workers)
        times[name] = seconds
    return times


def command_seconds(args: list[str], repeats: int) -> list[float]:
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        runs.append(time.perf_counter() - started)
    return runs


def bench_startup(repeats: int) -> dict:
    softmax = [sys.executable, "-c", "from cli.main import run; run()"]
    load = ("import time; from softmax_exp.data import load_dataset; t = time.perf_counter(); "
            "load_dataset(); print(time.perf_counter() - t)")
    loads = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", load], check=True, capture_output=True,
                              text=True)
        loads.append(float(done.stdout.strip()))
    return {"help_s": command_seconds([*softmax, "--help"], repeats), "data_load_s": loads}


def bench_rss(tmp: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-c", "from cli.main import run; run()", "train",
                    "--quiet", "--out", str(tmp / "rss")], check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"train_peak_rss_mb": max(before, after) / 1024}


def report(r: dict) -> list[tuple]:
    med = statistics.median
    chapter, ours = med(r["chapter_s"]), med(r["ours_s"])
    samples = 60000 * 10
    sweeps = r["sweeps"]
    one = min(sweeps["one"], sweeps["one_again"])
    rows = [
        ("chapter-style loop, 10 epochs", f"{chapter:.2f} s", f"{samples / chapter:,.0f}/s", ""),
        ("softmax train loop, 10 epochs", f"{ours:.2f} s", f"{samples / ours:,.0f}/s",
         f"1/{chapter / ours:.1f} of chapter (target <= 1/8): "
         f"{'PASS' if ours * 8 <= chapter else 'FAIL'}"),
        ("  test acc chapter / ours", f"{r['chapter_test_acc']:.4f} / {r['ours_test_acc']:.4f}",
         "", ""),
        ("sweep, 1 trial", f"{one:.2f} s", "", ""),
        ("sweep, 12 trials fused", f"{sweeps['fused']:.2f} s", "",
         f"{sweeps['fused'] / one:.2f}x one trial (target <= 3x): "
         f"{'PASS' if sweeps['fused'] <= 3 * one else 'FAIL'}"),
        ("sweep, 12 trials fused, -j 2", f"{sweeps['fused_j2']:.2f} s", "",
         f"{sweeps['fused_j2'] / one:.2f}x one trial (target <= 3x): "
         f"{'PASS' if sweeps['fused_j2'] <= 3 * one else 'FAIL'}"),
        ("sweep, 12 trials --no-fuse", f"{sweeps['unfused']:.2f} s", "",
         f"{sweeps['unfused'] / one:.2f}x one trial; fused is "
         f"{sweeps['unfused'] / sweeps['fused']:.1f}x faster"),
        ("softmax --help", f"{med(r['startup']['help_s']):.3f} s", "",
         f"target < 0.5 s: {'PASS' if med(r['startup']['help_s']) < 0.5 else 'FAIL'}"),
        ("load decoded dataset (cache)", f"{med(r['startup']['data_load_s']):.3f} s", "",
         f"target < 0.3 s: {'PASS' if med(r['startup']['data_load_s']) < 0.3 else 'FAIL'}"),
        ("peak RSS, softmax train", f"{r['rss']['train_peak_rss_mb']:.0f} MB", "",
         f"target <= 450 MB: {'PASS' if r['rss']['train_peak_rss_mb'] <= 450 else 'FAIL'}"),
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="training runs of each loop")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()

    from softmax_exp.data import load_dataset

    dataset = load_dataset()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["startup"] = bench_startup(5)
        results["rss"] = bench_rss(Path(tmp))
        results.update(bench_training(dataset, args.repeats))
        results["sweeps"] = bench_sweeps(Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    rows = report(results)
    width = max(len(r[0]) for r in rows)
    for name, seconds, rate, verdict in rows:
        print(f"{name:<{width}}  {seconds:>16}  {rate:>12}  {verdict}")


if __name__ == "__main__":
    main()
