"""Figures as PNG and SVG, no display needed: the chapter's curves for a run, and for a
sweep every trial's curves overlaid plus the selection metric against each setting."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

from .fileio import atomic_path
from .results import load, varying_settings

FIGSIZE, DPI = (6.4, 4.8), 100  # 640 x 480 pixels per panel row
STYLE = {"completed": "-", "diverged": ":", "pruned": "--", "failed": ":", "interrupted": ":"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def save(figure, stem: Path) -> list[Path]:
    """Lay out, write `stem`.png and `stem`.svg (each atomically), and close the figure."""
    written = []
    try:
        figure.tight_layout()
        for fmt in ("png", "svg"):
            target = stem.with_suffix(f".{fmt}")
            with atomic_path(target) as tmp:
                figure.savefig(tmp, format=fmt, dpi=DPI)
            written.append(target)
    finally:
        _pyplot().close(figure)
    return written


def plot(path: Path, out: Optional[Path] = None) -> list[Path]:
    """Plot a run or a sweep directory into `out` (default: the directory itself)."""
    path = Path(path)
    results = load(path)
    out = Path(out) if out else path
    out.mkdir(parents=True, exist_ok=True)
    if (path / "trials.csv").is_file():
        return plot_sweep(results, out)
    return plot_run(results.epochs, out / "curves")


def plot_run(epochs, stem: Path) -> list[Path]:
    """The chapter's figure: train loss, train acc, test acc against epoch; with val acc
    when there is a validation split, and test loss, whose rise shows overfitting."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=FIGSIZE)
    for column, label, style in (("train_loss", "train loss", "-"),
                                 ("train_acc", "train acc", "-"), ("test_acc", "test acc", "-"),
                                 ("val_acc", "val acc", "-"), ("test_loss", "test loss", "--")):
        if epochs[column].notna().any():
            axes.plot(epochs["epoch"], epochs[column], style, label=label)
    axes.set_xlabel("epoch")
    axes.grid(alpha=0.3)
    axes.legend()
    return save(figure, stem)


def plot_sweep(results, out: Path) -> list[Path]:
    return _sweep_curves(results, out / "curves") + _by_setting(results, out / "by_setting")


def _sweep_curves(results, stem: Path) -> list[Path]:
    plt = _pyplot()
    epochs, trials = results.epochs, results.trials
    accuracy = "val_acc" if epochs["val_acc"].notna().any() else "test_acc"
    figure, (left, right) = plt.subplots(1, 2, figsize=(FIGSIZE[0] * 2, FIGSIZE[1]))
    labels = _labels(trials)
    for trial_id, rows in epochs.groupby("trial_id", sort=False):
        status = rows["status"].iloc[0]
        style = {"linestyle": STYLE.get(status, "-"), "linewidth": 1,
                 "label": f"{labels.get(trial_id, trial_id)} [{status}]"
                 if status != "completed" else labels.get(trial_id, trial_id)}
        left.plot(rows["epoch"], rows["train_loss"], **style)
        right.plot(rows["epoch"], rows[accuracy], **style)
    left.set_ylabel("train loss")
    right.set_ylabel(accuracy.replace("_", " "))
    for axes in (left, right):
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
    if len(labels) <= 12:
        right.legend(fontsize=7)
    return save(figure, stem)


def _by_setting(results, stem: Path) -> list[Path]:
    plt = _pyplot()
    trials = results.trials
    metric = "best_val_acc" if trials["best_val_acc"].notna().any() else "final_test_acc"
    settings = varying_settings(trials) or ["lr"]
    figure, axes_list = plt.subplots(1, len(settings), squeeze=False,
                                     figsize=(FIGSIZE[0] * len(settings), FIGSIZE[1]))
    for axes, setting in zip(axes_list[0], settings):
        for status, group in trials.groupby("status"):
            axes.scatter(group[setting].astype(float), group[metric], label=status,
                         marker="o" if status == "completed" else "x")
        values = trials[setting].dropna().astype(float)
        if len(values) and values.min() > 0 and values.max() / values.min() >= 10:
            axes.set_xscale("log")
        axes.set_xlabel(setting)
        axes.set_ylabel(metric.replace("_", " "))
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    return save(figure, stem)


def _labels(trials) -> dict[str, str]:
    swept = varying_settings(trials)
    labels = {}
    for _, row in trials.iterrows():
        parts = [f"{k}={_short(row[k])}" for k in swept]
        labels[row["trial_id"]] = " ".join(parts) or row["trial_id"]
    return labels


def _short(value) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:g}"
    return str(value)
