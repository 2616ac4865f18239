"""Pruning rules on scripted metric sequences, NaN included."""

from __future__ import annotations

import math

import pytest

from softmax_exp.errors import ConfigError
from softmax_exp.sweep.pruners import HalvingPruner, MedianPruner, NopPruner, make_pruner

NAN = float("nan")


def test_median_prunes_below_the_median_after_warmup():
    rule = MedianPruner(warmup_epochs=2, min_trials=3)
    others = [0.70, 0.80, 0.90]
    assert not rule.should_prune(1, 0.10, others, "max")  # warm-up
    assert not rule.should_prune(2, 0.10, others, "max")
    assert rule.should_prune(3, 0.79, others, "max")
    assert not rule.should_prune(3, 0.80, others, "max")  # equal to the median stays
    assert rule.should_prune(3, 0.81, others, "min")  # for losses, larger is worse


def test_median_needs_enough_finite_others():
    rule = MedianPruner(warmup_epochs=0, min_trials=3)
    assert not rule.should_prune(5, 0.1, [0.9, 0.8], "max")
    assert not rule.should_prune(5, 0.1, [0.9, 0.8, NAN, math.inf], "max"), (
        "diverged trials must not count as references"
    )
    assert rule.should_prune(5, 0.1, [0.9, 0.8, NAN, 0.7], "max")


def test_nan_is_never_compared():
    assert not MedianPruner(0, 1).should_prune(3, NAN, [0.5, 0.6], "max")
    assert not HalvingPruner(1, 2, 1).should_prune(1, NAN, [0.5, 0.6], "max")
    assert not MedianPruner(0, 1).should_prune(3, None, [0.5, 0.6], "max")


def test_median_on_a_scripted_sweep():
    """Five trials' val_acc curves; the rule stops the poor ones at epoch 2."""
    curves = {
        "a": [0.60, 0.70, 0.75],
        "b": [0.55, 0.68, 0.74],
        "c": [0.30, 0.35, 0.40],
        "d": [0.58, 0.69, 0.76],
        "e": [0.20, 0.25, 0.30],
    }
    rule = MedianPruner(warmup_epochs=1, min_trials=2)
    stopped, ran = {}, {}
    for name, curve in curves.items():  # one after another, as a serial sweep runs them
        for epoch, value in enumerate(curve, 1):
            others = [c[epoch - 1] for c in ran.values() if len(c) >= epoch]
            if rule.should_prune(epoch, value, others, "max"):
                stopped[name] = epoch
                break
        ran[name] = curve[: stopped.get(name, len(curve))]
    assert stopped == {"c": 2, "e": 2}


@pytest.mark.parametrize(
    "epoch, rung",
    [(1, True), (2, False), (3, True), (4, False), (9, True), (27, True), (10, False)],
)
def test_halving_rungs(epoch, rung):
    assert HalvingPruner(warmup_epochs=1, reduction_factor=3).is_rung(epoch) is rung


def test_halving_keeps_the_top_third_at_a_rung():
    rule = HalvingPruner(warmup_epochs=1, reduction_factor=3, min_trials=2)
    others = [0.9, 0.8, 0.7, 0.6, 0.5]  # with the trial: 6 values, keep the best 2
    assert not rule.should_prune(3, 0.85, others, "max")
    assert rule.should_prune(3, 0.75, others, "max")
    assert not rule.should_prune(2, 0.1, others, "max"), "not a rung"
    assert not rule.should_prune(3, 0.1, [0.9], "max"), "too few to judge"


def test_make_pruner_validates_the_block():
    assert isinstance(make_pruner(None), NopPruner)
    assert isinstance(make_pruner({"method": "median", "warmup_epochs": 2}), MedianPruner)
    assert isinstance(make_pruner({"method": "halving", "reduction_factor": 2}), HalvingPruner)
    with pytest.raises(ConfigError, match="prune.method: 'asha' is not one of"):
        make_pruner({"method": "asha"})
    with pytest.raises(ConfigError, match="prune.reduction_factor: unknown for method median"):
        make_pruner({"method": "median", "reduction_factor": 2})
    with pytest.raises(ConfigError, match="prune.reduction_factor: must be a whole number >= 2"):
        make_pruner({"method": "halving", "reduction_factor": 1})
