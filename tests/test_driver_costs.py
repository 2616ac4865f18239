"""What a sweep's driver does per group and per event does not grow with the trials so
far: the tables grow by appending the rows of the trials that ended, and the live view
rebuilds its leaderboard (which reads every trial) only now and then. Counted, not
timed."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from rich.console import Console

from softmax_exp.sweep import jobs, run_sweep, runner, tables

pytestmark = pytest.mark.e2e

SPEC = """\
base: {epochs: 2, train_subset: 600, batch_size: 100}
random:
  trials: 12
  seed: 4
  space:
    lr: {loguniform: [0.01, 1.0]}
"""


def test_the_tables_grow_by_the_rows_of_each_group(tmp_path, real_dataset, monkeypatch):
    monkeypatch.setattr(jobs, "MAX_FUSED", 4)  # 12 trials: three groups, one after another
    appended, rebuilt = [], []
    append_lines, write_tables = tables.append_lines, runner._Driver.write_tables

    def spy_append(path, lines):
        appended.append((path.name, len(lines)))
        append_lines(path, lines)

    def spy_rebuild(driver):
        rebuilt.append(len(driver.sweep.records))
        write_tables(driver)

    monkeypatch.setattr(tables, "append_lines", spy_append)
    monkeypatch.setattr(runner._Driver, "write_tables", spy_rebuild)
    (tmp_path / "s.yaml").write_text(SPEC)
    run_sweep(tmp_path / "s.yaml", tmp_path / "out", argv=["test"])
    assert len(rebuilt) == 2  # when the sweep starts and when it ends, not per group
    assert [n for name, n in appended if name == "trials.csv"] == [4, 4, 4]
    assert [n for name, n in appended if name == "epochs.csv"] == [8, 8, 8]
    trials = pd.read_csv(tmp_path / "out" / "trials.csv")
    epochs = pd.read_csv(tmp_path / "out" / "epochs.csv")
    assert len(trials) == 12 and len(epochs) == 24
    order = [
        p.name
        for p in sorted(
            (tmp_path / "out" / "trials").iterdir(),
            key=lambda p: pd.read_json(p / "run.json", typ="series")["trial_index"],
        )
    ]
    assert list(trials.trial_id) == order  # rebuilt in expansion order at the end


def test_the_live_view_rebuilds_its_leaderboard_only_now_and_then(
    tmp_path, real_dataset, monkeypatch
):
    from softmax_exp_cli import sweep_display

    built = []
    board = sweep_display.leaderboard_table

    def spy(console, sweep, *args, **kwargs):
        built.append(len(sweep.records))
        return board(console, sweep, *args, **kwargs)

    monkeypatch.setattr(sweep_display, "leaderboard_table", spy)
    monkeypatch.setattr(sweep_display.SweepDisplay, "BOARD_EVERY", 3600.0)
    console = Console(file=io.StringIO(), force_terminal=True, width=80)
    (tmp_path / "s.yaml").write_text(SPEC)
    with sweep_display.SweepDisplay(console) as display:
        run_sweep(tmp_path / "s.yaml", tmp_path / "out", observer=display, argv=["test"])
    assert built == [12]  # the first view, none per trial or epoch (the command prints the last)
    assert "leaderboard" in console.file.getvalue()


def test_epoch_rows_are_synced_per_trial_not_per_row(tmp_path, real_dataset, monkeypatch):
    """A row is written as its epoch ends (a killed process keeps it) and forced to disk
    with the trial's checkpoint or end: one sync per trial here, not one per row."""
    from softmax_exp import runs

    appended, synced = [], []
    append_line, sync_file = runs.append_line, runs.sync_file

    def spy_append(path, line, sync=True):
        appended.append((path.name, sync))
        append_line(path, line, sync)

    def spy_sync(path):
        synced.append(path.parent.name)
        sync_file(path)

    monkeypatch.setattr(runs, "append_line", spy_append)
    monkeypatch.setattr(runs, "sync_file", spy_sync)
    (tmp_path / "s.yaml").write_text(SPEC)
    run_sweep(tmp_path / "s.yaml", tmp_path / "out", argv=["test"])
    assert appended == [("metrics.csv", False)] * 24
    trials = sorted(p.name for p in (tmp_path / "out" / "trials").iterdir())
    assert sorted(synced) == trials  # each trial's metrics.csv once, at its end
    for trial in trials:
        rows = pd.read_csv(tmp_path / "out" / "trials" / trial / "metrics.csv")
        assert list(rows.epoch) == [1, 2]


def test_a_trial_whose_best_epoch_is_its_last_saves_its_parameters_once(
    tmp_path, real_dataset, monkeypatch
):
    """best.params is then final.params' bytes, copied: one conversion through MXNet per
    trial, not two. Both load as parameters and match run.json's sums."""
    import hashlib
    import json

    from softmax_exp import runs
    from softmax_exp.model import load_params

    saved = []
    save_params = runs.save_params

    def spy_save(path, params):
        saved.append(path.name)
        save_params(path, params)

    monkeypatch.setattr(runs, "save_params", spy_save)
    (tmp_path / "s.yaml").write_text(SPEC.replace("epochs: 2", "epochs: 1"))
    run_sweep(tmp_path / "s.yaml", tmp_path / "out", argv=["test"])
    assert saved == ["final.params"] * 12
    for trial in (tmp_path / "out" / "trials").iterdir():
        final, best = (trial / "final.params").read_bytes(), (trial / "best.params").read_bytes()
        assert final == best
        sums = json.loads((trial / "run.json").read_text())["sha256"]
        assert sums["best.params"] == sums["final.params"] == hashlib.sha256(best).hexdigest()
        assert set(load_params(trial / "best.params")) == {"0.weight", "0.bias"}
