"""Exercise 2's tools: early stopping in run.json, `evaluate` reproducing recorded test
accuracy exactly, and `plot` writing valid figures."""

from __future__ import annotations

import json
import struct
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from softmax_exp.evaluation import evaluate_run
from softmax_exp_cli.main import app

pytestmark = pytest.mark.e2e
runner = CliRunner()


@pytest.fixture(scope="module")
def early_stopped(tmp_path_factory, real_dataset):
    tmp = tmp_path_factory.mktemp("early")
    result = runner.invoke(
        app,
        [
            "train",
            "--out",
            str(tmp),
            "--json",
            "--lr",
            "0.5",
            "--epochs",
            "40",
            "--batch-size",
            "50",
            "--set",
            "train_subset=1000",
            "--set",
            "val_fraction=0.1",
            "--set",
            "patience=3",
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_early_stopping_is_recorded(early_stopped):
    info = early_stopped
    assert info["status"] == "completed"
    assert info["stop_reason"] == "early stopping: no val_acc gain for 3 epochs"
    assert info["epochs_run"] == info["best_epoch"] + 3 < 40
    assert info["best"]["val_acc"] >= info["final"]["val_acc"]


@pytest.mark.parametrize("which", ["best", "final"])
def test_evaluate_reproduces_the_recorded_test_accuracy_exactly(early_stopped, which):
    evaluation = evaluate_run(early_stopped["run_dir"], which)
    recorded = early_stopped["best" if which == "best" else "final"]
    assert evaluation.test_acc == recorded["test_acc"]
    assert evaluation.test_loss == pytest.approx(recorded["test_loss"], rel=1e-6)
    assert evaluation.confusion.sum() == 10000
    assert evaluation.confusion.trace() == round(evaluation.test_acc * 10000)


def test_evaluate_command(early_stopped):
    result = runner.invoke(app, ["evaluate", early_stopped["run_dir"]])
    assert result.exit_code == 0, result.output
    assert "ankle boot" in result.output and "confusion (rows: true" in result.output
    assert max(len(line) for line in result.output.splitlines()[1:]) <= 80
    padded = [line for line in result.output.splitlines() if line != line.rstrip()]
    assert padded == [], "piped lines end in spaces"
    result = runner.invoke(app, ["evaluate", early_stopped["run_dir"], "--which", "last"])
    assert result.exit_code == 2 and "--which last: use best or final" in result.output


def test_evaluate_missing_params_is_one_line(tmp_path):
    result = runner.invoke(app, ["evaluate", str(tmp_path)])
    assert result.exit_code == 2 and "best.params: no such file" in result.output


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def svg_root(path):
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    return root


def test_plot_a_run(early_stopped, tmp_path):
    result = runner.invoke(app, ["plot", early_stopped["run_dir"], "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    width, height = png_size(tmp_path / "curves.png")
    assert 1100 <= width <= 1300 and 400 <= height <= 500  # loss and accuracy side by side
    assert svg_root(tmp_path / "curves.svg").get("width").endswith("pt")


def test_plot_a_sweep(tmp_path, real_dataset):
    (tmp_path / "s.yaml").write_text(
        "base: {epochs: 2, train_subset: 500, batch_size: 100}\n"
        "grid: {lr: [0.1, 0.3], weight_decay: [0, 0.01]}\n"
    )
    result = runner.invoke(
        app, ["sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "sw"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["plot", str(tmp_path / "sw")])
    assert result.exit_code == 0, result.output
    width, height = png_size(tmp_path / "sw" / "curves.png")
    assert height >= 700 and width > height  # 2 x 2 panels and the legend beside them
    width, height = png_size(tmp_path / "sw" / "by_setting.png")
    assert 1100 <= width <= 1300 and 400 <= height <= 500  # lr and weight_decay
    assert svg_root(tmp_path / "sw" / "by_setting.svg") is not None
    leftovers = [p.name for p in (tmp_path / "sw").iterdir() if p.name.startswith(".")]
    assert leftovers == [".lock"]
    # a sweep's result is the trial it selected: evaluate names it and evaluates it
    board = runner.invoke(app, ["compare", str(tmp_path / "sw"), "--csv", "-"]).output
    selected = board.splitlines()[1].split(",")[1]  # sorted on val acc, best first
    result = runner.invoke(app, ["evaluate", str(tmp_path / "sw")])
    assert result.exit_code == 0, result.output
    trial = tmp_path / "sw" / "trials" / selected
    assert result.output.splitlines()[0] == (
        f"{tmp_path / 'sw'}: the sweep's selected trial is {trial}"
    )
    assert evaluate_run(tmp_path / "sw").params == trial / "best.params"
