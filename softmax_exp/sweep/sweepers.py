"""Which trials a sweep runs, asked and told as Optuna's ask-and-tell: `ask` gives the
next trials, `tell` takes what came of them. The runner has one loop (ask, plan fused
jobs, launch, record, tell) and knows no search by name: a new search (CMA-ES,
Hyperband-style brackets) is a new Sweeper and nothing else.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Mapping

from .base import Registry, Sweeper
from .expand import Trial, grid_points, random_points, trials_for_points
from .spec import SweepSpec


class ListSweeper(Sweeper):
    """Every trial known up front, asked for at once."""

    def __init__(self, spec: SweepSpec):
        super().__init__(spec)
        self.trials = trials_for_points(spec, self.points())
        self.planned = len(self.trials)
        self.asked = False

    @abstractmethod
    def points(self) -> list[dict]:
        """Every point of the sweep, in the order its trials run."""

    def probe(self) -> list[Trial]:
        return self.trials

    def known(self) -> list[Trial]:
        return self.trials

    def open(self, path: Path, restart: bool, registry: Registry) -> None:
        registry.register(self.trials)

    def ask(self, records: Mapping[str, object]) -> list[Trial]:
        if self.asked:
            return []
        self.asked = True
        return self.trials


class GridSweeper(ListSweeper):
    """The grid's cartesian product, in file order."""

    def points(self) -> list[dict]:
        return grid_points(self.spec.grid)


class RandomSweeper(ListSweeper):
    """Seeded samples of the `random` block's space, crossed with the grid if any."""

    def points(self) -> list[dict]:
        sample = self.spec.sample
        assert sample is not None, "a random sweep has its random block"
        return [
            {**g, **r}
            for g in grid_points(self.spec.grid)
            for r in random_points(sample.space, sample.trials, sample.seed)
        ]


def make_sweeper(spec: SweepSpec, workers: int = 1) -> Sweeper:
    """The search the sweep file's block asks for; a sweep over `max_trials` is refused
    before anything is built."""
    from .expand import check_size

    check_size(spec)
    if spec.sample is None:
        return GridSweeper(spec)
    if spec.sample.kind == "tpe":
        from .tpe import TPESweeper

        return TPESweeper(spec, workers)
    return RandomSweeper(spec)


def expand(spec: SweepSpec) -> list[Trial]:
    """The trials a sweep file knows up front, validated, in a stable order; none for a
    TPE sweep (its trials are chosen as it runs), after validating its probes."""
    return make_sweeper(spec).known()
