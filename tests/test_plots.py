"""Figures a person can read: distinct trials, every varying setting named, labelled
axes, test loss beside accuracy, discrete settings on categorical axes."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from softmax_exp import plots
from softmax_exp.results import Results


@pytest.mark.parametrize("count", [1, 6, 10, 12, 40, 41, 100])
def test_every_trial_gets_its_own_colour_and_line_style(count):
    styles = plots.trial_styles(count)
    assert len({(s["color"], s["linestyle"]) for s in styles}) == count


def test_discrete_settings_become_ordered_categories_with_off():
    assert plots._categories([64, 256, 1024, 256]) == ["64", "256", "1024"]
    assert plots._categories([math.nan, 15.0, math.nan]) == ["15", "off"]
    assert plots._categories([0.1 * i + 0.01 for i in range(20)]) is None  # sampled: numeric


def overfit_like():
    """The overfit sweep's shape: weight decay x patience (null or 15)."""
    trials, epochs = [], []
    for i, (wd, patience) in enumerate([(0.0, None), (0.0, 15), (0.001, None), (0.001, 15)]):
        trial_id = f"t{i}"
        settings = {"lr": 0.2, "weight_decay": wd, "patience": patience, "epochs": 4}
        trials.append(
            {
                "trial_id": trial_id,
                "status": "completed",
                **settings,
                "best_val_acc": 0.8 + i / 100,
                "final_test_acc": 0.79,
            }
        )
        for epoch in range(1, 3 if patience else 5):
            epochs.append(
                {
                    "trial_id": trial_id,
                    "status": "completed",
                    **settings,
                    "epoch": epoch,
                    "train_loss": 1 / epoch,
                    "test_loss": 0.6 + i,
                    "val_acc": 0.7,
                    "test_acc": 0.7,
                    "val_loss": 0.6,
                    "train_acc": 0.75,
                }
            )
    return Results("s", pd.DataFrame(trials), pd.DataFrame(epochs))


@pytest.fixture
def figures(monkeypatch):
    """The figures `plots` would save, kept open for the test to read."""
    kept = []

    def keep(figure, stem, extra=None):
        kept.append((figure, extra))
        return []

    monkeypatch.setattr(plots, "save", keep)
    return kept


def test_the_sweep_figure_names_every_trial_and_shows_test_loss(figures):
    plots.plot_sweep(overfit_like(), Path("unused"))
    (curves, legend), (by_setting, _) = figures
    panels = [a for a in curves.axes if a.get_visible()]
    assert [a.get_ylabel() for a in panels] == [
        "train loss",
        "test loss",
        "validation accuracy",
        "test accuracy",
    ]
    assert all(a.get_xlabel() == "epoch" for a in panels)
    names = [t.get_text() for t in legend[0].get_texts()]
    assert names == [
        "weight_decay=0 patience=off",
        "weight_decay=0 patience=15 (stopped at 2)",
        "weight_decay=0.001 patience=off",
        "weight_decay=0.001 patience=15 (stopped at 2)",
    ]
    assert [a.get_xlabel() for a in by_setting.axes] == ["weight_decay", "patience"]
    assert all(a.get_ylabel() == "best val acc" for a in by_setting.axes)
    patience = by_setting.axes[1]
    assert [t.get_text() for t in patience.get_xticklabels()] == ["15", "off"]
    assert len(patience.collections[0].get_offsets()) == 4  # no trial dropped
    assert patience.get_xscale() == "linear"


def test_the_run_figure_labels_both_axes_of_both_panels(figures):
    plots.plot_run(overfit_like().epochs.query("trial_id == 't0'"), Path("unused"))
    ((figure, _),) = figures
    assert [a.get_ylabel() for a in figure.axes] == ["loss (cross-entropy)", "accuracy"]
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == [
        "train loss",
        "val loss",
        "test loss",
    ]
