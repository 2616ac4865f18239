"""Live training display: a progress bar within the epoch and a table row per epoch.

On a terminal it animates; piped to a file it prints one plain line per epoch.
"""

from __future__ import annotations

import math
from typing import Any, Optional

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from softmax_exp.training import EpochMetrics, TrainHooks

from .common import interrupt_point

COLUMNS = (
    ("epoch", "epoch", "{:d}"),
    ("train loss", "train_loss", "{:.4f}"),
    ("train acc", "train_acc", "{:.4f}"),
    ("val acc", "val_acc", "{:.4f}"),
    ("test acc", "test_acc", "{:.4f}"),
    ("sec", "epoch_seconds", "{:.2f}"),
    ("samples/s", "samples_per_second", "{:,.0f}"),
)
# piped, each column is as wide as its header or its usual values (sec: up to 999.99)
PLAIN_WIDTHS = tuple(
    max(len(header), 6 if key == "epoch_seconds" else 0) for header, key, _ in COLUMNS
)


def cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def epoch_table(rows: list[EpochMetrics], title: Optional[str] = None) -> Table:
    table = Table(title=title, title_justify="left")
    for header, _, _ in COLUMNS:
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(*(cell(getattr(row, key), fmt) for _, key, fmt in COLUMNS))
    return table


class TrainDisplay(TrainHooks):
    """Shows one run's progress on `console`."""

    def __init__(self, console, epochs: int, quiet: bool = False):
        self.console, self.epochs, self.quiet = console, epochs, quiet
        self.rows: list[EpochMetrics] = []
        self.live: Optional[Live] = None
        self.started = False
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}/" + str(epochs) + "{task.fields[stage]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("train", total=None, epoch=0, stage="", visible=False)

    def __enter__(self) -> TrainDisplay:
        return self

    def _start(self) -> None:
        """Begins at the first epoch, so errors found before training print alone."""
        self.started = True
        if self.quiet:
            return
        if self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=8)
            self.live.__enter__()
        else:
            self.console.print(
                "  ".join(h.rjust(w) for (h, _, _), w in zip(COLUMNS, PLAIN_WIDTHS)), markup=False
            )

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.progress.update(self.task, visible=False)
            self.live.update(epoch_table(self.rows))
            self.live.__exit__(*exc)

    def _render(self) -> Group:
        return Group(epoch_table(self.rows), self.progress)

    def epoch_started(self, epoch: int, num_batches: int) -> None:
        interrupt_point()
        self.progress.update(
            self.task, total=num_batches, completed=0, epoch=epoch, stage="", visible=True
        )
        if not self.started:  # after the update: its first frame shows this epoch
            self._start()
        self._refresh()

    def batches_done(self, done: int) -> None:
        interrupt_point()
        task = self.progress.tasks[0]
        stage = " evaluating" if task.total is not None and done >= task.total else ""
        self.progress.update(self.task, completed=done, stage=stage)
        self._refresh()

    def epoch_ended(self, index: int, metrics: EpochMetrics) -> None:
        self.rows.append(metrics)
        self.progress.update(self.task, visible=False)  # until the next epoch starts
        if self.live is not None:
            self._refresh()
        elif not self.quiet:
            self.console.print(
                "  ".join(
                    cell(getattr(metrics, key), fmt).rjust(width)
                    for (_, key, fmt), width in zip(COLUMNS, PLAIN_WIDTHS)
                ),
                markup=False,
            )

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._render())
