"""Live TensorBoard: each trial's log directory written as its epochs end (local
files: cheap enough to write from the driver as it goes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from .base import epoch_times, started_ms, whole
from .mlflow_live import now_ms


class TensorBoardLive:
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
        self.starts[name] = started_ms(info) or now_ms()
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
