"""A sweep directory is input like any other (issue 25). A property-based corruptor
damages one file of a real interrupted sweep (bytes flipped, cut short, replaced by a
link out of the directory, JSON values of other types, removed), then runs the sweep
again: it ends (0), reports failed trials (1) or refuses in one line (2), never with a
traceback, and no other trial's recorded epochs are rewritten because of it."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softmax_exp.sweep import SweepObserver, run_sweep
from softmax_exp_cli.main import main

pytestmark = pytest.mark.e2e

# two fuse groups (batch size): the first finishes, the second is interrupted in epoch 2
SPEC = """\
base: {epochs: 3, train_subset: 1000}
grid: {batch_size: [100, 250], lr: [0.1, 0.3]}
checkpoint_seconds: 0
"""


class StopInSecondGroup(SweepObserver):
    def trial_epoch(self, record):
        if record.trial.config.batch_size == 250 and len(record.rows) == 2:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, real_dataset):
    tmp = tmp_path_factory.mktemp("sweep")
    (tmp / "s.yaml").write_text(SPEC)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(tmp / "s.yaml", tmp / "out", observer=StopInSecondGroup(), argv=["test"])
    statuses = {
        d.name: json.loads((d / "run.json").read_text())["status"]
        for d in (tmp / "out" / "trials").iterdir()
    }
    assert sorted(statuses.values()) == ["completed"] * 2 + ["interrupted"] * 2, statuses
    return tmp


def kept_lines(trial: Path) -> list[str]:
    """What a rerun must leave as it is: a finished trial's metrics.csv, an interrupted
    one's header and rows up to its checkpoint."""
    lines = (trial / "metrics.csv").read_text().splitlines()
    info = json.loads((trial / "run.json").read_text())
    if info["status"] == "completed":
        return lines
    return lines[: 1 + json.loads((trial / "checkpoint.json").read_text())["epoch"]]


def sweep_again(capsys, spec: Path, out: Path) -> tuple[int, str]:
    code = main(["sweep", str(spec), "--out", str(out), "--quiet", "--no-report"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out, captured.err
    assert code in (0, 1, 2), captured.err
    if code == 2:
        assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    return code, captured.err


def json_value():
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-2, 2**65),
        st.floats(),
        st.text(max_size=6),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )


OPERATIONS = ["flip", "truncate", "link", "json", "remove", "directory"]
TRIAL_FILES = [
    "checkpoint.json",
    "checkpoint-1.params",
    "best.params",
    "metrics.csv",
    "run.json",
    "config.yaml",
    "final.params",
]


@pytest.mark.slow  # 24 damaged copies of a real sweep, each resumed
@settings(
    max_examples=24,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_damaged_file_is_its_trials_problem_alone(interrupted, tmp_path, capsys, data):
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    out = root / "out"
    shutil.copytree(interrupted / "out", out, symlinks=True)
    trials = sorted(d for d in (out / "trials").iterdir())
    victim = data.draw(st.sampled_from(trials), label="trial")
    present = [name for name in TRIAL_FILES if (victim / name).exists()]
    name = data.draw(st.sampled_from(present), label="file")
    target = victim / name
    before = {t.name: kept_lines(t) for t in trials if t != victim}
    operation = data.draw(st.sampled_from(OPERATIONS), label="operation")
    raw = target.read_bytes()
    if operation == "flip" and raw:
        at = data.draw(st.integers(0, len(raw) - 1))
        target.write_bytes(raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1 :])
    elif operation == "truncate":
        target.write_bytes(raw[: data.draw(st.integers(0, max(0, len(raw) - 1)))])
    elif operation == "link":
        outside = root / "outside"
        outside.write_bytes(raw)
        target.unlink()
        target.symlink_to(outside)
    elif operation == "json" and name.endswith(".json"):
        document = json.loads(raw)
        key = data.draw(st.sampled_from(sorted(document)))
        document[key] = data.draw(json_value())
        target.write_text(json.dumps(document))
    elif operation == "remove":
        target.unlink()
    elif operation == "directory":  # the whole trial directory is a link out of the sweep
        moved = root / "elsewhere"
        shutil.move(victim, moved)
        victim.symlink_to(moved, target_is_directory=True)
    spec = root / "s.yaml"
    spec.write_text(SPEC)
    code, err = sweep_again(capsys, spec, out)
    for trial in trials:
        if trial != victim:
            after = (trial / "metrics.csv").read_text().splitlines()
            assert after[: len(before[trial.name])] == before[trial.name], (trial, err)
    if operation == "link":
        assert (root / "outside").read_bytes() == raw  # never written through
    if operation == "directory":
        assert code == 2 and "symbolic link" in err
        assert sorted(p.name for p in (root / "elsewhere").iterdir()) == sorted(
            p.name for p in (interrupted / "out" / "trials" / victim.name).iterdir()
        )


@pytest.fixture
def finished(interrupted, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(interrupted / "out", out)
    (tmp_path / "s.yaml").write_text(SPEC)
    assert sweep_again(capsys, tmp_path / "s.yaml", out)[0] == 0
    return tmp_path


def test_a_trial_extended_by_hand_is_not_taken_as_the_sweeps(finished, capsys):
    (trial, *_) = sorted((finished / "out" / "trials").iterdir())
    code = main(["train", "--resume", str(trial), "--epochs", "4", "--quiet"])
    capsys.readouterr()
    assert code == 0
    code, err = sweep_again(capsys, finished / "s.yaml", finished / "out")
    assert code == 2 and "it trained 4 epochs, the sweep asks for 3" in err
    assert len((trial / "metrics.csv").read_text().splitlines()) == 5  # kept


@pytest.mark.parametrize("plant", ["commands.log", "sweep.json", "trials.csv", "trials"])
def test_a_link_planted_in_a_sweep_is_never_written_through(finished, capsys, plant):
    out, outside = finished / "out", finished / "outside"
    if plant == "trials":
        shutil.move(out / "trials", outside)
        (out / "trials").symlink_to(outside, target_is_directory=True)
        before = sorted(p.name for p in outside.iterdir())
    else:
        shutil.copy(out / plant, outside)
        before = outside.read_bytes()
        (out / plant).unlink()
        (out / plant).symlink_to(outside)
    code, err = sweep_again(capsys, finished / "s.yaml", out)
    if plant == "trials":
        assert code == 2 and "symbolic link" in err
        assert sorted(p.name for p in outside.iterdir()) == before
    else:
        assert outside.read_bytes() == before
        assert code == 2 or not (out / plant).is_symlink()


def test_a_checkpoint_that_disagrees_with_its_group_starts_over_alone(
    interrupted, tmp_path, capsys
):
    """Two interrupted trials that would go on fused; one checkpoint's update count is
    changed (a legacy one, without its own checksum): one of them starts over, and the
    group does not fail."""
    out = tmp_path / "out"
    shutil.copytree(interrupted / "out", out)
    waiting = [
        d
        for d in (out / "trials").iterdir()
        if json.loads((d / "run.json").read_text())["status"] == "interrupted"
    ]
    state = json.loads((waiting[0] / "checkpoint.json").read_text())
    del state["state_sha256"]
    state["updates"] += 1
    (waiting[0] / "checkpoint.json").write_text(json.dumps(state))
    (tmp_path / "s.yaml").write_text(SPEC)
    code, err = sweep_again(capsys, tmp_path / "s.yaml", out)
    assert code == 0, err
    infos = [json.loads((d / "run.json").read_text()) for d in waiting]
    assert [info["status"] for info in infos] == ["completed", "completed"]
    assert sorted("resumed_at_epoch" in info for info in infos) == [False, True]
