"""The rules about metric values, each written once (softmax_exp/metrics.py): what a
number is, which way a metric improves, and the ranking every table and selection uses."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from softmax_exp.metrics import best_of, direction, finite_or_nan, is_finite_number, rank_key

scores = st.lists(
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5)),
    max_size=12,
)


def test_a_number_is_real_finite_and_not_a_bool():
    assert all(is_finite_number(v) for v in (0, 1.5, -3, np.float64(0.25), np.int64(7)))
    for value in (None, True, False, math.nan, math.inf, -math.inf, "0.5", np.float32("nan")):
        assert not is_finite_number(value), value
    assert math.isnan(finite_or_nan(None)) and finite_or_nan(np.float64(0.5)) == 0.5


def test_losses_fall_and_everything_else_rises():
    for metric in ("val_loss", "train_loss", "test_loss_at_best", "best_val_loss"):
        assert direction(metric) == "min", metric
    for metric in ("val_acc", "train_acc", "best_val_acc", "test_acc_at_best"):
        assert direction(metric) == "max", metric


@given(scores, st.sampled_from(["max", "min"]))
def test_the_best_is_the_first_with_the_best_finite_score(values, mode):
    finite = [(i, v) for i, v in enumerate(values) if is_finite_number(v)]
    best = best_of(range(len(values)), values.__getitem__, mode)
    if not finite:
        assert best is None
        return
    target = (max if mode == "max" else min)(v for _, v in finite)
    assert best == next(i for i, v in finite if v == target)


@given(scores, st.sampled_from(["max", "min"]))
def test_ranking_puts_the_best_first_ties_in_order_and_missing_last(values, mode):
    order = sorted(range(len(values)), key=lambda i: rank_key(values[i], mode))
    ranked = [values[i] for i in order]
    numbers = [v for v in ranked if is_finite_number(v)]
    assert ranked[len(numbers) :] == [v for v in values if not is_finite_number(v)]
    assert numbers == sorted(numbers, reverse=mode == "max")
    if order:
        assert order[0] == (best_of(range(len(values)), values.__getitem__, mode) or order[0])
    for a, b in zip(order, order[1:]):  # equal scores keep their order (stable)
        if rank_key(values[a], mode) == rank_key(values[b], mode):
            assert a < b
