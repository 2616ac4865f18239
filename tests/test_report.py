"""report.html and the Optuna export: on sweep directories made in the test (no training),
and one short real sweep that refreshes its page as it runs."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from helpers import HOSTILE, SECTIONS, leaderboard_rows, write_fake_sweep
from softmax_exp.report import (
    REPORT_FILE,
    ReportRefresher,
    export_study,
    param_importances,
    write_report,
)
from softmax_exp.report.sources import read_source
from softmax_exp_cli.main import app

STATUSES = ("completed", "pruned", "completed", "diverged", "failed")


@pytest.fixture
def fake(tmp_path):
    return write_fake_sweep(tmp_path / "sweep", trials=10, epochs=6, statuses=STATUSES)


def test_report_has_every_section_and_one_leaderboard_row_per_trial(fake):
    written = write_report([fake], evaluate=False)
    assert written == fake / REPORT_FILE
    page = written.read_text()
    for anchor in SECTIONS:
        assert f'id="{anchor}"' in page, anchor
    trials = pd.read_csv(fake / "trials.csv")
    rows = leaderboard_rows(page)
    assert len(rows) == len(trials) == 10
    by_id = {row[1]: row for row in rows}
    for trial in trials.itertuples():
        row = by_id[trial.trial_id]
        assert row[2] == trial.status
        expected = "" if math.isnan(trial.best_val_acc) else f"{trial.best_val_acc:.4f}"
        assert expected in row, (row, expected)
        assert str(trial.epochs_run) in row
    ranked = [float(r[6]) for r in rows if r[6]]  # best val_acc column, best first
    assert ranked == sorted(ranked, reverse=True)
    assert page.count('class="trial" id="trial-') == 10  # each row's anchor has a section
    assert "https://" not in page.split("<script>")[0] and 'src="http' not in page


def test_sweep_file_strings_show_as_text_never_as_markup(tmp_path):
    sweep = write_fake_sweep(tmp_path / "s", trials=4, epochs=3, name=HOSTILE)
    assert read_source(sweep).name == HOSTILE
    page = write_report([sweep], evaluate=False).read_text()
    assert "<title>softmax-exp report: a&lt;/script&gt;&lt;script&gt;" in page
    assert "document.title='pwned'</script>" not in page
    assert "<b>" not in page
    assert "a&lt;/script&gt;&lt;script&gt;document.title=&#x27;pwned&#x27;" in page
    # our own scripts only: plotly.js, the figure specs, the glue
    figures = page.count('<script type="application/json" class="figure"')
    assert page.count("<script") == 2 + figures
    for spec in re.findall(r'class="figure" data-target="[^"]+">(.*?)</script>', page, re.S):
        assert "<" not in spec and ">" not in spec


def test_per_setting_axes_follow_the_distributions(fake):
    from softmax_exp.report.figures import axis_kind

    source = read_source(fake)
    assert source.swept() == ["lr", "batch_size", "weight_decay"]
    assert axis_kind(source, "lr") == "log"  # loguniform
    assert axis_kind(source, "batch_size") == "log"  # a choice spanning 16x
    assert axis_kind(source, "weight_decay") == "category"  # a choice with 0


def test_export_is_an_optuna_study_matching_trials_csv(fake):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    export_study(fake)
    path = export_study(fake)  # again: replaced, not appended to
    study = optuna.load_study(
        study_name="fake", storage=JournalStorage(JournalFileBackend(str(path)))
    )
    trials = pd.read_csv(fake / "trials.csv")
    epochs = pd.read_csv(fake / "epochs.csv")
    assert len(study.trials) == len(trials)
    states = {"completed": "COMPLETE", "diverged": "COMPLETE", "pruned": "PRUNED", "failed": "FAIL"}
    assert set(trials.status) == set(states)
    for frozen, row in zip(study.trials, trials.itertuples()):
        assert frozen.user_attrs["trial_id"] == row.trial_id
        assert frozen.state.name == states[row.status]
        assert frozen.params == {
            "lr": row.lr,
            "batch_size": row.batch_size,
            "weight_decay": row.weight_decay,
        }
        assert frozen.distributions["lr"].log
        curve = epochs[epochs.trial_id == row.trial_id]
        expected = {int(e): v for e, v in zip(curve.epoch, curve.val_acc) if math.isfinite(v)}
        assert frozen.intermediate_values == pytest.approx(expected)
        if frozen.state.name == "COMPLETE":
            assert frozen.value == pytest.approx(row.best_val_acc)
        else:
            assert frozen.value is None
    assert study.best_trial.value == pytest.approx(trials.best_val_acc.max())


def test_importance_ranks_the_swept_settings(tmp_path):
    source = read_source(write_fake_sweep(tmp_path / "s", trials=30, epochs=3))
    scores = param_importances(source)
    assert set(scores) == {"lr", "batch_size", "weight_decay"}
    assert sum(scores.values()) == pytest.approx(1.0)


def test_several_directories_side_by_side(tmp_path):
    first = write_fake_sweep(tmp_path / "one", trials=3, epochs=3, name="one")
    second = write_fake_sweep(tmp_path / "two", trials=4, epochs=3, name="two", seed=1)
    page = write_report([first, second], tmp_path / "both.html", evaluate=False).read_text()
    rows = leaderboard_rows(page)
    assert len(rows) == 7 and {r[2] for r in rows} == {"one", "two"}


def test_a_run_directory_gets_config_curves_and_trial(tmp_path):
    from softmax_exp.config import TrainConfig, to_yaml
    from softmax_exp.records import METRIC_COLUMNS
    from softmax_exp.runs import csv_line

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(to_yaml(TrainConfig(epochs=2, lr=0.3)))
    (run / "metrics.csv").write_text(
        "\n".join(
            [
                csv_line(METRIC_COLUMNS),
                "1,0.8,0.7,,,0.75,0.72,1.0,60000",
                "2,0.6,0.8,,,0.65,0.78,1.0,60000",
            ]
        )
        + "\n"
    )
    (run / "run.json").write_text('{"status": "completed", "epochs_run": 2}')
    page = write_report([run], evaluate=True).read_text()
    for anchor in ("what-ran", "leaderboard", "curves", "selected", "trials"):
        assert f'id="{anchor}"' in page
    assert "lr: 0.3" in page
    assert "not available: " in page and "best.params: no such file" in page
    assert len(leaderboard_rows(page)) == 1


def test_refresher_is_throttled_and_a_failed_build_keeps_the_last_page(fake, monkeypatch):
    notes = []
    refresher = ReportRefresher(note=notes.append)
    refresher(fake)  # not in a sweep's first seconds
    assert not (fake / REPORT_FILE).exists()
    refresher = ReportRefresher(note=notes.append, first_after=0)
    refresher(fake)
    report = fake / REPORT_FILE
    first = report.stat().st_mtime_ns
    refresher(fake)  # right after: skipped
    assert report.stat().st_mtime_ns == first and not notes
    (fake / "epochs.csv").write_text("trial_id,status\n")  # a build that fails
    refresher(fake, final=True)
    assert report.stat().st_mtime_ns == first and len(notes) == 1
    assert "report.html not refreshed" in notes[0]
    assert [p.name for p in fake.iterdir() if p.name.startswith(".")] == []


def test_cli_report_and_export(fake, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(fake), "--no-evaluate"])
    assert result.exit_code == 0 and "report.html" in result.output
    result = runner.invoke(app, ["export", str(fake), "--optuna"])
    assert result.exit_code == 0 and "optuna-dashboard" in result.output
    result = runner.invoke(app, ["export", str(fake)])
    assert result.exit_code == 2 and result.output.startswith("error: choose what to export")
    result = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "neither a run directory" in result.output
    (fake / "trials.csv").write_text("")  # empty: one line, no traceback
    result = runner.invoke(app, ["report", str(fake)])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "trials.csv: unreadable" in result.output
    write_fake_sweep(fake, trials=10, epochs=6, statuses=STATUSES)
    (fake / "sweep.yaml").write_text(yaml.safe_dump({"grid": {"lr": [9.0]}}))
    result = runner.invoke(app, ["export", str(fake), "--optuna"])
    assert result.exit_code == 2 and "not among the sweep's choices" in result.output


@pytest.mark.e2e
def test_a_sweep_refreshes_its_report_as_groups_end(tmp_path, monkeypatch, real_dataset):
    import softmax_exp.report as report
    from softmax_exp.sweep import run_sweep

    pages = []  # (trials in trials.csv, per-class view and importance done) at each write
    write = report.write_report

    def recording(paths, out=None, evaluate=True, data_dir=None, importance=True):
        assert importance == evaluate  # both for the last page only
        pages.append((len(pd.read_csv(tmp_path / "out" / "trials.csv")), evaluate))
        return write(paths, out, evaluate, data_dir, importance)

    monkeypatch.setattr(report, "write_report", recording)
    monkeypatch.setattr(ReportRefresher, "FIRST_AFTER", 0.0)
    (tmp_path / "s.yaml").write_text(
        "base: {epochs: 1, train_subset: 500}\ngrid: {batch_size: [50, 100], lr: [0.1, 0.3]}\n"
    )
    run_sweep(tmp_path / "s.yaml", tmp_path / "out", argv=["test"], on_tables=ReportRefresher())
    assert pages[0] == (2, False)  # the first group's two trials, before the second ran
    assert pages[-1] == (4, True)  # and the whole sweep, with the per-class view
    page = (tmp_path / "out" / REPORT_FILE).read_text()
    assert "test accuracy 0." in page and 'id="figure-6"' in page
