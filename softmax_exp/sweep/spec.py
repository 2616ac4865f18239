"""The sweep file: what to vary, how many seeds, and what to select on.

    base:   {any train setting}            # shared by every trial
    grid:   {setting: [values...]}         # cartesian product
    random: {trials: N, seed: S, space: {setting: {loguniform: [lo, hi]}, ...}}
    tpe:    {trials: N, seed: S, space: ..., per_round: K}  # Optuna's TPE picks the points
    seeds:  3                              # or [0, 1, 2]; each point runs once per seed
    metric: val_acc                        # chosen on validation, never on test
    mode:   max
    prune:  {method: median | halving, ...}  # stop hopeless trials early
    name:   grid                           # default: the file's name
    max_trials: 100000                     # refuse larger sweeps before expanding them
    checkpoint_seconds: 10                 # running trials' checkpoints, at most this often
    tracking: {mlflow: URI, tensorboard: DIR}  # also send results there as they come

The search is the block given: a grid alone, `random` (sampled points, crossed with the
grid if there is one) or `tpe` (model-based; no grid). Its budget, `trials`, belongs to
its block. `search:` (from older files) may still be given if it names that block.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from .. import yamlio
from ..config import SETTINGS, TrackingConfig, check_setting_name, tracking_config
from ..errors import ConfigError
from ..metrics import is_finite_number as _is_number

# A sweep larger than this is refused before it is expanded (raise it with max_trials:):
# a grid of eight settings with ten values each is 10^8 trials, gigabytes of configs
# before anything trains.
MAX_TRIALS = 100_000
SELECTABLE = ("val_acc", "val_loss", "train_acc", "train_loss")
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "int")
DEFAULT_VAL_FRACTION = 0.1
# A killed sweep goes on from its running trials' last checkpoints; one costs a few file
# writes per trial, so they are taken after an epoch once this long has passed.
CHECKPOINT_SECONDS = 10.0


@dataclass(frozen=True)
class KeyDoc:
    """One key of the sweep file, for the reference (docs/settings.md is generated from
    these by softmax_exp/reference.py): its default as a file would write it, and what
    it means."""

    default: str
    meaning: str


# The sweep file's keys, in the order error messages list them; parse_sweep accepts
# exactly these.
SWEEP_KEYS = {
    "name": KeyDoc("the file's stem", "names the sweep and its directory, runs/sweep-NAME"),
    "base": KeyDoc(
        f"{{val_fraction: {DEFAULT_VAL_FRACTION}}}",
        "train settings every trial shares; val_fraction is added unless given or swept",
    ),
    "grid": KeyDoc("none", "setting: [values, ...]; the trials are the cartesian product"),
    "random": KeyDoc(
        "none", "sampled search: trials, seed, space; crossed with the grid if there is one"
    ),
    "tpe": KeyDoc("none", "Optuna's TPE picks each point: trials, seed, space, per_round; no grid"),
    "seeds": KeyDoc(
        "1",
        "a count N (base.seed, base.seed + 1, ...) or a list of distinct seeds; "
        "each point runs once per seed",
    ),
    "metric": KeyDoc(
        "val_acc", f"what trials are ranked and pruned on: {', '.join(SELECTABLE)}; never test"
    ),
    "mode": KeyDoc("max", "max or min: which way the metric improves"),
    "search": KeyDoc(
        "the block given", "from older files: grid, random or tpe, naming the block given"
    ),
    "prune": KeyDoc("none", "stop hopeless trials early: {method: median | halving, ...}"),
    "max_trials": KeyDoc(f"{MAX_TRIALS}", "a larger sweep is refused before it is expanded"),
    "checkpoint_seconds": KeyDoc(
        f"{CHECKPOINT_SECONDS:g}",
        "running trials' checkpoints at most this often (0: after every epoch)",
    ),
    "tracking": KeyDoc(
        "none", "also send results there as they come: {mlflow: URI, tensorboard: DIR}"
    ),
}
TOP_KEYS = tuple(SWEEP_KEYS)
# The keys of a random: or tpe: block (per_round: tpe only).
SAMPLE_KEYS = {
    "trials": KeyDoc("required", "the search's budget: how many points it runs"),
    "seed": KeyDoc("0", "seeds the sampler, so that expanding the file again is identical"),
    "space": KeyDoc("required", "setting: distribution (below), one or more"),
    "per_round": KeyDoc(
        "by budget",
        "tpe: points asked at once (default: the first 10 together, then a third of the "
        "rest, at least the number of workers, at most 32)",
    ),
}
# The distributions of a space; wholly discrete spaces are sampled without replacement.
DISTRIBUTION_DOCS = {
    "choice": "{choice: [a, b, ...]}: one of the values",
    "uniform": "{uniform: [lo, hi]}: a float, uniform in [lo, hi]",
    "loguniform": "{loguniform: [lo, hi]}: a float, uniform in log space (lo > 0)",
    "int": "{int: [lo, hi]}: a whole number from lo to hi, both included",
}
# The keys of a prune: block (their defaults are the pruners' own).
PRUNE_KEYS = {
    "method": "median (below the median of the other trials at the same epoch) or "
    "halving (outside the top 1/reduction_factor at a successive-halving rung)",
    "warmup_epochs": "median: never prune up to this epoch; halving: the first rung",
    "min_trials": "how many other trials must have reached the epoch before comparing",
    "reduction_factor": "halving: rungs at warmup_epochs x factor^k; the top 1/factor go on",
}


@dataclass(frozen=True)
class Distribution:
    kind: str
    args: tuple

    @property
    def discrete(self) -> bool:
        return self.kind in ("choice", "int")

    def values(self) -> list:
        """Every value of a discrete distribution."""
        if self.kind == "choice":
            return list(self.args)
        return list(range(self.args[0], self.args[1] + 1))


@dataclass(frozen=True)
class Sample:
    """A sampled search's block (`random:` or `tpe:`): its budget, seed and space."""

    kind: str  # "random" or "tpe", the block's name
    trials: int
    seed: int
    space: dict[str, Distribution]
    per_round: Optional[int] = None  # tpe: points asked at once (None: chosen by budget)


