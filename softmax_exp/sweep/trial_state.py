"""What a sweep takes back from a trial's directory when it resumes, checked: the
directory is the sweep's own (no link out of it), a finished trial's record is one of
this sweep's settings, and an interrupted trial's checkpoint loads whole (schema,
checksums, settings). Whatever is wrong is that trial's alone: it starts over, or, where
starting over would throw away work done by hand, the sweep is refused in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from ..errors import RunError, SoftmaxExpError
from ..fileio import real_directory
from .expand import Trial


def check_directory(sweep: Path, trial_dir: Path) -> None:
    """`trials/<id>` must be a real directory of the sweep's (or not there yet)."""
    real_directory(trial_dir, sweep)


def finished_mismatch(trial: Trial, info: dict[str, Any], rows: list) -> Optional[str]:
    """Why a finished trial's record is not what this sweep asks of it (None: it is):
    another config (its run.json id) or more epochs than the sweep's."""
    if len(rows) > trial.config.epochs:
        return f"it trained {len(rows)} epochs, the sweep asks for {trial.config.epochs}"
    if info.get("id", trial.id) != trial.id:
        return f"its run.json is of config {info.get('id')!r}, not {trial.id}"
    return None


class TrialChangedByHand(RunError):
    """A finished trial whose record disagrees with the sweep: rerunning it would throw
    away what was done to it (`softmax train --resume` extending it, say)."""

    def __init__(self, trial_dir: Path, why: str):
        super().__init__(
            f"{trial_dir}: {why}; it was changed outside this sweep: move it out of "
            "trials/ to keep it (the sweep then runs the trial again), or restart the sweep"
        )


def checkpoint_epoch(trial_dir: Path, trial: Trial, rows: int) -> tuple[int, str]:
    """The epoch an interrupted trial goes on from (0: from the start) and, when it
    cannot use its checkpoint, why. The checkpoint is loaded whole here, checksums and
    settings included, so that a bad one is this trial's problem before it is grouped
    with others (it is read again, only when its job runs)."""
    from ..checkpoint import saved_epoch
    from ..runs import resume_point

    if saved_epoch(trial_dir) == 0 and not (trial_dir / "checkpoint.json").exists():
        return 0, ""
    try:
        start = resume_point(trial_dir, config=trial.config)
    except SoftmaxExpError as exc:
        return 0, str(exc)
    if start.epoch > rows or start.epoch >= trial.config.epochs:
        return 0, f"its checkpoint (epoch {start.epoch}) does not fit its metrics.csv"
    return start.epoch, ""
