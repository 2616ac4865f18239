"""A job is what one worker runs: one trial, or a fused group of trials that share
their minibatch sequence. Workers never write files: they send events to the
driver, which is the only writer of the sweep directory."""

from __future__ import annotations

import gc
import math
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ..errors import reason
from ..interrupts import signals_held
from ..training import TrainHooks, fuse_key
from .expand import Trial

MAX_FUSED = 32  # trials per stacked model; larger groups are split
Emit = Callable[[tuple], None]


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

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.trials]


def plan_jobs(trials: Sequence[Trial], fuse: bool, workers: int = 1,
              data_dir: Optional[Path] = None, **job_options: Any) -> list[Job]:
    """Group fusable trials (same minibatch sequence) into jobs, in expansion order.

    With several workers, groups are split so that every worker gets work.
    """
    if not fuse:
        groups = [[t] for t in trials]
    else:
        by_key: dict[tuple, list[Trial]] = {}
        for trial in trials:
            by_key.setdefault(fuse_key(trial.config), []).append(trial)
        size = MAX_FUSED
        if workers > 1 and len(by_key) < workers:
            size = min(MAX_FUSED, max(1, math.ceil(len(trials) / workers)))
        groups = [g[i:i + size] for g in by_key.values() for i in range(0, len(g), size)]
    return [Job(n, tuple(g), data_dir, **job_options) for n, g in enumerate(groups)]


class EmitHooks(TrainHooks):
    """Turns trainer callbacks into events for the driver, and asks the pruner."""

    def __init__(self, job: Job, emit: Emit):
        from .pruners import make_pruner

        self.job, self.emit = job, emit
        self.pruner = make_pruner(job.prune)

    def epoch_ended(self, index: int, metrics) -> None:
        self.emit(("epoch", self.job.trials[index].id, metrics))

    def should_prune(self, index: int, metrics, peers) -> bool:
        """Against the other trials at this epoch: earlier ones and this group's."""
        epoch, metric = metrics.epoch, self.job.metric
        others = [values[epoch - 1] for values in self.job.reference.values()
                  if len(values) >= epoch]
        others += [getattr(p, metric) for p in peers if p is not metrics]
        return self.pruner.should_prune(epoch, getattr(metrics, metric), others, self.job.mode)

    def trial_ended(self, index: int, outcome) -> None:
        self.emit(("end", self.job.trials[index].id, outcome))

    def group_epoch_ended(self, epoch: int) -> None:
        self.emit(("epoch_done",))


def execute_job(job: Job, emit: Emit, dataset) -> None:
    """Run one job in this process on `dataset` (the whole Fashion-MNIST, as loaded by
    `load_dataset(job.data_dir)`), reporting through `emit`.

    Events: ("start", trial id), ("epoch", trial id, EpochMetrics),
    ("end", trial id, TrialOutcome), ("epoch_done",) once the whole group is through
    an epoch. Exceptions propagate to the executor.
    """
    from ..device import resolve_context
    from ..split import split_dataset
    from ..training import train_group

    configs = [t.config for t in job.trials]
    ctx = resolve_context(configs[0].ctx)
    split = split_dataset(dataset, configs[0])
    for trial in job.trials:
        emit(("start", trial.id))
    try:
        train_group(configs, split, ctx, EmitHooks(job, emit))
    finally:
        # A finished group's Gluon blocks sit in reference cycles (block <-> name scope):
        # free them now, not whenever the cyclic collector next runs, so that memory
        # stays flat over thousands of groups (about 2 MB a group of 32 otherwise).
        del split
        with signals_held():  # a Ctrl-C in a destructor would be lost
            gc.collect()


def describe_exception(exc: BaseException) -> tuple[str, str]:
    return f"{type(exc).__name__}: {reason(exc)}", "".join(
        traceback.format_exception(type(exc), exc, exc.__traceback__))
