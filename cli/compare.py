"""`softmax compare`: runs and sweeps side by side, through pandas (no MXNet import)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.text import Text

from softmax_exp.labels import as_setting, is_missing, short_name

from .common import domain_errors, out
from .tables import EMPTY, Column, decimals, fit, left_out_note, more_note, shortest, show


@domain_errors
def compare(
    paths: List[Path] = typer.Argument(..., metavar="PATHS", help="Run or sweep directories."),
    metric: Optional[str] = typer.Option(
        None,
        "--metric",
        metavar="NAME",
        help="Sort on this: val_acc, val_loss, or any "
        "trials.csv column.  [default: val_acc, else "
        "final_test_acc]",
    ),
    by: List[str] = typer.Option(
        [],
        "--by",
        metavar="SETTING",
        show_default=False,
        help="Group by this setting (repeatable): mean and std over the group.",
    ),
    ascending: Optional[bool] = typer.Option(
        None,
        "--ascending/--descending",
        show_default=False,
        help="Sort order.  [default: smallest first for losses, else largest first]",
    ),
    csv: Optional[Path] = typer.Option(
        None,
        "--csv",
        metavar="FILE",
        help="Also write the whole table here as CSV; '-' prints it instead.",
    ),
    top: int = typer.Option(30, "--top", min=1, metavar="N", help="Rows to print, at least 1."),
    wide: bool = typer.Option(False, "--wide", help="Every column, however wide."),
) -> None:
    """Load runs and sweeps, and print one table sorted on the selection metric.

    Example: softmax compare runs/sweep-grid --by lr
    """
    from softmax_exp.fileio import atomic_writer
    from softmax_exp.results import compare as compare_results

    table, metric = compare_results(paths, metric, by, ascending)
    if csv is not None and str(csv) == "-":
        table.to_csv(sys.stdout, index=False)
        return
    if csv is not None:
        with atomic_writer(csv) as handle:
            table.to_csv(handle, index=False)
    shown = [c for c in table.columns if c != "source" or table["source"].nunique() > 1]
    head = table.head(top)
    cells = {c: _cells(head[c], c) for c in shown}
    if "source" in cells:  # a run's own name is its source; its trial cell says nothing new
        cells["trial_id"] = [
            EMPTY if trial == Path(str(source)).name else trial
            for trial, source in zip(head["trial_id"], head["source"])
        ]
        if all(cell == EMPTY for cell in cells["trial_id"]):
            shown.remove("trial_id")
    columns = [
        Column(
            short_name(c),
            _priority(c, metric, by),
            "right" if table[c].dtype.kind in "fiu" else "left",
        )
        for c in shown
    ]
    rows = [list(row) for row in zip(*(cells[c] for c in shown))] if shown else []
    title = f"sorted on {metric}" + (f", grouped by {', '.join(by)}" if by else "")
    console = Console(width=100_000, highlight=False) if wide else out
    view, left_out = fit(console, columns, rows, title)
    show(console, view)
    notes = [
        more_note(len(head), len(table), "--top N for more"),
        left_out_note(left_out, "--wide or --csv for every column"),
    ]
    if "status" in table and not by:
        counts = table["status"].value_counts()
        notes.append(", ".join(f"{n} {status}" for status, n in counts.items()))
    if csv is not None:
        notes.append(f"wrote {csv}")
    for note in notes:
        if note:
            show(out, Text(note))


# what a reader needs first: where the row comes from, the score, the settings
LAST = (
    "epochs_run",
    "best_epoch",
    "final_test_acc",
    "final_test_acc_mean",
    "final_test_acc_std",
    "test_acc_at_best_std",
)


def _priority(column: str, metric: str, by: List[str]) -> int:
    if column in ("trial_id", "source", metric, f"{metric}_mean", *by) or column == "trials":
        return 0
    if column in LAST:
        return 3 + LAST.index(column)
    if column.endswith(("_acc", "_acc_mean", "at_best")) or column == "status":
        return 1
    return 2


def _cells(values, column: str) -> list[str]:
    if column == "source":
        return [Path(str(v)).name for v in values]
    if values.dtype.kind in "fiu":
        metric_like = column.endswith(("_acc", "_loss", "_mean", "_std", "at_best"))
        return decimals(list(values)) if metric_like else shortest(_typed(values, column))
    return [EMPTY if v is None or v != v or v == "" else str(v) for v in values]


def _typed(values, column: str) -> list:
    """A column's values as the config holds them (pandas makes an int column with gaps
    floats); a result column's whole numbers (epochs) as ints."""
    from softmax_exp.config import SETTINGS

    if column in SETTINGS:
        return [as_setting(column, v) for v in values]
    return [int(v) if not is_missing(v) and float(v).is_integer() else v for v in values]
