"""Sweeps: expand a sweep file into trials, run them on an executor, record results.

Importing this package is cheap (the names below resolve on first use), so that what
reads a sweep file (sweep.spec) loads neither the runner nor the trainer behind it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .executors import Executor, ProcessExecutor, SerialExecutor, make_executor
    from .expand import Trial, grid_points, random_points
    from .jobs import Job, plan_jobs
    from .runner import run_sweep
    from .spec import SweepSpec, load_sweep_spec, parse_sweep
    from .state import SweepObserver, SweepRun, TrialRecord
    from .sweepers import Sweeper, expand, make_sweeper

_EXPORTS = {
    "Executor": "executors",
    "ProcessExecutor": "executors",
    "SerialExecutor": "executors",
    "make_executor": "executors",
    "Trial": "expand",
    "grid_points": "expand",
    "random_points": "expand",
    "Job": "jobs",
    "plan_jobs": "jobs",
    "run_sweep": "runner",
    "SweepSpec": "spec",
    "load_sweep_spec": "spec",
    "parse_sweep": "spec",
    "SweepObserver": "state",
    "SweepRun": "state",
    "TrialRecord": "state",
    "Sweeper": "sweepers",
    "expand": "sweepers",
    "make_sweeper": "sweepers",
}
__all__ = [
    "Executor",
    "Job",
    "ProcessExecutor",
    "SerialExecutor",
    "SweepObserver",
    "SweepRun",
    "SweepSpec",
    "Sweeper",
    "Trial",
    "TrialRecord",
    "expand",
    "grid_points",
    "load_sweep_spec",
    "make_executor",
    "make_sweeper",
    "parse_sweep",
    "plan_jobs",
    "random_points",
    "run_sweep",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'softmax_exp.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
