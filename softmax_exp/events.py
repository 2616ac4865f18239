"""What a training job tells whoever records or shows it: typed, frozen events.

Workers (a process, a Ray task, or this process) send them; the driver of a sweep, or
`softmax train`, hands each to one recording pipeline (recording.py). They pickle, so
they cross process boundaries as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from .records import EpochMetrics, TrialOutcome


@dataclass(frozen=True)
class TrialStarted:
    trial_id: str


@dataclass(frozen=True)
class EpochStarted:
    """For progress displays: the group starts an epoch of `batches` minibatches."""

    epoch: int
    batches: int


@dataclass(frozen=True)
class BatchesDone:
    """For progress displays: `done` minibatches of the epoch are queued."""

    done: int


@dataclass(frozen=True)
class EpochEnded:
    trial_id: str
    metrics: EpochMetrics


@dataclass(frozen=True)
class CheckpointTaken:
    """What the trial needs to go on after this epoch as if it had never stopped."""

    trial_id: str
    checkpoint: Any  # checkpoint.Checkpoint


@dataclass(frozen=True)
class TrialEnded:
    trial_id: str
    outcome: TrialOutcome


@dataclass(frozen=True)
class GroupEpochEnded:
    """Every trial of the job is through this epoch (and ended, if it did)."""

    epoch: int


@dataclass(frozen=True)
class JobRetried:
    job: Any  # sweep.jobs.Job
    reason: str


@dataclass(frozen=True)
class JobFailed:
    """The job raised, or its worker died: its unfinished trials failed."""

    job: Any  # sweep.jobs.Job
    message: str
    trace: str = ""


Event = Union[
    TrialStarted,
    EpochStarted,
    BatchesDone,
    EpochEnded,
    CheckpointTaken,
    TrialEnded,
    GroupEpochEnded,
    JobRetried,
    JobFailed,
]
