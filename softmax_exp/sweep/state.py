"""A sweep's state in memory: a record per trial, read back from its run directory when
the sweep resumes, and what the sweep tells whoever watches it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..layout import METRICS_FILE
from ..runs import FINISHED, read_run_info
from ..summary import read_metrics
from .expand import Trial
from .spec import SweepSpec
from .trial_state import TrialChangedByHand, check_directory, checkpoint_epoch, finished_mismatch


@dataclass
class TrialRecord:
    trial: Trial
    path: Path
    info: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    resume_epoch: int = 0  # an interrupted trial's last checkpoint: it goes on from there
    resume_key: str = ""  # what that checkpoint shares with its group's (trial_state)

    @property
    def status(self) -> str:
        return self.info.get("status", "pending")


@dataclass
class SweepRun:
    spec: SweepSpec
    path: Path
    trials: list[Trial]
    records: dict[str, TrialRecord]
    planned: int = 0  # trials this sweep will have run (its sweeper says)
    skipped: int = 0
    interrupted: bool = False

    def finished(self) -> list[TrialRecord]:
        return [r for r in self.records.values() if r.status in FINISHED]

    def failures(self) -> list[TrialRecord]:
        return [r for r in self.records.values() if r.status in ("failed", "interrupted")]


class SweepObserver:
    """What a sweep tells its display. Override what you need."""

    def sweep_started(self, sweep: SweepRun) -> None:
        pass

    def trial_started(self, record: TrialRecord) -> None:
        pass

    def trial_epoch(self, record: TrialRecord) -> None:
        pass

    def trial_finished(self, record: TrialRecord) -> None:
        pass

    def note(self, message: str) -> None:
        pass


def resume_record(record: TrialRecord, sweep: Path, note: Callable[[str], None]) -> None:
    """Fill a trial's record from its run directory in `sweep`: a finished trial is kept
    only when all of its files agree, and agree with the sweep; an interrupted (or
    killed) one goes on only from a checkpoint that loads whole."""
    check_directory(sweep, record.path)
    info = read_run_info(record.path)
    if info is None:
        if record.path.exists():
            note(f"trial {record.trial.id}: unreadable run.json, running it again")
        return
    rows = read_metrics(record.path / METRICS_FILE) or []
    if info.get("status") in FINISHED and len(rows) != info.get("epochs_run"):
        note(
            f"trial {record.trial.id}: metrics.csv has {len(rows)} of "
            f"{info.get('epochs_run')} epochs, running it again"
        )
        return
    if info.get("status") in FINISHED:
        mismatch = finished_mismatch(record.trial, info, rows)
        if mismatch:
            raise TrialChangedByHand(record.path, mismatch)
        record.info, record.rows = info, rows
    elif info.get("status") in ("running", "interrupted"):  # killed, or stopped
        found = checkpoint_epoch(record.path, record.trial, len(rows))
        record.resume_epoch, problem, record.resume_key = found
        if problem:
            note(f"trial {record.trial.id}: {problem}; starting it over")
