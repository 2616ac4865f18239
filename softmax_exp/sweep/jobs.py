"""A job is what one worker runs: one trial, or a fused group of trials that share
their minibatch sequence. Workers never write files: they send events to the
driver, which is the only writer of the sweep directory."""

from __future__ import annotations

import gc
import math
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import reason
from ..events import JobFailed, TrialStarted
from ..interrupts import signals_held
from ..recording import Emit, EventHooks, never
from ..training import fuse_key
from .expand import Trial

MAX_FUSED = 32  # trials per stacked model; larger groups are split
TRAIN_IMAGES = 60_000  # Fashion-MNIST's training set
BATCH_OVERHEAD = 8  # a minibatch's cost besides its trials', in trials (epoch_parts.py)


@dataclass(frozen=True)
class Job:
    number: int
    trials: tuple[Trial, ...]
    data_dir: Optional[Path] = None
    prune: Optional[dict] = None  # the sweep's `prune:` block
    metric: str = "val_acc"
    mode: str = "max"
    # other trials' metric per epoch, filled in just before the job runs
    reference: dict[str, list] = field(default_factory=dict)
    # a checkpoint after the most seconds (0: every epoch; None: never)
    checkpoint_seconds: Optional[float] = None
    # the epoch every trial goes on from (0: the first), and, filled in just before the
    # job runs, each trial's checkpoint of that epoch
    start_epoch: int = 0
    starts: tuple = ()

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.trials]

    def cost(self) -> float:
        """How much work the job is, roughly, in minibatches of 256 images of one trial:
        each of its minibatches costs its trials' share, plus what a minibatch costs
        whatever the trials (MXNet's and Python's own: about BATCH_OVERHEAD trials')."""
        config = self.trials[0].config
        train = round((config.train_subset or TRAIN_IMAGES) * (1 - config.val_fraction))
        batches = math.ceil(train / config.batch_size)
        per_batch = len(self.trials) * config.batch_size / 256 + BATCH_OVERHEAD
        left = max(t.config.epochs for t in self.trials) - self.start_epoch
        return max(0, left) * batches * per_batch


def plan_jobs(
    trials: Sequence[Trial],
    fuse: bool,
    workers: int = 1,
    data_dir: Optional[Path] = None,
    start_epochs: Optional[dict[str, int]] = None,
    **job_options: Any,
) -> list[Job]:
    """Group fusable trials (same minibatch sequence, and going on from the same epoch:
    `start_epochs` by trial id, 0 when absent) into jobs, in expansion order.

    With several workers, groups are split so that every worker gets work.
    """
    start_epochs = start_epochs or {}
    by_key: dict[tuple, list[Trial]] = {}
    for trial in trials:
        key = (fuse_key(trial.config), start_epochs.get(trial.id, 0))
        by_key.setdefault(key if fuse else (trial.id,), []).append(trial)
    size = MAX_FUSED
    if fuse and workers > 1 and len(by_key) < workers:
        size = min(MAX_FUSED, max(1, math.ceil(len(trials) / workers)))
    groups = [g[i : i + size] for g in by_key.values() for i in range(0, len(g), size)]
    return [
        Job(n, tuple(g), data_dir, start_epoch=start_epochs.get(g[0].id, 0), **job_options)
        for n, g in enumerate(groups)
    ]


class Every:
    """A checkpoint policy: after an epoch once `seconds` have passed since the job
    started or its last checkpoint (0: after every epoch). Checkpoints cost
    a few file writes per trial, which a thousand fast trials would feel."""

    def __init__(self, seconds: float):
        self.seconds, self.last = seconds, time.monotonic()

    def __call__(self, epoch: int) -> bool:
        if time.monotonic() - self.last < self.seconds:
            return False
        self.last = time.monotonic()
        return True


class PruningHooks(EventHooks):
    """The job's events, and the pruner asked at every epoch of every trial."""

    def __init__(self, job: Job, emit: Emit):
        from .pruners import make_pruner

        policy = never if job.checkpoint_seconds is None else Every(job.checkpoint_seconds)
        super().__init__(job.ids, emit, checkpoints=policy)
        self.job = job
        self.pruner = make_pruner(job.prune)

    def should_prune(self, index: int, metrics, peers) -> bool:
        """Against the other trials at this epoch: earlier ones and this group's."""
        epoch, metric = metrics.epoch, self.job.metric
        others = [
            values[epoch - 1] for values in self.job.reference.values() if len(values) >= epoch
        ]
        others += [getattr(p, metric) for p in peers if p is not metrics]
        return self.pruner.should_prune(epoch, getattr(metrics, metric), others, self.job.mode)


def execute_job(job: Job, emit: Emit, dataset) -> None:
    """Run one job in this process on `dataset` (the whole Fashion-MNIST, as loaded by
    `load_dataset(job.data_dir)`), reporting through `emit`.

    Events (events.py): TrialStarted for each trial, then EpochEnded and TrialEnded
    as they come, and GroupEpochEnded once the whole group is through an epoch.
    Exceptions propagate to the executor.
    """
    from ..device import resolve_context
    from ..split import split_dataset
    from ..training import train_group

    configs = [t.config for t in job.trials]
    ctx = resolve_context(configs[0].ctx)
    split = split_dataset(dataset, configs[0])
    for trial in job.trials:
        emit(TrialStarted(trial.id))
    try:
        train_group(configs, split, ctx, PruningHooks(job, emit), list(job.starts) or None)
    finally:
        # A finished group's Gluon blocks sit in reference cycles (block <-> name scope):
        # free them now, not whenever the cyclic collector next runs, so that memory
        # stays flat over thousands of groups (tests/test_memory.py).
        del split
        with signals_held():  # a Ctrl-C in a destructor would be lost
            gc.collect()


def failed(job: Job, exc: BaseException) -> JobFailed:
    """The event for a job that raised `exc`: its first line, and the traceback for the
    trials' error.log."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return JobFailed(job, f"{type(exc).__name__}: {reason(exc)}", trace)
