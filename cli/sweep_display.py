"""The sweep's live view (fits 80 columns): progress with ETA, running trials, leaderboard.

Piped to a file it prints one line per finished trial instead.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from softmax_exp.sweep.leaderboard import leaderboard, point_label
from softmax_exp.sweep.state import SweepObserver, SweepRun, TrialRecord

from .common import interrupt_point
from .display import cell
from .tables import Column, decimals, fit, left_out_note, more_note

STATUS_STYLE = {
    "completed": "green",
    "diverged": "yellow",
    "pruned": "cyan",
    "failed": "red",
    "interrupted": "red",
}


def fmt(value: Any, digits: int = 4) -> str:
    return cell(value, f"{{:.{digits}f}}")


def leaderboard_table(
    console, sweep: SweepRun, top: int = 5, title: str = "leaderboard", final: bool = False
) -> Group:
    """Top points by the selection metric, each with its best trial's id, fitted to the
    console's width; the final table adds how test accuracy moved."""
    seeds = len(sweep.spec.seeds) > 1
    ranked = leaderboard(sweep, top=None)
    rows = ranked[:top]
    columns = [
        Column("#", 0),
        Column("trial", 0, "left"),
        Column("point", 0, "left", True),
        Column(sweep.spec.metric.replace("_", " ") + (" ± sd" if seeds else ""), 0),
        Column("test@best", 1),
    ]
    scores = decimals([r["score"] for r in rows])
    values = [
        [
            str(rank),
            row["trial_id"],
            row["point"],
            score + (f" ± {fmt(row['spread'], 3)}" if seeds else ""),
        ]
        for rank, (row, score) in enumerate(zip(rows, scores), 1)
    ]
    extra = [("test_acc", "test@best")]
    if final:
        extra += [("peak_test_acc", "test peak"), ("final_test_acc", "test end")]
        columns += [Column("test peak", 3), Column("test end", 2)]
    for key, _ in extra:
        for cells, shown in zip(values, decimals([r[key] for r in rows])):
            cells.append(shown)
    if final:
        for cells, row in zip(values, rows):
            cells[-2] += f"@{row['peak_epoch']}" if row["peak_epoch"] else ""
    statuses = {r.status for r in sweep.records.values() if r.info}
    same = len(statuses) <= 1  # then one note says it
    columns.append(Column("status", 4 if same else 2, "left"))
    for cells, row in zip(values, rows):
        cells.append(row["status"])
    table, left_out = fit(
        console, columns, values, f"{title} (by {sweep.spec.metric}, {sweep.spec.mode})"
    )
    notes = [more_note(len(rows), len(ranked), "softmax compare " + str(sweep.path))]
    if same and rows and columns[-1] in left_out:
        left_out.remove(columns[-1])
        notes.append(f"status: all {statuses.pop()}")
    notes.append(left_out_note(left_out, "a wider terminal shows them"))
    return Group(table, *(Text(n) for n in notes if n))


class SweepDisplay(SweepObserver):
    """The live view. Its cost per event is the running trials' table; the leaderboard,
    which reads every trial, is rebuilt at most once per `BOARD_EVERY` seconds (and at
    the end), so that a sweep of thousands of trials does not slow down as it grows."""

    BOARD_EVERY = 1.0

    def __init__(self, console, quiet: bool = False):
        self.console, self.quiet = console, quiet
        self.sweep: Optional[SweepRun] = None
        self.running: dict[str, TrialRecord] = {}
        self.done = 0
        self.board: Optional[Group] = None
        self.board_done, self.board_at = -1, 0.0
        self.live: Optional[Live] = None
        self.progress = Progress(
            TextColumn("trials"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.progress.add_task("trials", total=1)

    def __enter__(self) -> SweepDisplay:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.running.clear()
            self.live.update(self._render(final=True))
            self.live.__exit__(*exc)

    def sweep_started(self, sweep: SweepRun) -> None:
        self.sweep = sweep
        total, skipped = sweep.planned, sweep.skipped
        self.progress.update(self.task, total=total - skipped, completed=0)
        if self.quiet:
            return
        going_on = sum(1 for r in sweep.records.values() if r.resume_epoch)
        self.console.print(
            f"sweep {sweep.spec.name}: {total} trials, {skipped} already "
            f"finished, {total - skipped} to run"
            + (f" ({going_on} from a checkpoint)" if going_on else "")
            + f" -> {sweep.path}",
            markup=False,
            soft_wrap=True,
        )
        if self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4)
            self.live.__enter__()

    def trial_started(self, record: TrialRecord) -> None:
        interrupt_point()
        self.running[record.trial.id] = record
        self._refresh()

    def trial_epoch(self, record: TrialRecord) -> None:
        interrupt_point()
        self._refresh()

    def trial_finished(self, record: TrialRecord) -> None:
        self.running.pop(record.trial.id, None)
        status = record.status
        if status != "interrupted":  # it is not done: a rerun goes on with it
            self.done += 1
            self.progress.update(self.task, completed=self.done)
        if status == "failed" or (not self.quiet and self.live is None):
            self._print_finished(record)
        self._refresh()

    def note(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"note: {message}", markup=False, soft_wrap=True)

    def _print_finished(self, record: TrialRecord) -> None:
        info = record.info
        best = info.get("best") or {}
        line = (
            f"[{self.done}/{self.progress.tasks[0].total}] {record.status:<9} "
            f"{record.trial.id} {point_label(record.trial.point)}"
        )
        if record.status in ("failed", "interrupted"):
            line += f": {info.get('error') or info.get('stop_reason') or record.status}"
        else:
            line += (
                f" best epoch {info.get('best_epoch')} val_acc {fmt(best.get('val_acc'))} "
                f"test_acc {fmt(best.get('test_acc'))}"
            )
        target = self.live.console if self.live is not None else self.console
        target.print(line, style=STATUS_STYLE.get(record.status), markup=False, soft_wrap=True)

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._render())

    def _leaderboard(self, final: bool) -> Group:
        now = time.monotonic()
        if (
            final
            or self.board is None
            or (self.done != self.board_done and now - self.board_at >= self.BOARD_EVERY)
        ):
            assert self.sweep is not None, "the sweep has started"
            self.board = leaderboard_table(self.console, self.sweep)
            self.board_done, self.board_at = self.done, now
        return self.board

    def _render(self, final: bool = False) -> Group:
        parts: list[Any] = [self.progress]
        if self.running:
            columns = [
                Column("trial", 0, "left"),
                Column("point", 0, "left", True),
                Column("epoch", 0),
                Column("val acc", 0),
            ]
            rows = []
            for record in self.running.values():
                last = record.rows[-1] if record.rows else {}
                rows.append(
                    [
                        record.trial.id,
                        point_label(record.trial.point),
                        f"{len(record.rows)}/{record.trial.config.epochs}",
                        fmt(last.get("val_acc")),
                    ]
                )
            parts.append(fit(self.console, columns, rows, "running")[0])
        if self.sweep is not None:
            parts.append(self._leaderboard(final))
        return Group(*parts)
