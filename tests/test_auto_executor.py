"""The local default executor: which launches go to worker processes (one per core),
and that they give the same tables as this process does."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from helpers import FUSED_ATOL, kernels_in_use, pid_recording_worker, tables
from softmax_exp.sweep import (
    SerialExecutor,
    SweepObserver,
    executors,
    expand,
    jobs,
    load_sweep_spec,
    plan_jobs,
    run_sweep,
)
from softmax_exp.sweep.executors import AutoExecutor, make_executor

TWO_GROUPS = """\
base: {epochs: 2, train_subset: 2000, batch_size: 100}
grid:
  lr: [0.05, 0.5]
  batch_size: [100, 200]
"""


class Notes(SweepObserver):
    def __init__(self):
        self.said = []

    def note(self, message):
        self.said.append(message)


def open_configs(name: str) -> str:
    return (Path(__file__).parent.parent / "configs" / name).read_text()


def jobs_of(tmp_path, text, **options):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    spec = load_sweep_spec(path)
    return plan_jobs(expand(spec), fuse=True, prune=spec.prune, **options)


def full_data(epochs: int, trials: int = 64) -> str:
    """A random sweep on the whole training set: 32 trials a fused group."""
    return (
        f"base: {{epochs: {epochs}}}\nrandom:\n  trials: {trials}\n"
        "  space: {lr: {loguniform: [0.01, 1.0]}}\n"
    )


def test_several_jobs_with_work_enough_go_to_one_process_per_core(tmp_path):
    jobs = jobs_of(tmp_path, full_data(epochs=20))
    assert len(jobs) == 2
    assert AutoExecutor(cores=2).in_parallel(jobs)
    assert (
        AutoExecutor(cores=2)
        .describe(jobs)
        .startswith("2 fused groups side by side on 2 worker processes")
    )


@pytest.mark.parametrize(
    "text, cores, why",
    [
        (full_data(epochs=100, trials=32), 2, "one job"),
        (full_data(epochs=20), 1, "one core"),
        (full_data(epochs=10), 2, "less work than starting a worker costs"),
        (open_configs("grid.yaml"), 2, "the grid's 3 groups take as long either way"),
        (full_data(epochs=20) + "prune: {method: median}\n", 2, "pruning depends on order"),
    ],
)
def test_other_launches_stay_in_this_process(tmp_path, text, cores, why):
    jobs = jobs_of(tmp_path, text)
    assert not AutoExecutor(cores=cores).in_parallel(jobs), why
    assert AutoExecutor(cores=cores).describe(jobs) == ""  # nothing said: this process


def test_a_jobs_cost_counts_its_minibatches_trials_and_epochs_left(tmp_path):
    (job,) = jobs_of(
        tmp_path,
        "base: {epochs: 3, train_subset: 1000, val_fraction: 0.2, batch_size: 128}\n"
        "grid: {lr: [0.1, 0.2]}\n",
    )
    # 800 training images: 7 minibatches of 128, each 2 trials at half a 256-batch, plus 8
    assert job.cost() == 3 * 7 * (2 * 0.5 + jobs.BATCH_OVERHEAD)
    assert job.__class__(job.number, job.trials, start_epoch=2).cost() == 7 * 9


def test_the_local_default_is_the_auto_executor_and_a_number_is_kept():
    assert isinstance(make_executor("local"), AutoExecutor)
    assert isinstance(make_executor("local", 1), SerialExecutor)
    assert make_executor("local", 2).name == "process"


@pytest.mark.e2e
def test_groups_side_by_side_give_this_process_tables(tmp_path, monkeypatch, real_dataset):
    """Two fused groups on two worker processes (the threshold lowered to fit a test):
    each job ran in a process of its own, not this one, and the tables are the bits a
    serial sweep writes."""
    monkeypatch.setattr(executors, "PARALLEL_MIN_COST", 0)
    monkeypatch.setenv("PID_DIR", str(tmp_path))
    spec = tmp_path / "s.yaml"
    spec.write_text(TWO_GROUPS)
    serial = run_sweep(spec, tmp_path / "serial", executor=SerialExecutor(), argv=["t"])
    auto = AutoExecutor(cores=2, worker=pid_recording_worker)
    notes = Notes()
    parallel = run_sweep(spec, tmp_path / "auto", executor=auto, argv=["t"], observer=notes)
    assert [n for n in notes.said if "worker processes" in n] == [
        "2 fused groups side by side on 2 worker processes, one per core "
        "(-j 1 trains them in this process)"
    ]
    pids = {p.read_text() for p in tmp_path.glob("job-*")}
    assert len(list(tmp_path.glob("job-*"))) == 2 and len(pids) == 2
    assert str(os.getpid()) not in pids
    atol = FUSED_ATOL[kernels_in_use()]
    for got, want in zip(tables(parallel.path), tables(serial.path)):
        pd.testing.assert_frame_equal(got, want, check_exact=atol == 0, atol=atol)
