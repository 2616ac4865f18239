"""Evaluating parameters: a split's per-trial loss and accuracy as training computes
them each epoch (chunk by chunk, on the device), and a run's saved parameters on the
test set: accuracy, loss, per class."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .data import CLASS_NAMES
from .errors import RunError
from .layout import BEST_PARAMS, FINAL_PARAMS, SPEC_FILE, TRIALS_CSV
from .model import load_params
from .mxnet_compat import load_mxnet
from .runs import read_run_info

EVAL_CHUNK = 8192  # images per evaluation step


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

    run = Path(run)
    if (run / TRIALS_CSV).is_file():  # a sweep: its result is the trial it selected
        run = selected_trial(run)
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


def selected_trial(sweep: Path) -> Path:
    """The directory of the trial a sweep directory selected, as its leaderboard does:
    the point (seeds pooled) with the best mean of the selection metric, and that
    point's best trial."""
    import yaml

    from .metrics import best_of, direction
    from .results import METRIC_ALIASES, load, varying_settings

    trials = load(sweep).trials
    named = trials["selected_on"].dropna()
    metric = str(named.iloc[0]) if len(named) else "val_acc"
    column = METRIC_ALIASES.get(metric, metric)
    try:
        mode = (yaml.safe_load((sweep / SPEC_FILE).read_text(encoding="utf-8")) or {})["mode"]
    except (OSError, yaml.YAMLError, TypeError, KeyError):
        mode = direction(metric)
    scored = trials.dropna(subset=[column]) if column in trials else trials.iloc[:0]
    settings = [s for s in varying_settings(scored) if s != "seed"]
    points: dict[tuple, list] = {}
    for row in scored.itertuples():
        points.setdefault(tuple(str(getattr(row, s)) for s in settings), []).append(row)
    chosen = best_of(
        points.values(), lambda rows: sum(getattr(r, column) for r in rows) / len(rows), mode
    )
    if chosen is None:
        raise RunError(
            f"{sweep}: no trial of this sweep has a {metric} yet; run the sweep, or pass "
            "one of its trials (trials/<id>)"
        )
    trial = best_of(chosen, lambda r: getattr(r, column), mode)
    assert trial is not None  # rows with a finite mean have finite scores
    return sweep / str(trial.path)


def evaluate_params(params: dict, images: np.ndarray, labels: np.ndarray, ctx):
    """Loss, accuracy and predictions of saved parameters, computed exactly as training
    computed its per-epoch metrics (same graph, same chunks), so they reproduce them."""
    mx = load_mxnet()

    from .backends import choose_backend

    backend = choose_backend(ctx)
    backend.load(params)
    objective = backend.objective(1, predictions=True)
    objective.hybridize(static_alloc=True)
    rate = mx.nd.zeros(1, ctx=ctx)
    loss, acc, guesses = evaluate_chunks(mx, objective, to_device(mx, images, labels, ctx), rate, 1)
    predictions = [g.asnumpy()[:, 0].astype(np.int64) for g in guesses]
    return float(loss[0]), float(acc[0]), np.concatenate(predictions)


def evaluate_chunks(mx, objective, split, lr, blocks: int):
    """Per-trial mean loss and accuracy over a split, chunk by chunk as training does;
    also each chunk's predicted classes when the objective returns them."""
    images, labels, chunks = split
    outputs = [objective(images, labels, index, lr) for index in chunks]
    totals = mean(mx.nd.add_n(*(out[1] for out in outputs)), labels.shape[0])
    return totals[:blocks], totals[blocks:], [out[2] for out in outputs if len(out) > 2]


def to_device(mx, images: np.ndarray, labels: np.ndarray, ctx):
    """uint8 images and labels on `ctx`, and the index chunks that evaluation walks.

    On the CPU the NDArrays share the numpy arrays' memory (no copy of the dataset per
    run); MXNet marks those arrays read-only, which they are to us anyway.
    """
    n = len(labels)
    chunks = [
        mx.nd.arange(start, min(start + EVAL_CHUNK, n), ctx=ctx, dtype="int32")
        for start in range(0, n, EVAL_CHUNK)
    ]
    shared = [
        mx.nd.from_numpy(np.ascontiguousarray(a, dtype=np.uint8), zero_copy=True)
        for a in (images, labels)
    ]
    if ctx != mx.cpu():
        shared = [a.as_in_context(ctx) for a in shared]
    return shared[0], shared[1], chunks


def mean(total, count: int) -> np.ndarray:
    """Device sums to per-trial means, in float64: 8238 hits of 10000 read 0.8238."""
    return total.asnumpy().astype(np.float64) / count
