"""What a run records, on disk and between trainer, executors and driver: the metrics
columns, one epoch's metrics, and a trial's outcome. The ground floor: it imports only
the config, so that whatever reads or writes runs need not import the trainer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .config import TrainConfig

METRIC_COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "test_loss",
    "test_acc",
    "epoch_seconds",
    "samples_per_second",
)
TIMING_COLUMNS = ("epoch_seconds", "samples_per_second")


@dataclass
class EpochMetrics:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: Optional[float]
    val_acc: Optional[float]
    test_loss: float
    test_acc: float
    epoch_seconds: float
    samples_per_second: float

    def as_row(self) -> dict:
        # asdict() copies deeply, field by field: a sweep's driver calls this for every
        # trial and epoch, and the fields are numbers
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class TrialOutcome:
    config: TrainConfig
    status: str = "running"  # completed | diverged | pruned
    stop_reason: str = ""
    history: list[EpochMetrics] = field(default_factory=list)
    best_epoch: Optional[int] = None
    best_params: Optional[dict] = None
    final_params: Optional[dict] = None
    kernels: str = ""  # native (the fused CPU kernels) or mxnet (MXNet's operators)

    @property
    def done(self) -> bool:
        return self.status != "running"
