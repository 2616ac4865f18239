"""MLflow and TensorBoard against the real things: an `mlflow server` (SQLite backend) and
`tensorboard` started here on 127.0.0.1 and stopped by pid, real sweeps on the real data
(small ones), and TensorBoard's HParams table read from a headless Chromium's DOM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from test_tracking import EPOCH_KEYS, event_data, history, runs_of
from typer.testing import CliRunner

from softmax_exp.config import TrackingConfig
from softmax_exp_cli.main import app

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
mlflow = pytest.importorskip("mlflow")
pytest.importorskip("tensorboardX")

BIN = Path(sys.executable).parent
SPEC = """\
name: tracked
base: {epochs: 2, train_subset: 1000, batch_size: 100}
grid:
  lr: [0.05, 0.5]
  weight_decay: [0.0, 0.001]
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A server process of ours, in a session of its own so that its workers stop with
    it; started again on the same port and files after a stop."""

    def __init__(self, command: list[str], ready: str, log: Path):
        self.command, self.ready, self.log = command, ready, log
        self.process = None

    def start(self) -> Server:
        self.process = subprocess.Popen(
            self.command,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for _ in range(600):  # the first start creates the database: allow for a busy machine
            if self.process.poll() is not None:
                pytest.fail(f"{self.command[0]} exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.ready, timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        pytest.fail(f"{self.command[0]} did not answer {self.ready}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the group we started, by its id
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    server = Server(
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "server-artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        f"http://127.0.0.1:{port}/health",
        tmp_path / "mlflow-server.log",
    )
    server.uri = f"http://127.0.0.1:{port}"
    yield server.start()
    server.stop()


@pytest.fixture(scope="module")
def swept(tmp_path_factory, real_dataset):
    """A small real sweep, made once, with no tracker: what the exports read."""
    tmp = tmp_path_factory.mktemp("tracked")
    (tmp / "tracked.yaml").write_text(SPEC)
    result = CliRunner().invoke(
        app, ["sweep", str(tmp / "tracked.yaml"), "--out", str(tmp / "out"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    return tmp / "out"


def check_store(client, sweep: Path, experiment: str = "tracked") -> set[str]:
    """One parent and one child per trial, every epoch of every metric by step, the
    artifacts; returns the run ids."""
    trials = pd.read_csv(sweep / "trials.csv")
    epochs = pd.read_csv(sweep / "epochs.csv")
    runs = runs_of(client, experiment)
    (parent,) = [r for r in runs if r.data.tags.get("softmax_exp.role") == "sweep"]
    children = {r.data.tags["softmax_exp.trial_id"]: r for r in runs if r is not parent}
    assert len(runs) == len(trials) + 1 and set(children) == set(trials["trial_id"])
    assert parent.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} == {
        "sweep.yaml",
        "report.html",
    }
    for row in trials.itertuples():
        run = children[row.trial_id]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.status == "FINISHED" and run.data.tags["softmax_exp.status"] == "completed"
        assert run.data.tags["softmax_exp.config_id"] == row.trial_id
        assert run.data.tags["softmax_exp.version.mxnet"] == "1.9.1"
        assert run.data.params["lr"] == str(row.lr)
        curve = epochs[epochs["trial_id"] == row.trial_id]
        for key in EPOCH_KEYS:
            got = history(client, run, key)
            assert [step for step, _ in got] == list(curve["epoch"]) == [1, 2]
            assert [value for _, value in got] == pytest.approx(list(curve[key]))
        assert {a.path for a in client.list_artifacts(run.info.run_id)} == {
            "config.yaml",
            "run.json",
        }
    return {r.info.run_id for r in runs}


def test_export_to_a_server_then_again_adds_nothing(swept, mlflow_server):
    from mlflow.tracking import MlflowClient

    for new in (5, 0):
        result = CliRunner().invoke(app, ["export", str(swept), "--mlflow", mlflow_server.uri])
        assert result.exit_code == 0, result.output
        assert f"5 runs ({new} new)" in result.output
    check_store(MlflowClient(tracking_uri=mlflow_server.uri), swept)


def test_a_live_sweep_is_in_the_server_and_in_tensorboard(tmp_path, mlflow_server, real_dataset):
    from mlflow.tracking import MlflowClient

    (tmp_path / "tracked.yaml").write_text(SPEC)
    out, logs = tmp_path / "out", tmp_path / "tb"
    result = CliRunner().invoke(
        app,
        [
            "sweep",
            str(tmp_path / "tracked.yaml"),
            "--out",
            str(out),
            "--quiet",
            "--mlflow",
            mlflow_server.uri,
            "--tensorboard",
            str(logs),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    client = MlflowClient(tracking_uri=mlflow_server.uri)
    first = check_store(client, out)
    result = CliRunner().invoke(app, ["export", str(out), "--mlflow", mlflow_server.uri])
    assert "5 runs (0 new), 0 metric points" in result.output  # the live sweep sent it all
    assert check_store(client, out) == first
    trials = pd.read_csv(out / "trials.csv")
    for row in trials.itertuples():
        scalars, hparams, metrics = event_data(logs / "tracked" / row.trial_id)
        assert hparams == {
            "lr": pytest.approx(row.lr),
            "weight_decay": row.weight_decay,
            "status": "completed",
        }
        assert [step for step, _ in scalars["val_acc"]] == [1, 2]
        assert scalars["best_val_acc"][0][1] == pytest.approx(row.best_val_acc)
        assert metrics == ["best_val_acc", "test_acc_at_best"]


def test_a_server_killed_mid_sweep_loses_no_epoch_once_exported(
    tmp_path, mlflow_server, real_dataset
):
    from mlflow.tracking import MlflowClient

    from softmax_exp.report import ReportRefresher
    from softmax_exp.sweep import SweepObserver, run_sweep
    from softmax_exp.tracking import LiveTracking

    notes = []

    class KillsTheServer(SweepObserver):
        def trial_finished(self, record):
            mlflow_server.stop()  # the first trial to end takes the server down

        def note(self, message):
            notes.append(message)

    (tmp_path / "tracked.yaml").write_text(SPEC)
    live = LiveTracking(TrackingConfig(mlflow=mlflow_server.uri))
    try:
        sweep = run_sweep(
            tmp_path / "tracked.yaml",
            tmp_path / "out",
            observer=live.sweep_observer(KillsTheServer()),
            on_tables=ReportRefresher(),
        )
    finally:
        lines = notes + live.close()
    assert [r.status for r in sweep.records.values()] == ["completed"] * 4
    assert len(lines) == 1, lines  # told once, in one line
    assert f"softmax export {tmp_path / 'out'} --mlflow {mlflow_server.uri}" in lines[0]
    mlflow_server.start()
    result = CliRunner().invoke(
        app, ["export", str(tmp_path / "out"), "--mlflow", mlflow_server.uri]
    )
    assert result.exit_code == 0, result.output
    check_store(MlflowClient(tracking_uri=mlflow_server.uri), tmp_path / "out")


def test_a_live_train_run_then_its_export_to_sqlite(tmp_path, real_dataset):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = tmp_path / "run.yaml"
    config.write_text(f"epochs: 2\ntrain_subset: 1000\ntracking:\n  mlflow: {uri}\n")
    result = CliRunner().invoke(
        app,
        [
            "train",
            "-c",
            str(config),
            "--out",
            str(tmp_path / "runs"),
            "--json",
            "--tensorboard",
            str(tmp_path / "tb"),
        ],
    )
    assert result.exit_code == 0, result.output
    run_dir = Path(json.loads(result.stdout)["run_dir"])  # stdout: the JSON object alone
    assert result.stderr.splitlines() == [  # stderr: where it went, and how to look
        f"MLflow: logged to experiment 'softmax-train' at {uri}; see it with: "
        f"mlflow ui --backend-store-uri {uri}",
        f"TensorBoard: logs in {tmp_path / 'tb'}; see them with: tensorboard --logdir "
        f"{tmp_path / 'tb'}",
    ]
    client = MlflowClient(tracking_uri=uri)
    (run,) = runs_of(client, "softmax-train")
    assert run.info.run_name == run_dir.name and run.info.status == "FINISHED"
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert history(client, run, "test_acc") == [
        (e, pytest.approx(v)) for e, v in zip(metrics["epoch"], metrics["test_acc"])
    ]
    assert "val_acc" not in run.data.metrics  # no validation split, no val curve
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"config.yaml", "run.json"}
    result = CliRunner().invoke(app, ["export", str(run_dir), "--mlflow", uri])
    assert "1 runs (0 new), 0 metric points" in result.output
    scalars, hparams, _ = event_data(tmp_path / "tb" / run_dir.name)
    assert [s for s, _ in scalars["test_acc"]] == [1, 2] and hparams["epochs"] == 2


# -- TensorBoard's HParams table, in a browser


def page_texts(url: str, mark: str, profile: Path) -> list[str]:
    """Every text on the page, shadow roots included (the dashboards are web components,
    which --dump-dom leaves out), once `mark` shows or a minute has passed. Chromium is
    driven over --remote-debugging-pipe: the DevTools protocol on fds 3 and 4."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium not found: run scripts/setup (apt-get install chromium)")
    commands_read, commands_write = os.pipe()
    answers_read, answers_write = os.pipe()

    def onto_3_and_4():
        read_end, write_end = os.dup(commands_read), os.dup(answers_write)
        os.dup2(read_end, 3)
        os.dup2(write_end, 4)

    browser = subprocess.Popen(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            url,
        ],
        pass_fds=(3, 4),
        preexec_fn=onto_3_and_4,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(commands_read)
    os.close(answers_write)
    commands, answers = os.fdopen(commands_write, "wb"), os.fdopen(answers_read, "rb")
    pending = b""

    def call(number: int, method: str, **extra):
        nonlocal pending
        commands.write(json.dumps({"id": number, "method": method, **extra}).encode() + b"\0")
        commands.flush()
        while True:
            while b"\0" in pending:
                raw, pending = pending.split(b"\0", 1)
                message = json.loads(raw)
                if message.get("id") == number:
                    return message
            chunk = answers.read1(65536)
            assert chunk, "chromium closed the pipe"
            pending += chunk

    script = PAGE_TEXTS.replace("MARK", json.dumps(mark))
    try:
        targets = call(1, "Target.getTargets")["result"]["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        attached = call(
            2, "Target.attachToTarget", params={"targetId": page["targetId"], "flatten": True}
        )
        session = attached["result"]["sessionId"]
        for number in range(3, 100):  # the page may still be loading: ask again
            answer = call(
                number,
                "Runtime.evaluate",
                sessionId=session,
                params={"expression": script, "awaitPromise": True, "returnByValue": True},
            )
            value = answer.get("result", {}).get("result", {}).get("value")
            if value is not None:
                return value
            time.sleep(0.5)
        pytest.fail(f"no page texts: {answer}")
    finally:
        browser.kill()
        browser.wait()
        commands.close()
        answers.close()


