"""Running a sweep, top-down: read the sweep file once, make its sweeper, check the
inputs, take the directory, then one loop (ask, plan fused jobs, launch on an executor,
record, tell). The driver is the only writer of the sweep directory, whatever executor
runs the trials; it records through the pipeline `softmax train` uses (recording.py)."""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Optional, Sequence

from .. import checkpoint as checkpoints
from ..errors import RunError, SoftmaxExpError
from ..events import Event, GroupEpochEnded, JobFailed, JobRetried
from ..fileio import (
    append_line,
    append_lines,
    atomic_writer,
    read_text,
    real_directory,
    write_json,
    write_text,
)
from ..lock import DirectoryLock
from ..recording import Recording
from ..records import EpochMetrics
from ..runs import FINISHED, METRICS_FILE, RunRecorder, csv_line, read_run_info, resume_point
from ..summary import EPOCH_COLUMNS, TRIAL_COLUMNS, epoch_rows, read_metrics, trial_row
from .executors import Executor, SerialExecutor
from .expand import Trial
from .jobs import Job, plan_jobs
from .spec import SweepSpec, directory_name, load_sweep_spec
from .sweepers import Sweeper, make_sweeper
from .trial_state import (
    TrialChangedByHand,
    check_directory,
    checkpoint_epoch,
    finished_mismatch,
    outvoted,
)

TRIALS_CSV, EPOCHS_CSV, SPEC_FILE, COMMANDS_LOG = (
    "trials.csv",
    "epochs.csv",
    "sweep.yaml",
    "commands.log",
)
OWNER_FILE = "sweep.json"  # which sweep (name and file) the directory belongs to


class FailFast(SoftmaxExpError):
    """Raised to stop a sweep at its first failed trial (--fail-fast)."""


class SweepDirectoryTaken(RunError):
    """The sweep directory belongs to another sweep file. The CLI names its own ways out."""

    def __init__(self, path: Path, owner: dict, spec_path: Path):
        self.path, self.owner, self.spec_path = path, owner, spec_path
        super().__init__(
            f"{path} holds sweep '{owner.get('name')}' (from {owner.get('file')}),"
            f" not {spec_path}: restart the sweep to start that directory over, "
            "or write to another directory"
        )


def check_owner(path: Path, spec: SweepSpec, spec_path: Path, restart: bool) -> None:
    """A sweep directory belongs to one sweep, known by its name (the file's stem or its
    `name:`), so that an edited grid still resumes while another file is refused."""
    refuse_another_owner(path, spec, spec_path, restart)
    write_json(path / OWNER_FILE, {"name": spec.name, "file": str(spec_path)})


def refuse_another_owner(path: Path, spec: SweepSpec, spec_path: Path, restart: bool) -> None:
    """SweepDirectoryTaken when the directory is another sweep's (and not restarted)."""
    try:
        owner = json.loads(read_text(path / OWNER_FILE, 1 << 20))
    except (OSError, ValueError):
        owner = None  # new, or made before sweeps recorded their owner
    if isinstance(owner, dict) and owner.get("name") != spec.name and not restart:
        raise SweepDirectoryTaken(path, owner, spec_path)


@dataclass
class TrialRecord:
    trial: Trial
    path: Path
    info: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    resume_epoch: int = 0  # an interrupted trial's last checkpoint: it goes on from there
    resume_key: str = ""  # what that checkpoint shares with its group's (trial_state)

    @property
    def status(self) -> str:
        return self.info.get("status", "pending")


class SweepObserver:
    """What a sweep tells its display. Override what you need."""

    def sweep_started(self, sweep: SweepRun) -> None:
        pass

    def trial_started(self, record: TrialRecord) -> None:
        pass

    def trial_epoch(self, record: TrialRecord) -> None:
        pass

    def trial_finished(self, record: TrialRecord) -> None:
        pass

    def note(self, message: str) -> None:
        pass


@dataclass
class SweepRun:
    spec: SweepSpec
    path: Path
    trials: list[Trial]
    records: dict[str, TrialRecord]
    planned: int = 0  # trials this sweep will have run (its sweeper says)
    skipped: int = 0
    interrupted: bool = False
    report_problem: str = ""  # why report.html could not be written at the end, if kept

    def finished(self) -> list[TrialRecord]:
        return [r for r in self.records.values() if r.status in FINISHED]

    def failures(self) -> list[TrialRecord]:
        return [r for r in self.records.values() if r.status in ("failed", "interrupted")]


def default_sweep_dir(spec: SweepSpec, out: Path = Path("runs")) -> Path:
    return out / f"sweep-{directory_name(spec)}"


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
    executor: Optional[Executor] = None,
    restart: bool = False,
    fail_fast: bool = False,
    fuse: bool = True,
    data_dir: Optional[Path] = None,
    observer: Optional[SweepObserver] = None,
    argv: Optional[list[str]] = None,
    workers: int = 1,
    report: bool = False,
) -> SweepRun:
    """Run (or resume) the sweep described by `spec_path`; returns every trial's record.

    `report`: keep report.html in the sweep directory up to date as trials end."""
    spec = load_sweep_spec(spec_path)
    path = Path(out) if out else default_sweep_dir(spec)  # a bad name: before any work
    sweeper = make_sweeper(spec, workers)
    runner = executor or SerialExecutor()
    plan = {
        "fuse": fuse,
        "workers": workers,
        "data_dir": data_dir,
        "prune": spec.prune,
        "metric": spec.metric,
        "mode": spec.mode,
        "checkpoint_seconds": spec.checkpoint_seconds,
    }
    runner.start(min(workers, max(1, sweeper.planned)))
    try:
        dataset = check_inputs(sweeper.probe(), data_dir)
        path = _sweep_directory(path)
        # before the lock too: a refused sweep leaves the holder's .lock as it was
        refuse_another_owner(path, spec, spec_path, restart)
        with DirectoryLock(path).acquire(f"softmax sweep {spec_path}"):
            check_owner(path, spec, spec_path, restart)
            driver = _Driver(spec, path, observer or SweepObserver(), fail_fast, restart)
            if report:
                from ..report import ReportRefresher

                driver.reporter = ReportRefresher(path, data_dir, driver.observer.note)
            driver.start(sweeper, argv)
            _run(driver, sweeper, runner, plan, dataset)
            return driver.sweep
    finally:
        runner.close()


