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

import contextlib
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ..config import SETTINGS, TrackingConfig, TrainConfig
from ..records import EpochMetrics
from ..runs import METRICS_FILE, read_run_info
from ..summary import read_metrics, summarize
from ..sweep import SweepObserver
from ..training import TrainHooks
from .base import ExportTrial, TrackingError, epoch_times, finite, require, started_ms, whole

QUEUE_SIZE = 10_000  # MLflow requests waiting to be sent; beyond, the rest is dropped
REQUEST_SECONDS = 5  # one HTTP request to an MLflow server, at most
# At the end, what is still queued is sent while the store keeps answering: for at most
# this long, and only while each request is answered within STALL_SECONDS.
CLOSE_SECONDS = 120.0
STALL_SECONDS = 2 * REQUEST_SECONDS
# Epochs' points wait this long at most to be sent together: a request a run for several
# epochs, not one an epoch (MLflow takes one run's metrics per request).
FLUSH_SECONDS = 2.0


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
        self.mlflow = _MlflowSender(config.mlflow) if config.mlflow else None
        self.tensorboard = (
            _TensorBoardLive(Path(config.tensorboard)) if config.tensorboard else None
        )
        self.name, self.path, self.kind = "", Path("."), "run"
        self.metric, self.mode, self.hparam_keys = "val_acc", "max", list(SETTINGS)
        self.statuses: dict[str, str] = {}
        self.runs: list[tuple[str, Path, dict]] = []  # a train run: (id, directory, settings)
        self.told: set[str] = set()

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
            experiment = self.config.experiment or spec.name
            self.mlflow.submit("open_sweep", experiment, spec.name, self.path)

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
            self.mlflow.submit("open_runs", self.config.experiment or "softmax-train")
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

    def _line(self, tracker) -> str:
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
                files = [
                    self.path / name
                    for name in ("sweep.yaml", "report.html")
                    if (self.path / name).is_file() and not (self.path / name).is_symlink()
                ]
                self.mlflow.submit("close_sweep", status, files)
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


class _MlflowSender:
    """Sends to one MLflow store from a thread of its own; `submit` never blocks."""

    name = "mlflow"

    def __init__(self, uri: str):
        self.uri = uri
        self.failure: Optional[str] = None
        self.dropped = self.sent = 0
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.state = _MlflowState(uri)
        self.thread = threading.Thread(target=self._work, name="softmax-mlflow", daemon=True)
        self.thread.start()

    def submit(self, what: str, *args: Any) -> None:
        if self.failure:
            self.dropped += 1
            return
        try:
            self.queue.put_nowait((what, args))
        except queue.Full:
            self.failure = f"too slow (over {QUEUE_SIZE} updates waiting); the rest is not sent"
            self.dropped += 1

    def _work(self) -> None:
        """Each update in turn; epochs' points wait up to FLUSH_SECONDS to go together,
        one request a run for several epochs."""
        while True:
            wait = self.state.flush_in() if not self.failure else None
            try:
                item = self.queue.get(timeout=wait)
            except queue.Empty:
                self._do(self.state.flush)
                continue
            if item is None:
                self._do(self.state.flush)
                return
            what, args = item
            self._do(getattr(self.state, what), *args)

    def _do(self, call: Callable[..., Any], *args: Any) -> None:
        if self.failure:
            return
        try:
            call(*args)
            self.sent += 1
        except TrackingError as exc:
            self.failure = getattr(exc, "reason", "") or str(exc)
        except Exception as exc:  # noqa: BLE001 - a tracker never stops the training
            self.failure = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"

    def close(self, seconds: float, stall: float = STALL_SECONDS) -> None:
        """Let the thread send what is queued while it gets on with it: up to `seconds`
        in all, and never `stall` seconds without a request done."""
        began = progress_at = time.monotonic()
        sent = self.sent
        with contextlib.suppress(queue.Full):
            self.queue.put(None, timeout=min(seconds, stall))
        while self.thread.is_alive():
            self.thread.join(0.5)
            now = time.monotonic()
            if self.sent != sent:
                sent, progress_at = self.sent, now
            if now - began > seconds or now - progress_at > stall:
                break
        if self.thread.is_alive() and not self.failure:
            self.failure = (
                f"still sending {self.queue.qsize()} updates at the end (a slow server); "
                "the rest is not sent"
            )


