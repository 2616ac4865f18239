"""Running sweeps on the real dataset (small subsets keep each trial well under a second)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from helpers import FUSED_ATOL, SMALL_GRID, kernels_in_use, tables
from softmax_exp import records, training
from softmax_exp.errors import RunError
from softmax_exp.lock import DirectoryLock
from softmax_exp.summary import EPOCH_COLUMNS, TRIAL_COLUMNS
from softmax_exp.sweep import ProcessExecutor, SerialExecutor, SweepObserver, run_sweep
from softmax_exp.sweep.directory import SweepDirectoryTaken

pytestmark = pytest.mark.e2e


class Events(SweepObserver):
    def __init__(self):
        self.started, self.finished = [], []

    def trial_started(self, record):
        self.started.append(record.trial.id)

    def trial_finished(self, record):
        self.finished.append((record.trial.id, record.status))


def write_spec(tmp_path, text=SMALL_GRID, name="s.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def sweep(tmp_path, spec, **options):
    events = Events()
    result = run_sweep(spec, tmp_path / "out", observer=events, argv=["test"], **options)
    return result, events


@pytest.fixture(params=["serial", "fused-serial", pytest.param("process", marks=pytest.mark.slow)])
def executor_options(request):
    """The contract suite: every executor, fused or not, gives the same results."""
    return {
        "serial": {"executor": SerialExecutor(), "fuse": False},
        "fused-serial": {"executor": SerialExecutor(), "fuse": True},
        "process": {"executor": ProcessExecutor(2), "fuse": True, "workers": 2},
    }[request.param]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, real_dataset):
    tmp = tmp_path_factory.mktemp("reference")
    result, _ = sweep(tmp, write_spec(tmp), executor=SerialExecutor(), fuse=False)
    return tables(result.path)


def test_every_executor_gives_the_same_tables(tmp_path, executor_options, reference):
    result, events = sweep(tmp_path, write_spec(tmp_path), **executor_options)
    assert sorted(s for _, s in events.finished) == ["completed"] * 4
    trials, epochs = tables(result.path)
    atol = FUSED_ATOL[kernels_in_use()]  # exact on the fused kernels, whatever the threads
    pd.testing.assert_frame_equal(
        trials.drop(columns=["source"], errors="ignore"),
        reference[0],
        check_exact=atol == 0,
        atol=atol,
    )
    pd.testing.assert_frame_equal(epochs, reference[1], check_exact=atol == 0, atol=atol)


def test_csv_schemas_load_without_clean_up(tmp_path, real_dataset):
    result, _ = sweep(tmp_path, write_spec(tmp_path))
    trials = pd.read_csv(result.path / "trials.csv")
    epochs = pd.read_csv(result.path / "epochs.csv")
    assert list(trials.columns) == list(TRIAL_COLUMNS)
    assert list(epochs.columns) == list(EPOCH_COLUMNS)
    assert len(trials) == 4 and len(epochs) == 8
    for column in ("lr", "best_val_acc", "test_acc_at_best", "final_test_acc", "wall_seconds"):
        assert trials[column].dtype.kind == "f", column
    assert trials["best_epoch"].dtype.kind == "i"
    assert (trials["selected_on"] == "val_acc").all()
    files = {p.name for p in result.path.iterdir()}
    assert {"sweep.yaml", "commands.log", "trials.csv", "epochs.csv", "trials"} <= files
    assert (result.path / "commands.log").read_text().strip().endswith("test")


def test_selection_uses_validation_never_test(tmp_path, real_dataset):
    result, _ = sweep(tmp_path, write_spec(tmp_path))
    trials = pd.read_csv(result.path / "trials.csv")
    epochs = pd.read_csv(result.path / "epochs.csv")
    for _, trial in trials.iterrows():
        rows = epochs[epochs.trial_id == trial.trial_id]
        best = rows.loc[rows.val_acc.idxmax()]
        assert trial.best_epoch == best.epoch
        assert trial.test_acc_at_best == pytest.approx(best.test_acc)


def test_resume_skips_finished_and_reruns_the_rest(tmp_path, real_dataset):
    spec = write_spec(tmp_path)
    first, _ = sweep(tmp_path, spec)
    before = tables(first.path)
    victim = first.trials[2]
    import shutil

    shutil.rmtree(first.path / "trials" / victim.id)
    again, events = sweep(tmp_path, spec)
    assert events.started == [victim.id]
    assert again.skipped == 3
    after = tables(again.path)
    pd.testing.assert_frame_equal(before[0], after[0])
    pd.testing.assert_frame_equal(before[1], after[1])


@pytest.mark.slow  # three sweeps
def test_edited_grid_runs_only_new_points_and_restart_runs_all(tmp_path, real_dataset):
    spec = write_spec(tmp_path)
    sweep(tmp_path, spec)
    spec.write_text(SMALL_GRID.replace("[0.05, 0.5]", "[0.05, 0.5, 0.2]"))
    result, events = sweep(tmp_path, spec)
    assert len(events.started) == 2 and len(result.trials) == 6
    assert len(pd.read_csv(result.path / "trials.csv")) == 6
    _, events = sweep(tmp_path, spec, restart=True)
    assert len(events.started) == 6


def test_another_sweep_file_is_refused_unless_restarted(tmp_path, real_dataset):
    first = write_spec(tmp_path)
    sweep(tmp_path, first)
    before = {
        name: (tmp_path / "out" / name).read_bytes()
        for name in ("sweep.yaml", "trials.csv", "epochs.csv", ".lock")  # .lock: issue 26
    }
    other = write_spec(tmp_path, SMALL_GRID.replace("[0.05, 0.5]", "[0.1]"), "other.yaml")
    with pytest.raises(SweepDirectoryTaken) as refused:
        sweep(tmp_path, other)
    assert "holds sweep 's' (from" in str(refused.value) and "other.yaml" in str(refused.value)
    for name, content in before.items():
        assert (tmp_path / "out" / name).read_bytes() == content, name
    result, events = sweep(tmp_path, other, restart=True)
    assert len(events.started) == 2 and len(pd.read_csv(result.path / "trials.csv")) == 2
    with pytest.raises(SweepDirectoryTaken):  # the directory is other.yaml's now
        sweep(tmp_path, first)


def test_torn_metrics_or_run_json_means_run_again(tmp_path, real_dataset):
    spec = write_spec(tmp_path)
    first, _ = sweep(tmp_path, spec)
    a, b = first.trials[0], first.trials[1]
    metrics = first.path / "trials" / a.id / "metrics.csv"
    metrics.write_text(metrics.read_text()[:-20])
    (first.path / "trials" / b.id / "run.json").write_text('{"status": "compl')
    _, events = sweep(tmp_path, spec)
    assert sorted(events.started) == sorted([a.id, b.id])


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path, real_dataset, monkeypatch):
    real = training.train_group

    def flaky(configs, *args, **kwargs):
        if configs[0].lr == 0.5:
            raise RuntimeError("injected failure")
        return real(configs, *args, **kwargs)

    monkeypatch.setattr(training, "train_group", flaky)
    result, events = sweep(tmp_path, write_spec(tmp_path), fuse=False)
    statuses = dict(events.finished)
    assert sorted(statuses.values()) == ["completed", "completed", "failed", "failed"]
    failed = [r for r in result.failures()]
    assert all("RuntimeError: injected failure" in r.info["error"] for r in failed)
    assert all("Traceback" in (r.path / "error.log").read_text() for r in failed)
    trials = pd.read_csv(result.path / "trials.csv")
    assert (trials.status == "failed").sum() == 2
    _, again = sweep(tmp_path, write_spec(tmp_path), fuse=False)
    assert len(again.started) == 2, "failed trials are run again on resume"


def test_fail_fast_stops_at_the_first_failure(tmp_path, real_dataset, monkeypatch):
    def broken(configs, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(training, "train_group", broken)
    _, events = sweep(tmp_path, write_spec(tmp_path), fuse=False, fail_fast=True)
    assert events.finished == [(events.finished[0][0], "failed")]


def test_a_diverging_learning_rate_is_marked_and_the_sweep_completes(tmp_path, real_dataset):
    spec = write_spec(
        tmp_path,
        "base: {epochs: 3, train_subset: 1000, batch_size: 100}\ngrid: {lr: [0.1, 1.0e38]}\n",
    )
    result, events = sweep(tmp_path, spec)
    assert [s for _, s in events.finished] == ["diverged", "completed"] or sorted(
        s for _, s in events.finished
    ) == ["completed", "diverged"]
    trials = pd.read_csv(result.path / "trials.csv")
    wild = trials[trials.lr > 1].iloc[0]
    assert wild.status == "diverged" and wild.epochs_run == 1


def test_two_sweeps_in_one_directory(tmp_path, real_dataset):
    (tmp_path / "out").mkdir()
    holder = DirectoryLock(tmp_path / "out").acquire("softmax sweep other.yaml")
    with holder, pytest.raises(RunError, match=r"in use by softmax sweep other.yaml \(pid \d+"):
        sweep(tmp_path, write_spec(tmp_path))
    result, _ = sweep(tmp_path, write_spec(tmp_path))  # released: fine now
    assert len(result.finished()) == 4


def test_seeds_give_mean_and_spread(tmp_path, real_dataset):
    from softmax_exp.sweep.leaderboard import leaderboard

    spec = write_spec(
        tmp_path,
        "base: {epochs: 1, train_subset: 1000, batch_size: 100}\n"
        "grid: {lr: [0.1, 0.3]}\nseeds: 3\n",
    )
    result, _ = sweep(tmp_path, spec)
    board = leaderboard(result)
    assert [row["trials"] for row in board] == [3, 3]
    assert all(row["spread"] > 0 for row in board)


@pytest.mark.slow  # a sweep of separate runs
def test_fused_group_with_early_stopping_and_mixed_epochs_matches_separate_runs(
    tmp_path, real_dataset
):
    """lr 0.3 at batch 64 is where last-bit differences would be amplified: the test that
    fused trials compute bit for bit what they would alone."""
    spec = write_spec(
        tmp_path,
        "base: {train_subset: 3000, batch_size: 64, val_fraction: 0.1}\n"
        "grid:\n  lr: [0.3, 1.0]\n  epochs: [2, 6]\n"
        "  patience: [null, 1]\n",
    )
    fused, _ = sweep(tmp_path, spec, fuse=True)
    alone = run_sweep(spec, tmp_path / "alone", fuse=False, argv=["test"])
    assert len({t.config.batch_size for t in fused.trials}) == 1  # one fused group of 8
    a, b = tables(fused.path), tables(alone.path)
    pd.testing.assert_frame_equal(a[0], b[0], check_exact=False, rtol=0, atol=1e-5)
    pd.testing.assert_frame_equal(a[1], b[1], check_exact=False, rtol=0, atol=1e-5)
    stopped = a[0][a[0].stop_reason.str.startswith("early stopping")]
    assert (stopped.epochs_run < stopped.epochs).any(), "no trial stopped early mid-group"


STOPPED = """\
base: {epochs: 6, train_subset: 2000, batch_size: 100}
grid: {lr: [0.05, 0.1, 0.2]}
"""


def test_ctrl_c_leaves_each_running_trial_a_checkpoint_to_go_on_from(tmp_path, real_dataset):
    """No periodic checkpoint is due (the default interval outlasts this sweep), yet a
    Ctrl-C keeps every running trial's last finished epoch: the rerun goes on from it
    and ends with an uninterrupted sweep's tables."""
    import os
    import signal

    class CtrlC(SweepObserver):
        def trial_epoch(self, record):
            if len(record.rows) == 3:
                os.kill(os.getpid(), signal.SIGINT)  # lands at the next safe point

    spec = write_spec(tmp_path, STOPPED)
    whole = run_sweep(spec, tmp_path / "whole", argv=["test"])
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_sweep(spec, tmp_path / "out", observer=CtrlC(), argv=["test"])
    finally:
        signal.signal(signal.SIGINT, previous)
    for trial in whole.trials:
        path = tmp_path / "out" / "trials" / trial.id
        assert json.loads((path / "run.json").read_text())["status"] == "interrupted"
        assert json.loads((path / "checkpoint.json").read_text())["epoch"] == 3
    again, events = sweep(tmp_path, spec)
    assert sorted(events.started) == sorted(t.id for t in whole.trials)
    for trial in whole.trials:
        info = json.loads((again.path / "trials" / trial.id / "run.json").read_text())
        assert info["resumed_at_epoch"] == 3 and info["status"] == "completed"
    for table in ("trials.csv", "epochs.csv"):
        timing = ["wall_seconds", *records.TIMING_COLUMNS]
        pd.testing.assert_frame_equal(
            pd.read_csv(again.path / table).drop(columns=timing, errors="ignore"),
            pd.read_csv(whole.path / table).drop(columns=timing, errors="ignore"),
        )
