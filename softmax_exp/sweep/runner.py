"""Running a sweep: expand, check, resume, launch, record. The driver is the only
writer of the sweep directory, whatever executor runs the trials."""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import RunError, SoftmaxExpError
from ..fileio import append_line, atomic_writer, write_json, write_text
from ..lock import DirectoryLock
from ..records import TrialOutcome
from ..runs import FINISHED, METRICS_FILE, RunRecorder, csv_line, read_run_info
from ..summary import EPOCH_COLUMNS, TRIAL_COLUMNS, epoch_rows, read_metrics, trial_row
from .executors import Executor, SerialExecutor
from .expand import Trial, expand, probe_points, trials_for_points
from .jobs import Job, plan_jobs
from .spec import SweepSpec, load_sweep_spec

TRIALS_CSV, EPOCHS_CSV, SPEC_FILE, COMMANDS_LOG = ("trials.csv", "epochs.csv", "sweep.yaml",
                                                    "commands.log")
OWNER_FILE = "sweep.json"  # which sweep (name and file) the directory belongs to


class FailFast(SoftmaxExpError):
    """Raised to stop a sweep at its first failed trial (--fail-fast)."""


class SweepDirectoryTaken(RunError):
    """The sweep directory belongs to another sweep file. The CLI names its own ways out."""

    def __init__(self, path: Path, owner: dict, spec_path: Path):
        self.path, self.owner, self.spec_path = path, owner, spec_path
        super().__init__(f"{path} holds sweep '{owner.get('name')}' (from {owner.get('file')}),"
                         f" not {spec_path}: restart the sweep to start that directory over, "
                         "or write to another directory")


def check_owner(path: Path, spec: SweepSpec, spec_path: Path, restart: bool) -> None:
    """A sweep directory belongs to one sweep, known by its name (the file's stem or its
    `name:`), so that an edited grid still resumes while another file is refused."""
    try:
        owner = json.loads((path / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        owner = None  # new, or made before sweeps recorded their owner
    if isinstance(owner, dict) and owner.get("name") != spec.name and not restart:
        raise SweepDirectoryTaken(path, owner, spec_path)
    write_json(path / OWNER_FILE, {"name": spec.name, "file": str(spec_path)})


@dataclass
class TrialRecord:
    trial: Trial
    path: Path
    info: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)

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
    skipped: int = 0
    interrupted: bool = False

    @property
    def planned(self) -> int:
        """Trials this sweep will have run: its expansion, or a TPE sweep's budget."""
        return self.spec.random_trials if self.spec.search == "tpe" else len(self.trials)

    def finished(self) -> list[TrialRecord]:
        return [r for r in self.records.values() if r.status in FINISHED]

    def failures(self) -> list[TrialRecord]:
        return [r for r in self.records.values() if r.status in ("failed", "interrupted")]


def default_sweep_dir(spec: SweepSpec, out: Path = Path("runs")) -> Path:
    return out / f"sweep-{spec.name}"


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


def run_sweep(spec_path: Path, out: Optional[Path] = None, executor: Optional[Executor] = None,
              restart: bool = False, fail_fast: bool = False, fuse: bool = True,
              data_dir: Optional[Path] = None, observer: Optional[SweepObserver] = None,
              argv: Optional[list[str]] = None, workers: int = 1,
              report: bool = False) -> SweepRun:
    """Run (or resume) the sweep described by `spec_path`; returns every trial's record.

    `report`: keep report.html in the sweep directory up to date as trials end."""
    spec = load_sweep_spec(spec_path)
    trials = expand(spec)
    runner = executor or SerialExecutor()
    plan = {"fuse": fuse, "workers": workers, "data_dir": data_dir, "prune": spec.prune,
            "metric": spec.metric, "mode": spec.mode}
    runner.start(len(plan_jobs(trials, fuse, workers)) if trials else workers)
    try:
        return _run(spec, spec_path, trials, runner, plan, out, restart, fail_fast, observer,
                    argv, report)
    finally:
        runner.close()


def _run(spec: SweepSpec, spec_path: Path, trials: list[Trial], runner: Executor, plan: dict,
         out: Optional[Path], restart: bool, fail_fast: bool,
         observer: Optional[SweepObserver], argv: Optional[list[str]],
         report: bool = False) -> SweepRun:
    dataset = check_inputs(trials or trials_for_points(spec, probe_points(spec)),
                           plan["data_dir"])
    path = Path(out) if out else default_sweep_dir(spec)
    try:
        (path / "trials").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create sweep directory {path}: {exc.strerror}; "
                       "choose another output directory") from None
    with DirectoryLock(path).acquire(f"softmax sweep {spec_path}"):
        check_owner(path, spec, spec_path, restart)
        driver = _Driver(spec, path, trials, observer or SweepObserver(), fail_fast, restart)
        driver.dataset = dataset
        if report:
            from ..report import ReportRefresher

            driver.reporter = ReportRefresher(path, plan["data_dir"], driver.observer.note)
        driver.start(spec_path, argv)
        try:
            if spec.search == "tpe":
                from .tpe import run_tpe

                run_tpe(driver, runner, plan, restart)
            else:
                to_run = [t for t in trials if driver.sweep.records[t.id].status not in FINISHED]
                driver.run_jobs(runner, to_run, plan)
        except FailFast:
            driver.interrupt()
            driver.write_tables()
        except BaseException:
            # Ctrl-C, a full disk...: record what we can, then report the first error.
            with contextlib.suppress(Exception):
                driver.interrupt()
                driver.write_tables()
            raise
        driver.write_tables()
        if driver.reporter:
            driver.reporter.refresh(final=True)
        return driver.sweep


