"""`softmax compare`: runs and sweeps side by side, through pandas (no MXNet import)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from .common import domain_errors, out
from .tables import EMPTY, Column, decimals, fit, left_out_note, more_note, shortest


@domain_errors
def compare(
    paths: List[Path] = typer.Argument(..., metavar="PATHS", help="Run or sweep directories."),
    metric: Optional[str] = typer.Option(
        None,
        "--metric",
        metavar="NAME",
        help="Sort on this: val_acc, val_loss, or any "
        "trials.csv column  [default: val_acc, else "
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
        help="Sort order  [default: smallest first for losses, else largest first]",
    ),
    csv: Optional[Path] = typer.Option(
        None,
        "--csv",
        metavar="FILE",
        help="Also write the whole table here as CSV; '-' prints it instead.",
    ),
    top: int = typer.Option(30, "--top", min=1, metavar="N", help="Rows to print."),
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
    columns = [
        Column(
            HEADERS.get(c, c),
            _priority(c, metric, by),
            "right" if table[c].dtype.kind in "fiu" else "left",
        )
        for c in shown
    ]
    head = table.head(top)
    cells = [_cells(head[c], c) for c in shown]
    rows = [list(row) for row in zip(*cells)] if cells else []
    title = f"sorted on {metric}" + (f", grouped by {', '.join(by)}" if by else "")
    console = Console(width=100_000, highlight=False) if wide else out
    view, left_out = fit(console, columns, rows, title)
    console.print(view)
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
            out.print(note, markup=False)


HEADERS = {
    "trial_id": "trial",
    "best_epoch": "best ep",
    "best_val_acc": "val acc",
    "best_val_loss": "val loss",
    "test_acc_at_best": "test@best",
    "final_test_acc": "final test",
    "batch_size": "batch",
    "weight_decay": "wd",
    "train_subset": "subset",
    "momentum": "mom",
    "val_fraction": "val",
    "init_sigma": "sigma",
    "best_val_acc_mean": "val acc",
    "best_val_acc_std": "sd",
    "test_acc_at_best_mean": "test@best",
    "test_acc_at_best_std": "sd",
    "final_test_acc_mean": "final test",
    "final_test_acc_std": "sd",
    "epochs_run": "ep run",
}
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
        return decimals(list(values)) if metric_like else shortest(list(values))
    return [EMPTY if v is None or v != v or v == "" else str(v) for v in values]
