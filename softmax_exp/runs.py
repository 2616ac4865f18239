"""A run directory: config.yaml, metrics.csv, run.json and the trained parameters.

Every whole file is written then renamed; metrics rows are appended and synced
one per epoch, so a killed run keeps every finished epoch.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Sequence

from .checkpoint import sha256_of
from .config import TrainConfig, config_id, to_yaml
from .errors import RunError
from .fileio import (
    append_line,
    read_bytes,
    read_text,
    sync_file,
    write_bytes,
    write_json,
    write_text,
)
from .layout import BEST_PARAMS, CONFIG_FILE, FINAL_PARAMS, METRICS_FILE, RUN_FILE
from .model import save_params
from .mxnet_compat import load_mxnet
from .records import METRIC_COLUMNS, EpochMetrics, TrialOutcome

FINISHED = ("completed", "diverged", "pruned")  # outcomes a rerun would only repeat


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    mxnet = load_mxnet()
    import numpy

    from . import __version__

    return {
        "python": platform.python_version(),
        "mxnet": mxnet.__version__,
        "numpy": numpy.__version__,
        "softmax_exp": __version__,
    }


def csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


class RunRecorder:
    """Writes one trial's run directory as it trains."""

    def __init__(
        self, path: Path, config: TrainConfig, context: str, extra: Optional[dict[str, Any]] = None
    ):
        self.path, self.config = Path(path), config
        self.started = time.time()
        self.info: dict[str, Any] = {
            "id": config_id(config),
            "status": "running",
            "stop_reason": "",
            "epochs_run": 0,
            "best_epoch": None,
            "best": None,
            "final": None,
            "seed": config.seed,
            "context": context,
            "versions": versions(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": now(),
            "ended_at": None,
            "wall_seconds": None,
            "error": None,
            **(extra or {}),
        }

    def make_directory(self) -> Path:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(
                f"cannot create run directory {self.path}: {exc.strerror}; "
                "choose another output directory"
            ) from None
        return self.path

    def create(self) -> RunRecorder:
        self.make_directory()
        write_text(self.path / CONFIG_FILE, to_yaml(self.config))
        write_text(self.path / METRICS_FILE, csv_line(METRIC_COLUMNS) + "\n")
        write_json(self.path / RUN_FILE, self.info)
        return self

    def create_or_keep(self) -> RunRecorder:
        """A fresh run directory, or one that has recorded epochs as it is: a trial that
        fails before it starts again (its worker died, say) keeps what it had."""
        if read_metrics_rows(self.path) and (self.path / CONFIG_FILE).is_file():
            return self
        return self.create()

    def reopen(self, epochs_kept: int) -> RunRecorder:
        """An existing run directory, to go on after its first `epochs_kept` epochs: the
        config rewritten (its epochs may have grown), metrics.csv cut to those epochs."""
        old = read_run_info(self.path) or {}
        for left in self.path.glob(".*.tmp"):  # a write that a kill -9 cut short
            left.unlink(missing_ok=True)
        self.info["started_at"] = old.get("started_at", self.info["started_at"])
        self.info["resumed_at_epoch"] = epochs_kept
        lines = read_text(self.path / METRICS_FILE).splitlines()
        write_text(self.path / CONFIG_FILE, to_yaml(self.config))
        write_text(self.path / METRICS_FILE, "\n".join(lines[: 1 + epochs_kept]) + "\n")
        self.info["epochs_run"] = epochs_kept
        write_json(self.path / RUN_FILE, self.info)
        return self

    def save_checkpoint(self, checkpoint) -> None:
        """The checkpoint, and best.params when this epoch is the best so far (a run
        killed with -9 resumes with its best parameters too)."""
        from .checkpoint import save

        sync_file(self.path / METRICS_FILE)  # the rows up to the checkpoint's epoch
        if checkpoint.best_epoch == checkpoint.epoch and checkpoint.best_params is not None:
            save_params(self.path / BEST_PARAMS, checkpoint.best_params)
        save(self.path, checkpoint, self.config)

    def record_epoch(self, metrics: EpochMetrics) -> None:
        row = metrics.as_row()
        # Written at once (a killed process keeps it); forced to disk with the next
        # checkpoint or the trial's end, not once per trial and epoch: a thousand trials
        # of a sweep would wait on a thousand syncs an epoch (docs/performance.md).
        append_line(
            self.path / METRICS_FILE,
            csv_line([_plain(row[c]) for c in METRIC_COLUMNS]),
            sync=False,
        )
        self.info["epochs_run"] = metrics.epoch

    def _save_params(self, outcome: TrialOutcome) -> dict[str, str]:
        """final.params and best.params, with their sha256 sums. Where the best epoch is
        the last (every one-epoch trial), best.params is a copy of final.params' bytes:
        the same file, without converting and checking it through MXNet again."""
        sums = {}
        final, best = outcome.final_params, outcome.best_params
        if final is not None:
            save_params(self.path / FINAL_PARAMS, final)
            sums[FINAL_PARAMS] = sha256_of(self.path / FINAL_PARAMS)
        if best is not None and _same_params(best, final):
            write_bytes(self.path / BEST_PARAMS, read_bytes(self.path / FINAL_PARAMS, 1 << 26))
            sums[BEST_PARAMS] = sums[FINAL_PARAMS]
        elif best is not None:
            save_params(self.path / BEST_PARAMS, best)
            sums[BEST_PARAMS] = sha256_of(self.path / BEST_PARAMS)
        return sums

    def finish(
        self,
        outcome: Optional[TrialOutcome],
        status: Optional[str] = None,
        error: Optional[str] = None,
    ) -> dict[str, Any]:
        """Save parameters (if any) and the final run.json; returns its content."""
        if (self.path / METRICS_FILE).exists():
            sync_file(self.path / METRICS_FILE)
        if outcome is not None:
            sums = self._save_params(outcome)
            self.info.update(_summary(outcome))
            if sums:  # what evaluating them checks them against
                self.info["sha256"] = sums
        self.info["status"] = status or (outcome.status if outcome else "failed")
        if error:
            self.info["error"] = error
            self.info["stop_reason"] = self.info["stop_reason"] or error
        self.info["ended_at"] = now()
        self.info["wall_seconds"] = round(time.time() - self.started, 3)
        write_json(self.path / RUN_FILE, self.info)
        return self.info


def _same_params(one: Optional[dict], other: Optional[dict]) -> bool:
    import numpy as np

    return (
        one is not None
        and other is not None
        and one.keys() == other.keys()
        and all(np.array_equal(one[k], other[k]) for k in one)
    )


def _summary(outcome: TrialOutcome) -> dict[str, Any]:
    by_epoch: dict[Optional[int], dict] = {m.epoch: m.as_row() for m in outcome.history}
    return {
        "stop_reason": outcome.stop_reason,
        "epochs_run": len(outcome.history),
        "kernels": outcome.kernels,
        "best_epoch": outcome.best_epoch,
        "best": _clean(by_epoch.get(outcome.best_epoch)),
        "final": _clean(outcome.history[-1].as_row()) if outcome.history else None,
    }


def _clean(row: Optional[dict]) -> Optional[dict]:
    return None if row is None else {k: _plain(v) for k, v in row.items()}


def _plain(value: Any) -> Any:
    """JSON and CSV friendly: NaN/inf become strings pandas reads back as floats."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def read_run_info(path: Path) -> Optional[dict[str, Any]]:
    """run.json, or None when it is missing or unreadable (a torn or foreign file)."""
    try:
        info = json.loads(read_text(Path(path) / RUN_FILE, 1 << 20))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def read_metrics_rows(path: Path) -> list:
    """metrics.csv's rows (none when it is missing or not ours)."""
    from .summary import read_metrics

    return read_metrics(Path(path) / METRICS_FILE) or []


def is_finished(path: Path) -> bool:
    info = read_run_info(path)
    return (
        info is not None
        and info.get("status") in FINISHED
        and (Path(path) / METRICS_FILE).is_file()
    )


def resume_point(path: Path, epoch: Optional[int] = None, config=None):
    """A run's checkpoint with what else going on needs from its directory: the finished
    epochs' metrics (metrics.csv, cut to the checkpoint) and the best parameters so far.
    `epoch`: the epoch it must be at (a RunError if it is not); `config`: the settings it
    must have been taken with (checkpoint.load)."""
    from .checkpoint import load
    from .model import load_params
    from .summary import read_metrics

    path = Path(path)
    start = load(path, config)
    if epoch is not None and start.epoch != epoch:
        raise RunError(f"{path}: the checkpoint is at epoch {start.epoch}, not {epoch}")
    rows = (read_metrics(path / METRICS_FILE) or [])[: start.epoch]
    if len(rows) < start.epoch:
        raise RunError(
            f"{path}: metrics.csv has {len(rows)} of the checkpoint's "
            f"{start.epoch} epochs; train it again"
        )
    start.history = [EpochMetrics(**row) for row in rows]
    legacy = start.best_params is None and start.best_epoch is not None
    if legacy and (path / BEST_PARAMS).is_file():  # an older checkpoint: not in its arrays
        start.best_params = load_params(path / BEST_PARAMS)
    return start
