"""Sweeps: expand a sweep file into trials, run them on an executor, record results.

Importing this package is cheap: the runner, the executors and the sweepers (and the
trainer behind them) load on first use of their names, so that what reads a sweep file
(sweep.spec, the report) loads none of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Loaded now, light as they are (the spec, the config). Were `expand` loaded later,
# Python would bind the package's name `expand` to that module, over the function below.
from .expand import Trial, grid_points, random_points
from .spec import SweepSpec, load_sweep_spec, parse_sweep

if TYPE_CHECKING:
    from .executors import Executor, ProcessExecutor, SerialExecutor, make_executor
    from .jobs import Job, plan_jobs
    from .runner import run_sweep
    from .state import SweepObserver, SweepRun, TrialRecord
    from .sweepers import Sweeper, make_sweeper

_LAZY = {
    "Executor": "executors",
    "ProcessExecutor": "executors",
    "SerialExecutor": "executors",
    "make_executor": "executors",
    "Job": "jobs",
    "plan_jobs": "jobs",
    "run_sweep": "runner",
    "SweepObserver": "state",
    "SweepRun": "state",
    "TrialRecord": "state",
    "Sweeper": "sweepers",
    "make_sweeper": "sweepers",
}


def expand(spec: SweepSpec) -> list[Trial]:
    """The trials a sweep file knows up front, validated, in a stable order; none for a
    TPE sweep (`sweepers.expand`)."""
    from .sweepers import expand as known_trials

    return known_trials(spec)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'softmax_exp.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)


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