@dataclass
class SweepSpec:
    where: str  # the file, for messages
    lines: yamlio.KeyLines = field(default_factory=dict)
    name: str = "sweep"
    base: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    sample: Optional[Sample] = None
    seeds: list[int] = field(default_factory=list)
    metric: str = "val_acc"
    mode: str = "max"
    prune: Optional[dict[str, Any]] = None
    text: str = ""
    max_trials: int = MAX_TRIALS
    checkpoint_seconds: float = CHECKPOINT_SECONDS
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    @property
    def search(self) -> str:
        """grid, random or tpe: which block the file gives."""
        return self.sample.kind if self.sample else "grid"

    @property
    def space(self) -> dict[str, Distribution]:
        """The sampled settings and their distributions (none for a grid)."""
        return self.sample.space if self.sample else {}

    @property
    def size(self) -> int:
        """How many trials the sweep has (a TPE sweep: its budget), counted without
        expanding it; repeats a random sample may draw are counted too."""
        points = math.prod(len(values) for values in self.grid.values())
        return points * (self.sample.trials if self.sample else 1) * len(self.seeds)

    def at(self, *path: str) -> str:
        """'file:line key.path' for an error message."""
        line = None
        for depth in range(len(path), 0, -1):
            line = self.lines.get(tuple(path[:depth]))
            if line:
                break
        name = ".".join(str(p) for p in path)
        name = name if name.isprintable() else repr(name)
        return f"{self.where}{f':{line}' if line else ''}: {name}"


def load_sweep_spec(path: Path) -> SweepSpec:
    """The sweep file, read once and checked whole."""
    path = Path(path)
    text = yamlio.read_text(path)
    data, lines = yamlio.parse_mapping(text, str(path))
    spec = parse_sweep(data, lines, str(path))
    spec.text = text
    spec.name = _name(data.get("name"), path, spec)
    return spec


def _name(value: Any, path: Path, spec: SweepSpec) -> str:
    name = path.stem if value is None or value == "" else value
    if not isinstance(name, (str, int)) or isinstance(name, bool):
        raise ConfigError(f"{spec.at('name')}: must be text, got {name!r}")
    return str(name)


def directory_name(spec: SweepSpec) -> str:
    """The sweep's name where it names a directory (runs/sweep-<name>): one plain path
    component, never a way out of runs/."""
    name = spec.name
    if any(c in name for c in "/\\\0") or ".." in name or not name.isprintable():
        raise ConfigError(
            f"{spec.at('name')}: {name!r} is not a plain name (no path separators, '..' "
            "or control characters), and it names the sweep's directory; rename the sweep "
            "or give its output directory"
        )
    return name


