"""Running one training run end to end: check inputs, train, record."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Optional, Sequence

from .config import TrainConfig, config_id
from .errors import RunError, reason
from .records import EpochMetrics, TrialOutcome
from .runs import RunRecorder
from .training import TrainHooks, train_group


@dataclass
class RunResult:
    path: Path
    info: dict[str, Any]
    history: list[EpochMetrics]


class GroupRecorder(TrainHooks):
    """Sends each trial's events to its own run directory, and all of them to `observer`."""

    def wants_checkpoint(self, epoch: int) -> bool:
        return True

    def checkpoint(self, index: int, checkpoint) -> None:
        self.recorders[index].save_checkpoint(checkpoint)

    def __init__(self, recorders: Sequence[RunRecorder], observer: Optional[TrainHooks] = None):
        self.recorders = list(recorders)
        self.observer = observer or TrainHooks()
        self.infos: dict[int, dict[str, Any]] = {}

    def epoch_started(self, epoch: int, num_batches: int) -> None:
        self.observer.epoch_started(epoch, num_batches)

    def batches_done(self, done: int) -> None:
        self.observer.batches_done(done)

    def epoch_ended(self, index: int, metrics: EpochMetrics) -> None:
        self.recorders[index].record_epoch(metrics)
        self.observer.epoch_ended(index, metrics)

    def trial_ended(self, index: int, outcome: TrialOutcome) -> None:
        self.infos[index] = self.recorders[index].finish(outcome)
        self.observer.trial_ended(index, outcome)


def new_run_path(out: Path, config: TrainConfig) -> Path:
    """runs/<time>-<config id>, never an existing directory."""
    stem = f"{datetime.now():%Y%m%d-%H%M%S}-{config_id(config)}"
    path, n = Path(out) / stem, 1
    while path.exists():
        n += 1
        path = Path(out) / f"{stem}-{n}"
    return path


def run_train(config: TrainConfig, out: Path = Path("runs"), data_dir: Optional[Path] = None,
              observer: Optional[TrainHooks] = None, path: Optional[Path] = None) -> RunResult:
    """Train one config and leave a complete run directory behind.

    Every input is checked (context, data, split) before the directory exists.
    """
    from .data import load_dataset
    from .device import resolve_context
    from .split import split_dataset

    ctx = resolve_context(config.ctx)
    data = split_dataset(load_dataset(data_dir), config)
    recorder = RunRecorder(path or new_run_path(out, config), config, config.ctx).create()
    return _train(recorder, config, data, ctx, observer)


def resume_train(run: Path, epochs: Optional[int] = None, data_dir: Optional[Path] = None,
                 observer: Optional[TrainHooks] = None) -> RunResult:
    """Go on with a run from its last finished epoch, to its epochs or to `epochs` (more
    than it had: a finished run is extended). The per-epoch metrics are those of an
    uninterrupted run of that length (a cosine schedule excepted when extended: it
    depends on the total)."""
    from . import checkpoint as checkpoints
    from .config import load_train_config
    from .data import load_dataset
    from .device import resolve_context
    from .evaluation import load_params
    from .runs import BEST_PARAMS, CONFIG_FILE, METRICS_FILE
    from .split import split_dataset
    from .summary import read_metrics

    run = Path(run)
    if not (run / CONFIG_FILE).is_file():
        raise RunError(f"{run}: not a run directory (no {CONFIG_FILE}); give one that "
                       "softmax train wrote")
    config = load_train_config(run / CONFIG_FILE)
    start = checkpoints.load(run)
    if epochs is not None:
        config = load_train_config(run / CONFIG_FILE, {"epochs": epochs}, "epochs")
    if config.epochs <= start.epoch:
        raise RunError(f"{run}: already trained {start.epoch} of {config.epochs} epochs; "
                       "give more epochs to extend it")
    rows = (read_metrics(run / METRICS_FILE) or [])[:start.epoch]
    if len(rows) < start.epoch:
        raise RunError(f"{run}: metrics.csv has {len(rows)} of the checkpoint's "
                       f"{start.epoch} epochs; train it again")
    start.history = [EpochMetrics(**row) for row in rows]
    if start.best_epoch is not None and (run / BEST_PARAMS).is_file():
        start.best_params = load_params(run / BEST_PARAMS)
    ctx = resolve_context(config.ctx)
    data = split_dataset(load_dataset(data_dir), config)
    recorder = RunRecorder(run, config, config.ctx).reopen(start.epoch)
    return _train(recorder, config, data, ctx, observer, start)


def _train(recorder: RunRecorder, config: TrainConfig, data, ctx, observer, start=None):
    hooks = GroupRecorder([recorder], observer)
    try:
        outcome = train_group([config], data, ctx, hooks, [start])[0]
    except KeyboardInterrupt:
        if 0 not in hooks.infos:  # the trainer records what it had learnt, if it got to
            _record_end(recorder, "interrupted", "interrupted by the user")
        raise
    except Exception as exc:
        _record_end(recorder, "failed", f"{type(exc).__name__}: {reason(exc)}")
        raise
    return RunResult(recorder.path, hooks.infos[0], outcome.history)


def _record_end(recorder: RunRecorder, status: str, error: str) -> None:
    """Best effort: when the disk is full this fails too, and the first error is the
    one to report."""
    with contextlib.suppress(Exception):
        recorder.finish(None, status=status, error=error)
