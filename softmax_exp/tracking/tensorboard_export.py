"""Runs and sweeps as TensorBoard logs: one log directory per trial (DIR/<sweep>/<trial>,
or DIR/<run directory's name>) with every epoch's losses and accuracies as scalars (step
= epoch), and the HParams plugin's data beside them: the swept settings (all of a lone
run's) and the status as hparams, best val acc and test acc at best as metrics, so the
HParams table, parallel coordinates and scatter views work for any sweep.

The hparams go into each trial's own directory through `tensorboardX.summary.hparams()`
(`SummaryWriter.add_hparams(..., name=".")` gave TensorBoard no hparams data). Only this
module imports tensorboardX.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from .base import (
    SUMMARY_METRICS,
    ExportSource,
    ExportTrial,
    TrackingError,
    epoch_metrics,
    epoch_times,
    finite,
    read_export_source,
    started_ms,
)

EVENTS_PREFIX = "events.out.tfevents."


@dataclass(frozen=True)
class TensorBoardSummary:
    log_dir: Path  # what `tensorboard --logdir` is given
    trials: int


def export(path: Path, log_dir: Path) -> TensorBoardSummary:
    """Every trial of the run or sweep at `path`, each in its own directory under
    `log_dir`, written whole and then put in place of what an earlier export wrote."""
    source = read_export_source(path)
    for trial in source.trials:
        final = trial_log_dir(log_dir, source, trial.trial_id)
        _check_not_link(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        fresh = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        try:
            log = TrialLog(fresh)
            start = started_ms(trial.info or {}) or 0
            log.epochs(trial.epochs, trial.settings, start)
            log.hparams(_hparams(trial), trial.summary, trial.best_epoch, start)
            log.close()
            _replace(fresh, final)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
    return TensorBoardSummary(Path(log_dir), len(source.trials))


def trial_log_dir(log_dir: Path, source: ExportSource, trial_id: str) -> Path:
    if source.kind == "sweep":
        return Path(log_dir) / source.name / trial_id
    return Path(log_dir) / source.path.name


def _hparams(trial: ExportTrial) -> dict[str, Any]:
    return {**trial.hparams, "status": trial.status}


class TrialLog:
    """One trial's log directory, written as its epochs come (live) or all at once."""

    def __init__(self, directory: Path, flush_seconds: int = 120):
        import logging

        from tensorboardX import SummaryWriter

        # a diverged trial's NaN loss is a value to show, not a warning to print
        logging.getLogger("tensorboardX.x2num").setLevel(logging.ERROR)

        _check_not_link(Path(directory))
        self.writer = SummaryWriter(logdir=str(directory), flush_secs=flush_seconds)

    def epochs(
        self, rows: Sequence[Mapping[str, Any]], settings: Mapping[str, Any], start: int
    ) -> None:
        for row, at in zip(rows, epoch_times(start, rows)):
            for key, value in epoch_metrics(row, settings).items():
                self.writer.add_scalar(key, value, int(row["epoch"]), walltime=at / 1000)

    def hparams(
        self,
        hparams: Mapping[str, Any],
        summary: Mapping[str, Any],
        best_epoch: Optional[int],
        at: int,
    ) -> None:
        """The HParams plugin's experiment, session start and end, and the metrics' values
        (the table reads each metric's last scalar in the trial's directory)."""
        from tensorboardX.summary import hparams as hparams_summaries

        values = {k: finite(summary.get(k)) for k in SUMMARY_METRICS}
        for part in hparams_summaries(dict(hparams), {k: 0.0 for k in SUMMARY_METRICS}):
            self.writer.file_writer.add_summary(part, walltime=at / 1000)
        for key, value in values.items():
            if value is not None:
                self.writer.add_scalar(key, value, best_epoch or 0, walltime=at / 1000)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def clear_events(directory: Path) -> None:
    """Remove the event files an earlier run of this trial wrote (a trial run again
    writes its epochs again), nothing else."""
    _check_not_link(directory)
    if directory.is_dir():
        for path in directory.iterdir():
            if path.name.startswith(EVENTS_PREFIX) and path.is_file():
                path.unlink()


def _check_not_link(path: Path) -> None:
    if path.is_symlink():
        raise TrackingError(
            f"{path} is a symbolic link; TensorBoard logs are not written through one: "
            "remove it or choose another directory"
        )


def _replace(fresh: Path, final: Path) -> None:
    """`fresh` in place of `final` (its old logs removed): one rename each."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
        os.rename(final, old / final.name)
    os.rename(fresh, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