def parse_sweep(data: dict[str, Any], lines: yamlio.KeyLines, where: str) -> SweepSpec:
    spec = SweepSpec(where=where, lines=lines)
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(
                f"{spec.at(key)}: unknown sweep key; "
                + _did_you_mean(key, TOP_KEYS, f"use one of {', '.join(TOP_KEYS)}")
            )
    spec.base = _mapping(data.get("base"), spec, "base")
    for key in spec.base:
        check_setting_name(key, spec.at("base", key))
    spec.grid = _grid(data.get("grid"), spec)
    if data.get("random") is not None and data.get("tpe") is not None:
        raise ConfigError(f"{spec.at('tpe')}: give either a 'random' or a 'tpe' block")
    kind = "tpe" if data.get("tpe") is not None else "random"
    block = data.get(kind)
    if data.get("search") == "tpe" and kind == "random":  # older files: search names it
        kind = "tpe"
    spec.sample = _sample(block, spec, kind)
    if not spec.grid and not spec.sample:
        raise ConfigError(
            f"{where}: nothing to sweep; add a 'grid' (setting: [values]), a "
            "'random' or a 'tpe' block"
        )
    if spec.search == "tpe" and spec.grid:
        raise ConfigError(
            f"{spec.at('grid')}: tpe samples a space of its own: move the grid "
            "settings into the tpe block's space as {choice: [...]}"
        )
    if data.get("search", spec.search) != spec.search:
        raise ConfigError(
            f"{spec.at('search')}: {data['search']!r} does not match the file's "
            f"'{spec.search}' search; remove 'search' (the block given decides)"
        )
    spec.seeds = _seeds(data.get("seeds", 1), spec)
    spec.metric = _choice(
        data.get("metric", "val_acc"),
        SELECTABLE,
        spec,
        "metric",
        "test metrics are never used for selection",
    )
    spec.mode = _choice(data.get("mode", "max"), ("max", "min"), spec, "mode")
    if data.get("prune") is not None:
        from .pruners import make_pruner

        spec.prune = _mapping(data.get("prune"), spec, "prune")
        make_pruner(spec.prune, spec.at("prune"))
    spec.max_trials = _count(data.get("max_trials", MAX_TRIALS), spec.at("max_trials"))
    spec.checkpoint_seconds = _seconds(
        data.get("checkpoint_seconds", CHECKPOINT_SECONDS), spec.at("checkpoint_seconds")
    )
    spec.tracking = tracking_config(data.get("tracking"), where, lines)
    swept = set(spec.grid) | set(spec.space)
    if "val_fraction" not in spec.base and "val_fraction" not in swept:
        spec.base["val_fraction"] = DEFAULT_VAL_FRACTION
    if "seed" in swept:
        raise ConfigError(
            f"{spec.at('grid' if 'seed' in spec.grid else spec.search, 'seed')}: "
            "sweep seeds with 'seeds: N' or 'seeds: [..]' instead"
        )
    return spec


def _mapping(value: Any, spec: SweepSpec, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(
            f"{spec.at(key)}: expected a mapping (setting: value), got {type(value).__name__}"
        )
    return dict(value)


def _grid(value: Any, spec: SweepSpec) -> dict[str, list]:
    grid = _mapping(value, spec, "grid")
    for key, values in grid.items():
        check_setting_name(key, spec.at("grid", key))
        if not isinstance(values, list):
            raise ConfigError(
                f"{spec.at('grid', key)}: expected a list of values, e.g. "
                f"{key}: [a, b]; got {values!r}"
            )
        if not values:
            raise ConfigError(
                f"{spec.at('grid', key)}: empty list; give at least one value or remove the key"
            )
        repeat = _first_repeat(values)
        if repeat is not None:
            raise ConfigError(
                f"{spec.at('grid', key)}: {repeat[0]!r} is listed twice; remove the repeat"
            )
    return grid


def _first_repeat(values: list) -> Optional[tuple[Any]]:
    """The first value equal to an earlier one, as a 1-tuple (None: none), in linear
    time: each value becomes a hashable one equal where the values are equal (1, 1.0 and
    True alike; a mapping whatever the order of its keys)."""
    seen = set()
    for value in values:
        key = _hashable(value)
        if key in seen:
            return (value,)
        seen.add(key)
    return None


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return ("list", tuple(_hashable(v) for v in value))
    if isinstance(value, dict):
        return ("dict", frozenset((k, _hashable(v)) for k, v in value.items()))
    return (0, value)


def _sample(value: Any, spec: SweepSpec, name: str) -> Optional[Sample]:
    """The sampled-search block (`random:` or `tpe:`): trials, seed, space (and, for tpe,
    per_round); None when the file has none."""
    block = _mapping(value, spec, name)
    if not block:
        return None
    allowed = tuple(key for key in SAMPLE_KEYS if name == "tpe" or key != "per_round")
    for key in block:
        if key not in allowed:
            raise ConfigError(
                f"{spec.at(name, key)}: unknown key; "
                + _did_you_mean(key, allowed, f"use {', '.join(allowed)}")
            )
    trials = _count(block.get("trials"), spec.at(name, "trials"))
    seed = block.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"{spec.at(name, 'seed')}: must be a whole number >= 0")
    per_round = block.get("per_round")
    if per_round is not None:
        per_round = _count(per_round, spec.at(name, "per_round"))
    space_block = _mapping(block.get("space"), spec, f"{name}.space")
    if not space_block:
        raise ConfigError(
            f"{spec.at(name, 'space')}: give at least one setting with a "
            "distribution, e.g. lr: {loguniform: [0.01, 1.0]}"
        )
    space = {}
    for key, dist in space_block.items():
        check_setting_name(key, spec.at(name, "space", key))
        if key in spec.grid:
            raise ConfigError(
                f"{spec.at(name, 'space', key)}: already in the grid; sweep it in one place"
            )
        space[key] = parse_distribution(dist, spec.at(name, "space", key))
    return Sample(name, trials, seed, space, per_round)


