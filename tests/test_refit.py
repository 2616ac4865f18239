"""After selection: the chosen point as a plain train config, and its refit (real data)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from softmax_exp.config import TrainConfig, load_train_config
from softmax_exp.sweep import run_sweep
from softmax_exp.sweep.refit import best_train_config, select_best
from softmax_exp_cli.main import app

pytestmark = pytest.mark.e2e

SPEC = """\
base: {epochs: 3, train_subset: 2000, batch_size: 100}
grid:
  lr: [0.05, 0.5]
  lr_schedule: [constant, cosine]
seeds: 2
"""


def test_the_best_point_is_chosen_on_validation_means_and_becomes_a_train_config(
    tmp_path, real_dataset
):
    (tmp_path / "s.yaml").write_text(SPEC)
    result = run_sweep(tmp_path / "s.yaml", tmp_path / "out", argv=["test"])
    trials = pd.read_csv(tmp_path / "out" / "trials.csv")
    means = trials.groupby(["lr", "lr_schedule"]).best_val_acc.mean()
    best = select_best(result)
    assert (best.config.lr, best.config.lr_schedule) == means.idxmax()
    assert best.score == pytest.approx(means.max()) and best.seeds == 2
    config = best_train_config(best)
    assert config.val_fraction == 0 and config.seed == 0 and config.epochs == 3
    assert config.lr_schedule == best.config.lr_schedule


def test_early_stopped_points_refit_for_their_best_epochs():
    from softmax_exp.sweep.refit import Selection

    chosen = TrainConfig(epochs=40, val_fraction=0.1, patience=5, lr=0.2)
    config = best_train_config(Selection("lr=0.2", chosen, 0.85, 0.84, 17, 3))
    assert (config.epochs, config.patience, config.val_fraction) == (17, None, 0.0)


def test_refit_command_writes_best_yaml_and_reports_test_apart(tmp_path, real_dataset):
    (tmp_path / "s.yaml").write_text(SPEC)
    done = CliRunner().invoke(
        app,
        ["sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--quiet", "--refit"],
    )
    assert done.exit_code == 0, done.output
    assert (
        "selected: lr=" in done.output
        and "refit without a validation split: test acc" in done.output
    )
    best = load_train_config(tmp_path / "out" / "best.yaml")
    assert best.val_fraction == 0 and best.train_subset == 2000
    (refit_run,) = (tmp_path / "out" / "refit").iterdir()
    assert load_train_config(refit_run / "config.yaml") == best
    metrics = pd.read_csv(refit_run / "metrics.csv")
    assert len(metrics) == best.epochs and metrics.val_acc.isna().all()
