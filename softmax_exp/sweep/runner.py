"""Running a sweep, top-down: read the sweep file once, make its sweeper, check the
inputs, take the directory, then one loop (ask, plan fused jobs, launch on an executor,
record, tell). The driver is the only writer of the sweep directory, whatever executor
runs the trials; it records through the pipeline `softmax train` uses (recording.py).

The directory (directory.py), the tables (tables.py) and the records the sweep keeps
(state.py) are their own modules; this one holds the loop and the driver."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .. import checkpoint as checkpoints
from ..errors import SoftmaxExpError
from ..events import Event, GroupEpochEnded, JobFailed, JobRetried
from ..fileio import write_text
from ..layout import BEST_PARAMS, ERROR_LOG, FINAL_PARAMS, METRICS_FILE, TRIALS_DIR
from ..recording import Recording
from ..records import EpochMetrics
from ..runs import FINISHED, RunRecorder, resume_point
from ..summary import read_metrics
from .directory import (
    SweepDirectoryTaken,
    default_sweep_dir,
    make_sweep_dir,
    record_start,
    taken,
)
from .executors import AutoExecutor, Executor
from .expand import Trial
from .jobs import Job, plan_jobs
from .spec import SweepSpec, load_sweep_spec
from .state import SweepObserver, SweepRun, TrialRecord, resume_record
from .sweepers import Sweeper, make_sweeper
from .tables import SweepTables
from .trial_state import outvoted

TablesWritten = Callable[[Path, bool], None]
"""Called with the sweep directory each time its tables gain rows, and once more with
True when the sweep ends (what keeps report.html up to date: report.ReportRefresher)."""

__all__ = [
    "FailFast",
    "SweepDirectoryTaken",
    "SweepObserver",
    "SweepRun",
    "TablesWritten",
    "TrialRecord",
    "check_inputs",
    "default_sweep_dir",
    "run_sweep",
]


class FailFast(SoftmaxExpError):
    """Raised to stop a sweep at its first failed trial (`fail_fast`)."""


def check_inputs(trials: Sequence[Trial], data_dir: Optional[Path]):
    """Fail before anything is written: context, data, and every distinct split. Returns
    the dataset, which the executors are then handed."""
    from ..data import load_dataset
    from ..device import resolve_context
    from ..split import split_dataset
    from ..training import fuse_key

    for ctx in sorted({t.config.ctx for t in trials}):
        resolve_context(ctx)
    dataset = load_dataset(data_dir)
    checked = set()
    for trial in trials:
        key = fuse_key(trial.config)
        if key not in checked:
            checked.add(key)
            split_dataset(dataset, trial.config)
    return dataset


def run_sweep(
    spec_path: Path,
    out: Optional[Path] = None,
    *,
    executor: Optional[Executor] = None,
    workers: int = 1,
    fuse: bool = True,
    restart: bool = False,
    fail_fast: bool = False,
    data_dir: Optional[Path] = None,
    observer: Optional[SweepObserver] = None,
    on_tables: Optional[TablesWritten] = None,
    argv: Optional[Sequence[str]] = None,
) -> SweepRun:
    """Run (or resume) the sweep described by `spec_path`; returns every trial's record.

    - `out`: the sweep directory (default runs/sweep-<name>); running again resumes it:
      finished trials are kept, interrupted ones go on from their last checkpoint.
    - `executor`: where the trials run (default: AutoExecutor, several fused groups side
      by side on worker processes, one per core, when they are worth it, else one after
      another in this process); `workers`: how many trials at a time the sweeper plans
      for.
    - `fuse`: train trials that share their minibatches as one stacked model.
    - `restart`: run every trial again, and take over a directory of another sweep.
    - `fail_fast`: stop at the first failed trial (SoftmaxExpError ends it there).
    - `data_dir`: where Fashion-MNIST is (default: found as `load_dataset` finds it).
    - `observer`: told as trials start, train and end (a display).
    - `on_tables`: told each time trials.csv and epochs.csv gain rows (`TablesWritten`).
    - `argv`: the command recorded in commands.log (default sys.argv).
    """
    spec = load_sweep_spec(spec_path)
    if out is None:
        default_sweep_dir(spec)  # a name that cannot be a directory fails before any work
    sweeper = make_sweeper(spec, workers)
    runner = executor or AutoExecutor()
    plan: dict[str, Any] = {
        "fuse": fuse,
        "workers": workers,
        "data_dir": data_dir,
        "prune": spec.prune,
        "metric": spec.metric,
        "mode": spec.mode,
        "checkpoint_seconds": spec.checkpoint_seconds,
    }
    runner.start(plan_jobs(sweeper.known(), **plan), min(workers, max(1, sweeper.planned)))
    try:
        dataset = check_inputs(sweeper.probe(), data_dir)
        with taken(make_sweep_dir(spec, out), spec, spec_path, restart) as path:
            driver = _Driver(spec, path, observer or SweepObserver(), fail_fast, restart)
            driver.on_tables = on_tables
            driver.start(sweeper, list(argv) if argv is not None else sys.argv)
            try:
                _run(driver, sweeper, runner, plan, dataset)
            finally:
                runner.close()
            if on_tables:  # the last page, once the workers' memory is given back
                on_tables(path, True)
            return driver.sweep
    finally:
        runner.close()


def _run(driver: _Driver, sweeper: Sweeper, runner: Executor, plan: dict, dataset) -> None:
    """The loop: ask the sweeper, run what is not finished yet (fused), tell it."""
    said = ""
    try:
        while batch := sweeper.ask(driver.sweep.records):
            to_run = [t for t in batch if driver.sweep.records[t.id].status not in FINISHED]
            jobs = plan_jobs(to_run, start_epochs=driver.start_epochs(to_run), **plan)
            if (how := runner.describe(jobs)) and how != said:
                driver.observer.note(how)
                said = how
            runner.launch(jobs, driver.handle, driver.prepare, dataset)
            sweeper.tell(driver.sweep.records)
    except FailFast:
        driver.interrupt()
    except BaseException:
        # Ctrl-C, a full disk...: record what we can, then report the first error.
        with contextlib.suppress(Exception):
            driver.interrupt()
            driver.write_tables()
        raise
    driver.write_tables()


class _Driver(Recording):
    """The sweep's records, kept as the events come: each trial's run directory (as
    `softmax train` writes its own), and the sweep's tables."""

    def __init__(
        self, spec: SweepSpec, path: Path, observer: SweepObserver, fail_fast: bool, restart: bool
    ):
        super().__init__()
        self.spec, self.path, self.observer, self.fail_fast = spec, path, observer, fail_fast
        self.restart = restart
        self.sweep = SweepRun(spec, path, [], {})
        self.tables = SweepTables(path, spec)
        self.ended: list[TrialRecord] = []  # since the tables were last appended to
        self.on_tables: Optional[TablesWritten] = None

    @property
    def records(self) -> dict[str, TrialRecord]:
        """Every trial's record, by id (what a sweeper reads: base.Registry)."""
        return self.sweep.records

    def register(self, trials: Sequence[Trial]) -> list[Trial]:
        """Make trials known, resuming their records; returns them as registered (a
        config asked for twice is the same trial)."""
        registered = []
        for trial in trials:
            if trial.id not in self.sweep.records:
                record = TrialRecord(trial, self.path / TRIALS_DIR / trial.id)
                self.sweep.records[trial.id] = record
                self.sweep.trials.append(trial)
                if not self.restart:
                    resume_record(record, self.path, self.observer.note)
            registered.append(self.sweep.records[trial.id].trial)
        return registered

    def start_epochs(self, trials: Sequence[Trial]) -> dict[str, int]:
        """The epoch each interrupted trial goes on from (its last checkpoint's)."""
        for record in outvoted(self.sweep.records[t.id] for t in trials):
            self.observer.note(
                f"trial {record.trial.id}: its checkpoint disagrees with its group's "
                "(shuffling, update count or kernels); starting it over"
            )
            record.resume_epoch = 0
        return {
            t.id: self.sweep.records[t.id].resume_epoch
            for t in trials
            if self.sweep.records[t.id].resume_epoch
        }

    def prepare(self, job: Job) -> Job:
        """Just before a job runs: its trials' checkpoints, when it goes on from one, and
        what pruning needs (the other trials' metric, epoch by epoch, so far)."""
        if job.start_epoch:
            job = self._with_checkpoints(job)
        if not job.prune:
            return job
        reference = {
            trial_id: [row.get(job.metric) for row in record.rows]
            for trial_id, record in self.sweep.records.items()
            if record.rows and trial_id not in job.ids
        }
        return replace(job, reference=reference)

    def _with_checkpoints(self, job: Job) -> Job:
        """The job with its trials' checkpoints loaded (only now: they are the size of
        the model each); if one cannot be read after all, the job starts over."""

        try:
            starts = tuple(
                resume_point(self.sweep.records[t.id].path, job.start_epoch, t.config)
                for t in job.trials
            )
        except SoftmaxExpError as exc:
            self.observer.note(f"job of {', '.join(job.ids)}: {exc}; starting it over")
            for trial in job.trials:
                self.sweep.records[trial.id].resume_epoch = 0
            return replace(job, start_epoch=0, starts=())
        return replace(job, starts=starts)

    def start(self, sweeper: Sweeper, argv: Sequence[str]) -> None:
        record_start(self.path, self.spec, argv)
        sweeper.open(self.path, self.restart, self)
        self.sweep.planned = sweeper.planned
        self.sweep.skipped = len(self.sweep.finished())
        self.observer.sweep_started(self.sweep)
        self.write_tables()

    def recorder_for(self, trial_id: str) -> RunRecorder:
        """A trial's recorder, noting where it stands in the sweep."""
        record = self.sweep.records[trial_id]
        trial = record.trial
        return RunRecorder(
            record.path,
            trial.config,
            trial.config.ctx,
            {"trial_index": trial.index, "point": trial.point},
        )

    def on_started(self, trial_id: str, recorder: RunRecorder) -> None:
        """A fresh run directory, or, for a trial going on from its checkpoint, the one
        it has, cut to the checkpoint's epoch."""
        record = self.sweep.records[trial_id]
        if record.resume_epoch:
            recorder.reopen(record.resume_epoch)
            record.rows = (read_metrics(record.path / METRICS_FILE) or [])[: record.resume_epoch]
        else:
            recorder.create()
            for stale in (FINAL_PARAMS, BEST_PARAMS, ERROR_LOG):
                (record.path / stale).unlink(missing_ok=True)
            checkpoints.remove(record.path)
            record.rows = []
        record.info = recorder.info
        self.observer.trial_started(record)

    def on_epoch(self, trial_id: str, metrics: EpochMetrics) -> None:
        record = self.sweep.records[trial_id]
        record.rows.append(metrics.as_row())
        self.observer.trial_epoch(record)

    def on_finished(self, trial_id: str, info: dict) -> None:
        """The group's other trials may end too: the tables wait for the group's epoch."""
        record = self.sweep.records[trial_id]
        record.info = info
        self.ended.append(record)
        self.observer.trial_finished(record)

    def on_other(self, event: Event) -> None:
        if isinstance(event, GroupEpochEnded) and self.ended:
            self.append_tables()
        elif isinstance(event, JobRetried):
            self.observer.note(f"job of {', '.join(event.job.ids)}: {event.reason}; retrying")
        elif isinstance(event, JobFailed):
            self._fail(event.job, event.message, event.trace)

    def _fail(self, job: Job, message: str, trace: str) -> None:
        for trial in job.trials:
            if trial.id in self.recorders or self.sweep.records[trial.id].status not in FINISHED:
                path = self.sweep.records[trial.id].path
                path.mkdir(parents=True, exist_ok=True)  # it may have died before starting
                write_text(path / ERROR_LOG, trace or message)
                self.finish(trial.id, None, "failed", message)
        self.append_tables()
        if self.fail_fast:
            raise FailFast(f"trial {job.trials[0].id} failed: {message}")

    def interrupt(self) -> None:
        self.sweep.interrupted = True
        self.end_running("interrupted", "interrupted before it finished")

    def write_tables(self) -> None:
        """trials.csv and epochs.csv anew, every ended trial in expansion order: when the
        sweep starts (what earlier runs finished) and when it ends."""
        self.ended = []
        ended = [r for r in self.sweep.records.values() if r.info and r.status != "running"]
        ended.sort(key=lambda r: r.trial.index)
        self.tables.rewrite(ended)
        if self.on_tables and ended:
            self.on_tables(self.path, False)

    def append_tables(self) -> None:
        """The rows of the trials that ended since the last call, appended."""
        ended, self.ended = self.ended, []
        self.tables.append(ended)
        if self.on_tables:
            self.on_tables(self.path, False)