PAGE_TEXTS = r"""
new Promise((resolve) => {
  const started = Date.now();
  function texts(node, found) {
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.textContent.trim();
      if (text) found.push(text);
      return found;
    }
    if (node.shadowRoot) texts(node.shadowRoot, found);
    for (const child of node.childNodes) texts(child, found);
    return found;
  }
  function look() {
    const found = texts(document, []);
    if (found.some((t) => t.includes(MARK)) || Date.now() - started > 60000) resolve(found);
    else setTimeout(look, 500);
  }
  look();
})
"""


def test_tensorboards_hparams_table_has_a_row_per_trial(swept, tmp_path):
    logs = tmp_path / "tb"
    result = CliRunner().invoke(app, ["export", str(swept), "--tensorboard", str(logs)])
    assert result.exit_code == 0, result.output
    port = free_port()
    board = Server(
        [
            str(BIN / "tensorboard"),
            "--logdir",
            str(logs),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        f"http://127.0.0.1:{port}/data/plugins_listing",
        tmp_path / "tensorboard.log",
    ).start()
    trials = pd.read_csv(swept / "trials.csv")
    last = f"tracked/{trials['trial_id'].iloc[-1]}"
    try:
        texts = page_texts(f"http://127.0.0.1:{port}/#hparams", last, tmp_path / "profile")
    finally:
        board.stop()
    rows = [t for t in texts if t.startswith("tracked/")]
    assert sorted(rows) == sorted(f"tracked/{t}" for t in trials["trial_id"])
    for column in ("lr", "weight_decay", "status", "best_val_acc", "test_acc_at_best"):
        assert column in texts
