"""Large sweeps as their users run them: the whole `softmax sweep` command, timed.

    .venv/bin/python benchmarks/sweeps.py                       # 1,000 x 10, this checkout
    .venv/bin/python benchmarks/sweeps.py --against ../old      # side by side with a checkout
    .venv/bin/python benchmarks/sweeps.py --sizes 1000x1 --report both --load both

Each run is a random sweep (batch 256, lr and weight decay log-uniform) of TRIALS x
EPOCHS, `softmax sweep FILE --quiet` in a fresh process tree, measured from outside:
wall time, peak RSS of the command's process (the driver) and of its whole process
tree (driver and workers, summed), the tree's peak proportional set size (which counts
the pages processes share, MXNet's library above all, once), and the driver's CPU
time. Runs are interleaved (every size, load, checkout and report setting in turn,
round after round), so that a slow minute on a shared machine hits all of them alike.
`--load busy` runs them while a process this script starts keeps one core busy (and
stops afterwards).

numpy's sgemm of the fused products (256 x 784 x 320 and its weight gradient) is
measured at 1 and 2 threads at the start and the end of the sitting: a sweep's useful
arithmetic (2 x 2 x images x 784 x 10 per trial and epoch) divided by the 2-thread rate
is the time its products alone would take; the table gives the sweep's rate as a share
of that. `--against DIR` runs DIR's code (another checkout of this repository, e.g.
`git worktree add ../old COMMIT`) with this checkout's Python environment.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

TRAIN_IMAGES = 54_000  # 60,000 less the default validation tenth
FLOP_PER_IMAGE = 784 * 10 * 2 * 2  # forward and weight gradient, per trial

SPEC = """\
name: bench-{trials}x{epochs}
base: {{epochs: {epochs}}}
random:
  trials: {trials}
  space:
    lr: {{loguniform: [0.001, 1.0]}}
    weight_decay: {{loguniform: [0.000001, 0.01]}}
