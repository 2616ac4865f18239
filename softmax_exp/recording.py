"""One recording pipeline: the trainer's callbacks become events (`EventHooks`), and
events become run directories (`Recording`). `softmax train` and every sweep, whatever
executor runs its trials, record through these two classes."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from typing import Callable, Optional, Sequence

from .events import (
    BatchesDone,
    CheckpointTaken,
    EpochEnded,
    EpochStarted,
    Event,
    GroupEpochEnded,
    TrialEnded,
    TrialStarted,
)
from .records import EpochMetrics, TrialOutcome
from .runs import RunRecorder
from .training import TrainHooks

Emit = Callable[[Event], None]


def never(epoch: int) -> bool:
    return False


def always(epoch: int) -> bool:
    return True


class EventHooks(TrainHooks):
    """Turns a group's trainer callbacks into events about its trials (`trial_ids`, in
    the group's order). `progress`: also the display-only events. `checkpoints(epoch)`
    says after which epochs the trainer hands over checkpoints."""

    def __init__(
        self,
        trial_ids: Sequence[str],
        emit: Emit,
        progress: bool = False,
        checkpoints: Callable[[int], bool] = never,
    ):
        self.trial_ids, self.emit, self.progress = list(trial_ids), emit, progress
        self.checkpoints = checkpoints

    def keeps_checkpoints(self) -> bool:
        return self.checkpoints is not never

    def wants_checkpoint(self, epoch: int) -> bool:
        return self.checkpoints(epoch)

    def checkpoint(self, index: int, checkpoint) -> None:
        self.emit(CheckpointTaken(self.trial_ids[index], checkpoint))

    def epoch_started(self, epoch: int, num_batches: int) -> None:
        if self.progress:
            self.emit(EpochStarted(epoch, num_batches))

    def batches_done(self, done: int) -> None:
        if self.progress:
            self.emit(BatchesDone(done))

    def epoch_ended(self, index: int, metrics: EpochMetrics) -> None:
        self.emit(EpochEnded(self.trial_ids[index], metrics))

    def trial_ended(self, index: int, outcome: TrialOutcome) -> None:
        self.emit(TrialEnded(self.trial_ids[index], outcome))

    def group_epoch_ended(self, epoch: int) -> None:
        self.emit(GroupEpochEnded(epoch))


class Recording(ABC):
    """Writes each trial's run directory from its events. Subclasses say where a trial's
    directory is (`recorder_for`) and what else an event means to them (the `on_*`
    methods); `recorders` holds the trials started and not yet ended."""

    def __init__(self) -> None:
        self.recorders: dict[str, RunRecorder] = {}

    @abstractmethod
    def recorder_for(self, trial_id: str) -> RunRecorder:
        """The recorder of the trial's run directory (not created yet: `handle` does)."""

    def handle(self, event: Event) -> None:
        if isinstance(event, TrialStarted):
            # registered before its files are written, so that an interrupt landing in
            # between still finishes it (a run.json that does not say `running`)
            self.recorders[event.trial_id] = recorder = self.recorder_for(event.trial_id)
            self.on_started(event.trial_id, recorder)
        elif isinstance(event, EpochEnded):
            self.recorders[event.trial_id].record_epoch(event.metrics)
            self.on_epoch(event.trial_id, event.metrics)
        elif isinstance(event, CheckpointTaken):  # may come after its trial ended
            recorder = self.recorders.get(event.trial_id) or self.recorder_for(event.trial_id)
            recorder.save_checkpoint(event.checkpoint)
        elif isinstance(event, TrialEnded):
            self.finish(event.trial_id, event.outcome)
        else:
            self.on_other(event)

    def finish(
        self, trial_id: str, outcome: Optional[TrialOutcome], status: str = "", error: str = ""
    ) -> dict:
        """Write the trial's end (parameters, run.json); returns its run.json content."""
        recorder = self.recorders.get(trial_id)
        if recorder is None:  # failed before it started: give it a directory anyway,
            recorder = self.recorder_for(trial_id).create_or_keep()  # its epochs kept
        info = recorder.finish(outcome, status or None, error or None)
        self.recorders.pop(trial_id, None)  # only now: an interrupt before still records it
        self.on_finished(trial_id, info)
        return info

    def end_running(self, status: str, error: str) -> None:
        """Record every running trial as ended with `status` (interrupted, failed); one
        that cannot be (a full disk) does not keep the others from it, and the first
        error is the one the caller reports."""
        for trial_id in list(self.recorders):
            with contextlib.suppress(Exception):
                self.finish(trial_id, None, status, error)

    def on_started(self, trial_id: str, recorder: RunRecorder) -> None:
        pass

    def on_epoch(self, trial_id: str, metrics: EpochMetrics) -> None:
        pass

    def on_finished(self, trial_id: str, info: dict) -> None:
        pass

    def on_other(self, event: Event) -> None:
        pass
