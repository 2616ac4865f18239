"""MLflow and TensorBoard exports of sweep directories made in the test (no training, no
server): read back with MLflow's own client from a SQLite store and with TensorBoard's
own event loader; the `tracking:` section; a missing extra; a tracker that stalls."""

from __future__ import annotations

import math
import threading

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from helpers import write_fake_sweep
from softmax_exp.config import (
    TrackingConfig,
    TrainConfig,
    config_id,
    load_tracking_config,
    load_train_config,
    tracking_config,
)
from softmax_exp.errors import ConfigError
from softmax_exp.sweep import load_sweep_spec
from softmax_exp_cli.main import app

STATUSES = ("completed", "pruned", "diverged", "failed")
EPOCH_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


@pytest.fixture
def fake(tmp_path):
    return write_fake_sweep(tmp_path / "sweep-fake", trials=8, epochs=4, statuses=STATUSES)


# -- the tracking: section


def test_a_config_files_tracking_section_is_read_and_leaves_the_settings_alone(tmp_path):
    plain, tracked = tmp_path / "plain.yaml", tmp_path / "tracked.yaml"
    plain.write_text("lr: 0.3\nepochs: 2\n")
    tracked.write_text(
        "lr: 0.3\nepochs: 2\ntracking:\n  mlflow: sqlite:///m.db\n  tensorboard: tb\n"
    )
    assert load_train_config(tracked) == load_train_config(plain)
    assert config_id(load_train_config(tracked)) == config_id(load_train_config(plain))
    assert load_tracking_config(tracked) == TrackingConfig(
        mlflow="sqlite:///m.db", tensorboard="tb"
    )
    assert load_tracking_config(plain) == TrackingConfig() and not TrackingConfig().active


