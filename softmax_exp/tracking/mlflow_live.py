"""Live MLflow: a thread of its own sends a run's or sweep's updates, in order, through a
bounded queue; `submit` never blocks. Each HTTP request has a short timeout and no
retries; once one fails, or the queue is full, the rest is dropped (`failure` says why)
and `softmax export` sends what the store lacks later."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from .base import ExportTrial, TrackingError, epoch_times, finite, started_ms, whole

if TYPE_CHECKING:  # mlflow_export is imported on first use, in the sender's thread
    from .mlflow_export import MlflowStore

QUEUE_SIZE = 10_000  # MLflow requests waiting to be sent; beyond, the rest is dropped
REQUEST_SECONDS = 5  # one HTTP request to an MLflow server, at most
# At the end, what is still queued is sent while the store keeps answering: for at most
# this long, and only while each request is answered within STALL_SECONDS.
CLOSE_SECONDS = 120.0
STALL_SECONDS = 2 * REQUEST_SECONDS
# Epochs' points wait this long at most to be sent together: a request a run for several
# epochs, not one an epoch (MLflow takes one run's metrics per request).
FLUSH_SECONDS = 2.0


class MlflowSender:
    """Sends to one MLflow store from a thread of its own; `submit` never blocks."""

    name = "mlflow"

    def __init__(self, uri: str):
        self.uri = uri
        self.failure: Optional[str] = None
        self.dropped = self.sent = 0
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.state = MlflowState(uri)
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
            self.failure = exc.reason or str(exc)
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


class MlflowState:
    """The thread's side: the store, opened on first use, and which run is whose."""

    def __init__(self, uri: str):
        self.uri = uri
        self.store: Optional[MlflowStore] = None
        self.sweep = ""
        self.parent: Optional[str] = None  # a sweep's parent run id
        self.found: dict[str, Any] = {}  # trial id -> the run an earlier session made
        self.runs: dict[str, str] = {}  # trial id -> run id
        self.known: dict[str, dict[str, set[int]]] = {}  # trial id -> steps each metric has
        self.rows: dict[str, list] = {}
        self.starts: dict[str, int] = {}
        self.settings: dict[str, dict] = {}
        self.pending: dict[str, list] = {}  # trial id -> points not sent yet
        self.flushed_at: Optional[float] = None  # when the oldest of them was taken
        self.lone = False

    def _open(self, experiment: str) -> None:
        from .mlflow_export import MlflowStore

        self.store = MlflowStore(self.uri, experiment, timeout=REQUEST_SECONDS, retries=0)

    def _store(self) -> MlflowStore:
        """The store, opened by `open_sweep` or `open_runs` (the sender's first update)."""
        if self.store is None:
            raise RuntimeError("MLflow store used before open_sweep or open_runs")
        return self.store

    def open_sweep(self, experiment: str, name: str, path: Path) -> None:
        from .mlflow_export import parent_tags

        self._open(experiment)
        store = self._store()
        self.sweep = name
        self.parent, _ = store.ensure_run(name, parent_tags(name, path), role="sweep")
        store.end(self.parent, "RUNNING")
        self.found = store.children(self.parent)

    def open_runs(self, experiment: str) -> None:
        if self.store is None:
            self._open(experiment)
        self.lone = True

    def trial_started(self, trial_id: str, settings: dict, info: dict, rows: list, path: Path):
        from .mlflow_export import epoch_points, settings_params, trial_tags

        store = self._store()
        found = self.found.get(trial_id)
        if self.lone and found is None:
            found = store.lone_runs(trial_id)
        start = started_ms(info) or now_ms()
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
                self._store().log(self.runs[trial_id], points, self.known[trial_id])
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
        store = self._store()
        if trial_id in self.runs:  # sent as it ran: what it lacks is its end
            self.flush([trial_id])
            store.send_trial(
                trial, self.sweep, self.parent, self.runs[trial_id], self.known[trial_id]
            )
        else:  # it failed before it started
            run = self.found.get(trial_id)
            if run is None and self.lone:
                run = store.lone_runs(trial_id)
            store.send_trial(trial, self.sweep, self.parent, run)
        for table in (self.runs, self.rows, self.known, self.settings):
            table.pop(trial_id, None)

    def close_sweep(self, status: str, files: Sequence[Path]) -> None:
        if self.parent is None:
            return
        store = self._store()
        store.upload(self.parent, files)
        store.end(self.parent, status, now_ms())


def now_ms() -> int:
    return int(time.time() * 1000)
