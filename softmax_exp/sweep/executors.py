"""Executors run jobs and hand their events to the driver. The sweep does not
know which one it drives.

An executor's main method is `launch(jobs, handle, prepare, dataset)`: run every job
and call `handle(event)` in the driver's thread for each event (events.py), including
JobFailed when a job raises or its worker dies, and JobRetried before a retry.
`prepare(job)` is called just before a job starts and returns the job to run
(the driver adds what pruning needs to know of the trials finished so far).
An exception raised by `handle` (fail-fast) or KeyboardInterrupt stops it.
`start(expected_jobs)` and `close()` bracket a sweep, which may launch several
times (TPE asks round by round); an executor may get ready early in `start`.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from ..errors import ConfigError, show_warning_line
from ..events import JobFailed, JobRetried
from .base import Executor, Handle, Prepare, unchanged
from .jobs import Job, execute_job, failed


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


class SerialExecutor(Executor):
    """Runs jobs one after another in this process: no start-up cost, all cores."""

    name = "serial"

    def launch(
        self, jobs: Sequence[Job], handle: Handle, prepare: Prepare = unchanged, dataset=None
    ) -> None:
        from ..data import load_dataset

        def record(event) -> None:  # the driver's own errors are not the job's
            try:
                handle(event)
            except Exception as exc:
                raise _DriverError() from exc

        for job in jobs:
            try:
                dataset = dataset if dataset is not None else load_dataset(job.data_dir)
                execute_job(prepare(job), record, dataset)
            except _DriverError as exc:
                raise (exc.__cause__ or exc) from None
            except Exception as exc:  # noqa: BLE001 - a failed trial is a result
                handle(failed(job, exc))


# A launch goes to worker processes when its jobs cost at least this much (Job.cost):
# about 20 s of training in one process on a 2-core EPYC, against the 3 s a worker's
# start costs (MXNet's import, its first graphs). configs/grid.yaml (12 trials in 3
# groups, 10 epochs: 114,000) took as long either way; 1,000 trials x 1 epoch
# (265,000) took 26 s against 40 s (docs/performance.md#both-cores).
PARALLEL_MIN_COST = 200_000


class AutoExecutor(Executor):
    """The local default: a launch of several jobs, with work enough, runs on worker
    processes, one per core (each trains one fused group on one core); any other launch
    runs in this process, as SerialExecutor does. Jobs that prune stay in this process,
    one after another: a trial is pruned against the trials finished before it started,
    and with groups side by side that set would depend on timing. The results are the
    same bits either way (the kernels compute a trial alike on any thread)."""

    name = "local"

    def __init__(self, cores: Optional[int] = None, worker: Optional[Callable] = None):
        self.cores = cores or available_cores()
        self.worker = worker
        self.serial = SerialExecutor()
        self.processes: Optional[ProcessExecutor] = None

    def start(self, expected: Sequence[Job], at_once: int) -> None:
        """Start the workers now when the sweep's known trials go to them: their MXNet
        import overlaps the sweep's checks."""
        if self.in_parallel(expected):
            self._processes(len(expected))

    def close(self) -> None:
        if self.processes is not None:
            self.processes.close()
            self.processes = None

    def launch(
        self, jobs: Sequence[Job], handle: Handle, prepare: Prepare = unchanged, dataset=None
    ) -> None:
        if self.in_parallel(jobs):
            self._processes(len(jobs)).launch(jobs, handle, prepare, dataset)
        else:
            self.serial.launch(jobs, handle, prepare, dataset)

    def describe(self, jobs: Sequence[Job]) -> str:
        if not self.in_parallel(jobs):
            return ""
        workers = min(self.cores, len(jobs))
        return (
            f"{len(jobs)} fused groups side by side on {workers} worker processes, one per "
            "core (-j 1 trains them in this process)"
        )

    def in_parallel(self, jobs: Sequence[Job]) -> bool:
        """Whether `jobs` go to worker processes."""
        return (
            len(jobs) > 1
            and self.cores > 1
            and not any(job.prune for job in jobs)
            and sum(job.cost() for job in jobs) >= PARALLEL_MIN_COST
        )

    def _processes(self, jobs: int) -> ProcessExecutor:
        if self.processes is None:
            self.processes = ProcessExecutor(min(self.cores, jobs), worker=self.worker)
            self.processes.start((), jobs)
        return self.processes


