"""The two seams of a sweep. A Sweeper says which trials run (ask) and learns what came
of them (tell); an Executor runs them: `launch(jobs, handle, prepare, dataset)` between
`start` and `close` (executors.py explains the contract). On their own so that the
sweepers and the executors, local or Ray, import this and not each other."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from ..events import Event
from .expand import Trial
from .jobs import Job
from .spec import SweepSpec

Handle = Callable[[Event], None]
Prepare = Callable[[Job], Job]


def unchanged(job: Job) -> Job:
    return job


class Executor(ABC):
    """Base: subclasses implement `launch`; `start` and `close` are optional."""

    name = "base"

    def start(self, expected: Sequence[Job], at_once: int) -> None:
        """Get ready, before the sweep's own checks: `expected` are the jobs the sweep's
        known trials make (none for a search that picks as it goes), `at_once` how many
        jobs the sweeper hands over together."""

    def close(self) -> None:
        """Release what `start` or `launch` took."""

    def describe(self, jobs: Sequence[Job]) -> str:
        """How `jobs` will run, in a few words for the sweep's display ("": nothing to
        say, they run in this process)."""
        return ""

    @abstractmethod
    def launch(
        self, jobs: Sequence[Job], handle: Handle, prepare: Prepare = unchanged, dataset=None
    ) -> None:
        """Run `jobs`; `dataset` is the data the driver loaded and checked (None: each
        job loads its own from `job.data_dir`)."""


class Registry(Protocol):
    """The driver as a sweeper sees it: the trials known so far, and a way to add some."""

    @property
    def records(self) -> Mapping[str, Any]:
        """Every trial's record, by id, in the order registered."""

    def register(self, trials: Sequence[Trial]) -> list[Trial]:
        """Make `trials` known (their records resumed from disk); returns them as
        registered (a config registered twice is the same trial)."""


class Sweeper(ABC):
    """Base: `planned` trials in all; `probe()` before anything is written, `open()`
    once the sweep directory is held, then `ask`/`tell` until `ask` gives none."""

    planned = 0

    def __init__(self, spec: SweepSpec):
        self.spec = spec

    @abstractmethod
    def probe(self) -> list[Trial]:
        """Trials whose inputs, checked before the sweep writes anything, stand for every
        trial it may run (each setting's range is an interval: its ends suffice)."""

    def known(self) -> list[Trial]:
        """The trials known before the sweep runs (none for a search that picks its
        points from results)."""
        return []

    def open(self, path: Path, restart: bool, registry: Registry) -> None:
        """Resume from the sweep directory, registering the trials known so far."""

    @abstractmethod
    def ask(self, records: Mapping[str, object]) -> list[Trial]:
        """The next trials to run, all at once (they train fused where they can); none
        when the sweep is done. `records`: every trial's record so far, by id."""

    def tell(self, records: Mapping[str, object]) -> None:
        """The asked trials have run (or been skipped, being finished already)."""
