"""Evaluating a run's saved parameters on the test set: accuracy, loss, per class."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .data import CLASS_NAMES
from .errors import RunError
from .model import load_params
from .runs import BEST_PARAMS, FINAL_PARAMS, read_run_info


@dataclass
class Evaluation:
    run: Path
    params: Path
    epoch: Optional[int]
    test_loss: float
    test_acc: float
    recorded_test_acc: Optional[float]
    confusion: np.ndarray  # rows: true class, columns: predicted
    class_names: tuple = field(default=CLASS_NAMES)

    @property
    def per_class_accuracy(self) -> np.ndarray:
        return np.diag(self.confusion) / self.confusion.sum(axis=1)


def evaluate_run(
    run: Path, which: str = "best", data_dir: Optional[Path] = None, ctx_name: str = "cpu"
) -> Evaluation:
    """Evaluate `best.params` (or `final.params`) of a run directory on the test set."""
    from .data import load_dataset
    from .device import resolve_context
    from .training import evaluate_params

    run = Path(run)
    params_path = run / (BEST_PARAMS if which == "best" else FINAL_PARAMS)
    if not params_path.is_file():
        raise RunError(
            f"{params_path}: no such file; pass a finished run directory "
            "(softmax train or a sweep's trials/<id>)"
        )
    info = read_run_info(run) or {}
    ctx = resolve_context(ctx_name)
    sums = info.get("sha256")
    expected = sums.get(params_path.name) if isinstance(sums, dict) else None
    params = load_params(params_path, expected if isinstance(expected, str) else None)
    dataset = load_dataset(data_dir)
    loss, acc, predictions = evaluate_params(params, dataset.test_images, dataset.test_labels, ctx)
    confusion = np.zeros((len(CLASS_NAMES), len(CLASS_NAMES)), dtype=np.int64)
    np.add.at(confusion, (dataset.test_labels.astype(np.int64), predictions), 1)
    recorded = info.get("best" if which == "best" else "final") or {}
    epoch = info.get("best_epoch") if which == "best" else info.get("epochs_run")
    return Evaluation(run, params_path, epoch, loss, acc, recorded.get("test_acc"), confusion)
