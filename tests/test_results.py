from __future__ import annotations

import pytest

from softmax_exp import results
from softmax_exp.errors import RunError
from softmax_exp.records import METRIC_COLUMNS
from softmax_exp.runs import csv_line
from softmax_exp.summary import best_row, read_metrics, summarize


def write_metrics(path, rows, tail=""):
    lines = [csv_line(METRIC_COLUMNS)] + [csv_line(r) for r in rows]
    path.write_text("\n".join(lines) + "\n" + tail)


ROWS = [
    [1, 0.9, 0.7, 0.8, 0.72, 0.81, 0.71, 1.0, 100.0],
    [2, 0.6, 0.8, 0.7, 0.80, 0.72, 0.79, 1.0, 100.0],
    [3, 0.5, 0.85, 0.75, 0.78, 0.74, 0.80, 1.0, 100.0],
]


def test_read_metrics_drops_a_torn_last_line(tmp_path):
    path = tmp_path / "metrics.csv"
    write_metrics(path, ROWS, tail="4,0.4,0.9")
    rows = read_metrics(path)
    assert [r["epoch"] for r in rows] == [1, 2, 3]


def test_read_metrics_rejects_foreign_files(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("a,b\n1,2\n")
    assert read_metrics(path) is None
    assert read_metrics(tmp_path / "missing.csv") is None


def test_best_row_ignores_nan_and_takes_the_first_best():
    rows = [
        {"epoch": 1, "val_acc": float("nan")},
        {"epoch": 2, "val_acc": 0.5},
        {"epoch": 3, "val_acc": 0.5},
        {"epoch": 4, "val_acc": None},
    ]
    assert best_row(rows, "val_acc", "max")["epoch"] == 2
    assert best_row([{"val_acc": float("nan")}], "val_acc", "max") is None


def test_summarize_reports_test_at_the_validation_best(tmp_path):
    path = tmp_path / "metrics.csv"
    write_metrics(path, ROWS)
    summary = summarize(read_metrics(path), "val_acc", "max")
    assert summary["best_epoch"] == 2 and summary["test_acc_at_best"] == 0.79
    assert summary["final_test_acc"] == 0.80 and summary["epochs_run"] == 3
    assert summarize(read_metrics(path), "val_loss", "min")["best_epoch"] == 2


def test_load_a_run_directory(tmp_path):
    write_metrics(tmp_path / "metrics.csv", ROWS)
    (tmp_path / "config.yaml").write_text("lr: 0.3\nbatch_size: 64\n")
    (tmp_path / "run.json").write_text('{"status": "completed", "wall_seconds": 3.0}')
    loaded = results.load(tmp_path)
    assert len(loaded.trials) == 1 and len(loaded.epochs) == 3
    row = loaded.trials.iloc[0]
    assert (row.status, row.lr, row.best_epoch) == ("completed", 0.3, 2)


def test_load_refuses_other_directories(tmp_path):
    with pytest.raises(RunError, match="neither a run directory"):
        results.load(tmp_path)
