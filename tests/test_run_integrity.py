"""A run directory is input like any other (issue 25): one writer at a time, nothing
read or written through a planted link, and a checkpoint that is damaged, foreign or
bound to other settings refused in one line, never trained on (real data, small)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softmax_exp import lock as locks
from softmax_exp.config import TrainConfig
from softmax_exp.errors import RunError
from softmax_exp.experiment import run_train
from softmax_exp.lock import DirectoryLock
from softmax_exp.mxnet_compat import load_mxnet
from softmax_exp_cli.main import main

pytestmark = pytest.mark.e2e
mx = load_mxnet()

SMALL = TrainConfig(epochs=2, batch_size=100, train_subset=1000, val_fraction=0.1)


@pytest.fixture(scope="module")
def made_run(tmp_path_factory, real_dataset):
    """One finished 2-epoch run, copied by each test that changes it."""
    return run_train(SMALL, tmp_path_factory.mktemp("runs")).path


@pytest.fixture
def run(made_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(made_run, copy)
    return copy


def resume(capsys, run, *more):
    """`softmax train --resume RUN --epochs 3`: (exit code, stderr), never a traceback."""
    code = main(["train", "--resume", str(run), "--epochs", "3", "--quiet", *more])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out, captured.err
    if code != 0:
        assert code == 2, captured.err
        assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    return code, captured.err


def epochs(run) -> list[int]:
    return pd.read_csv(run / "metrics.csv").epoch.tolist()


# -- one writer per run directory ------------------------------------------------------


def test_a_second_writer_of_a_run_is_refused_naming_the_first(run, capsys):
    with DirectoryLock(run).acquire("a training run"):
        code, err = resume(capsys, run)
    assert code == 2 and f"{run} is in use by " in err and f"pid {os.getpid()}" in err
    assert epochs(run) == [1, 2]  # the refused writer wrote nothing
    assert resume(capsys, run)[0] == 0 and epochs(run) == [1, 2, 3]


def test_the_lock_of_a_dead_writer_is_taken_over(run, capsys):
    (run / ".lock").write_text(json.dumps({"pid": 2**22 + 1, "host": "gone", "what": "x"}))
    assert resume(capsys, run)[0] == 0
    holder = json.loads((run / ".lock").read_text())
    assert holder["pid"] == os.getpid() and holder["what"] == "a resumed training run"


def test_a_sweep_trial_resumed_by_hand_waits_for_its_sweep_and_the_other_way(run, tmp_path, capsys):
    """The run takes its sweep's lock, then its own, each tried once: no deadlock."""
    sweep = tmp_path / "sweep"
    trial = sweep / "trials" / "abc"
    trial.parent.mkdir(parents=True)
    run.rename(trial)
    (sweep / "sweep.json").write_text('{"name": "s", "file": "s.yaml"}')
    with DirectoryLock(sweep).acquire("softmax sweep s.yaml"):
        code, err = resume(capsys, trial)
    assert code == 2 and f"{sweep} is in use by " in err
    with DirectoryLock(trial).acquire("a resumed training run"):
        with pytest.raises(RunError, match=f"{trial} is in use"), locks.writer_lock(trial, "x"):
            pass
        DirectoryLock(sweep).acquire("a sweep").release()  # the sweep's own is free
    assert resume(capsys, trial)[0] == 0 and epochs(trial) == [1, 2, 3]


@pytest.mark.parametrize("plant", ["directory", "link", "fifo"])
def test_a_lock_that_is_not_a_file_is_one_line(run, tmp_path, capsys, plant):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    (run / ".lock").unlink()  # the one softmax train left
    if plant == "directory":
        (run / ".lock").mkdir()
    elif plant == "link":
        (run / ".lock").symlink_to(outside)
    else:
        os.mkfifo(run / ".lock")
    code, err = resume(capsys, run)
    assert code == 2 and "cannot take the lock" in err
    assert outside.read_text() == "precious\n"


