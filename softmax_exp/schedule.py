"""Learning-rate schedules: constant (the chapter's), step decay, cosine decay, each with
an optional linear warm-up; MXNet's own `mx.lr_scheduler` classes do the arithmetic.

A schedule is a function of the update count (1 for a run's first minibatch), so every
trial of a fused group, whatever its schedule, gets the rate it would get alone.
"""

from __future__ import annotations

from typing import Callable

from .config import TrainConfig
from .mxnet_compat import load_mxnet

Schedule = Callable[[int], float]


def is_constant(config: TrainConfig) -> bool:
    """Whether a run of `config` updates at one learning rate throughout."""
    return config.lr_schedule == "constant" and not config.warmup_epochs


def schedule_for(config: TrainConfig, batches_per_epoch: int) -> Schedule:
    """The learning rate of each update (1-based) of a run of `config`."""
    warmup = config.warmup_epochs * batches_per_epoch
    if is_constant(config):
        return lambda update: config.lr
    lr_scheduler = load_mxnet().lr_scheduler

    if config.lr_schedule == "cosine":
        return lr_scheduler.CosineScheduler(
            max_update=config.epochs * batches_per_epoch,
            base_lr=config.lr,
            final_lr=config.lr_min,
            warmup_steps=warmup,
        )
    every = (
        config.lr_step_epochs * batches_per_epoch
        if config.lr_schedule == "step"
        else config.epochs * batches_per_epoch + 1
    )  # constant after its warm-up: never steps
    return lr_scheduler.FactorScheduler(
        step=every,
        factor=config.lr_step_factor,
        stop_factor_lr=0.0,
        base_lr=config.lr,
        warmup_steps=warmup,
    )
