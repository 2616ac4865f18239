"""Tables fit 80 columns by leaving whole columns out, never by cutting numbers."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from helpers import write_sweep
from softmax_exp_cli import common
from softmax_exp_cli.main import app
from softmax_exp_cli.tables import decimals, shortest

runner = CliRunner()


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch):
    monkeypatch.setattr(common.out, "width", 80)


def test_numbers_get_the_digits_that_tell_them_apart():
    assert shortest([0.01, 0.1, 0.3, 1.0, None]) == ["0.01", "0.1", "0.3", "1.0", "-"]
    assert shortest([0.01, 0.011]) == ["0.01", "0.011"]
    assert shortest([0.187899, 1.32715e-05]) == ["0.1879", "1.327e-05"]
    assert shortest([0.12341, 0.12344]) == ["0.12341", "0.12344"]
    assert shortest([64, 256]) == ["64", "256"]
    assert decimals([0.849512, 0.849488, float("nan")]) == ["0.84951", "0.84949", "-"]
    assert decimals([0.8, 0.81]) == ["0.8000", "0.8100"]


def test_compare_fits_80_columns_and_says_what_it_left_out(tmp_path):
    rows = write_sweep(tmp_path / "s")
    result = runner.invoke(app, ["compare", str(tmp_path / "s"), "--top", "10"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80, result.output
    assert "…" not in result.output
    for row in sorted(rows, key=lambda r: -r["best_val_acc"])[:10]:
        assert row["trial_id"] in result.output
        assert f"{row['best_val_acc']:.5f}" in result.output  # 4 digits would not tell them apart
    assert "4 more (--top N for more)" in result.output
    assert "left out to fit:" in result.output


def test_compare_wide_and_csv_keep_every_column(tmp_path):
    write_sweep(tmp_path / "s")
    wide = runner.invoke(app, ["compare", str(tmp_path / "s"), "--wide"])
    assert wide.exit_code == 0 and "left out" not in wide.output
    assert max(len(line) for line in wide.output.splitlines()) > 80
    for header in ("mom", "subset", "patience", "final test"):
        assert header in wide.output
    printed = runner.invoke(app, ["compare", str(tmp_path / "s"), "--csv", "-"])
    table = pd.read_csv(io.StringIO(printed.output))
    assert len(table) == 14 and "momentum" in table


def test_compare_takes_the_sweep_files_metric_names(tmp_path):
    write_sweep(tmp_path / "s")
    result = runner.invoke(app, ["compare", str(tmp_path / "s"), "--metric", "val_acc"])
    assert result.exit_code == 0, result.output
    assert "sorted on best_val_acc" in result.output


def test_a_single_run_shows_the_same_empty_marker(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text(
        "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,epoch_seconds,"
        "samples_per_second\n1,0.6,0.8,,,0.55,0.81,1.0,60000\n"
    )
    (run / "run.json").write_text(json.dumps({"status": "completed", "best_epoch": None}))
    (run / "config.yaml").write_text("lr: 0.1\n")
    result = runner.invoke(app, ["compare", str(run)])
    assert result.exit_code == 0, result.output
    assert "None" not in result.output and "nan" not in result.output
    assert " - " in result.output or result.output.rstrip().endswith("-")


def write_run(path, name: str, lr: float, val_acc: float):
    """A run directory as softmax train leaves it (the files compare reads)."""
    run = path / name
    run.mkdir(parents=True)
    (run / "metrics.csv").write_text(
        "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,epoch_seconds,"
        f"samples_per_second\n1,0.6,0.8,0.5,{val_acc},0.55,0.81,1.0,60000\n"
    )
    (run / "run.json").write_text(json.dumps({"status": "completed", "best_epoch": 1}))
    (run / "config.yaml").write_text(f"lr: {lr}\nbatch_size: 64\nval_fraction: 0.1\n")
    return run


def test_compare_of_runs_and_a_sweep_keeps_the_settings_and_scores_in_80_columns(tmp_path):
    """A run's long name is its source, once: its trial cell repeats nothing, so lr and
    test@best still fit beside it (issue 26)."""
    write_sweep(tmp_path / "sweep-tpe")
    runs = [
        write_run(tmp_path / "runs", "20261206-211004-b0a0cc1446", 1.0, 0.95),
        write_run(tmp_path / "runs", "20261206-211000-9574aba686", 0.5, 0.94),
    ]
    result = runner.invoke(
        app, ["compare", *map(str, runs), str(tmp_path / "sweep-tpe"), "--top", "8"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80, result.output
    header = lines[1].split()
    assert header[:3] == ["source", "trial", "status"]
    assert "lr" in header and "test@best" in header, result.output
    first = lines[3].split()
    assert first[:3] == ["20261206-211004-b0a0cc1446", "-", "completed"]
    assert first[header.index("lr")] == "1.0"  # a float stays one, as in the leaderboard
    assert result.output.count("20261206-211004-b0a0cc1446") == 1
    only_runs = runner.invoke(app, ["compare", *map(str, runs)])
    assert only_runs.output.splitlines()[1].split()[:2] == ["source", "status"]


def test_compare_and_the_leaderboard_write_a_setting_alike():
    from softmax_exp.labels import SHORT_NAMES, setting_text
    from softmax_exp.sweep.leaderboard import point_label

    assert point_label({"lr": 1.0, "batch_size": 256, "weight_decay": 1e-05}) == (
        "lr=1.0 batch=256 wd=1e-05"
    )
    assert [setting_text(v) for v in (1.0, 0.1, 256, 1e-05)] == ["1.0", "0.1", "256", "1e-05"]
    assert shortest([1.0, 0.1, 1e-05]) == ["1.0", "0.1", "1e-05"]
    assert SHORT_NAMES["batch_size"] == "batch" and SHORT_NAMES["test_acc_at_best"] == "test@best"


def test_piped_compare_pads_no_line(tmp_path):
    write_sweep(tmp_path / "s")
    result = runner.invoke(app, ["compare", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    padded = [line for line in result.output.splitlines() if line != line.rstrip()]
    assert padded == []
