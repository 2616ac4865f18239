"""Where one trial of a fused group stands, apart from the numbers the trainer computes:
what it has got so far (its outcome), its early stopping, whether it goes on, and its
part of a checkpoint. The trainer (training.py) owns the stacked model and the loop;
it asks a `TrialProgress` per trial what to do with each epoch's metrics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .checkpoint import Checkpoint
from .config import TrainConfig
from .errors import ConfigError
from .model import block_params
from .records import EpochMetrics, TrialOutcome

Stacked = tuple[np.ndarray, np.ndarray]  # the group's stacked weight and bias


class EarlyStopping:
    """Stop when val_acc has not risen by more than `min_delta` for `patience` epochs."""

    def __init__(self, patience: Optional[int], min_delta: float = 0.0):
        self.patience, self.min_delta = patience, min_delta
        self.best: Optional[float] = None
        self.best_epoch: Optional[int] = None
        self.waited = 0

    def update(self, epoch: int, value: Optional[float]) -> bool:
        """Record this epoch's value; True when training should stop now."""
        if (
            value is not None
            and not math.isnan(value)
            and (self.best is None or value > self.best + self.min_delta)
        ):
            self.best, self.best_epoch, self.waited = value, epoch, 0
            return False
        self.waited += 1
        return self.patience is not None and self.waited >= self.patience


@dataclass(frozen=True)
class GroupSnapshot:
    """The group's shared state after an epoch, and the momentum (None without)."""

    epoch: int
    updates: int
    rng: dict
    momentum: Optional[Stacked]


class TrialProgress:
    """Trial `index` of its group (its block of the stacked model), trained with
    `kernels`. Calls, epoch by epoch: `record`, then `judge`; `interrupt` when the
    group is stopped; `checkpoint` and `restore` to stop and go on elsewhere."""

    def __init__(self, index: int, config: TrainConfig, kernels: str):
        self.index, self.config, self.kernels = index, config, kernels
        self.outcome = TrialOutcome(config, kernels=kernels)
        self.stopper = EarlyStopping(config.patience, config.min_delta)

    @property
    def done(self) -> bool:
        return self.outcome.done

    def record(self, metrics: EpochMetrics) -> None:
        self.outcome.history.append(metrics)

    def judge(self, epoch: int, metrics: EpochMetrics, stacked: Stacked, pruned: bool) -> bool:
        """Decide whether the trial goes on after this epoch, keeping its best parameters
        (its block of `stacked`, this epoch's parameters). True if it ended."""
        outcome, stopper = self.outcome, self.stopper
        stop = stopper.update(epoch, metrics.val_acc)
        finite = math.isfinite(metrics.train_loss)
        if stopper.best_epoch == epoch or metrics.val_acc is None:
            outcome.best_epoch = epoch if finite else outcome.best_epoch
            if finite:
                outcome.best_params = block_params(stacked, self.index)
        if not finite:
            outcome.status, outcome.stop_reason = "diverged", "loss is not finite"
        elif pruned:
            outcome.status, outcome.stop_reason = "pruned", f"pruned at epoch {epoch}"
        elif stop:
            outcome.status = "completed"
            outcome.stop_reason = f"early stopping: no val_acc gain for {stopper.patience} epochs"
        elif epoch >= outcome.config.epochs:
            outcome.status, outcome.stop_reason = "completed", "reached the epoch limit"
        else:
            return False
        outcome.final_params = block_params(stacked, self.index)
        return True

    def interrupt(self, stacked: Optional[Stacked]) -> None:
        """Stopped before it ended: its final parameters are those of its last finished
        epoch (`stacked`; None before the first), its best ones stay its best epoch's."""
        self.outcome.status, self.outcome.stop_reason = "interrupted", "interrupted by the user"
        if stacked is not None:
            self.outcome.final_params = block_params(stacked, self.index)

    def resumable(self, epoch: int) -> bool:
        """Whether the trial could go on after this epoch: it has not ended, or it reached
        its epoch limit (a finished run can be extended). Not one that stopped early,
        was pruned or diverged."""
        return not self.done or (self.outcome.status == "completed" and epoch == self.config.epochs)

    def checkpoint(self, snapshot: GroupSnapshot, stacked: Stacked) -> Checkpoint:
        """A Checkpoint of the snapshot's epoch: the trial's block of the layer (`stacked`)
        and of the momentum, the group's shared state, and its own."""
        params = block_params(stacked, self.index)
        moments = (
            block_params(snapshot.momentum, self.index) if snapshot.momentum is not None else {}
        )
        return Checkpoint(
            snapshot.epoch,
            snapshot.updates,
            snapshot.rng,
            {
                "best": self.stopper.best,
                "best_epoch": self.stopper.best_epoch,
                "waited": self.stopper.waited,
            },
            self.outcome.best_epoch,
            self.kernels,
            params["0.weight"],
            params["0.bias"],
            moments.get("0.weight"),
            moments.get("0.bias"),
            list(self.outcome.history),
            self.outcome.best_params,
        )

    def check(self, start: Checkpoint) -> None:
        """ConfigError unless this trial can go on from `start`."""
        if start.kernels != self.kernels:
            raise ConfigError(
                f"the checkpoint was computed with the {start.kernels} "
                f"kernels, this machine would use {self.kernels}; set "
                f"SOFTMAX_EXP_KERNELS={start.kernels} to resume it"
            )
        if (start.weight_momentum is None) != (self.config.momentum == 0):
            raise ConfigError(
                f"trial {self.index}'s checkpoint does not match its momentum "
                f"({self.config.momentum})"
            )
        if self.config.epochs <= start.epoch:
            raise ConfigError(
                f"trial {self.index} already trained {start.epoch} of its "
                f"{self.config.epochs} epochs"
            )

    def restore(self, start: Checkpoint) -> None:
        """Go on from `start` (checked): its early stopping and what its finished epochs
        got. The trainer puts the arrays in place."""
        self.stopper.best, self.stopper.best_epoch = (
            start.stopper["best"],
            start.stopper["best_epoch"],
        )
        self.stopper.waited = start.stopper["waited"]
        self.outcome.history, self.outcome.best_epoch = list(start.history), start.best_epoch
        self.outcome.best_params = start.best_params
