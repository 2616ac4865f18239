"""The benchmarks run (their figures are not checked here: timing is for benchmarks,
never for tests), so that a change in the library does not break them unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a sweep measured in-process


def benchmark(script: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """benchmarks/`script` with `args`, run to its end without an error."""
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_the_scale_measurement_reports_memory_and_the_drivers_events(tmp_path, real_dataset):
    done = benchmark("run.py", "--measure", "scale:8:2", "--tmp", str(tmp_path), timeout=300)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert (found["trials"], found["epochs"]) == (8, 2) and found["peak_rss_mb"] > 0
    events = {kind: value["events"] for kind, value in found["driver"].items()}
    assert events["TrialStarted"] == events["TrialEnded"] == 8
    assert events["EpochEnded"] == 16


def test_the_sweep_command_benchmark_measures_each_setting(tmp_path, real_dataset):
    raw = tmp_path / "raw.json"
    done = benchmark("sweeps.py", "--sizes", "8x1", "--report", "both", "--json", str(raw))
    runs = json.loads(raw.read_text())["runs"]
    assert [run["report"] for run in runs] == [True, False]
    assert all(run["peak_tree_mb"] >= run["peak_driver_mb"] > 0 for run in runs)
    assert runs[0]["report_bytes"] > 4_000_000 and runs[1]["report_bytes"] == 0
    assert "8x1" in done.stdout and "--no-report" in done.stdout
