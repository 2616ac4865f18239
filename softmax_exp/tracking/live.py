"""Trackers fed as a run or sweep goes, from the driver process, through the observers it
already tells (a sweep's `SweepObserver`, a run's `TrainHooks`): never from inside the
training loop.

MLflow is sent to from a background thread through a bounded queue, each request with a
short timeout and no retries: a store that is slow, down or refusing never holds
training up. Once a send fails, or the queue is full, the rest is not sent; the user is
told once, in one line, and `softmax export` sends what is missing later (it sends only
the points the store lacks). TensorBoard logs are local files, written as epochs end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from ..config import SETTINGS, TrackingConfig, TrainConfig
from ..records import EpochMetrics
from ..runs import METRICS_FILE, read_run_info
from ..summary import read_metrics, summarize
from ..sweep import SweepObserver
from ..training import TrainHooks
from .base import require, sweep_artifacts
from .mlflow_live import CLOSE_SECONDS, MlflowSender
from .tensorboard_live import TensorBoardLive


class LiveTracking:
    """The trackers a `TrackingConfig` names, fed by `sweep_observer` or `train_hooks`.
    Call `close` at the end, whatever happened: it returns what to tell the user (at
    most one line a tracker)."""

    def __init__(self, config: TrackingConfig):
        if config.mlflow:
            require("mlflow")
        if config.tensorboard:
            require("tensorboard")
        self.config = config
        self.mlflow = MlflowSender(config.mlflow) if config.mlflow else None
        self.tensorboard = TensorBoardLive(Path(config.tensorboard)) if config.tensorboard else None
        self.name, self.path, self.kind = "", Path("."), "run"
        self.metric, self.mode, self.hparam_keys = "val_acc", "max", list(SETTINGS)
        self.statuses: dict[str, str] = {}
        self.runs: list[tuple[str, Path, dict]] = []  # a train run: (id, directory, settings)
        self.told: set[str] = set()
        self.experiment = ""  # the MLflow experiment, once a sweep or a run opened it

    # -- sweeps

    def sweep_observer(self, inner: Optional[SweepObserver] = None) -> SweepObserver:
        return _TrackedSweep(self, inner or SweepObserver())

    def sweep_started(self, sweep) -> None:
        spec = sweep.spec
        self.kind, self.name, self.path = "sweep", spec.name, Path(sweep.path)
        self.metric, self.mode = spec.metric, spec.mode
        keys = {*spec.grid, *spec.space}
        self.hparam_keys = [s for s in SETTINGS if s in keys]
        if len(spec.seeds) > 1:
            self.hparam_keys.append("seed")
        if self.mlflow:
            self.experiment = self.config.experiment or spec.name
            self.mlflow.submit("open_sweep", self.experiment, spec.name, self.path)

    def trial_started(self, trial_id: str, settings: dict, info: dict, rows: list, path: Path):
        self.statuses[trial_id] = "running"
        if self.mlflow:
            self.mlflow.submit("trial_started", trial_id, settings, dict(info), list(rows), path)
        if self.tensorboard:
            self.tensorboard.trial_started(self._log_name(trial_id), settings, info, rows)

    def epoch(self, trial_id: str, row: dict) -> None:
        if self.mlflow:
            self.mlflow.submit("epoch", trial_id, dict(row))
        if self.tensorboard:
            self.tensorboard.epoch(self._log_name(trial_id), row)

    def trial_finished(self, trial_id: str, settings: dict, info: dict, rows: list, path: Path):
        info = dict(info)
        self.statuses[trial_id] = str(info.get("status"))
        summary = summarize(rows, self.metric, self.mode)
        hparams = {k: settings.get(k) for k in self.hparam_keys}
        hparams["status"] = str(info.get("status"))
        if self.mlflow:
            self.mlflow.submit(
                "trial_finished", trial_id, settings, info, list(rows), path, summary
            )
        if self.tensorboard:
            self.tensorboard.trial_finished(
                self._log_name(trial_id), settings, info, rows, hparams, summary
            )

    def _log_name(self, trial_id: str) -> Path:
        return Path(self.name) / trial_id if self.kind == "sweep" else Path(trial_id)

    # -- lone runs

    def train_hooks(self, inner: TrainHooks, path: Path, config: TrainConfig) -> TrainHooks:
        """Hooks for `run_train`/`resume_train` around `inner` (a display): the run in
        `path` is sent as its epochs end, and finished by `close`."""
        settings = config.model_dump()
        self.kind, self.name, self.path = "run", Path(path).name, Path(path)
        self.metric = "val_acc" if config.val_fraction else "train_loss"
        self.mode = "max" if config.val_fraction else "min"
        self.runs.append((Path(path).name, Path(path), settings))
        if self.mlflow:
            self.experiment = self.config.experiment or "softmax-train"
            self.mlflow.submit("open_runs", self.experiment)
        return _TrackedRun(self, inner, Path(path), settings)

    def _finish_runs(self) -> None:
        for trial_id, path, settings in self.runs:
            info = read_run_info(path)
            if info is None or trial_id not in self.statuses:
                continue  # it never started an epoch: nothing to send
            rows = read_metrics(path / METRICS_FILE) or []
            self.trial_finished(trial_id, settings, info, rows, path)

    # -- the end

    def message(self) -> Optional[str]:
        """What the user has not been told yet (a tracker gave up), once."""
        for tracker in (self.mlflow, self.tensorboard):
            if tracker and tracker.failure and tracker.name not in self.told:
                self.told.add(tracker.name)
                return self._line(tracker)
        return None

    def delivered(self) -> list[str]:
        """Where what was sent went, a line for each tracker that never gave up (after
        `close`): what the user opens to see it."""
        lines = []
        uri = self.config.mlflow
        if uri and self.mlflow and not self.mlflow.failure and self.experiment:
            lines.append(
                f"MLflow: logged to experiment '{self.experiment}' at {uri}; "
                f"see it with: {mlflow_ui_hint(uri)}"
            )
        if self.tensorboard and not self.tensorboard.failure:
            where = self.config.tensorboard
            lines.append(
                f"TensorBoard: logs in {where}; see them with: tensorboard --logdir {where}"
            )
        return lines

    def _line(self, tracker: MlflowSender | TensorBoardLive) -> str:
        if tracker is self.mlflow:
            return (
                f"MLflow at {self.config.mlflow}: {tracker.failure}; training went on without "
                f"it; send what it missed with: softmax export {self.path} "
                f"--mlflow {self.config.mlflow}"
            )
        return (
            f"TensorBoard logs in {self.config.tensorboard}: {tracker.failure}; write them "
            f"with: softmax export {self.path} --tensorboard {self.config.tensorboard}"
        )

    def close(self, interrupted: bool = False) -> list[str]:
        """Finish what was started (a lone run's end, a sweep's parent run), wait a
        little for what is queued, and return the lines the user still has to read."""
        if self.runs:
            self._guard(self._finish_runs)
        if self.mlflow:
            if self.kind == "sweep":
                status = (
                    "KILLED"
                    if interrupted
                    or any(s in ("running", "interrupted") for s in self.statuses.values())
                    else "FINISHED"
                )
                self.mlflow.submit("close_sweep", status, list(sweep_artifacts(self.path)))
            self.mlflow.close(CLOSE_SECONDS)
        if self.tensorboard:
            self.tensorboard.close()
        lines = []
        while (line := self.message()) is not None:
            lines.append(line)
        return lines

    def _guard(self, call: Callable[..., Any], *args: Any) -> None:
        """A tracker's error never reaches the training: it is told, once."""
        try:
            call(*args)
        except Exception as exc:  # noqa: BLE001
            for tracker in (self.mlflow, self.tensorboard):
                if tracker and not tracker.failure:
                    tracker.failure = f"{type(exc).__name__}: {exc}"


