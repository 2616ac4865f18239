"""Interrupting a real `softmax sweep` process (SIGINT, and SIGKILL of its process group),
then running it again: nothing finished is redone, and the final CSVs equal an
uninterrupted sweep's, timing aside, with no duplicate or torn rows."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from helpers import tables

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # kills and reruns CLI processes

SPEC = """\
base: {epochs: 3, train_subset: 12000, batch_size: 64}
grid:
  lr: [0.02, 0.05, 0.1, 0.2, 0.4]
"""


def softmax(*args, **popen):
    """`softmax ARGS` in its own session, taking Ctrl-C as a terminal's program would even
    when the tests themselves run in the background (where SIGINT comes ignored)."""
    command = [sys.executable, "-m", "softmax_exp_cli", *args]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_sigint,
        **popen,
    )


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_finished_trials(path, count, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            trials = pd.read_csv(path / "trials.csv")
            if (trials.status == "completed").sum() >= count:
                return
        except (OSError, pd.errors.EmptyDataError):
            pass
        time.sleep(0.1)
    raise AssertionError("the sweep did not get going in time")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, real_dataset):
    tmp = tmp_path_factory.mktemp("whole")
    (tmp / "s.yaml").write_text(SPEC)
    process = softmax("sweep", str(tmp / "s.yaml"), "--out", str(tmp / "out"), "--no-fuse")
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return tables(tmp / "out")


SIGNALS = {
    "sigint": signal.SIGINT,
    "sigterm": signal.SIGTERM,
    "sigterm-workers": signal.SIGTERM,
    "sigkill": signal.SIGKILL,
}


@pytest.mark.parametrize("how", list(SIGNALS))
def test_interrupted_sweep_resumes_to_the_same_tables(tmp_path, uninterrupted, how):
    spec, out = tmp_path / "s.yaml", tmp_path / "out"
    spec.write_text(SPEC)
    workers = ["-j", "2"] if how.endswith("workers") else []
    process = softmax("sweep", str(spec), "--out", str(out), "--no-fuse", *workers)
    wait_for_finished_trials(out, 2)
    os.killpg(process.pid, SIGNALS[how])  # the whole group, as a terminal or scheduler does
    _, err = process.communicate(timeout=60)
    if how != "sigkill":
        assert process.returncode == 128 + SIGNALS[how], err
        word = "interrupted" if how == "sigint" else "terminated (SIGTERM)"
        assert f"{word}: finished trials and checkpoints kept; run it again" in err
        assert "Traceback" not in err
        statuses = {
            json.loads((d / "run.json").read_text())["status"] for d in (out / "trials").iterdir()
        }
        assert "running" not in statuses, statuses
    done = pd.read_csv(out / "trials.csv")
    finished = set(done.trial_id[done.status == "completed"])
    assert 2 <= len(finished) < 5

    again = softmax("sweep", str(spec), "--out", str(out), "--no-fuse", "--quiet")
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    trials, epochs = tables(out)
    assert not trials.trial_id.duplicated().any()
    assert not epochs.duplicated(subset=["trial_id", "epoch"]).any()
    pd.testing.assert_frame_equal(trials, uninterrupted[0])
    pd.testing.assert_frame_equal(epochs, uninterrupted[1])
    rerun = pd.read_csv(out / "trials.csv")
    for trial_id in finished:  # finished trials were not redone: their timing is unchanged
        assert (
            rerun.wall_seconds[rerun.trial_id == trial_id].item()
            == done.wall_seconds[done.trial_id == trial_id].item()
        )


MID_TRIAL = """\
base: {epochs: 8, train_subset: 12000, batch_size: 64}
checkpoint_seconds: 0
grid:
  lr: [0.02, 0.05, 0.1, 0.2]
"""


def epochs_done(out):
    """Each started trial's finished epochs, from its own metrics.csv."""
    done = {}
    for metrics in (out / "trials").glob("*/metrics.csv"):
        with contextlib.suppress(OSError, pd.errors.EmptyDataError):
            done[metrics.parent.name] = len(pd.read_csv(metrics))
    return done


def test_a_killed_sweep_goes_on_mid_trial_from_its_checkpoints(tmp_path, real_dataset):
    """kill -9 in the middle of a fused group: run again, its trials go on from their
    last checkpoints (their first epochs are not trained again) and the tables equal
    an uninterrupted sweep's."""
    whole = tmp_path / "whole"
    whole.mkdir()
    (whole / "s.yaml").write_text(MID_TRIAL)
    process = softmax("sweep", str(whole / "s.yaml"), "--out", str(whole / "out"))
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err

    spec, out = tmp_path / "s.yaml", tmp_path / "out"
    spec.write_text(MID_TRIAL)
    process = softmax("sweep", str(spec), "--out", str(out))
    deadline = time.time() + 120
    while time.time() < deadline:
        done = epochs_done(out)
        if len(done) == 4 and min(done.values()) >= 3:
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    assert max(epochs_done(out).values()) < 8, "the group ended before the kill"
    before = {
        trial.name: pd.read_csv(trial / "metrics.csv") for trial in (out / "trials").iterdir()
    }

    again = softmax("sweep", str(spec), "--out", str(out), "--quiet")
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    for name, rows in before.items():
        info = json.loads((out / "trials" / name / "run.json").read_text())
        kept = info["resumed_at_epoch"]
        assert 2 <= kept <= len(rows)  # the last checkpoint may trail the last row
        after = pd.read_csv(out / "trials" / name / "metrics.csv")
        # the epochs before the checkpoint were not trained again: their rows, timing
        # included, are the ones written before the kill
        pd.testing.assert_frame_equal(after.iloc[:kept], rows.iloc[:kept])
    trials, epochs = tables(out)
    pd.testing.assert_frame_equal(trials, tables(whole / "out")[0])
    pd.testing.assert_frame_equal(epochs, tables(whole / "out")[1])


THOUSAND = """\
base: {epochs: 1, train_subset: 300, batch_size: 100}
random:
  trials: 1000
  seed: 5
  space:
    lr: {loguniform: [0.001, 1.0]}
    weight_decay: {loguniform: [0.000001, 0.01]}
"""


def test_a_sweep_of_a_thousand_trials_resumes_after_kill_9(tmp_path, real_dataset):
    """Tables that grow by appending: a kill leaves them with the trials that ended
    (their last line perhaps torn), the rerun runs the rest and rebuilds them whole."""
    whole = tmp_path / "whole"
    whole.mkdir()
    (whole / "s.yaml").write_text(THOUSAND)
    process = softmax("sweep", str(whole / "s.yaml"), "--out", str(whole / "out"), "--quiet")
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err

    spec, out = tmp_path / "s.yaml", tmp_path / "out"
    spec.write_text(THOUSAND)
    process = softmax("sweep", str(spec), "--out", str(out), "--quiet")
    wait_for_finished_trials(out, 300, timeout=300)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    done = pd.read_csv(out / "trials.csv")
    assert 300 <= len(done) < 1000
    again = softmax("sweep", str(spec), "--out", str(out), "--quiet")
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    trials, epochs = tables(out)
    assert len(trials) == 1000 and len(epochs) == 1000
    pd.testing.assert_frame_equal(trials, tables(whole / "out")[0])
    pd.testing.assert_frame_equal(epochs, tables(whole / "out")[1])
