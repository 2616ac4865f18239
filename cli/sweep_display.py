"""The sweep's live view (fits 80 columns): progress with ETA, running trials, leaderboard.

Piped to a file it prints one line per finished trial instead.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Optional

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from softmax_exp.runs import FINISHED
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
    if rows and (final or same and columns[-1] not in table.columns):
        notes.append(("status: " if final else "status so far: ") + status_counts(sweep, final))
    notes.append(left_out_note(left_out, "a wider terminal shows them"))
    return Group(table, *(Text(n) for n in notes if n))


def status_counts(sweep: SweepRun, final: bool = True) -> str:
    """'all completed', or '11 pruned, 5 completed': every trial the sweep has run ('all'
    only at the end: while it runs, more trials are to come)."""
    counts: dict[str, int] = {}
    for record in sweep.records.values():
        if record.info:
            counts[record.status] = counts.get(record.status, 0) + 1
    if len(counts) == 1 and final:
        return f"all {next(iter(counts))}"
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items(), key=lambda c: -c[1]))


class SweepDisplay(SweepObserver):
    """The live view. Its cost per event is the running trials' table; the leaderboard,
    which reads every trial, is rebuilt at most once per `BOARD_EVERY` seconds, so that
    a sweep of thousands of trials does not slow down as it grows. It goes when the
    sweep ends (the command prints the final leaderboard), but stays when it is
    interrupted, to show where it stopped.

    Progress counts epochs, not trials, so that its ETA counts the epochs still to run
    in unfinished trials; the bar names the trials done."""

    BOARD_EVERY = 1.0

    def __init__(self, console, quiet: bool = False):
        self.console, self.quiet = console, quiet
        self.sweep: Optional[SweepRun] = None
        self.running: dict[str, TrialRecord] = {}
        self.done = 0
        self.to_run = 0  # trials
        # epochs: what each trial runs in this sweep, and of those, what it has run; their
        # sums kept as they change, so that an event costs the same in a sweep of any size
        self.budget: dict[str, int] = {}
        self.counted: dict[str, int] = {}
        self.epochs_total, self.epochs_done = 0, 0
        self.first_row: dict[str, int] = {}  # its rows when it started (a resumed one has some)
        self.unknown, self.per_trial = 0, 0.0  # trials not asked for yet (TPE), epochs each
        self.board: Optional[Group] = None
        self.board_done, self.board_at = -1, 0.0
        self.live: Optional[Live] = None
        self.progress = Progress(
            TextColumn("trials"),
            BarColumn(bar_width=30),
            TextColumn("{task.fields[trials]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.progress.add_task("epochs", total=None, trials="0/0")

    def __enter__(self) -> SweepDisplay:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.transient = exc[0] is None  # interrupted: its last frame stays
            self.live.__exit__(*exc)

    def sweep_started(self, sweep: SweepRun) -> None:
        self.sweep = sweep
        total, skipped = sweep.planned, sweep.skipped
        self.to_run = total - skipped
        for record in sweep.records.values():
            if record.status not in FINISHED:
                self._set_budget(record.trial.id, record.trial.config.epochs - record.resume_epoch)
        self.unknown = max(0, total - len(sweep.records))
        known = [r.trial.config.epochs for r in sweep.records.values()]
        self.per_trial = statistics.fmean(known) if known else _epochs_per_trial(sweep)
        self._update()
        if self.quiet:
            return
        going_on = sum(1 for r in sweep.records.values() if r.resume_epoch)
        self.console.print(
            f"sweep {sweep.spec.name}: {total} trials, {skipped} already "
            f"finished, {total - skipped} to run"
            + (f" ({going_on} from a checkpoint)" if going_on else ""),
            markup=False,
        )
        # a line of its own, so that a narrow terminal never breaks it where it is copied
        self.console.print(f"sweep directory: {sweep.path}", markup=False, soft_wrap=True)
        if self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4)
            self.live.__enter__()

    def trial_started(self, record: TrialRecord) -> None:
        interrupt_point()
        trial = record.trial
        self.running[trial.id] = record
        if trial.id not in self.budget and self.unknown:  # asked for as the sweep goes
            self.unknown -= 1
        self._set_budget(trial.id, trial.config.epochs - len(record.rows))
        self.first_row[trial.id] = len(record.rows)
        self._count(trial.id, 0)  # a retried trial starts its count again
        self._update()
        self._refresh()

    def trial_epoch(self, record: TrialRecord) -> None:
        interrupt_point()
        trial_id = record.trial.id
        done = len(record.rows) - self.first_row.get(trial_id, 0)
        self._count(trial_id, min(done, self.budget.get(trial_id, done)))
        self._update()
        self._refresh()

    def trial_finished(self, record: TrialRecord) -> None:
        self.running.pop(record.trial.id, None)
        status = record.status
        if status != "interrupted":  # it is not done: a rerun goes on with it
            self.done += 1
            # ended early (pruned, diverged, stopped): its other epochs will not run
            self._count(record.trial.id, self.budget.get(record.trial.id, 0))
            self._update()
        if status == "failed" or (not self.quiet and self.live is None):
            self._print_finished(record)
        self._refresh()

    def _set_budget(self, trial_id: str, epochs: int) -> None:
        self.epochs_total += epochs - self.budget.get(trial_id, 0)
        self.budget[trial_id] = epochs

    def _count(self, trial_id: str, epochs: int) -> None:
        self.epochs_done += epochs - self.counted.get(trial_id, 0)
        self.counted[trial_id] = epochs

    def _update(self) -> None:
        """Epochs: those of the trials known, and an estimate for the rest (a TPE sweep
        asks for its trials as it goes)."""
        total = self.epochs_total + round(self.unknown * self.per_trial)
        self.progress.update(
            self.task,
            total=max(total, 1),
            completed=self.epochs_done,
            trials=f"{self.done}/{self.to_run}",
        )

    def note(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"note: {message}", markup=False, soft_wrap=True)

    def _print_finished(self, record: TrialRecord) -> None:
        info = record.info
        best = info.get("best") or {}
        line = (
            f"[{self.done}/{self.to_run}] {record.status:<9} "
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

    def _leaderboard(self) -> Group:
        now = time.monotonic()
        if self.board is None or (
            self.done != self.board_done and now - self.board_at >= self.BOARD_EVERY
        ):
            assert self.sweep is not None, "the sweep has started"
            self.board = leaderboard_table(self.console, self.sweep)
            self.board_done, self.board_at = self.done, now
        return self.board

    def _render(self) -> Group:
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
            parts.append(self._leaderboard())
        return Group(*parts)


def _epochs_per_trial(sweep: SweepRun) -> float:
    """Before any trial is known: the epochs the sweep file gives its trials."""
    from softmax_exp.config import TrainConfig

    spec = sweep.spec
    sampled = spec.space.get("epochs")
    if sampled is not None and all(isinstance(v, (int, float)) for v in sampled.args):
        return statistics.fmean(sampled.args)  # {int: [lo, hi]} or {choice: [...]}
    if "epochs" in spec.grid:
        return statistics.fmean(spec.grid["epochs"])
    return spec.base.get("epochs", TrainConfig.model_fields["epochs"].default)
