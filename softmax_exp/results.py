"""Results as pandas DataFrames: the one place runs and sweeps become tables.

from softmax_exp.results import load
res = load("runs/sweep-grid")        # or a single run directory
res.trials                           # one row per trial (or run)
res.epochs                           # long format: one row per trial and epoch
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence, Union

from .config import SETTINGS
from .errors import RunError
from .fileio import refuse_link
from .layout import CONFIG_FILE, EPOCHS_CSV, METRICS_FILE, TRIALS_CSV
from .metrics import direction
from .runs import read_run_info
from .summary import EPOCH_COLUMNS, TRIAL_COLUMNS, epoch_rows, read_metrics, trial_row

if TYPE_CHECKING:
    import pandas as pd

PathLike = Union[str, Path]


@dataclass
class Results:
    source: str
    trials: pd.DataFrame
    epochs: pd.DataFrame


def load(path: PathLike) -> Results:
    """Load a sweep directory (trials.csv) or a run directory (run.json, metrics.csv)."""

    path = Path(path)
    for name in (TRIALS_CSV, EPOCHS_CSV, CONFIG_FILE):  # links: read_metrics, run.json
        refuse_link(path / name)  # a table is read as the tool wrote it, never elsewhere
    if (path / TRIALS_CSV).is_file():
        trials = _read_table(path / TRIALS_CSV, TRIAL_COLUMNS)
        epochs = _read_table(path / EPOCHS_CSV, EPOCH_COLUMNS)
    elif (path / METRICS_FILE).is_file():
        trials, epochs = _run_frames(path)
    else:
        raise RunError(
            f"{path}: neither a run directory (metrics.csv) nor a sweep directory "
            "(trials.csv); pass a directory made by softmax train or softmax sweep"
        )
    for frame in (trials, epochs):
        frame.insert(0, "source", str(path))
    return Results(str(path), trials, epochs)


def _read_table(path: Path, columns: Sequence[str]):
    """A sweep table, or a RunError naming it when it is missing, empty or not ours."""
    import pandas as pd

    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise RunError(
            f"{path}: unreadable ({str(exc).splitlines()[0]}); run the sweep "
            "command again to rewrite it"
        ) from None
    missing = [c for c in ("trial_id", "status") if c in columns and c not in table]
    if missing:
        raise RunError(
            f"{path}: no {', '.join(missing)} column; not a table written by softmax sweep"
        )
    return table


def _run_frames(path: Path):
    import pandas as pd
    import yaml

    rows = read_metrics(path / METRICS_FILE) or []
    info = read_run_info(path) or {}
    try:
        settings = yaml.safe_load((path / CONFIG_FILE).read_text()) or {}
    except (OSError, yaml.YAMLError):
        settings = {}
    metric = "val_acc" if any(r.get("val_acc") is not None for r in rows) else "train_loss"
    mode = "max" if metric == "val_acc" else "min"
    status = info.get("status", "unknown")
    trials = pd.DataFrame(
        [trial_row(path.name, status, settings, rows, info, metric, mode, ".")],
        columns=list(TRIAL_COLUMNS),
    )
    epochs = pd.DataFrame(
        epoch_rows(path.name, status, settings, rows), columns=list(EPOCH_COLUMNS)
    )
    return trials, epochs


def load_many(paths: Sequence[PathLike]) -> Results:
    import pandas as pd

    loaded = [load(p) for p in paths]
    with warnings.catch_warnings():  # all-empty columns (e.g. no val split) are expected
        warnings.simplefilter("ignore", FutureWarning)
        return Results(
            ", ".join(r.source for r in loaded),
            pd.concat([r.trials for r in loaded], ignore_index=True),
            pd.concat([r.epochs for r in loaded], ignore_index=True),
        )


def varying_settings(trials) -> list[str]:
    """Settings whose value differs between rows: what was swept."""
    return [s for s in SETTINGS if s in trials and trials[s].nunique(dropna=False) > 1]


def default_metric(trials) -> str:
    return "best_val_acc" if trials["best_val_acc"].notna().any() else "final_test_acc"


# what sweep files call their selection metric, and the trials.csv column that holds it
METRIC_ALIASES = {
    "val_acc": "best_val_acc",
    "val_loss": "best_val_loss",
    "test_acc": "test_acc_at_best",
    "test_loss": "test_loss_at_best",
}


def compare(
    paths: Sequence[PathLike],
    metric: Optional[str] = None,
    by: Optional[Sequence[str]] = None,
    ascending: Optional[bool] = None,
):
    """A table sorted on `metric` (a trials.csv column, or a sweep file's metric name such
    as val_acc); grouped by `by` (mean and std over seeds) when given. Losses sort
    smallest first unless `ascending` says otherwise."""
    trials = load_many(paths).trials
    metric = METRIC_ALIASES.get(metric or "", metric) or default_metric(trials)
    if metric not in trials:
        numeric = [c for c in trials.columns if trials[c].dtype.kind == "f"]
        raise RunError(
            f"metric {metric}: no such column; use one of {', '.join([*METRIC_ALIASES, *numeric])}"
        )
    if ascending is None:
        ascending = direction(metric) == "min"
    for key in by or ():
        if key not in trials:
            raise RunError(f"group by {key}: not a setting; use one of {', '.join(SETTINGS)}")
    if not by:
        keep = [
            "source",
            "trial_id",
            "status",
            *varying_settings(trials),
            "best_epoch",
            "best_val_acc",
            "test_acc_at_best",
            "final_test_acc",
            "epochs_run",
        ]
        keep += [metric] if metric not in keep else []
        table = trials[keep].sort_values(metric, ascending=ascending, na_position="last")
        return table.reset_index(drop=True), metric
    numbers = ["best_val_acc", "test_acc_at_best", "final_test_acc"]
    numbers += [metric] if metric not in numbers else []
    grouped = trials.groupby(list(by), dropna=False)
    table = grouped[numbers].agg(["mean", "std"])
    table.columns = [f"{name}_{stat}" for name, stat in table.columns]
    table.insert(0, "trials", grouped.size())
    table = table.sort_values(f"{metric}_mean", ascending=ascending, na_position="last")
    return table.reset_index(), metric