def test_a_sweep_files_tracking_section_is_validated_with_its_line(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("grid: {lr: [0.1]}\ntracking:\n  mlflow: http://127.0.0.1:5000\n")
    assert load_sweep_spec(spec).tracking.mlflow == "http://127.0.0.1:5000"
    spec.write_text("grid: {lr: [0.1]}\ntracking:\n  mlfow: sqlite:///m.db\n")
    with pytest.raises(ConfigError, match=r"s\.yaml:3: tracking\.mlfow unknown key"):
        load_sweep_spec(spec)
    spec.write_text("grid: {lr: [0.1]}\ntracking:\n  mlflow: ./mlruns\n")
    with pytest.raises(ConfigError, match=r"s\.yaml:3: tracking\.mlflow must be a tracking URI"):
        load_sweep_spec(spec)
    spec.write_text("grid: {lr: [0.1]}\ntracking: sqlite:///m.db\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_sweep_spec(spec)


@given(st.text(max_size=40))
def test_only_sqlite_and_http_uris_are_taken(text):
    good = text.startswith(("sqlite:///", "http://", "https://")) and text != "sqlite:///"
    try:
        taken = tracking_config({"mlflow": text}, "--mlflow").mlflow
    except ConfigError as exc:
        assert not good
        assert str(exc).startswith("--mlflow: tracking.mlflow ") and "\n" not in str(exc)
    else:
        assert good and taken == text


def test_command_line_values_replace_the_files(tmp_path):
    from softmax_exp_cli.tracking import resolve

    section = TrackingConfig(mlflow="sqlite:///a.db", tensorboard="tb")
    assert resolve(section, "http://127.0.0.1:1", None).mlflow == "http://127.0.0.1:1"
    assert resolve(section, None, None).tensorboard == "tb"
    assert resolve(TrackingConfig(), None, None) is None
    with pytest.raises(ConfigError, match="--mlflow"):
        resolve(section, "mlruns", None)


# -- without the extras


@pytest.mark.parametrize(
    ("extra", "option", "value"),
    [("mlflow", "--mlflow", "sqlite:///m.db"), ("tensorboard", "--tensorboard", "tb")],
)
def test_without_the_extra_one_line_names_it(fake, tmp_path, monkeypatch, extra, option, value):
    import importlib.util

    real = importlib.util.find_spec
    missing = {"mlflow"} if extra == "mlflow" else {"tensorboardX"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in missing else real(name, *a)
    )
    result = CliRunner().invoke(app, ["export", str(fake), option, value])
    assert result.exit_code == 2
    assert result.output == (
        f"error: {extra} is not installed; install it with: pip install 'softmax-exp[{extra}]'\n"
    )
    spec = tmp_path / "s.yaml"
    spec.write_text("grid: {lr: [0.1]}\n")
    result = CliRunner().invoke(
        app, ["sweep", str(spec), "--out", str(tmp_path / "o"), option, value]
    )
    assert result.exit_code == 2 and f"softmax-exp[{extra}]" in result.output
    assert not (tmp_path / "o").exists()  # refused before anything ran


def test_export_asks_what_to_export_and_checks_the_uri(fake):
    result = CliRunner().invoke(app, ["export", str(fake)])
    assert result.exit_code == 2 and result.output.startswith("error: choose what to export")
    result = CliRunner().invoke(app, ["export", str(fake), "--mlflow", "mlruns"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "sqlite:///path.db" in result.output


# -- MLflow, to a SQLite store


def runs_of(client, experiment):
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id], max_results=1000) if found else []


def history(client, run, key):
    return [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]


def test_a_sweep_exported_to_sqlite_twice_is_one_parent_with_a_child_per_trial(fake, tmp_path):
    import pandas as pd

    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    result = CliRunner().invoke(app, ["export", str(fake), "--mlflow", uri])
    assert result.exit_code == 0, result.output
    assert "9 runs (9 new)" in result.output and f"mlflow ui --backend-store-uri {uri}" in (
        result.output.replace("\n", "")
    )
    client = MlflowClient(tracking_uri=uri)
    trials = pd.read_csv(fake / "trials.csv")
    epochs = pd.read_csv(fake / "epochs.csv")

    def check():
        runs = runs_of(client, "fake")
        parents = [r for r in runs if r.data.tags.get("softmax_exp.role") == "sweep"]
        assert len(parents) == 1 and len(runs) == len(trials) + 1
        parent = parents[0]
        children = {r.data.tags["softmax_exp.trial_id"]: r for r in runs if r is not parent}
        assert set(children) == set(trials["trial_id"])
        assert parent.info.status == "FINISHED"
        expected = {"completed": "FINISHED", "pruned": "KILLED", "diverged": "FAILED"}
        for row in trials.itertuples():
            run = children[row.trial_id]
            assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
            assert run.data.tags["softmax_exp.status"] == row.status
            assert run.info.status == expected.get(row.status, "FAILED")
            assert run.data.params["lr"] == str(row.lr)
            assert run.data.params["batch_size"] == str(row.batch_size)
            curve = epochs[epochs["trial_id"] == row.trial_id]
            for key in EPOCH_KEYS:
                got = history(client, run, key)
                assert [s for s, _ in got] == list(curve["epoch"])
                for (_, value), want in zip(got, curve[key]):
                    assert value == pytest.approx(want, nan_ok=True)
            if row.status == "diverged":
                assert math.isnan(history(client, run, "train_loss")[-1][1])
            if row.status != "failed":
                assert run.data.tags["softmax_exp.best_epoch"] == str(int(row.best_epoch))
                assert run.data.metrics["best_val_acc"] == pytest.approx(row.best_val_acc)
        assert [a.path for a in client.list_artifacts(parent.info.run_id)] == ["sweep.yaml"]
        return {r.info.run_id for r in runs}

    first = check()
    result = CliRunner().invoke(app, ["export", str(fake), "--mlflow", uri])
    assert result.exit_code == 0 and "9 runs (0 new), 0 metric points" in result.output
    assert check() == first  # the same runs, each history as long as before


# -- TensorBoard


def event_data(directory):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(str(directory))
    events.Reload()
    scalars = {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]
    ).session_start_info
    hparams = {
        k: v.number_value if v.WhichOneof("kind") == "number_value" else v.string_value
        for k, v in start.hparams.items()
    }
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/experiment"]
    ).experiment
    metrics = [m.name.tag for m in experiment.metric_infos]
    return scalars, hparams, metrics


