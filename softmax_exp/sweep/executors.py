"""Executors run jobs and hand their events to the driver. The sweep does not
know which one it drives.

An executor has one method, `launch(jobs, handle, prepare)`: run every job and
call `handle(event)` in the driver's thread for each event, including
("failed", job, message, traceback) when a job raises or its worker dies.
`prepare(job)` is called just before a job starts and returns the job to run
(the driver adds what pruning needs to know of the trials finished so far).
An exception raised by `handle` (fail-fast) or KeyboardInterrupt stops it.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from typing import Callable, Optional, Sequence

from ..errors import ConfigError
from .jobs import Job, describe_exception, execute_job

Handle = Callable[[tuple], None]
Prepare = Callable[[Job], Job]


def unchanged(job: Job) -> Job:
    return job


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


class Executor:
    """Base: subclasses implement `launch`."""

    name = "base"

    def launch(self, jobs: Sequence[Job], handle: Handle, prepare: Prepare = unchanged) -> None:
        raise NotImplementedError


class SerialExecutor(Executor):
    """Runs jobs one after another in this process: no start-up cost, all cores."""

    name = "serial"

    def launch(self, jobs: Sequence[Job], handle: Handle, prepare: Prepare = unchanged) -> None:
        for job in jobs:
            try:
                execute_job(prepare(job), handle)
            except Exception as exc:  # noqa: BLE001 - a failed trial is a result
                handle(("failed", job, *describe_exception(exc)))


class ProcessExecutor(Executor):
    """N worker processes; each gets cores // N threads, so workers x threads <= cores.

    A worker that dies fails only its job, which is retried up to `retries` times
    on a fresh worker.
    """

    name = "process"

    def __init__(self, workers: int, retries: int = 1, worker: Optional[Callable] = None):
        cores = available_cores()
        if workers > cores:
            raise ConfigError(f"--workers {workers}: this machine has {cores} cores; use at "
                              f"most {cores} so MXNet threads do not fight over them")
        self.workers, self.retries = workers, retries
        self.threads = max(1, cores // workers)
        self.worker = worker or _worker  # a module-level function: spawn pickles it by name

    def launch(self, jobs: Sequence[Job], handle: Handle, prepare: Prepare = unchanged) -> None:
        spawn = multiprocessing.get_context("spawn")
        events, pending = spawn.Queue(), list(jobs)
        attempts = {job.number: 0 for job in jobs}
        running: dict[int, tuple] = {}  # job number -> (process, job)
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    job = pending.pop(0)
                    attempts[job.number] += 1
                    process = spawn.Process(target=self.worker,
                                            args=(prepare(job), events, self.threads),
                                            daemon=True)
                    process.start()
                    running[job.number] = (process, job)
                self._drain(events, running, handle)
                for number, (process, job) in list(running.items()):
                    if process.is_alive():
                        continue
                    self._drain(events, running, handle, block=False)
                    process.join()
                    del running[number]
                    if process.exitcode != 0:
                        if attempts[number] <= self.retries:
                            pending.insert(0, job)
                            handle(("retry", job, f"worker died (exit code {process.exitcode})"))
                        else:
                            handle(("failed", job, f"worker died (exit code {process.exitcode}) "
                                    f"after {attempts[number]} attempts", ""))
        finally:
            for process, _ in running.values():
                process.terminate()
            for process, _ in running.values():
                process.join(5)

    @staticmethod
    def _drain(events, running, handle: Handle, block: bool = True) -> None:
        try:
            event = events.get(timeout=0.2) if block else events.get_nowait()
            while True:
                handle(event)
                event = events.get_nowait()
        except queue.Empty:
            pass


def _worker(job: Job, events, threads: int) -> None:
    """Worker process body: MXNet is imported here, after the thread limits are set."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C for everyone
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MXNET_CPU_WORKER_NTHREADS"] = "1"
    try:
        execute_job(job, events.put)
    except Exception as exc:  # noqa: BLE001 - a failed trial is a result
        events.put(("failed", job, *describe_exception(exc)))


def make_executor(name: str, workers: int = 1, **options) -> Executor:
    if name == "local":
        return SerialExecutor() if workers <= 1 else ProcessExecutor(workers)
    if name == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(**options)
    raise ConfigError(f"--executor {name}: unknown executor; use local or ray")