class _MlflowState:
    """The thread's side: the store, opened on first use, and which run is whose."""

    def __init__(self, uri: str):
        self.uri = uri
        self.store = None
        self.sweep, self.parent = "", None
        self.found: dict[str, Any] = {}  # trial id -> the run an earlier session made
        self.runs: dict[str, str] = {}  # trial id -> run id
        self.known: dict[str, dict] = {}  # trial id -> steps each metric has
        self.rows: dict[str, list] = {}
        self.starts: dict[str, int] = {}
        self.settings: dict[str, dict] = {}
        self.pending: dict[str, list] = {}  # trial id -> points not sent yet
        self.flushed_at: Optional[float] = None  # when the oldest of them was taken
        self.lone = False

    def _open(self, experiment: str) -> None:
        from .mlflow_export import MlflowStore

        self.store = MlflowStore(self.uri, experiment, timeout=REQUEST_SECONDS, retries=0)

    def open_sweep(self, experiment: str, name: str, path: Path) -> None:
        from .mlflow_export import parent_tags

        self._open(experiment)
        self.sweep = name
        self.parent, _ = self.store.ensure_run(name, parent_tags(name, path), role="sweep")
        self.store.end(self.parent, "RUNNING")
        self.found = self.store.children(self.parent)

    def open_runs(self, experiment: str) -> None:
        if self.store is None:
            self._open(experiment)
        self.lone = True

    def trial_started(self, trial_id: str, settings: dict, info: dict, rows: list, path: Path):
        from .mlflow_export import epoch_points, settings_params, trial_tags

        store = self.store
        found = self.found.get(trial_id)
        if self.lone and found is None:
            found = store.lone_runs(trial_id)
        start = started_ms(info) or _now_ms()
        tags = trial_tags(trial_id, "running", info, self.sweep, directory=path)
        run_id, created = store.ensure_run(
            trial_id,
            tags,
            role="run" if self.lone else "trial",
            parent=self.parent,
            start=start,
            found=found,
        )
        if not created:
            store.end(run_id, "RUNNING")
        self.runs[trial_id], self.starts[trial_id] = run_id, start
        self.known[trial_id] = {} if created else store.logged_steps(found or run_id)
        self.rows[trial_id], self.settings[trial_id] = list(rows), settings
        logged = {} if found is None else dict(found.data.params)
        store.log(
            run_id,
            epoch_points(rows, settings, start),
            self.known[trial_id],
            settings_params(settings),
            logged,
        )

    def epoch(self, trial_id: str, row: dict) -> None:
        from .mlflow_export import epoch_points

        rows = self.rows[trial_id]
        rows.append(row)
        at = epoch_times(self.starts[trial_id], rows)[-1]
        # epoch_points times a lone row from `at` plus its own seconds: start it before
        points = epoch_points([row], self.settings[trial_id], at)
        self.pending.setdefault(trial_id, []).extend(
            (key, value, at, step) for key, value, _, step in points
        )
        if self.flushed_at is None:
            self.flushed_at = time.monotonic()

    def flush_in(self) -> Optional[float]:
        """Seconds until the points waiting are due (None: none wait)."""
        if self.flushed_at is None:
            return None
        return max(0.0, self.flushed_at + FLUSH_SECONDS - time.monotonic())

    def flush(self, trial_ids: Optional[Sequence[str]] = None) -> None:
        """Send the points waiting (of these trials), one request a run."""
        for trial_id in list(self.pending if trial_ids is None else trial_ids):
            points = self.pending.pop(trial_id, None)
            if points:
                self.store.log(self.runs[trial_id], points, self.known[trial_id])
        if not self.pending:
            self.flushed_at = None

    def trial_finished(
        self, trial_id: str, settings: dict, info: dict, rows: list, path: Path, summary: dict
    ) -> None:
        trial = ExportTrial(
            trial_id=trial_id,
            status=str(info.get("status")),
            settings=settings,
            hparams={},
            epochs=tuple(rows),
            summary={k: finite(summary.get(k)) for k in ("best_val_acc", "test_acc_at_best")},
            best_epoch=whole(summary.get("best_epoch")),
            stop_reason=str(info.get("stop_reason") or ""),
            info=info,
            directory=Path(path),
        )
        if trial_id in self.runs:  # sent as it ran: what it lacks is its end
            self.flush([trial_id])
            self.store.send_trial(
                trial, self.sweep, self.parent, self.runs[trial_id], self.known[trial_id]
            )
        else:  # it failed before it started
            run = self.found.get(trial_id)
            if run is None and self.lone:
                run = self.store.lone_runs(trial_id)
            self.store.send_trial(trial, self.sweep, self.parent, run)
        for table in (self.runs, self.rows, self.known, self.settings):
            table.pop(trial_id, None)

    def close_sweep(self, status: str, files: Sequence[Path]) -> None:
        if self.parent is None:
            return
        self.store.upload(self.parent, files)
        self.store.end(self.parent, status, _now_ms())


