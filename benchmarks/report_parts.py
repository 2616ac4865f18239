"""What building report.html costs, part by part, on made-up sweeps of many trials
(tests/helpers.py's write_fake_sweep, plus a run.json per trial as a real sweep has).

    python benchmarks/report_parts.py --trials 100 1000 10000 --epochs 1 10

Prints one JSON line per sweep: seconds per part (each part's calls summed; the parts
are the functions build_report and write_report call, wrapped while it runs), the
whole write_report, and the page's size. Run it against another checkout of the code
with PYTHONPATH=that/checkout to compare commits.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

# (module, function): what is timed, where build_report looks it up.
PARTS = [
    ("softmax_exp.report", "read_source"),
    ("softmax_exp.report", "param_importances"),
    ("softmax_exp.report", "what_ran"),
    ("softmax_exp.report", "leaderboard"),
    ("softmax_exp.report", "trial_card"),
    ("softmax_exp.report", "trial_cards"),
    ("softmax_exp.report.figures", "learning_curves"),
    ("softmax_exp.report.figures", "parallel_coordinates"),
    ("softmax_exp.report.figures", "slices"),
    ("softmax_exp.report.figures", "test_curves"),
    ("softmax_exp.report.page", "spec_json"),
    ("softmax_exp.report.page", "Page.html"),
]
STATUSES = ("completed", "completed", "completed", "pruned", "diverged")


def write_run_files(sweep: Path) -> None:
    """A run.json in each trial's directory, as a sweep leaves them."""
    import pandas as pd

    for row in pd.read_csv(sweep / "trials.csv").itertuples():
        directory = sweep / str(row.path)
        directory.mkdir(parents=True, exist_ok=True)
        info = {
            "id": row.trial_id,
            "status": row.status,
            "context": "cpu(0)",
            "kernels": "native",
            "versions": {"python": "3.11", "mxnet": "1.9.1", "softmax-exp": "0.1.0"},
            "host": "bench",
            "started_at": "2026-12-07T00:00:00",
            "ended_at": "2026-12-07T00:10:00",
            "wall_seconds": 0.5,
        }
        (directory / "run.json").write_text(json.dumps(info))


def wrap(totals: dict[str, float]) -> None:
    import importlib

    for module_name, name in PARTS:
        owner = importlib.import_module(module_name)
        attribute = name
        if "." in name:
            class_name, attribute = name.split(".")
            owner = getattr(owner, class_name)
        original = getattr(owner, attribute, None)
        if original is None:
            continue

        def timed(*args, _original=original, _name=name, **kwargs):
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                totals[_name] = totals.get(_name, 0.0) + time.perf_counter() - start

        setattr(owner, attribute, timed)


def measure(tmp: Path, trials: int, epochs: int) -> dict:
    import softmax_exp.report as report
    from helpers import write_fake_sweep

    sweep = write_fake_sweep(
        tmp / f"sweep-{trials}x{epochs}", trials=trials, epochs=epochs, statuses=STATUSES
    )
    write_run_files(sweep)
    totals: dict[str, float] = {}
    wrap(totals)
    start = time.perf_counter()
    page = report.write_report([sweep], evaluate=False)
    whole = time.perf_counter() - start
    return {
        "trials": trials,
        "epochs": epochs,
        "write_report_s": round(whole, 3),
        "parts_s": {k: round(v, 3) for k, v in totals.items()},
        "page_mb": round(page.stat().st_size / 1e6, 2),
        "page": str(page),
        "code": str(Path(report.__file__).parent),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--tmp", type=Path, help="keep the sweeps and pages here")
    args = parser.parse_args()
    tmp = args.tmp or Path(tempfile.mkdtemp(prefix="report-parts-"))
    import subprocess

    for trials in args.trials:
        for epochs in args.epochs:
            # one process per sweep: each wraps the functions once, on a fresh import
            code = (
                "import sys, json; sys.argv = ['x'];"
                f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r});"
                "from report_parts import measure; from pathlib import Path;"
                f"print(json.dumps(measure(Path({str(tmp)!r}), {trials}, {epochs})))"
            )
            done = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=False
            )
            if done.returncode:
                sys.exit(done.stderr)
            print(done.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
