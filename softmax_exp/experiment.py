"""Running one training run end to end: check inputs, train, record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from .config import TrainConfig, config_id
from .errors import RunError, reason
from .events import BatchesDone, EpochStarted, Event, TrialStarted
from .lock import writer_lock
from .recording import EventHooks, Recording, always
from .records import EpochMetrics
from .runs import RunRecorder
from .training import TrainHooks, train_group


@dataclass
class RunResult:
    path: Path
    info: dict[str, Any]
    history: list[EpochMetrics]


class TrainRecording(Recording):
    """`softmax train`'s recording: its one run directory, and an observer (a display)
    told what the trainer tells."""

    def __init__(self, recorder: RunRecorder, observer: Optional[TrainHooks] = None):
        super().__init__()
        self.recorder, self.observer = recorder, observer or TrainHooks()
        self.info: Optional[dict[str, Any]] = None

    def recorder_for(self, trial_id: str) -> RunRecorder:
        return self.recorder  # written before training starts (create, or reopen)

    def on_epoch(self, trial_id: str, metrics: EpochMetrics) -> None:
        self.observer.epoch_ended(0, metrics)

    def on_finished(self, trial_id: str, info: dict) -> None:
        self.info = info

    def on_other(self, event: Event) -> None:
        if isinstance(event, EpochStarted):
            self.observer.epoch_started(event.epoch, event.batches)
        elif isinstance(event, BatchesDone):
            self.observer.batches_done(event.done)


def new_run_path(out: Path, config: TrainConfig) -> Path:
    """runs/<time>-<config id>, never an existing directory."""
    stem = f"{datetime.now():%Y%m%d-%H%M%S}-{config_id(config)}"
    path, n = Path(out) / stem, 1
    while path.exists():
        n += 1
        path = Path(out) / f"{stem}-{n}"
    return path


def run_train(
    config: TrainConfig,
    out: Path = Path("runs"),
    data_dir: Optional[Path] = None,
    observer: Optional[TrainHooks] = None,
    path: Optional[Path] = None,
) -> RunResult:
    """Train one config and leave a complete run directory behind.

    Every input is checked (context, data, split) before the directory exists.
    """
    from .data import load_dataset
    from .device import resolve_context
    from .split import split_dataset

    ctx = resolve_context(config.ctx)
    data = split_dataset(load_dataset(data_dir), config)
    recorder = RunRecorder(path or new_run_path(out, config), config, config.ctx)
    with writer_lock(recorder.make_directory(), "a training run"):
        recorder.create()
        return _train(recorder, config, data, ctx, observer)


def resume_train(
    run: Path,
    epochs: Optional[int] = None,
    data_dir: Optional[Path] = None,
    observer: Optional[TrainHooks] = None,
) -> RunResult:
    """Go on with a run from its last finished epoch, to its epochs or to `epochs` (more
    than it had: a finished run is extended). The per-epoch metrics are those of an
    uninterrupted run of that length (a cosine schedule excepted when extended: it
    depends on the total). One writer at a time: the run's lock (and its sweep's, for a
    sweep's trial) is held throughout (lock.writer_lock)."""
    from .runs import CONFIG_FILE

    run = Path(run)
    if not (run / CONFIG_FILE).is_file():
        raise RunError(
            f"{run}: not a run directory (no {CONFIG_FILE}); give one that softmax train wrote"
        )
    with writer_lock(run, "a resumed training run"):
        return _resume(run, epochs, data_dir, observer)


def _resume(run: Path, epochs: Optional[int], data_dir, observer) -> RunResult:
    from .config import load_train_config
    from .data import load_dataset
    from .device import resolve_context
    from .runs import CONFIG_FILE, resume_point
    from .split import split_dataset

    config = load_train_config(run / CONFIG_FILE)
    start = resume_point(run, config=config)
    if epochs is not None:
        config = load_train_config(run / CONFIG_FILE, {"epochs": epochs}, "epochs")
    if config.epochs <= start.epoch:
        raise RunError(
            f"{run}: already trained {start.epoch} of {config.epochs} epochs; "
            "give more epochs to extend it"
        )
    ctx = resolve_context(config.ctx)
    data = split_dataset(load_dataset(data_dir), config)
    recorder = RunRecorder(run, config, config.ctx).reopen(start.epoch)
    return _train(recorder, config, data, ctx, observer, start)


def _train(recorder: RunRecorder, config: TrainConfig, data, ctx, observer, start=None):
    """Train through the recording pipeline that sweeps use: trainer callbacks become
    events (a checkpoint after every epoch), events become the run directory."""
    recording = TrainRecording(recorder, observer)
    trial_id = config_id(config)
    recording.handle(TrialStarted(trial_id))
    hooks = EventHooks([trial_id], recording.handle, progress=True, checkpoints=always)
    try:
        outcome = train_group([config], data, ctx, hooks, [start])[0]
    except KeyboardInterrupt:
        if recording.info is None:  # the trainer records what it had learnt, if it got to
            recording.end_running("interrupted", "interrupted by the user")
        raise
    except Exception as exc:
        recording.end_running("failed", f"{type(exc).__name__}: {reason(exc)}")
        raise
    assert recording.info is not None, "the trial ended without its run.json"
    return RunResult(recorder.path, recording.info, outcome.history)
