"""Per-trial summaries from per-epoch rows, without pandas (the sweep driver stays light)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Optional

from .config import SETTINGS
from .fileio import read_text
from .metrics import best_of
from .records import METRIC_COLUMNS

SUMMARY_COLUMNS = (
    "selected_on",
    "best_epoch",
    "best_val_acc",
    "best_val_loss",
    "test_acc_at_best",
    "test_loss_at_best",
    "final_train_loss",
    "final_train_acc",
    "final_val_acc",
    "final_test_acc",
    "epochs_run",
)
TRIAL_COLUMNS = (
    "trial_id",
    "status",
    *SETTINGS,
    *SUMMARY_COLUMNS,
    "wall_seconds",
    "stop_reason",
    "path",
    "error",
)
EPOCH_COLUMNS = ("trial_id", "status", *SETTINGS, *METRIC_COLUMNS)


def read_metrics(path: Path) -> Optional[list[dict[str, Any]]]:
    """metrics.csv as dicts of numbers; a torn last line (no newline) is dropped.

    None when the file is missing or its header is not ours.
    """
    try:
        text = read_text(path, 256 << 20)
    except (OSError, UnicodeDecodeError):
        return None
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(text.splitlines())
    if tuple(reader.fieldnames or ()) != METRIC_COLUMNS:
        return None
    rows = []
    for raw in reader:
        try:
            rows.append({k: _number(v) for k, v in raw.items()})
        except (ValueError, TypeError):
            break  # a damaged row ends what we trust
    return rows


def _number(text: Optional[str]) -> Optional[float]:
    if text is None:
        raise ValueError("short row")
    if text == "":
        return None
    value = float(text)
    return (
        int(value)
        if value.is_integer() and abs(value) < 2**53 and "." not in text and "e" not in text.lower()
        else value
    )


def best_row(rows: list[dict[str, Any]], metric: str, mode: str) -> Optional[dict[str, Any]]:
    """The first epoch with the best finite value of `metric` (NaN never wins)."""
    return best_of(rows, lambda row: row.get(metric), mode)


def summarize(rows: list[dict[str, Any]], metric: str, mode: str) -> dict[str, Any]:
    best = best_row(rows, metric, mode) or {}
    final = rows[-1] if rows else {}
    return {
        "selected_on": metric,
        "best_epoch": best.get("epoch"),
        "best_val_acc": best.get("val_acc"),
        "best_val_loss": best.get("val_loss"),
        "test_acc_at_best": best.get("test_acc"),
        "test_loss_at_best": best.get("test_loss"),
        "final_train_loss": final.get("train_loss"),
        "final_train_acc": final.get("train_acc"),
        "final_val_acc": final.get("val_acc"),
        "final_test_acc": final.get("test_acc"),
        "epochs_run": len(rows),
    }


def trial_row(
    trial_id: str,
    status: str,
    settings: dict[str, Any],
    rows: list[dict[str, Any]],
    info: dict[str, Any],
    metric: str,
    mode: str,
    path: str,
) -> list:
    """One trials.csv row, in TRIAL_COLUMNS order (for a sweep's trial or a lone run)."""
    values = {
        "trial_id": trial_id,
        "status": status,
        **settings,
        **summarize(rows, metric, mode),
        "wall_seconds": info.get("wall_seconds"),
        "stop_reason": info.get("stop_reason"),
        "path": path,
        "error": info.get("error"),
    }
    return [values.get(c) for c in TRIAL_COLUMNS]


def epoch_rows(
    trial_id: str, status: str, settings: dict[str, Any], rows: list[dict[str, Any]]
) -> list[list]:
    """The epochs.csv rows of one trial, in EPOCH_COLUMNS order."""
    return [
        [{"trial_id": trial_id, "status": status, **settings, **row}.get(c) for c in EPOCH_COLUMNS]
        for row in rows
    ]