class _TrackedSweep(SweepObserver):
    """A sweep's observer (its display) with the trackers told the same things."""

    def __init__(self, live: LiveTracking, inner: SweepObserver):
        self.live, self.inner = live, inner

    def sweep_started(self, sweep) -> None:
        self.inner.sweep_started(sweep)
        self._send(self.live.sweep_started, sweep)

    def trial_started(self, record) -> None:
        self.inner.trial_started(record)
        self._send(
            self.live.trial_started,
            record.trial.id,
            record.trial.config.model_dump(),
            record.info,
            record.rows,
            record.path,
        )

    def trial_epoch(self, record) -> None:
        self.inner.trial_epoch(record)
        if record.rows:
            self._send(self.live.epoch, record.trial.id, record.rows[-1])

    def trial_finished(self, record) -> None:
        self.inner.trial_finished(record)
        self._send(
            self.live.trial_finished,
            record.trial.id,
            record.trial.config.model_dump(),
            record.info,
            record.rows,
            record.path,
        )

    def note(self, message: str) -> None:
        self.inner.note(message)

    def _send(self, call: Callable[..., Any], *args: Any) -> None:
        self.live._guard(call, *args)
        line = self.live.message()
        if line:
            self.inner.note(line)


class _TrackedRun(TrainHooks):
    """A run's hooks (its display) with the trackers told of each epoch. The run starts
    for them at its first epoch (its run.json is written by then)."""

    def __init__(self, live: LiveTracking, inner: TrainHooks, path: Path, settings: dict):
        self.live, self.inner, self.path, self.settings = live, inner, path, settings
        self.trial_id = path.name

    def epoch_started(self, epoch: int, num_batches: int) -> None:
        self.inner.epoch_started(epoch, num_batches)

    def batches_done(self, done: int) -> None:
        self.inner.batches_done(done)

    def epoch_ended(self, index: int, metrics: EpochMetrics) -> None:
        self.inner.epoch_ended(index, metrics)
        self.live._guard(self._epoch, metrics)

    def _epoch(self, metrics: EpochMetrics) -> None:
        if self.trial_id not in self.live.statuses:
            earlier = (read_metrics(self.path / METRICS_FILE) or [])[: metrics.epoch - 1]
            info = read_run_info(self.path) or {}
            self.live.trial_started(self.trial_id, self.settings, info, earlier, self.path)
        self.live.epoch(self.trial_id, metrics.as_row())


def mlflow_ui_hint(uri: str) -> str:
    """How to look at what an MLflow store holds."""
    if uri.startswith("sqlite:"):
        return f"mlflow ui --backend-store-uri {uri}"
    return f"a browser at {uri}"
