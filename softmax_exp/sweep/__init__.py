"""Sweeps: expand a sweep file into trials, run them on an executor, record results."""

from .executors import Executor, ProcessExecutor, SerialExecutor, make_executor
from .expand import Trial, grid_points, random_points
from .jobs import Job, plan_jobs
from .runner import SweepObserver, SweepRun, TrialRecord, run_sweep
from .spec import SweepSpec, load_sweep_spec, parse_sweep
from .sweepers import Sweeper, expand, make_sweeper

__all__ = [
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "make_executor",
    "Trial",
    "expand",
    "grid_points",
    "random_points",
    "Job",
    "plan_jobs",
    "SweepObserver",
    "SweepRun",
    "TrialRecord",
    "run_sweep",
    "SweepSpec",
    "load_sweep_spec",
    "parse_sweep",
    "Sweeper",
    "make_sweeper",
]
