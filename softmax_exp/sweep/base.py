"""What every executor is: `launch(jobs, handle, prepare)` between `start` and `close`
(executors.py explains the contract). On its own so that the executors, local or Ray,
import it and not each other."""

from __future__ import annotations

from typing import Callable, Sequence

from .jobs import Job

Handle = Callable[[tuple], None]
Prepare = Callable[[Job], Job]


def unchanged(job: Job) -> Job:
    return job


class Executor:
    """Base: subclasses implement `launch`; `start` and `close` are optional."""

    name = "base"

    def start(self, expected_jobs: int) -> None:
        """Get ready for about `expected_jobs` jobs, before the sweep's own checks."""

    def close(self) -> None:
        """Release what `start` or `launch` took."""

    def launch(self, jobs: Sequence[Job], handle: Handle, prepare: Prepare = unchanged,
               dataset=None) -> None:
        """Run `jobs`; `dataset` is the data the driver loaded and checked (None: each
        job loads its own from `job.data_dir`)."""
        raise NotImplementedError
