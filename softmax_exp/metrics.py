"""Rules about metric values, each written once: what counts as a number, which way a
metric improves, and how trials (or points) rank on one. Imports nothing of ours."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Callable, Iterable, Optional, TypeVar

T = TypeVar("T")


def is_finite_number(value: Any) -> bool:
    """A real number (not a bool), neither NaN nor infinite: a value a metric can have."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def finite_or_nan(value: Any) -> float:
    """`value` as a float when it is a finite number, else NaN (a missing score)."""
    return float(value) if is_finite_number(value) else math.nan


def direction(metric: str) -> str:
    """Which way `metric` improves: "min" for a loss, "max" for anything else
    (accuracies), whatever the column's prefix or suffix (val_loss, test_loss_at_best)."""
    return "min" if "loss" in metric else "max"


def rank_key(score: Any, mode: str) -> tuple[bool, float]:
    """Sorts best first under `mode` ("max" or "min"); a score that is not a finite
    number (missing, NaN) sorts last. Python's sort is stable: ties keep their order."""
    if not is_finite_number(score):
        return (True, 0.0)
    return (False, -float(score) if mode == "max" else float(score))


def best_of(items: Iterable[T], score: Callable[[T], Any], mode: str) -> Optional[T]:
    """The first item with the best finite score; None when none has one."""
    best, best_key = None, (True, 0.0)
    for item in items:
        key = rank_key(score(item), mode)
        if not key[0] and (best is None or key < best_key):
            best, best_key = item, key
    return best
