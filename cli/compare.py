"""`softmax compare`: runs and sweeps side by side, through pandas (no MXNet import)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from .common import domain_errors, out


@domain_errors
def compare(
    paths: List[Path] = typer.Argument(..., help="Run or sweep directories."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Column to sort on [default "
                                         "best_val_acc, else final_test_acc]."),
    by: List[str] = typer.Option([], "--by", help="Group by this setting (repeatable): "
                                 "mean and std over the group."),
    ascending: bool = typer.Option(False, "--ascending", help="Smallest first (for losses)."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Also write the table here."),
    top: int = typer.Option(30, "--top", min=1, help="Rows to print."),
) -> None:
    """Load runs and sweeps, and print one table sorted on the selection metric.

    Example: softmax compare runs/sweep-grid --by lr
    """
    from softmax_exp.fileio import atomic_writer
    from softmax_exp.results import compare as compare_results

    table, metric = compare_results(paths, metric, by, ascending)
    if csv is not None:
        with atomic_writer(csv) as handle:
            table.to_csv(handle, index=False)
    view = Table(title=f"sorted on {metric}" + (f", grouped by {', '.join(by)}" if by else ""),
                 title_justify="left")
    shown = [c for c in table.columns if c != "source" or table["source"].nunique() > 1]
    for column in shown:
        view.add_column(HEADERS.get(column, column), justify="right", no_wrap=True)
    for _, row in table.head(top).iterrows():
        view.add_row(*(_cell(row[c], c) for c in shown))
    wide = out if out.is_terminal else Console(width=200, highlight=False)  # files: no cuts
    wide.print(view)
    if "status" in table and not by:
        counts = table["status"].value_counts()
        out.print(", ".join(f"{n} {status}" for status, n in counts.items()), markup=False)
    if csv is not None:
        out.print(f"wrote {csv}", markup=False)


HEADERS = {"trial_id": "trial", "best_epoch": "best ep", "best_val_acc": "val acc",
           "test_acc_at_best": "test@best", "final_test_acc": "final test",
           "epochs_run": "epochs", "batch_size": "batch", "weight_decay": "wd"}


def _cell(value, column: str) -> str:
    if column == "source":
        return Path(str(value)).name
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}" if abs(value) >= 1 or value == 0 \
            else f"{value:.4f}"
    return str(value)