def _sweep_directory(path: Path) -> Path:
    try:
        (path / "trials").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(
            f"cannot create sweep directory {path}: {exc.strerror}; choose another output directory"
        ) from None
    return real_directory(path / "trials", path).parent


def _run(driver: _Driver, sweeper: Sweeper, runner: Executor, plan: dict, dataset) -> None:
    """The loop: ask the sweeper, run what is not finished yet (fused), tell it."""
    try:
        while batch := sweeper.ask(driver.sweep.records):
            to_run = [t for t in batch if driver.sweep.records[t.id].status not in FINISHED]
            jobs = plan_jobs(to_run, start_epochs=driver.start_epochs(to_run), **plan)
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
    if driver.reporter:
        driver.reporter.refresh(final=True)
        driver.sweep.report_problem = driver.reporter.problem


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
        self.ended: list[TrialRecord] = []  # since the tables were last appended to
        self.reporter = None  # a ReportRefresher when report.html is kept up to date

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
                record = TrialRecord(trial, self.path / "trials" / trial.id)
                self.sweep.records[trial.id] = record
                self.sweep.trials.append(trial)
                if not self.restart:
                    self._resume(record)
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

    def start(self, sweeper: Sweeper, argv: Optional[list[str]]) -> None:
        write_text(self.path / SPEC_FILE, self.spec.text)
        command = shlex.join(argv if argv is not None else sys.argv)
        log = self.path / COMMANDS_LOG
        if not log.exists():
            write_text(log, "")
        append_line(log, f"{datetime.now().isoformat(timespec='seconds')}  {command}")
        sweeper.open(self.path, self.restart, self)
        self.sweep.planned = sweeper.planned
        self.sweep.skipped = len(self.sweep.finished())
        self.observer.sweep_started(self.sweep)
        self.write_tables()

    def _resume(self, record: TrialRecord) -> None:
        """Keep a finished trial only when all of its files agree, and agree with the
        sweep; an interrupted one goes on only from a checkpoint that loads whole."""
        check_directory(self.path, record.path)
        info = read_run_info(record.path)
        if info is None:
            if record.path.exists():
                self.observer.note(
                    f"trial {record.trial.id}: unreadable run.json, running it again"
                )
            return
        rows = read_metrics(record.path / METRICS_FILE) or []
        if info.get("status") in FINISHED and len(rows) != info.get("epochs_run"):
            self.observer.note(
                f"trial {record.trial.id}: metrics.csv has {len(rows)} of "
                f"{info.get('epochs_run')} epochs, running it again"
            )
            return
        if info.get("status") in FINISHED:
            mismatch = finished_mismatch(record.trial, info, rows)
            if mismatch:
                raise TrialChangedByHand(record.path, mismatch)
            record.info, record.rows = info, rows
        elif info.get("status") in ("running", "interrupted"):  # killed, or stopped
            found = checkpoint_epoch(record.path, record.trial, len(rows))
            record.resume_epoch, problem, record.resume_key = found
            if problem:
                self.observer.note(f"trial {record.trial.id}: {problem}; starting it over")

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
            for stale in ("final.params", "best.params", "error.log"):
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
                write_text(path / "error.log", trace or message)
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
        with atomic_writer(self.path / TRIALS_CSV) as handle:
            handle.writelines(self._trial_lines(ended, header=True))
        with atomic_writer(self.path / EPOCHS_CSV) as handle:
            handle.writelines(self._epoch_lines(ended, header=True))
        if self.reporter and ended:
            self.reporter.refresh()

    def append_tables(self) -> None:
        """The rows of the trials that ended since the last call, appended (one write
        each, synced): a group's cost is its own rows, not the sweep's so far."""
        ended, self.ended = self.ended, []
        append_lines(self.path / TRIALS_CSV, self._trial_lines(ended))
        append_lines(self.path / EPOCHS_CSV, self._epoch_lines(ended))
        if self.reporter:
            self.reporter.refresh()

    def _trial_lines(self, records: list[TrialRecord], header: bool = False) -> list[str]:
        lines = [csv_line(TRIAL_COLUMNS) + "\n"] if header else []
        return lines + [
            csv_line(
                trial_row(
                    r.trial.id,
                    r.status,
                    r.trial.config.model_dump(),
                    r.rows,
                    r.info,
                    self.spec.metric,
                    self.spec.mode,
                    str(r.path.relative_to(self.path)),
                )
            )
            + "\n"
            for r in records
        ]

    def _epoch_lines(self, records: list[TrialRecord], header: bool = False) -> list[str]:
        lines = [csv_line(EPOCH_COLUMNS) + "\n"] if header else []
        return lines + [
            csv_line(row) + "\n"
            for r in records
            for row in epoch_rows(r.trial.id, r.status, r.trial.config.model_dump(), r.rows)
        ]