class _Driver:
    def __init__(self, spec: SweepSpec, path: Path, trials: list[Trial],
                 observer: SweepObserver, fail_fast: bool, restart: bool):
        self.spec, self.path, self.observer, self.fail_fast = spec, path, observer, fail_fast
        self.restart = restart
        records = {t.id: TrialRecord(t, path / "trials" / t.id) for t in trials}
        self.sweep = SweepRun(spec, path, list(trials), records)
        self.recorders: dict[str, RunRecorder] = {}
        self.tables_stale = False  # a trial ended since the tables were last written
        self.reporter = None  # a ReportRefresher when report.html is kept up to date
        self.dataset = None  # what check_inputs loaded and checked, handed to the executor

    def add_trials(self, trials: list[Trial]) -> list[Trial]:
        """Register trials chosen while the sweep runs (TPE); returns them as registered
        (a config asked for twice is the same trial)."""
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

    def run_jobs(self, executor: Executor, trials: list[Trial], plan: dict) -> None:
        executor.launch(plan_jobs(trials, **plan), self.handle, self.prepare, self.dataset)

    def prepare(self, job: Job) -> Job:
        """What pruning needs: the other trials' metric, epoch by epoch, so far."""
        if not job.prune:
            return job
        reference = {trial_id: [row.get(job.metric) for row in record.rows]
                     for trial_id, record in self.sweep.records.items()
                     if record.rows and trial_id not in job.ids}
        return replace(job, reference=reference)

    def start(self, spec_path: Path, argv: Optional[list[str]]) -> None:
        write_text(self.path / SPEC_FILE, self.spec.text)
        command = shlex.join(argv if argv is not None else sys.argv)
        log = self.path / COMMANDS_LOG
        if not log.exists():
            write_text(log, "")
        append_line(log, f"{datetime.now().isoformat(timespec='seconds')}  {command}")
        for record in self.sweep.records.values():
            if not self.restart:
                self._resume(record)
        self.sweep.skipped = len(self.sweep.finished())
        if self.spec.search != "tpe":  # a TPE sweep knows its past once its study is read
            self.observer.sweep_started(self.sweep)
        self.write_tables()

    def _resume(self, record: TrialRecord) -> None:
        """Keep a finished trial only when all of its files agree."""
        info = read_run_info(record.path)
        if info is None:
            if record.path.exists():
                self.observer.note(f"trial {record.trial.id}: unreadable run.json, running it "
                                   "again")
            return
        rows = read_metrics(record.path / METRICS_FILE) or []
        if info.get("status") in FINISHED and len(rows) != info.get("epochs_run"):
            self.observer.note(f"trial {record.trial.id}: metrics.csv has {len(rows)} of "
                               f"{info.get('epochs_run')} epochs, running it again")
            return
        if info.get("status") in FINISHED:
            record.info, record.rows = info, rows

    def handle(self, event: tuple) -> None:
        kind = event[0]
        if kind == "start":
            record = self.sweep.records[event[1]]
            # registered before its files are written, so that an interrupt landing in
            # between still finishes it (a run.json that does not say `running`)
            self.recorders[record.trial.id] = recorder = _recorder(record)
            recorder.create()
            for stale in ("final.params", "best.params", "error.log"):
                (record.path / stale).unlink(missing_ok=True)
            record.info, record.rows = self.recorders[record.trial.id].info, []
            self.observer.trial_started(record)
        elif kind == "epoch":
            record = self.sweep.records[event[1]]
            self.recorders[event[1]].record_epoch(event[2])
            record.rows.append(event[2].as_row())
            self.observer.trial_epoch(record)
        elif kind == "end":  # the group's other trials may end too: tables at epoch_done
            self._finish(event[1], event[2], tables=False)
        elif kind == "epoch_done" and self.tables_stale:
            self.write_tables()
        elif kind == "retry":
            self.observer.note(f"job of {', '.join(event[1].ids)}: {event[2]}; retrying")
        elif kind == "failed":
            self._fail(event[1], event[2], event[3])

    def _finish(self, trial_id: str, outcome: Optional[TrialOutcome], status: str = "",
                error: str = "", tables: bool = True) -> None:
        record = self.sweep.records[trial_id]
        recorder = self.recorders.get(trial_id)
        if recorder is None:  # failed before it started: give it a directory anyway
            recorder = _recorder(record).create()
        record.info = recorder.finish(outcome, status or None, error or None)
        self.recorders.pop(trial_id, None)  # only now: an interrupt before still records it
        self.tables_stale = True
        if tables:
            self.write_tables()
        self.observer.trial_finished(record)

    def _fail(self, job, message: str, trace: str) -> None:
        for trial in job.trials:
            if trial.id in self.recorders or self.sweep.records[trial.id].status not in \
                    FINISHED:
                path = self.sweep.records[trial.id].path
                path.mkdir(parents=True, exist_ok=True)  # it may have died before starting
                write_text(path / "error.log", trace or message)
                self._finish(trial.id, None, "failed", message)
        if self.fail_fast:
            raise FailFast(f"trial {job.trials[0].id} failed: {message}")

    def interrupt(self) -> None:
        """Record every running trial as interrupted; one that cannot be (a full disk)
        does not keep the others from it."""
        self.sweep.interrupted = True
        for trial_id in list(self.recorders):
            with contextlib.suppress(Exception):
                self.sweep.records[trial_id].path.mkdir(parents=True, exist_ok=True)
                self._finish(trial_id, None, "interrupted", "interrupted before it finished")

    def write_tables(self) -> None:
        """trials.csv and epochs.csv from the driver's records, in expansion order."""
        self.tables_stale = False
        started = [r for r in self.sweep.records.values() if r.info]
        started.sort(key=lambda r: r.trial.index)
        with atomic_writer(self.path / TRIALS_CSV) as handle:
            handle.write(csv_line(TRIAL_COLUMNS) + "\n")
            for record in started:
                handle.write(csv_line(trial_row(
                    record.trial.id, record.status, record.trial.config.model_dump(),
                    record.rows, record.info, self.spec.metric, self.spec.mode,
                    str(record.path.relative_to(self.path)))) + "\n")
        with atomic_writer(self.path / EPOCHS_CSV) as handle:
            handle.write(csv_line(EPOCH_COLUMNS) + "\n")
            for record in started:
                for row in epoch_rows(record.trial.id, record.status,
                                      record.trial.config.model_dump(), record.rows):
                    handle.write(csv_line(row) + "\n")
        if self.reporter and started:
            self.reporter.refresh()


def _recorder(record: TrialRecord) -> RunRecorder:
    """A trial's recorder, noting where it stands in the sweep; `create()` writes its
    fresh run directory."""
    trial = record.trial
    return RunRecorder(record.path, trial.config, trial.config.ctx,
                       {"trial_index": trial.index, "point": trial.point})


def load_spec_and_trials(spec_path: Path) -> tuple[SweepSpec, list[Trial]]:
    """Expand without running (for --dry-run and tests)."""
    spec = load_sweep_spec(spec_path)
    return spec, expand(spec)