"""


def sgemm_gflops(threads: int) -> float:
    """numpy's sgemm of the fused shapes (run.py's), OpenBLAS's kernel named for this
    CPU, on `threads` threads."""
    from run import openblas_core, sgemm_rate

    return sgemm_rate(openblas_core(), threads)


def code_env(checkout: Path, shims: Path) -> dict:
    """The environment that runs `checkout`'s library and CLI with this Python."""
    env = dict(os.environ)
    if checkout.resolve() == ROOT:
        return env
    shim = shims / checkout.name
    shim.mkdir(parents=True, exist_ok=True)
    link = shim / "softmax_exp_cli"
    if not link.exists():
        link.symlink_to(checkout.resolve() / "cli")
    env["PYTHONPATH"] = os.pathsep.join([str(shim), str(checkout.resolve())])
    return env


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(x) for x in handle.read().split()]
    except OSError:
        pass
    return found


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _pss(pid: int) -> int:
    """Proportional set size: shared pages (MXNet's library in every worker) counted once
    over the processes that share them, not once per process as RSS counts them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def measure_command(args: list[str], env: dict, cwd: Path) -> dict:
    """Run `args`; wall seconds, peak RSS (MB) of the process and of its tree (sampled
    every 50 ms), its own CPU seconds, and the load average before and after."""
    load = os.getloadavg()
    started = time.perf_counter()
    process = subprocess.Popen(
        args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak_tree = peak_driver = peak_pss = polls = 0
    cpu = 0.0
    while process.poll() is None:
        pids, tree = [process.pid], []
        while pids:
            pid = pids.pop()
            tree.append(pid)
            pids += _children(pid)
        sizes = [_rss(pid) for pid in tree]
        peak_tree, peak_driver = max(peak_tree, sum(sizes)), max(peak_driver, sizes[0])
        if polls % 10 == 0:  # the kernel walks every page for it: twice a second
            peak_pss = max(peak_pss, sum(_pss(pid) for pid in tree))
        polls += 1
        cpu = _cpu_seconds(process.pid) or cpu
        time.sleep(0.05)
    wall = time.perf_counter() - started
    errors = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({process.returncode}): {errors[-400:]}")
    return {
        "seconds": wall,
        "peak_tree_mb": peak_tree / 2**20,
        "peak_driver_mb": peak_driver / 2**20,
        "peak_tree_pss_mb": peak_pss / 2**20,
        "driver_cpu_s": cpu,
        "load_before": load[0],
        "load_after": os.getloadavg()[0],
    }


class BusyCore:
    """A process that keeps one core busy while the block runs."""

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1)
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


def run_sitting(args, tmp: Path) -> dict:
    checkouts = [ROOT] + ([Path(args.against)] if args.against else [])
    reports = {"on": [True], "off": [False], "both": [True, False]}[args.report]
    loads = {"quiet": ["quiet"], "busy": ["busy"], "both": ["quiet", "busy"]}[args.load]
    results: dict = {"sgemm_start": {t: sgemm_gflops(t) for t in (1, 2)}, "runs": []}
    for round_number in range(args.rounds):
        for size in args.sizes:
            trials, epochs = (int(x) for x in size.split("x"))
            spec = tmp / f"bench-{size}.yaml"
            spec.write_text(SPEC.format(trials=trials, epochs=epochs))
            for load in loads:
                for checkout in checkouts:
                    for report in reports:
                        command = [sys.executable, "-m", "softmax_exp_cli", "sweep", str(spec)]
                        out = tmp / f"out-{time.time_ns()}"
                        command += ["--out", str(out), "--quiet"]
                        command += [] if report else ["--no-report"]
                        env = code_env(checkout, tmp / "shims")
                        if load == "busy":
                            with BusyCore():
                                found = measure_command(command, env, checkout)
                        else:
                            found = measure_command(command, env, checkout)
                        found.update(
                            size=size,
                            trials=trials,
                            epochs=epochs,
                            load=load,
                            code=str(checkout),
                            report=report,
                            round=round_number,
                            report_bytes=(out / "report.html").stat().st_size if report else 0,
                        )
                        results["runs"].append(found)
                        print(json.dumps(found), file=sys.stderr, flush=True)
    results["sgemm_end"] = {t: sgemm_gflops(t) for t in (1, 2)}
    return results


def table(results: dict) -> list[tuple]:
    """One row per size, load, checkout and report setting: medians over rounds."""
    sgemm2 = statistics.mean([results["sgemm_start"][2], results["sgemm_end"][2]])
    groups: dict = {}
    for run in results["runs"]:
        key = (run["size"], run["load"], run["code"], run["report"])
        groups.setdefault(key, []).append(run)
    rows = []
    for (size, load, code, report), runs in groups.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        trials, epochs = runs[0]["trials"], runs[0]["epochs"]
        products = trials * epochs * TRAIN_IMAGES * FLOP_PER_IMAGE / (sgemm2 * 1e9)
        rows.append(
            (
                size,
                load,
                Path(code).name,
                "report" if report else "--no-report",
                f"{seconds:.1f} s",
                f"{max(r['peak_tree_mb'] for r in runs):.0f} MB",
                f"{max(r.get('peak_tree_pss_mb', 0) for r in runs):.0f} MB",
                f"{max(r['peak_driver_mb'] for r in runs):.0f} MB",
                f"{statistics.median(r['driver_cpu_s'] for r in runs):.1f} s",
                f"{products / seconds:.0%}",
                f"{runs[0]['load_before']:.2f}/{runs[-1]['load_after']:.2f}",
            )
        )
    return rows


HEADER = (
    "size",
    "load",
    "code",
    "report",
    "wall",
    "peak tree",
    "tree PSS",
    "peak driver",
    "driver cpu",
    "of sgemm",
    "load avg",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000x10", help="TRIALSxEPOCHS, comma-separated")
    parser.add_argument("--against", help="another checkout of this repository to compare")
    parser.add_argument("--report", choices=("on", "off", "both"), default="on")
    parser.add_argument("--load", choices=("quiet", "busy", "both"), default="quiet")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    args.sizes = args.sizes.split(",")
    subprocess.run([sys.executable, "-m", "softmax_exp.kernels"], check=True)  # built first
    with tempfile.TemporaryDirectory() as tmp:
        results = run_sitting(args, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    sgemm = results["sgemm_start"]
    print(f"sgemm of the fused shapes: {sgemm[1]:.0f} GFLOPS on 1 thread, {sgemm[2]:.0f} on 2")
    rows = [HEADER, *table(results)]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(HEADER))]
    for row in rows:
        print("  ".join(f"{cell:<{width}}" for cell, width in zip(row, widths)))


if __name__ == "__main__":
    main()
