"""Figures as PNG and SVG, no display needed: the chapter's curves for a run, and for a
sweep every trial's curves overlaid plus the selection metric against each setting."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

from .fileio import atomic_path
from .layout import TRIALS_CSV
from .results import load, varying_settings

FIGSIZE, DPI = (6.4, 4.8), 100  # 640 x 480 pixels per panel row


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def save(figure, stem: Path, extra: Optional[list] = None) -> list[Path]:
    """Lay out, write `stem`.png and `stem`.svg (each atomically), and close the figure.
    `extra`: artists outside the axes (a legend beside them) the files must include."""
    written = []
    try:
        figure.tight_layout()
        for fmt in ("png", "svg"):
            target = stem.with_suffix(f".{fmt}")
            with atomic_path(target) as tmp:
                figure.savefig(
                    tmp, format=fmt, dpi=DPI, bbox_inches="tight", bbox_extra_artists=extra
                )
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
    if (path / TRIALS_CSV).is_file():
        return plot_sweep(results, out)
    return plot_run(results.epochs, out / "curves")


def plot_run(epochs, stem: Path) -> list[Path]:
    """The chapter's curves: losses (train, and test, whose rise shows overfitting) and
    accuracies (train, test, and validation when there is a split) against epoch."""
    plt = _pyplot()
    figure, (losses, accuracies) = plt.subplots(1, 2, figsize=(FIGSIZE[0] * 2, FIGSIZE[1]))
    for axes, columns in (
        (losses, ("train_loss", "val_loss", "test_loss")),
        (accuracies, ("train_acc", "val_acc", "test_acc")),
    ):
        for column in columns:
            if epochs[column].notna().any():
                axes.plot(
                    epochs["epoch"],
                    epochs[column],
                    label=column.replace("_", " "),
                    color=SPLIT_COLOURS[column.split("_")[0]],
                )
        axes.set_ylabel("loss (cross-entropy)" if axes is losses else "accuracy")
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        axes.legend()
    return save(figure, stem)


SPLIT_COLOURS = {"train": "tab:blue", "val": "tab:green", "test": "tab:red"}
PANELS = (
    ("train_loss", "train loss"),
    ("test_loss", "test loss"),
    ("val_acc", "validation accuracy"),
    ("test_acc", "test accuracy"),
)
LINESTYLES = ("-", "--", ":", "-.")
END_MARKERS = {"diverged": "x", "failed": "x", "interrupted": "x", "pruned": "v"}  # at the end


def plot_sweep(results, out: Path) -> list[Path]:
    return _sweep_curves(results, out / "curves") + _by_setting(results, out / "by_setting")


def trial_styles(count: int) -> list[dict]:
    """A colour and line style per trial that no other trial shares: the ten colours of
    tab10 with one line style, then again with the next; past 40 trials, colours spread
    over a continuous colour map."""
    import matplotlib

    if count <= 10 * len(LINESTYLES):
        palette = matplotlib.colormaps["tab10"].colors  # type: ignore[attr-defined]  # Listed
        return [{"color": palette[i % 10], "linestyle": LINESTYLES[i // 10]} for i in range(count)]
    spread = matplotlib.colormaps["turbo"]
    return [
        {"color": spread(i / (count - 1)), "linestyle": LINESTYLES[i % len(LINESTYLES)]}
        for i in range(count)
    ]


def _sweep_curves(results, stem: Path) -> list[Path]:
    """Every trial's train and test loss, validation and test accuracy against epoch; the
    rising test loss is exercise 2's signal. The legend, beside the panels, names each
    trial by the settings that vary."""
    plt = _pyplot()
    epochs, trials = results.epochs, results.trials
    panels = [(c, label) for c, label in PANELS if epochs[c].notna().any()]
    labels = trial_labels(trials)
    figure, axes_grid = plt.subplots(
        2, 2, figsize=(FIGSIZE[0] * 2, FIGSIZE[1] * 1.6), sharex=True, squeeze=False
    )
    axes_list = list(axes_grid.flat)
    groups = list(epochs.groupby("trial_id", sort=False))
    for (trial_id, rows), style in zip(groups, trial_styles(len(groups))):
        status, last = rows["status"].iloc[0], int(rows["epoch"].max())
        label = labels.get(trial_id, trial_id)
        marker = END_MARKERS.get(status)
        if status != "completed":
            label += f" [{status} at {last}]"
        elif last < int(rows["epochs"].iloc[0]):  # early stopping ended it: mark where
            label, marker = label + f" (stopped at {last})", "o"
        for axes, (column, _) in zip(axes_list, panels):
            axes.plot(
                rows["epoch"],
                rows[column],
                linewidth=1,
                label=label,
                **style,
                marker=marker,
                markevery=[len(rows) - 1],
                markersize=5,
            )
    for axes, (_, name) in zip(axes_list, panels):
        axes.set_ylabel(name)
        axes.set_xlabel("epoch")
        axes.tick_params(labelbottom=True)
        axes.grid(alpha=0.3)
    for axes in axes_list[len(panels) :]:
        axes.set_visible(False)
    handles, names = axes_list[0].get_legend_handles_labels()
    legend = figure.legend(
        handles,
        names,
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize=8,
        title=", ".join(varying_settings(trials)) or None,
        ncols=1 if len(names) <= 30 else 2,
    )
    return save(figure, stem, extra=[legend])


def _by_setting(results, stem: Path) -> list[Path]:
    """The selection metric against each setting that varies. A setting with few values
    (batch sizes, a patience that may be off) gets one category per value, `off` for
    none; a setting sampled over a range keeps a numeric axis, logarithmic over a wide
    one."""
    plt = _pyplot()
    trials = results.trials
    metric = "best_val_acc" if trials["best_val_acc"].notna().any() else "final_test_acc"
    settings = varying_settings(trials) or ["lr"]
    figure, axes_list = plt.subplots(
        1, len(settings), squeeze=False, figsize=(FIGSIZE[0] * len(settings), FIGSIZE[1])
    )
    for axes, setting in zip(axes_list[0], settings):
        values = list(trials[setting])
        categories = _categories(values)
        if categories is not None:
            where = {text: i for i, text in enumerate(categories)}
            x = _spread([where[_text(v)] for v in values])
            axes.set_xticks(range(len(categories)), categories)
            axes.set_xlim(-0.5, len(categories) - 0.5)
        else:
            x = [float(v) for v in values]
            numbers = [v for v in x if not math.isnan(v)]
            if numbers and min(numbers) > 0 and max(numbers) / min(numbers) >= 10:
                axes.set_xscale("log")
        for status in dict.fromkeys(trials["status"]):
            chosen = [i for i, s in enumerate(trials["status"]) if s == status]
            axes.scatter(
                [x[i] for i in chosen],
                trials[metric].iloc[chosen],
                label=status,
                marker="o" if status == "completed" else "x",
                alpha=0.8,
            )
        axes.set_xlabel(setting)
        axes.set_ylabel(metric.replace("_", " "))
        axes.grid(alpha=0.3)
        axes.margins(y=0.1)
        if trials["status"].nunique() > 1:  # markers tell statuses apart
            axes.legend(fontsize=7, loc="best")
    return save(figure, stem)


MAX_CATEGORIES = 12


def _spread(positions: list[int], width: float = 0.3) -> list[float]:
    """Side by side within their category, so that equal results stay visible."""
    counts = {p: positions.count(p) for p in positions}
    seen: dict[int, int] = {}
    spread = []
    for p in positions:
        j = seen[p] = seen.get(p, -1) + 1
        spread.append(
            p + (j - (counts[p] - 1) / 2) * width / max(counts[p] - 1, 1) if counts[p] > 1 else p
        )
    return spread


def _categories(values: list) -> Optional[list[str]]:
    """The axis' categories in order (numbers ascending, then `off`), or None for a
    numeric axis: many distinct numbers, as a random search samples."""
    texts = {_text(v): v for v in values}
    numeric = [v for v in texts.values() if not _missing(v) and isinstance(v, (int, float))]
    if len(numeric) == len(texts) and len(texts) > MAX_CATEGORIES:
        return None
    ordered = sorted(
        (t for t, v in texts.items() if not _missing(v)),
        key=lambda t: (
            not isinstance(texts[t], (int, float)),
            texts[t] if isinstance(texts[t], (int, float)) else 0,
            t,
        ),
    )
    return ordered + (["off"] if "off" in texts else [])


def trial_labels(trials) -> dict[str, str]:
    """'weight_decay=0.001 patience=off' from every setting that varies between trials
    (the trial id when none does)."""
    swept = varying_settings(trials)
    labels = {}
    for _, row in trials.iterrows():
        parts = [f"{k}={_text(row[k])}" for k in swept]
        labels[row["trial_id"]] = " ".join(parts) or row["trial_id"]
    return labels


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(value) -> str:
    if _missing(value):
        return "off"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e7:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
