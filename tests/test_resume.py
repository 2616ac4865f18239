"""A run goes on from its last finished epoch as if it had never stopped (real data)."""

from __future__ import annotations

import pandas as pd
import pytest

from softmax_exp.config import TrainConfig
from softmax_exp.errors import RunError
from softmax_exp.experiment import resume_train, run_train
from softmax_exp.records import TIMING_COLUMNS
from softmax_exp.training import TrainHooks

pytestmark = pytest.mark.e2e

CONFIG = TrainConfig(
    epochs=6,
    batch_size=100,
    lr=0.2,
    momentum=0.9,
    weight_decay=1e-4,
    lr_schedule="step",
    lr_step_epochs=2,
    lr_step_factor=0.5,
    val_fraction=0.1,
    train_subset=3000,
)


class CtrlCAtEpoch(TrainHooks):
    def __init__(self, epoch):
        self.at = epoch

    def epoch_started(self, epoch, num_batches):
        if epoch == self.at:
            raise KeyboardInterrupt


def metrics(run) -> pd.DataFrame:
    return pd.read_csv(run / "metrics.csv").drop(columns=list(TIMING_COLUMNS))


def test_an_interrupted_run_resumes_to_the_same_metrics(tmp_path, real_dataset):
    whole = run_train(CONFIG, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        run_train(CONFIG, tmp_path / "cut", observer=CtrlCAtEpoch(4))
    (cut,) = (tmp_path / "cut").iterdir()
    assert len(metrics(cut)) == 3 and (cut / "checkpoint.json").is_file()
    resumed = resume_train(cut)
    assert resumed.info["status"] == "completed" and resumed.info["resumed_at_epoch"] == 3
    pd.testing.assert_frame_equal(metrics(cut), metrics(whole.path), check_exact=True)
    assert resumed.info["best_epoch"] == whole.info["best_epoch"]
    assert resumed.info["final"]["test_acc"] == whole.info["final"]["test_acc"]


def test_a_finished_run_is_extended_as_a_longer_run_would_go(tmp_path, real_dataset):
    short = run_train(CONFIG.model_copy(update={"epochs": 4}), tmp_path / "short")
    longer = run_train(CONFIG, tmp_path / "long")
    with pytest.raises(RunError, match="already trained 4 of 4 epochs; give more epochs"):
        resume_train(short.path)
    extended = resume_train(short.path, epochs=6)
    assert extended.info["epochs_run"] == 6
    pd.testing.assert_frame_equal(metrics(short.path), metrics(longer.path), check_exact=True)


def test_the_resume_option(tmp_path, real_dataset):
    from typer.testing import CliRunner

    from softmax_exp_cli.main import app

    with pytest.raises(KeyboardInterrupt):
        run_train(CONFIG, tmp_path, observer=CtrlCAtEpoch(3))
    (run,) = tmp_path.iterdir()
    runner = CliRunner()
    refused = runner.invoke(app, ["train", "--resume", str(run), "--lr", "0.3"])
    assert refused.exit_code == 2 and "--lr cannot change a run it resumes" in refused.output
    done = runner.invoke(app, ["train", "--resume", str(run), "--quiet"])
    assert done.exit_code == 0, done.output
    assert "completed after 6 epochs" in done.output and len(metrics(run)) == 6
    missing = runner.invoke(app, ["train", "--resume", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "not a run directory" in missing.output


@pytest.mark.slow  # kills and reruns a CLI process
def test_a_run_killed_with_minus_9_resumes_to_the_same_metrics(tmp_path, real_dataset):
    import signal
    import subprocess
    import sys
    import time

    args = [
        "train",
        "--epochs",
        "20",
        "--batch-size",
        "50",
        "--lr",
        "0.2",
        "--set",
        "train_subset=20000",
        "--set",
        "val_fraction=0.1",
        "--quiet",
    ]
    command = [sys.executable, "-m", "softmax_exp_cli", *args]
    process = subprocess.Popen(
        [*command, "--out", str(tmp_path / "killed")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    rows = tmp_path / "killed"
    while time.time() < deadline and not any(
        len(m.read_text().splitlines()) >= 4 for m in rows.glob("*/metrics.csv")
    ):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    (run,) = (tmp_path / "killed").iterdir()
    assert 3 <= len(metrics(run)) < 20
    resumed = resume_train(run)
    subprocess.run([*command, "--out", str(tmp_path / "whole")], check=True, capture_output=True)
    (whole,) = (tmp_path / "whole").iterdir()
    pd.testing.assert_frame_equal(metrics(run), metrics(whole), check_exact=True)
    assert (run / "best.params").is_file() and resumed.info["status"] == "completed"
    assert list(run.glob("*.tmp")) == list(run.glob(".*.tmp")) == []  # a cut write is gone


@pytest.mark.slow  # a fresh process that imports MXNet
def test_an_interrupted_train_command_says_where_its_run_is(tmp_path, real_dataset):
    """Ctrl-C on `softmax train`: exit 130, and the last line names the run directory
    and the command that goes on with it (shown after the live display is gone)."""
    import signal
    import subprocess
    import sys
    import time

    command = [
        sys.executable,
        "-m",
        "softmax_exp_cli",
        "train",
        "--epochs",
        "40",
        "--set",
        "train_subset=5000",
        "--out",
        str(tmp_path),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    while time.time() < deadline and not any(
        len(p.read_text().splitlines()) > 2 for p in tmp_path.glob("*/metrics.csv")
    ):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    (run,) = tmp_path.iterdir()
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-2:] == [
        f"interrupted: the finished epochs are kept in {run}",
        f"go on with: softmax train --resume {run}",
    ]
    assert "Traceback" not in err
