"""Fault injection: what the README promises under kill -9, torn files, dying workers,
full disks and bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from helpers import crashing_worker, pid_recording_worker
from softmax_exp import fileio
from softmax_exp.errors import RunError
from softmax_exp.records import METRIC_COLUMNS
from softmax_exp.sweep import ProcessExecutor, SweepObserver, run_sweep
from softmax_exp_cli.main import app, main

runner = CliRunner()
SMALL = "base: {epochs: 2, train_subset: 1000, batch_size: 100}\ngrid: {lr: [0.1, 0.5, 0.3]}\n"


def long_train(out):
    """A `softmax train` of 500 short epochs in a fresh process: one to stop midway."""
    options = ["--epochs", "500", "--batch-size", "16", "--quiet", "--set", "train_subset=5000"]
    return [sys.executable, "-m", "softmax_exp_cli", "train", "--out", str(out), *options]


def no_temporary_files(path):
    return [p for p in path.rglob("*.tmp")] == []


@pytest.mark.slow  # kills a CLI process
@pytest.mark.e2e
def test_kill_9_mid_training_keeps_every_finished_epoch(tmp_path, real_dataset):
    command = long_train(tmp_path)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 90
    metrics = None
    while time.time() < deadline:
        found = list(tmp_path.glob("*/metrics.csv"))
        if found and len(found[0].read_text().splitlines()) >= 3:
            metrics = found[0]
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert metrics is not None, "training did not get going"
    table = pd.read_csv(metrics)
    assert list(table.columns) == list(METRIC_COLUMNS)
    assert table.epoch.tolist() == list(range(1, len(table) + 1)) and len(table) >= 2
    assert not table.isna()[["train_loss", "test_acc"]].any().any()
    info = json.loads((metrics.parent / "run.json").read_text())
    assert info["status"] == "running"
    assert yaml.safe_load((metrics.parent / "config.yaml").read_text())["epochs"] == 500
    # Each epoch now writes a checkpoint (write, then rename): the kill may cut one such
    # write short, leaving its temporary file and never a torn file under a final name;
    # `softmax train --resume` removes it (tests/test_resume.py).
    left = [p.name for p in tmp_path.rglob("*.tmp")]
    assert len(left) <= 1 and all(
        name.startswith((".checkpoint.", ".best.params.")) for name in left
    ), left


@pytest.mark.slow  # a fresh process that imports MXNet
@pytest.mark.e2e
def test_sigterm_stops_training_as_ctrl_c_does_with_exit_143(tmp_path, real_dataset):
    command = long_train(tmp_path)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 90
    while time.time() < deadline and not any(
        len(m.read_text().splitlines()) >= 2 for m in tmp_path.glob("*/metrics.csv")
    ):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    (run,) = tmp_path.iterdir()
    assert err == (
        f"terminated (SIGTERM): the finished epochs are kept in {run}\n"
        f"go on with: softmax train --resume {run}\n"
    )
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "interrupted" and info["best_epoch"] is not None
    assert no_temporary_files(tmp_path)
    rows = (run / "metrics.csv").read_text().splitlines()[1:]
    assert info["epochs_run"] == len(rows) >= 1
    # the model so far is kept: evaluate reproduces the last finished epoch's test figure
    done = runner.invoke(app, ["evaluate", str(run), "--which", "final"])
    assert done.exit_code == 0, done.output
    assert f"{info['final']['test_acc']:.4f}" in done.output


class Finished(SweepObserver):
    def __init__(self):
        self.statuses = {}

    def trial_finished(self, record):
        self.statuses[record.trial.config.lr] = record.status


@pytest.mark.slow  # worker processes
@pytest.mark.e2e
def test_a_worker_that_dies_is_retried_then_recorded_failed(tmp_path, real_dataset):
    (tmp_path / "s.yaml").write_text(SMALL)
    seen = Finished()
    result = run_sweep(
        tmp_path / "s.yaml",
        tmp_path / "out",
        observer=seen,
        fuse=False,
        executor=ProcessExecutor(2, retries=1, worker=crashing_worker),
        workers=2,
        argv=["test"],
    )
    assert seen.statuses == {0.1: "completed", 0.5: "failed", 0.3: "completed"}
    (failed,) = result.failures()
    assert "worker died (exit code 137) after 2 attempts" in failed.info["error"]
    assert (failed.path / "error.log").is_file()


@pytest.mark.slow  # worker processes
@pytest.mark.e2e
def test_a_worker_that_dies_once_is_retried_and_succeeds(tmp_path, real_dataset, monkeypatch):
    monkeypatch.setenv("CRASH_ONCE_MARKER", str(tmp_path / "crashed"))
    (tmp_path / "s.yaml").write_text(SMALL)
    seen = Finished()
    run_sweep(
        tmp_path / "s.yaml",
        tmp_path / "out",
        observer=seen,
        fuse=False,
        executor=ProcessExecutor(2, retries=1, worker=crashing_worker),
        workers=2,
        argv=["test"],
    )
    assert (tmp_path / "crashed").exists()
    assert set(seen.statuses.values()) == {"completed"}


@pytest.mark.slow  # worker processes
@pytest.mark.e2e
def test_workers_are_started_once_and_take_job_after_job(tmp_path, real_dataset, monkeypatch):
    monkeypatch.setenv("PID_DIR", str(tmp_path))
    (tmp_path / "s.yaml").write_text(
        "base: {epochs: 1, train_subset: 1000, batch_size: 100}\n"
        "grid: {lr: [0.1, 0.2, 0.3, 0.4, 0.5]}\n"
    )
    seen = Finished()
    run_sweep(
        tmp_path / "s.yaml",
        tmp_path / "out",
        observer=seen,
        fuse=False,
        executor=ProcessExecutor(2, worker=pid_recording_worker),
        workers=2,
        argv=["test"],
    )
    assert set(seen.statuses.values()) == {"completed"} and len(seen.statuses) == 5
    pids = {path.read_text() for path in tmp_path.glob("job-*")}
    assert len(list(tmp_path.glob("job-*"))) == 5 and len(pids) == 2


def full_disk_after(monkeypatch, name: str, allowed: int):
    """Writes to files called `name` go to /dev/full (a real ENOSPC) after `allowed`."""
    calls = {"n": 0}
    real_open = os.open

    def fake_open(path, flags, *args, **kwargs):
        if str(path).endswith(name) and flags & (os.O_WRONLY | os.O_RDWR):
            calls["n"] += 1
            if calls["n"] > allowed:
                return real_open("/dev/full", os.O_WRONLY)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(fileio.os, "open", fake_open)


@pytest.mark.e2e
def test_disk_full_while_training_is_one_line_and_keeps_written_rows(
    tmp_path, real_dataset, monkeypatch
):
    full_disk_after(monkeypatch, "metrics.csv", allowed=2)
    result = runner.invoke(
        app,
        [
            "train",
            "--out",
            str(tmp_path),
            "--epochs",
            "5",
            "--quiet",
            "--set",
            "train_subset=1000",
            "--batch-size",
            "100",
        ],
    )
    assert result.exit_code == 2
    assert (
        result.output.startswith("error: cannot write ")
        and "No space left on device" in result.output
        and result.output.count("\n") == 1
    )
    (run,) = tmp_path.iterdir()
    table = pd.read_csv(run / "metrics.csv")
    assert table.epoch.tolist() == [1, 2]
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    assert no_temporary_files(tmp_path)


@pytest.mark.e2e
def test_disk_full_in_a_sweep_keeps_the_last_good_summaries(tmp_path, real_dataset, monkeypatch):
    """Rows are appended as trials end: the append that meets a full disk is undone, the
    sweep stops with a one-line error, and the tables are written whole once more with
    every trial that ended."""
    (tmp_path / "s.yaml").write_text(SMALL)
    calls = {"n": 0}
    real_open = os.open

    def full_disk_open(path, flags, *args, **kwargs):
        if str(path).endswith("/trials.csv") and flags & os.O_APPEND:
            calls["n"] += 1
            if calls["n"] > 1:  # the first finished trial's row is appended
                return real_open("/dev/full", flags, *args, **kwargs)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(fileio.os, "open", full_disk_open)
    result = runner.invoke(
        app,
        ["sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--no-fuse", "--quiet"],
    )
    assert result.exit_code == 2, result.output
    assert "error: cannot write" in result.output and "trials.csv" in result.output
    trials = pd.read_csv(tmp_path / "out" / "trials.csv")
    assert trials.status.tolist() == ["completed", "completed"]
    assert no_temporary_files(tmp_path)


def test_an_append_that_meets_a_full_disk_is_undone(tmp_path, monkeypatch):
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n")
    real_write = os.write

    def half_write(fd, data):  # what a disk with room for part of the data does
        return real_write(fd, data[: len(data) // 2])

    monkeypatch.setattr(fileio.os, "write", half_write)
    with pytest.raises(RunError, match=r"cannot write .*t.csv: No space left on device"):
        fileio.append_lines(table, ["3,4", "5,6"])
    assert table.read_text() == "a,b\n1,2\n"


def test_output_under_a_file_is_a_one_line_error(tmp_path, real_dataset):
    (tmp_path / "file").write_text("not a directory")
    result = runner.invoke(
        app,
        [
            "train",
            "--out",
            str(tmp_path / "file" / "runs"),
            "--epochs",
            "1",
            "--set",
            "train_subset=500",
        ],
    )
    assert result.exit_code == 2
    assert (
        result.output.startswith("error: cannot create run directory")
        and result.output.count("\n") == 1
    )


def one_line_or_success(capsys, argv):
    code = main(argv)
    captured = capsys.readouterr()
    # a traceback's header, not the word: an option value may be "Traceback" itself
    assert "Traceback (most recent call last)" not in captured.err + captured.out
    if code != 0:
        assert code == 2, (argv, captured.err)
        assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    return code


documents = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "lr",
                    "batch_size",
                    "epochs",
                    "grid",
                    "base",
                    "seeds",
                    "random",
                    "weight_decay",
                    "patience",
                    "ctx",
                    "x",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=10,
)
CLI_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@CLI_SETTINGS
@given(documents)
def test_random_yaml_never_gives_a_traceback(tmp_path, capsys, document):
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(document))
    one_line_or_success(capsys, ["train", "-c", str(path), "--dry-run"])
    one_line_or_success(capsys, ["sweep", str(path), "--dry-run"])


@CLI_SETTINGS
@given(
    st.sampled_from(["--lr", "--batch-size", "--epochs", "--seed", "--ctx", "--set"]),
    st.text(min_size=1, max_size=12).filter(lambda t: not t.startswith("-")),
)
def test_random_option_values_never_give_a_traceback(capsys, option, value):
    one_line_or_success(capsys, ["train", option, value, "--dry-run"])