class _DriverError(Exception):
    """Carries an error of the driver's (a full disk while recording) out of a job run in
    this process, so that it stops the sweep instead of failing the job."""


class ProcessExecutor(Executor):
    """N worker processes; each gets cores // N threads, so workers x threads <= cores.

    Workers are started once and take job after job: starting one costs seconds
    (importing MXNet), a job of a few trials may cost less. A worker that dies
    fails only its job, which is retried up to `retries` times on a fresh worker.
    """

    name = "process"

    def __init__(self, workers: int, retries: int = 1, worker: Optional[Callable] = None):
        cores = available_cores()
        if workers > cores:
            raise ConfigError(
                f"workers {workers}: this machine has {cores} cores; use at "
                f"most {cores} so MXNet threads do not fight over them",
                "workers",
            )
        self.workers, self.retries = workers, retries
        self.threads = max(1, cores // workers)
        self.worker = worker or _worker  # a module-level function: spawn pickles it by name
        self.pool: Optional[_Pool] = None

    def describe(self, jobs: Sequence[Job]) -> str:
        return f"{len(jobs)} jobs on {self.workers} worker processes"

    def start(self, expected: Sequence[Job], at_once: int) -> None:
        """Start the workers now: their MXNet import overlaps the sweep's checks."""
        self.pool = self.pool or self._new_pool()
        self.pool.grow(min(self.workers, max(len(expected), at_once)))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def launch(
        self, jobs: Sequence[Job], handle: Handle, prepare: Prepare = unchanged, dataset=None
    ) -> None:
        """Workers load the dataset themselves, once each (from the decoded cache):
        sending the whole dataset through a queue would cost more (docs/performance.md)."""
        started = self.pool is not None
        pool = self.pool or self._new_pool()
        pending = list(jobs)
        attempts = {job.number: 0 for job in jobs}
        try:
            while pending or pool.busy():
                while pending and pool.busy() < self.workers:
                    job = pending.pop(0)
                    attempts[job.number] += 1
                    pool.assign(prepare(job))
                pool.drain(handle)
                for job, exitcode in pool.reap(handle):
                    if attempts[job.number] <= self.retries:
                        pending.insert(0, job)
                        handle(JobRetried(job, f"worker died (exit code {exitcode})"))
                    else:
                        handle(
                            JobFailed(
                                job,
                                f"worker died (exit code {exitcode}) after "
                                f"{attempts[job.number]} attempts",
                            )
                        )
        except BaseException:
            pool.stop_busy()
            raise
        finally:
            if not started:
                pool.close()

    def _new_pool(self) -> _Pool:
        return _Pool(multiprocessing.get_context("spawn"), self.worker, self.threads)


@dataclass(frozen=True)
class _Idle:
    """A worker's word that its job is done (the pool's own, never the driver's)."""

    worker_id: int


class _Pool:
    """Worker processes, each with its own task queue, sharing one event queue."""

    def __init__(self, context, run_job: Callable, threads: int):
        self.context, self.run_job, self.threads = context, run_job, threads
        self.events = context.Queue()
        self.workers: dict[int, list] = {}  # worker id -> [process, tasks, job or None]
        self.next_id = 0

    def busy(self) -> int:
        """How many workers are running a job."""
        return sum(1 for w in self.workers.values() if w[2] is not None)

    def grow(self, count: int) -> None:
        while len(self.workers) < count:
            self._spawn()

    def assign(self, job: Job) -> None:
        """Give `job` to an idle worker, starting one if none is idle."""
        idle = [w for w in self.workers.values() if w[2] is None] or [self._spawn()]
        idle[0][1].put(job)
        idle[0][2] = job

    def _spawn(self) -> list:
        tasks = self.context.Queue()
        process = self.context.Process(
            target=_serve,
            args=(self.next_id, tasks, self.events, self.threads, self.run_job, os.getpid()),
            daemon=True,
        )
        process.start()
        self.workers[self.next_id] = worker = [process, tasks, None]
        self.next_id += 1
        return worker

    def drain(self, handle: Handle, block: bool = True) -> None:
        """Pass the queued events on; a worker's "idle" marks its job done."""
        try:
            event = self.events.get(timeout=0.2) if block else self.events.get_nowait()
            while True:
                if isinstance(event, _Idle):
                    self.workers[event.worker_id][2] = None
                else:
                    handle(event)
                event = self.events.get_nowait()
        except queue.Empty:
            pass

    def reap(self, handle: Handle) -> list[tuple[Job, int]]:
        """Forget dead workers; returns the jobs they died in, with their exit codes."""
        lost = []
        for worker_id, (process, _, _) in list(self.workers.items()):
            if process.is_alive():
                continue
            self.drain(handle, block=False)  # what it sent before it died
            process.join()
            job = self.workers.pop(worker_id)[2]
            if job is not None:
                lost.append((job, process.exitcode))
        return lost

    def stop_busy(self) -> None:
        """Stop the workers still running a job (interrupt, fail-fast)."""
        for worker_id, (process, _, job) in list(self.workers.items()):
            if job is not None:
                process.kill()  # workers ignore SIGTERM; they hold no files open
                process.join(5)
                del self.workers[worker_id]

    def close(self) -> None:
        for process, tasks, job in self.workers.values():
            if job is None and process.is_alive():
                tasks.put(None)  # idle: let it finish cleanly
            else:
                process.kill()
        for process, _, _ in self.workers.values():
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)
        self.workers.clear()


