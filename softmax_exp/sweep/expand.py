"""From points (setting: value) to trials: validated configs with stable ids. The
points themselves come from a sweeper (sweepers.py): a grid, samples, or TPE's asks.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..config import TrainConfig, build_config, config_id
from ..errors import ConfigError
from .spec import Distribution, SweepSpec


@dataclass(frozen=True)
class Trial:
    id: str  # stable: derived from the resolved config
    index: int  # position in the expansion, which orders results
    config: TrainConfig
    point: dict[str, Any]  # the swept settings (and seed) of this trial


def grid_points(grid: dict[str, list]) -> list[dict[str, Any]]:
    """The cartesian product, in file order: the last key varies fastest."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*grid.values())]


def random_points(space: dict[str, Distribution], trials: int, seed: int) -> list[dict]:
    """Seeded samples; a wholly discrete space is sampled without replacement (by index
    into its grid order, which is never built: it may be far larger than the sample)."""
    if not trials:
        return [{}]
    rng = np.random.default_rng(seed)
    if all(d.discrete for d in space.values()):
        values = {k: d.values() for k, d in space.items()}
        total = math.prod(len(v) for v in values.values())
        if trials > total:
            raise ConfigError(
                f"random.trials {trials} exceeds the {total} distinct "
                "points of its space; lower trials or use a grid"
            )
        picked = rng.choice(total, size=trials, replace=False)
        return [grid_point(values, int(i)) for i in picked]
    return [{k: draw(d, rng) for k, d in space.items()} for _ in range(trials)]


def grid_point(grid: dict[str, list], index: int) -> dict[str, Any]:
    """The point at `index` of `grid_points(grid)`, without building the others."""
    point = {}
    for key in reversed(list(grid)):  # the last key varies fastest
        index, digit = divmod(index, len(grid[key]))
        point[key] = grid[key][digit]
    return {key: point[key] for key in grid}


def probe_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """Points at the low and the high end of every distribution: if both validate,
    every value in between does too (each setting's range is an interval)."""
    ends = []
    for pick in (0, -1):
        ends.append(
            {k: (d.args[pick] if d.kind != "choice" else d.args[0]) for k, d in spec.space.items()}
        )
    ends += [
        {**ends[0], k: value}
        for k, d in spec.space.items()
        if d.kind == "choice"
        for value in d.args[1:]
    ]
    return ends


def draw(dist: Distribution, rng: np.random.Generator) -> Any:
    if dist.kind == "choice":
        return dist.args[int(rng.integers(len(dist.args)))]
    if dist.kind == "int":
        return int(rng.integers(dist.args[0], dist.args[1] + 1))
    lo, hi = dist.args
    if dist.kind == "loguniform":
        value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    else:
        value = rng.uniform(lo, hi)
    return float(f"{value:.6g}")  # readable, and stable across platforms


def check_size(spec: SweepSpec) -> None:
    if spec.size > spec.max_trials:
        raise ConfigError(
            f"{spec.where}: this sweep has {spec.size:,} trials, over the limit of "
            f"{spec.max_trials:,}; sample the space with a 'random' block (trials: N) "
            f"instead of a grid, or raise the limit with 'max_trials: N' in the sweep file"
        )


def trials_for_points(spec: SweepSpec, points: list[dict[str, Any]], start: int = 0) -> list[Trial]:
    trials: list[Trial] = []
    seen: dict[str, int] = {}
    for point in points:
        for seed in spec.seeds:
            config = config_for(spec, point, seed)
            trial_id = config_id(config)
            if trial_id in seen:
                continue  # the same config twice (e.g. a sampled repeat) runs once
            seen[trial_id] = len(trials)
            swept = {**point, "seed": seed} if len(spec.seeds) > 1 else dict(point)
            trials.append(Trial(trial_id, start + len(trials), config, swept))
    return trials


def config_for(spec: SweepSpec, point: dict[str, Any], seed: int) -> TrainConfig:
    layers: list[tuple[str, Mapping[str, Any], dict[tuple[str, ...], int]]] = [
        (spec.where, spec.base, {k[1:]: v for k, v in spec.lines.items() if k[0] == "base"})
    ]
    for key, value in point.items():
        section = "grid" if key in spec.grid else f"{spec.search}.space"
        layers.append((f"{spec.at(*section.split('.'), key)} value {value!r}", {key: value}, {}))
    layers.append((f"{spec.at('seeds')} value {seed}", {"seed": seed}, {}))
    return build_config(layers)
