"""What a sweep takes back from a trial's directory when it resumes, checked: the
directory is the sweep's own (no link out of it), a finished trial's record is one of
this sweep's settings, and an interrupted trial's checkpoint loads whole (schema,
checksums, settings). Whatever is wrong is that trial's alone: it starts over, or, where
starting over would throw away work done by hand, the sweep is refused in one line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Optional

from ..errors import RunError, SoftmaxExpError
from ..fileio import real_directory
from ..layout import CHECKPOINT_STATE
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


def checkpoint_epoch(trial_dir: Path, trial: Trial, rows: int) -> tuple[int, str, str]:
    """The epoch an interrupted trial goes on from (0: from the start), why not when it
    cannot use its checkpoint, and what it shares with the trials it may go on with (the
    shuffling, the update count, the kernels: `outvoted`). The checkpoint is loaded whole
    here, checksums and settings included, so that a bad one is this trial's problem
    before it is grouped with others (it is read again, only when its job runs)."""
    from ..runs import resume_point

    if not (trial_dir / CHECKPOINT_STATE).exists():
        return 0, "", ""
    try:
        start = resume_point(trial_dir, config=trial.config)
    except SoftmaxExpError as exc:
        return 0, str(exc), ""
    if start.epoch > rows or start.epoch >= trial.config.epochs:
        return 0, f"its checkpoint (epoch {start.epoch}) does not fit its metrics.csv", ""
    if (start.weight_momentum is None) != (trial.config.momentum == 0):
        return 0, "its checkpoint does not match its momentum", ""
    shared = json.dumps([start.rng, start.updates, start.kernels], sort_keys=True)
    return start.epoch, "", shared


def outvoted(records: Iterable[Any]) -> list[Any]:
    """The interrupted trials whose checkpoints disagree with those of the trials they
    would go on with (same minibatch sequence, same epoch), which agree among themselves
    when untouched: each such group follows its most common checkpoint state, and the
    others start over, rather than fail the whole group."""
    from ..training import fuse_key

    groups: dict[tuple, list] = {}
    for record in records:
        if record.resume_epoch:
            key = (fuse_key(record.trial.config), record.resume_epoch)
            groups.setdefault(key, []).append(record)
    out = []
    for group in groups.values():
        votes = Counter(record.resume_key for record in group)
        winner = max(votes, key=lambda key: (votes[key], key))
        out += [record for record in group if record.resume_key != winner]
    return out
