"""Trials (or fused groups) as Ray tasks, for sweeps that outgrow one machine.

The driver puts the dataset into Ray's object store once, so worker nodes need no
copy of the files; each task returns its events, which the driver writes as the
task finishes: the driver stays the only writer of the sweep directory. A task
whose worker or node dies is retried by Ray (bounded), then recorded as failed.
Ray is imported only here, and only when this executor launches.
"""

from __future__ import annotations

import atexit
import os
from typing import Optional, Sequence

from ..errors import ConfigError
from .executors import Executor, Handle, Prepare, unchanged
from .jobs import Job, describe_exception

INSTALL_HINT = "install the extra: pip install 'softmax-exp[ray]'"


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray: Ray is not installed; {INSTALL_HINT}") from None
    return ray


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: Optional[str] = None, retries: int = 2, cpus_per_job: int = 1):
        if address is None:
            # A local instance of ours: on 127.0.0.1 alone (read when ray is imported), and
            # reporting nothing home. Explicit settings of the user's win.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        import_ray()  # fail at once, before any output directory exists
        self.address, self.retries, self.cpus_per_job = address, retries, cpus_per_job

    def launch(self, jobs: Sequence[Job], handle: Handle, prepare: Prepare = unchanged) -> None:
        ray = self._connect()
        data = ray.put(_driver_dataset(jobs[0].data_dir)) if jobs else None
        task = ray.remote(_run_remote)
        pending, running = list(jobs), {}
        capacity = max(1, int(ray.cluster_resources().get("CPU", 1)) // self.cpus_per_job)
        while pending or running:
            while pending and len(running) < capacity:  # prepared as late as possible
                job = prepare(pending.pop(0))
                gpus = 1 if job.trials[0].config.ctx.startswith("gpu") else 0
                ref = task.options(num_cpus=self.cpus_per_job, num_gpus=gpus,
                                   max_retries=self.retries, retry_exceptions=False
                                   ).remote(job, data)
                running[ref] = job
            ready, _ = ray.wait(list(running), num_returns=1)
            job = running.pop(ready[0])
            try:
                events = ray.get(ready[0])
            except Exception as exc:  # noqa: BLE001 - RayError: worker or node lost for good
                message, trace = describe_exception(exc)
                handle(("failed", job, f"lost its Ray worker after {self.retries} retries: "
                        f"{message.splitlines()[0]}", trace))
                continue
            for event in events:
                handle(event)

    def _connect(self):
        ray = import_ray()
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except ConnectionError as exc:
                raise ConfigError(f"--address {self.address}: cannot reach a Ray cluster "
                                  f"({exc}); start one with 'ray start --head' or leave "
                                  "--address out for a local one") from None
            if self.address is None:
                atexit.register(ray.shutdown)
        return ray


def _driver_dataset(data_dir):
    """The dataset the driver already checked (loaded once by check_inputs)."""
    from ..data import load_dataset
    from .jobs import _DATA_CACHE

    return _DATA_CACHE.get(str(data_dir)) or load_dataset(data_dir)


def _run_remote(job: Job, dataset) -> list:
    """Ray task body: train the job on the object-store dataset; return its events."""
    from .jobs import _DATA_CACHE, execute_job

    _DATA_CACHE.clear()
    _DATA_CACHE[str(job.data_dir)] = dataset
    events: list = []
    try:
        execute_job(job, events.append)
    except Exception as exc:  # noqa: BLE001 - a failed trial is a result
        events.append(("failed", job, *describe_exception(exc)))
    return events