def _did_you_mean(key: Any, known: Sequence[str], otherwise: str) -> str:
    """ "did you mean 'grid'?" for a near miss, as a misspelt setting gets; else `otherwise`."""
    close = difflib.get_close_matches(str(key), known, n=1)
    return f"did you mean '{close[0]}'?" if close else otherwise


def _count(value: Any, where: str) -> int:
    """A whole number >= 1 (a bool is not one), or a ConfigError naming `where`."""
    if value is None:
        raise ConfigError(f"{where}: missing; give a whole number >= 1")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{where}: must be a whole number >= 1, got {value!r}")
    return value


def _seconds(value: Any, where: str) -> float:
    if not _is_number(value) or value < 0:
        raise ConfigError(
            f"{where}: must be a number of seconds >= 0 (0: after every epoch), got {value!r}"
        )
    return float(value)


def parse_distribution(value: Any, where: str) -> Distribution:
    usage = (
        "write one of {choice: [a, b, ...]}, {uniform: [lo, hi]}, "
        "{loguniform: [lo, hi]}, {int: [lo, hi]}"
    )
    if not isinstance(value, dict) or len(value) != 1:
        raise ConfigError(f"{where}: not a distribution; {usage}")
    ((kind, args),) = value.items()
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"{where}: unknown distribution '{kind}'; {usage}")
    if not isinstance(args, list) or not args:
        raise ConfigError(f"{where}: {kind} needs a list; {usage}")
    if kind == "choice":
        return Distribution(kind, tuple(args))
    if len(args) != 2 or not all(_is_number(a) for a in args):
        raise ConfigError(f"{where}: {kind} needs [lo, hi] numbers, got {args!r}")
    lo, hi = args
    if kind == "int" and not all(isinstance(a, int) for a in args):
        raise ConfigError(f"{where}: int needs whole numbers [lo, hi], got {args!r}")
    if not lo < hi and not (kind == "int" and lo == hi):
        raise ConfigError(f"{where}: {kind} needs lo < hi, got [{lo}, {hi}]")
    if kind == "loguniform" and lo <= 0:
        raise ConfigError(f"{where}: loguniform needs lo > 0, got {lo}")
    return Distribution(kind, (lo, hi))


def _seeds(value: Any, spec: SweepSpec) -> list[int]:
    base = spec.base.get("seed", 0)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        start = base if isinstance(base, int) else 0
        return [start + i for i in range(value)]
    if (
        isinstance(value, list)
        and value
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)
        and len(set(value)) == len(value)
    ):
        return list(value)
    raise ConfigError(
        f"{spec.at('seeds')}: expected a count >= 1 or a list of distinct seeds >= 0, got {value!r}"
    )


def _choice(value: Any, allowed: tuple, spec: SweepSpec, key: str, why: str = "") -> str:
    if value not in allowed:
        extra = f" ({why})" if why else ""
        raise ConfigError(f"{spec.at(key)}: {value!r} is not one of {', '.join(allowed)}{extra}")
    return value


__all__ = [
    "SweepSpec",
    "Sample",
    "Distribution",
    "load_sweep_spec",
    "parse_sweep",
    "parse_distribution",
    "SETTINGS",
]
