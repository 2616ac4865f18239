"""Results where teams already look: MLflow and TensorBoard, live and after the fact.

    export_mlflow("runs/sweep-grid", "sqlite:///mlflow.db")   # one parent, a child per trial
    export_tensorboard("runs/sweep-grid", "tb")               # a log directory per trial
    LiveTracking(TrackingConfig(mlflow=..., tensorboard=...))  # as a run or sweep goes

One module per tracker; mlflow and tensorboardX are imported only inside them, when
used, and an absent extra is a `MissingExtra` that names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .base import MissingExtra, TrackingError, require
from .live import LiveTracking


def export_mlflow(path: Path, uri: str, experiment: Optional[str] = None):
    """A run or sweep directory into the MLflow tracking store at `uri`; idempotent."""
    require("mlflow")
    from .mlflow_export import export

    return export(Path(path), uri, experiment)


def export_tensorboard(path: Path, log_dir: Path):
    """A run or sweep directory as TensorBoard logs under `log_dir`; idempotent."""
    require("tensorboard")
    from .tensorboard_export import export

    return export(Path(path), Path(log_dir))


__all__ = [
    "LiveTracking",
    "MissingExtra",
    "TrackingError",
    "export_mlflow",
    "export_tensorboard",
    "require",
]