def _serve(
    worker_id: int, tasks, events, threads: int, run_job: Callable, driver: Optional[int] = None
) -> None:
    """Worker process body: run jobs until told to stop (None)."""
    # The driver handles Ctrl-C and SIGTERM for everyone (a terminal or a scheduler sends
    # them to the whole process group): it records the running trials and stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if driver is not None:
        die_with(driver)
    warnings.showwarning = show_warning_line
    while (job := tasks.get()) is not None:
        run_job(job, events, threads)
        events.put(_Idle(worker_id))


PR_SET_PDEATHSIG = 1


def die_with(driver: int) -> None:
    """End this worker when its driver dies, however it dies (kill -9, the out-of-memory
    killer): it would wait on its task queue for ever. Workers write no files (the
    driver records everything, checkpoints included), so nothing is lost by going. On
    Linux the kernel sends SIGKILL (prctl PR_SET_PDEATHSIG); elsewhere a thread watches
    for the driver to be gone."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):  # not Linux
        threading.Thread(target=_watch_driver, args=(driver,), daemon=True).start()
    if os.getppid() != driver:  # it died before we asked
        os._exit(1)


def _watch_driver(driver: int) -> None:
    while os.getppid() == driver:
        time.sleep(1)
    os._exit(1)


def _worker(job: Job, events, threads: int) -> None:
    """Runs one job in a worker process. Thread limits are set before MXNet is
    first imported (they are read once, at import)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MXNET_CPU_WORKER_NTHREADS"] = "1"
    try:
        execute_job(job, events.put, _dataset(job.data_dir))
    except Exception as exc:  # noqa: BLE001 - a failed trial is a result
        events.put(failed(job, exc))


_loaded: dict = {}  # a worker's dataset, by data directory: loaded once, used by every job


def _dataset(data_dir):
    from ..data import load_dataset

    if data_dir not in _loaded:
        _loaded.clear()
        _loaded[data_dir] = load_dataset(data_dir)
    return _loaded[data_dir]


def make_executor(name: str, workers: Optional[int] = None, **options) -> Executor:
    """`workers`: None (local: one process per core for sweeps of several jobs, see
    AutoExecutor), 1 (this process), N (N worker processes)."""
    if name == "local":
        if workers is None:
            return AutoExecutor()
        return SerialExecutor() if workers <= 1 else ProcessExecutor(workers)
    if name == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(**options)
    raise ConfigError(f"executor {name}: unknown executor; use local or ray", "executor")