def test_tensorboard_export_has_every_trials_scalars_and_hparams(fake, tmp_path):
    import pandas as pd

    pytest.importorskip("tensorboardX")
    log_dir = tmp_path / "tb"
    for _ in range(2):  # a second export replaces the first, never adds to it
        result = CliRunner().invoke(app, ["export", str(fake), "--tensorboard", str(log_dir)])
        assert result.exit_code == 0, result.output
        assert f"tensorboard --logdir {log_dir}" in result.output.replace("\n", "")
    trials = pd.read_csv(fake / "trials.csv")
    epochs = pd.read_csv(fake / "epochs.csv")
    assert sorted(p.name for p in (log_dir / "fake").iterdir()) == sorted(trials["trial_id"])
    for row in trials.itertuples():
        directory = log_dir / "fake" / row.trial_id
        assert len([p for p in directory.iterdir()]) == 1
        scalars, hparams, metrics = event_data(directory)
        assert hparams == {
            "lr": pytest.approx(row.lr),
            "batch_size": row.batch_size,
            "weight_decay": row.weight_decay,
            "status": row.status,
        }
        assert metrics == ["best_val_acc", "test_acc_at_best"]
        curve = epochs[epochs["trial_id"] == row.trial_id]
        for key in EPOCH_KEYS:
            if len(curve):
                assert [s for s, _ in scalars[key]] == list(curve["epoch"])
                for (_, value), want in zip(scalars[key], curve[key]):
                    assert value == pytest.approx(want, nan_ok=True, rel=1e-6)
        if row.status == "failed":
            assert "best_val_acc" not in scalars
        else:
            assert scalars["best_val_acc"] == [(row.best_epoch, pytest.approx(row.best_val_acc))]
            assert scalars["test_acc_at_best"][0][1] == pytest.approx(row.test_acc_at_best)
    assert [p.name for p in (log_dir / "fake").iterdir() if p.name.startswith(".")] == []


def test_tensorboard_logs_are_not_written_through_a_symlink(fake, tmp_path):
    pytest.importorskip("tensorboardX")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "tb" / "fake").mkdir(parents=True)
    (tmp_path / "tb" / "fake" / "0000fake").symlink_to(elsewhere)
    result = CliRunner().invoke(app, ["export", str(fake), "--tensorboard", str(tmp_path / "tb")])
    assert result.exit_code == 2 and "symbolic link" in result.output
    assert list(elsewhere.iterdir()) == []


# -- a tracker that stalls never holds the caller up


def test_a_stalled_mlflow_sender_drops_instead_of_blocking(monkeypatch):
    from softmax_exp.tracking import mlflow_live as live

    release = threading.Event()

    class Stalled(live.MlflowState):
        def __init__(self, uri):
            super().__init__(uri)
            self.calls = 0

        def epoch(self, *args):
            self.calls += 1
            release.wait()

    monkeypatch.setattr(live, "QUEUE_SIZE", 5)
    monkeypatch.setattr(live, "MlflowState", Stalled)
    sender = live.MlflowSender("http://127.0.0.1:9")
    for step in range(100):  # would block for good on a full queue if submit waited
        sender.submit("epoch", "t", {"epoch": step})
    assert sender.failure.startswith("too slow") and sender.dropped >= 90
    release.set()
    sender.close(10)
    assert not sender.thread.is_alive()
    assert sender.state.calls <= 6  # the rest was dropped, not sent late


def test_a_refusing_tracker_is_told_once_in_one_line(tmp_path):
    from softmax_exp.sweep import SweepObserver
    from softmax_exp.tracking import LiveTracking

    pytest.importorskip("mlflow")
    notes = []

    class Notes(SweepObserver):
        def note(self, message):
            notes.append(message)

    spec_file = tmp_path / "s.yaml"
    spec_file.write_text("grid: {lr: [0.1]}\n")
    spec = load_sweep_spec(spec_file)
    live = LiveTracking(TrackingConfig(mlflow="http://127.0.0.1:9"))  # nothing listens
    observer = live.sweep_observer(Notes())
    observer.sweep_started(type("Sweep", (), {"spec": spec, "path": tmp_path})())
    record = type("Record", (), {})()
    record.trial = type("Trial", (), {"id": "t1", "config": TrainConfig(epochs=3)})()
    record.info = {"status": "running", "started_at": "2026-12-01T10:00:00+00:00"}
    record.rows, record.path = [], tmp_path
    observer.trial_started(record)
    for epoch in (1, 2, 3):
        record.rows.append({"epoch": epoch, "train_loss": 1.0, "train_acc": 0.5})
        observer.trial_epoch(record)
    record.info = {**record.info, "status": "completed"}
    observer.trial_finished(record)
    lines = notes + live.close()
    assert len(lines) == 1 and "\n" not in lines[0]
    assert lines[0].startswith("MLflow at http://127.0.0.1:9: ")
    assert f"softmax export {tmp_path} --mlflow http://127.0.0.1:9" in lines[0]


def test_tracking_yaml_round_trip_of_a_sweep_file_keeps_its_trials(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"grid": {"lr": [0.1, 0.2]}, "tracking": {"tensorboard": "tb"}}))
    from softmax_exp.sweep import make_sweeper

    ids = [t.id for t in make_sweeper(load_sweep_spec(spec)).known()]
    spec.write_text(yaml.safe_dump({"grid": {"lr": [0.1, 0.2]}}))
    assert [t.id for t in make_sweeper(load_sweep_spec(spec)).known()] == ids
