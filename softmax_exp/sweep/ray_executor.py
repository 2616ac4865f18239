"""Trials (or fused groups) as Ray tasks, for sweeps that outgrow one machine.

The driver puts the dataset into Ray's object store once, so worker nodes need no
copy of the files; each task returns its events, which the driver writes as the
task finishes: the driver stays the only writer of the sweep directory. A task
whose worker or node dies is retried by Ray (bounded), then recorded as failed.
Ray is imported only by this executor; joining a cluster is `ray_cluster`'s part.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Callable, Optional, Sequence

from . import ray_cluster
from .base import Executor, Handle, Prepare, unchanged
from .jobs import Job, failed

# Ray's errors for a task whose worker process or node went away (retried by Ray first).
LOST = {"WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "ObjectLostError"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours its task names


class RayExecutor(Executor):
    """`address`: a running cluster's HOST:PORT (as `ray start --head` prints it), or
    None for a local instance of our own, stopped at `close`. `ray_logs`: let Ray's own
    log lines through (they are hidden otherwise)."""

    name = "ray"

    def __init__(
        self,
        address: Optional[str] = None,
        retries: int = 2,
        cpus_per_job: int = 1,
        ray_logs: bool = False,
    ):
        ray_cluster.before_import(address)  # Ray reads these settings at import
        ray_cluster.import_ray()  # fail at once, before any output directory exists
        self.address, self.retries, self.cpus_per_job = address, retries, cpus_per_job
        self.ray_logs = ray_logs
        self.ray = None  # connected by us: we disconnect (or stop our instance) at close
        self.undo_quiet: Optional[Callable[[], None]] = None
        self.stored = (None, None)  # (the dataset, its object-store reference)

    def start(self, expected: Sequence[Job], at_once: int) -> None:
        """Join (or start) the cluster now: a bad address fails before the sweep writes."""
        self._connect()

    def close(self) -> None:
        if self.ray is not None:
            with ray_cluster.ray_output_hidden(not self.ray_logs):
                self.ray.shutdown()  # leaves a cluster we joined; stops one we started
            self.ray = None
        if self.undo_quiet is not None:
            self.undo_quiet()
            self.undo_quiet = None

    def launch(
        self, jobs: Sequence[Job], handle: Handle, prepare: Prepare = unchanged, dataset=None
    ) -> None:
        ray = self._connect()
        data = self._put(ray, dataset, jobs[0].data_dir) if jobs else None
        task = ray.remote(_run_remote)
        pending: list[Job] = list(jobs)
        running: dict[Any, Job] = {}  # by Ray object ref
        capacity = max(1, int(ray.cluster_resources().get("CPU", 1)) // self.cpus_per_job)
        while pending or running:
            while pending and len(running) < capacity:  # prepared as late as possible
                job = prepare(pending.pop(0))
                gpus = 1 if job.trials[0].config.ctx.startswith("gpu") else 0
                ref = task.options(
                    num_cpus=self.cpus_per_job,
                    num_gpus=gpus,
                    max_retries=self.retries,
                    retry_exceptions=False,
                ).remote(job, data)
                running[ref] = job
            ready, _ = ray.wait(list(running), num_returns=1)
            job = running.pop(ready[0])
            try:
                events = ray.get(ready[0])
            except Exception as exc:  # noqa: BLE001 - RayError: the task never ran to its end
                event = failed(job, exc)
                what = (
                    f"lost its Ray worker after {self.retries} retries"
                    if type(exc).__name__ in LOST
                    else "Ray could not run it"
                )
                handle(
                    replace(
                        event,
                        message=f"{what}: {ANSI.sub('', event.message).splitlines()[0]}",
                        trace=ANSI.sub("", event.trace),
                    )
                )
                continue
            for event in events:
                handle(event)

    def _put(self, ray, dataset, data_dir):
        """The dataset in the object store, once per sweep (TPE launches round by round)."""
        if dataset is None:
            from ..data import load_dataset

            dataset = load_dataset(data_dir)
        if self.stored[0] is not dataset:
            self.stored = (dataset, ray.put(dataset))
        return self.stored[1]

    def _connect(self):
        if self.ray is None:
            ray = ray_cluster.import_ray()
            if ray.is_initialized():  # the caller's own connection: use it, leave it
                return ray
            self.ray = ray_cluster.connect(self.address, self.ray_logs)
            if not self.ray_logs:  # lost workers and nodes are our results, not Ray's logs
                self.undo_quiet = ray_cluster.quiet_driver()
        return self.ray


def _run_remote(job: Job, dataset) -> list:
    """Ray task body: train the job on the object-store dataset; return its events."""
    from .jobs import execute_job

    events: list = []
    try:
        execute_job(job, events.append, dataset)
    except Exception as exc:  # noqa: BLE001 - a failed trial is a result
        events.append(failed(job, exc))
    return events
