"""Pruning: stop a trial at an epoch where its validation metric is hopeless next to
the other trials' values at the same epoch. A pruner is one method; values that are
NaN or infinite (diverged trials) are never compared."""

from __future__ import annotations

import math
import statistics
from abc import ABC, abstractmethod
from typing import Any, Optional

from ..errors import ConfigError
from ..metrics import is_finite_number


def _finite(values) -> list[float]:
    return [v for v in values if is_finite_number(v)]


def _worse(value: float, threshold: float, mode: str) -> bool:
    return value < threshold if mode == "max" else value > threshold


class BasePruner(ABC):
    @abstractmethod
    def should_prune(self, epoch: int, value: Optional[float], others: list, mode: str) -> bool:
        """`others`: the other trials' values of the metric at this same epoch."""


class NopPruner(BasePruner):
    def should_prune(self, epoch, value, others, mode) -> bool:
        return False


class MedianPruner(BasePruner):
    """Prune after `warmup_epochs` when worse than the median of at least `min_trials`
    other trials at the same epoch (the rule of Optuna's MedianPruner)."""

    def __init__(self, warmup_epochs: int = 1, min_trials: int = 3):
        self.warmup_epochs, self.min_trials = warmup_epochs, min_trials

    def should_prune(self, epoch, value, others, mode) -> bool:
        reference = _finite(others)
        if epoch <= self.warmup_epochs or len(reference) < self.min_trials:
            return False
        if value is None or not math.isfinite(value):
            return False  # a NaN is the divergence check's business, not a ranking
        return _worse(value, statistics.median(reference), mode)


class HalvingPruner(BasePruner):
    """Successive halving: rungs at epochs warmup_epochs * reduction_factor**r; at a
    rung a trial goes on only if it is in the top 1/reduction_factor of the trials
    that reached it (itself included), once `min_trials` others have."""

    def __init__(self, warmup_epochs: int = 1, reduction_factor: int = 3, min_trials: int = 2):
        self.warmup_epochs, self.factor = max(1, warmup_epochs), reduction_factor
        self.min_trials = min_trials

    def is_rung(self, epoch: int) -> bool:
        rung = self.warmup_epochs
        while rung < epoch:
            rung *= self.factor
        return rung == epoch

    def should_prune(self, epoch, value, others, mode) -> bool:
        reference = _finite(others)
        if not self.is_rung(epoch) or len(reference) < self.min_trials:
            return False
        if value is None or not math.isfinite(value):
            return False
        ranked = sorted([*reference, value], reverse=(mode == "max"))
        keep = max(1, len(ranked) // self.factor)
        return _worse(value, ranked[keep - 1], mode)


MINIMUM = {"reduction_factor": 2, "warmup_epochs": 0, "min_trials": 1}
KNOWN = {
    "median": {"method", "warmup_epochs", "min_trials"},
    "halving": {"method", "warmup_epochs", "reduction_factor", "min_trials"},
}


def make_pruner(options: Optional[dict[str, Any]], where: str = "prune") -> BasePruner:
    """Build a pruner from the sweep file's `prune:` block, checking every key."""
    if not options:
        return NopPruner()
    method = options.get("method")
    if not isinstance(method, str) or method not in KNOWN:
        raise ConfigError(f"{where}.method: {method!r} is not one of median, halving")
    for key, value in options.items():
        if key not in KNOWN[method]:
            raise ConfigError(
                f"{where}.{key}: unknown for method {method}; use "
                f"{', '.join(sorted(KNOWN[method] - {'method'}))}"
            )
        least = MINIMUM.get(key, 1)
        if key != "method" and (
            not isinstance(value, int) or isinstance(value, bool) or value < least
        ):
            raise ConfigError(f"{where}.{key}: must be a whole number >= {least}, got {value!r}")
    args = {k: v for k, v in options.items() if k != "method"}
    return MedianPruner(**args) if method == "median" else HalvingPruner(**args)