def _now_ms() -> int:
    return int(time.time() * 1000)


class _TensorBoardLive:
    """Each trial's log directory, written as its epochs end (local files: cheap)."""

    name = "tensorboard"

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.logs: dict[Path, Any] = {}
        self.rows: dict[Path, list] = {}
        self.starts: dict[Path, int] = {}
        self.settings: dict[Path, dict] = {}
        self.failure: Optional[str] = None

    def _safely(self, call: Callable[..., Any], *args: Any) -> None:
        if self.failure:
            return
        try:
            call(*args)
        except Exception as exc:  # noqa: BLE001 - a tracker never stops the training
            self.failure = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"

    def trial_started(self, name: Path, settings: dict, info: dict, rows: list) -> None:
        self._safely(self._start, name, settings, info, rows)

    def _start(self, name: Path, settings: dict, info: dict, rows: list) -> None:
        from .tensorboard_export import TrialLog, clear_events

        directory = self.log_dir / name
        if name in self.logs:
            self.logs.pop(name).close()
        clear_events(directory)  # a trial run again writes its epochs again
        directory.mkdir(parents=True, exist_ok=True)
        self.logs[name] = log = TrialLog(directory, flush_seconds=5)
        self.starts[name] = started_ms(info) or _now_ms()
        self.rows[name], self.settings[name] = list(rows), settings
        log.epochs(rows, settings, self.starts[name])

    def epoch(self, name: Path, row: dict) -> None:
        self._safely(self._epoch, name, row)

    def _epoch(self, name: Path, row: dict) -> None:
        if name not in self.logs:
            return
        rows = self.rows[name]
        rows.append(row)
        at = epoch_times(self.starts[name], rows)[-1]
        self.logs[name].epochs([row], self.settings[name], at)

    def trial_finished(self, name, settings, info, rows, hparams, summary) -> None:
        self._safely(self._finish, name, settings, info, rows, hparams, summary)

    def _finish(self, name, settings, info, rows, hparams, summary) -> None:
        if name not in self.logs:  # it failed before it started
            self._start(name, settings, info, rows)
        log = self.logs.pop(name)
        times = epoch_times(self.starts[name], rows) or [self.starts[name]]
        log.hparams(hparams, summary, whole(summary.get("best_epoch")), times[-1])
        log.close()

    def close(self) -> None:
        for log in self.logs.values():
            self._safely(log.close)
        self.logs.clear()
