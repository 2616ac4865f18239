"""End to end on the real Fashion-MNIST (CI installs Debian's dataset-fashion-mnist)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from softmax_exp.records import METRIC_COLUMNS, TIMING_COLUMNS
from softmax_exp_cli.main import app

pytestmark = pytest.mark.e2e
runner = CliRunner()


def train(tmp_path, *args):
    result = runner.invoke(app, ["train", "--out", str(tmp_path), "--json", *args])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    return info, pd.read_csv(f"{info['run_dir']}/metrics.csv")


def test_real_dataset_shapes(real_dataset):
    assert real_dataset.train_images.shape == (60000, 784)
    assert real_dataset.test_images.shape == (10000, 784)
    assert np.bincount(real_dataset.train_labels).tolist() == [6000] * 10


def test_chapter_config_reaches_the_chapter_accuracy(tmp_path, real_dataset):
    info, metrics = train(tmp_path, "--lr", "0.1")
    assert list(metrics.columns) == list(METRIC_COLUMNS)
    assert metrics["epoch"].tolist() == list(range(1, 11))
    assert metrics["test_acc"].iloc[-1] >= 0.82
    assert info["status"] == "completed" and info["final"]["test_acc"] >= 0.82
    files = {p.name for p in (tmp_path / info["run_dir"].split("/")[-1]).iterdir()}
    assert files == {
        "config.yaml",
        "metrics.csv",
        "run.json",
        "final.params",
        "best.params",
        "checkpoint-10.params",
        "checkpoint.json",
        ".lock",  # one writer at a time: the flock'd file stays, naming its last holder
    }


def test_same_seed_twice_gives_identical_metrics(tmp_path, real_dataset):
    args = ("--epochs", "2", "--seed", "5", "--set", "train_subset=20000")
    _, first = train(tmp_path, *args)
    _, second = train(tmp_path, *args)
    pd.testing.assert_frame_equal(
        first.drop(columns=list(TIMING_COLUMNS)), second.drop(columns=list(TIMING_COLUMNS))
    )


def test_one_epoch_with_validation_in_plain_output(tmp_path, real_dataset):
    result = runner.invoke(
        app, ["train", "--out", str(tmp_path), "--epochs", "1", "--set", "val_fraction=0.1"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "epoch",
        "train",
        "loss",
        "train",
        "acc",
        "val",
        "acc",
        "test",
        "acc",
        "sec",
        "samples/s",
    ]
    assert lines[1].split()[0] == "1"
    assert "run directory:" in result.output
    (run,) = tmp_path.iterdir()
    metrics = pd.read_csv(run / "metrics.csv")
    assert 0.6 < metrics["val_acc"].iloc[0] < 1


def test_data_command_verifies_the_real_files(real_dataset):
    result = runner.invoke(app, ["data", "--no-download"])
    assert result.exit_code == 0, result.output
    assert result.output.count(" ok") >= 4 and "all files verified" in result.output