@pytest.mark.parametrize("number", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_a_lock_that_cannot_be_written_is_one_line(run, capsys, monkeypatch, number):
    real_open = os.open

    def failing(path, flags, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise OSError(number, os.strerror(number))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(locks.os, "open", failing)
    code, err = resume(capsys, run)
    assert code == 2 and os.strerror(number) in err


# -- integrity of what a resume reads --------------------------------------------------


def flip(path, at: int = -200) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    data[at + 7] ^= 0x5A
    path.write_bytes(bytes(data))


def test_a_damaged_checkpoint_is_refused_not_trained_on(run, capsys):
    (arrays,) = run.glob("checkpoint-*.params")
    flip(arrays)
    code, err = resume(capsys, run)
    assert code == 2 and "does not match its checksum" in err
    assert epochs(run) == [1, 2]


def test_a_damaged_best_params_is_refused_by_evaluate(run, capsys):
    """run.json keeps the sha256 of final.params and best.params (a resume takes the best
    parameters from the checkpoint's own arrays)."""
    flip(run / "best.params")
    code = main(["evaluate", str(run), "--which", "best"])
    err = capsys.readouterr().err
    assert code == 2 and "best.params: does not match the checksum" in err
    assert err.count("\n") == 1


def test_an_edited_checkpoint_json_is_refused(run, capsys):
    state = json.loads((run / "checkpoint.json").read_text())
    state["updates"] += 1
    (run / "checkpoint.json").write_text(json.dumps(state))
    code, err = resume(capsys, run)
    assert code == 2 and "checkpoint.json does not match its checksum" in err


def test_an_edited_config_is_refused_and_says_how_to_start_anew(run, capsys):
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("lr: 0.1", "lr: 0.3"))
    code, err = resume(capsys, run)
    assert code == 2 and "config.yaml was edited" in err
    assert f"softmax train --config {config}" in err
    assert epochs(run) == [1, 2]


def test_a_checkpoint_written_before_checksums_still_resumes(run, capsys):
    """Legacy: no checksum and no settings hash (what softmax-exp wrote before); it is
    loaded unverified, as it was, and rewritten with them."""
    state = json.loads((run / "checkpoint.json").read_text())
    for key in ("params_sha256", "settings", "state_sha256"):
        del state[key]
    state["format"] = 3
    arrays = mx.nd.load(str(run / state["params"]))  # format 3: no best arrays beside
    mx.nd.save(str(run / state["params"]), {k: v for k, v in arrays.items() if "best" not in k})
    (run / "checkpoint.json").write_text(json.dumps(state))
    assert resume(capsys, run)[0] == 0 and epochs(run) == [1, 2, 3]
    assert "params_sha256" in json.loads((run / "checkpoint.json").read_text())


@pytest.mark.parametrize(
    "name", ["checkpoint.json", "metrics.csv", "config.yaml", "run.json", "best.params"]
)
def test_a_planted_link_in_a_run_is_never_followed(run, tmp_path, capsys, name):
    outside = tmp_path / "outside"
    shutil.copy(run / name, outside)
    before = outside.read_bytes()
    (run / name).unlink()
    (run / name).symlink_to(outside)
    code, err = resume(capsys, run)
    assert outside.read_bytes() == before
    if code == 2:
        assert "symbolic link" in err or "checkpoint" in err
    else:  # a link replaced by the file written, never written through
        assert not (run / name).is_symlink()


def json_values():
    return st.recursive(
        st.none() | st.booleans() | st.integers(-3, 2**70) | st.floats() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=6,
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_checkpoint_json_is_resumed_or_refused_in_one_line(made_run, tmp_path, capsys, data):
    """Keys dropped, added, or given values of other types, at any depth."""
    run = Path(tempfile.mkdtemp(dir=tmp_path)) / "run"
    shutil.copytree(made_run, run)
    state = json.loads((run / "checkpoint.json").read_text())
    if data.draw(st.booleans(), label="as a legacy checkpoint, without its own checksum"):
        del state["state_sha256"]
    target = state
    path = data.draw(st.sampled_from([(), ("stopper",), ("rng",), ("rng", "state")]))
    for key in path:
        target = target[key]
    key = data.draw(st.sampled_from([*target, "extra"]))
    if data.draw(st.booleans()) and key in target:
        del target[key]
    else:
        target[key] = data.draw(json_values())
    (run / "checkpoint.json").write_text(json.dumps(state))
    code, err = resume(capsys, run)
    assert code in (0, 2)
    if code == 0:
        assert epochs(run) == [1, 2, 3]
    else:
        assert epochs(run) == [1, 2]
