from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softmax_exp.config import TrainConfig
from softmax_exp.errors import ConfigError
from softmax_exp.sweep import expand, grid_points, load_sweep_spec, plan_jobs, random_points
from softmax_exp.sweep.expand import grid_point
from softmax_exp.sweep.spec import Distribution, parse_distribution

SLOW_OK = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60)


def spec_from(tmp_path, text):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return load_sweep_spec(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("grid: {lr: [0.1]}\nbogus: 1\n", r"s.yaml:2: bogus: unknown sweep key"),
        ("gird:\n  lr: [0.1]\n", r"s.yaml:1: gird: unknown sweep key; did you mean 'grid'\?$"),
        (
            "tpe:\n  trails: 3\n  space: {lr: {uniform: [0.1, 1]}}\n",
            r"s.yaml:2: tpe.trails: unknown key; did you mean 'trials'\?$",
        ),
        ("grid:\n  lr: []\n", r"s.yaml:2: grid.lr: empty list"),
        ("grid:\n  lr: 0.1\n", r"s.yaml:2: grid.lr: expected a list of values"),
        ("grid:\n  lr: [0.1, 0.1]\n", r"grid.lr: 0.1 is listed twice"),
        ("grid:\n  lrr: [0.1]\n", r"s.yaml:2: grid.lrr: unknown setting 'lrr'; did you mean 'lr'"),
        ("base:\n  epoch: 3\ngrid: {lr: [0.1]}\n", r"s.yaml:2: base.epoch: unknown setting"),
        ("base: {epochs: 3}\n", r"nothing to sweep"),
        ("grid:\n  lr: [0.1, -2]\n", r"s.yaml:2: grid.lr value -2: 'lr' is out of range"),
        ("grid: {lr: [0.1]}\nmetric: test_acc\n", r"metric: 'test_acc' is not one of .*never used"),
        ("grid: {lr: [0.1]}\nseeds: 0\n", r"seeds: expected a count >= 1"),
        ("grid: {lr: [0.1]}\nseeds: [1, 1]\n", r"seeds: expected .* distinct"),
        ("grid: {seed: [1, 2]}\n", r"grid.seed: sweep seeds with 'seeds"),
        ("random: {trials: 0, space: {lr: {uniform: [0.1, 1]}}}\n", r"random.trials: must be"),
        (
            "random:\n  trials: 3\n  space:\n    lr: {normal: [0, 1]}\n",
            r"s.yaml:4: random.space.lr: unknown distribution 'normal'",
        ),
        ("random: {trials: 3, space: {lr: {loguniform: [0, 1]}}}\n", r"loguniform needs lo > 0"),
        ("random: {trials: 3, space: {lr: {uniform: [1, 0.1]}}}\n", r"uniform needs lo < hi"),
        (
            "random: {trials: 9, space: {batch_size: {choice: [32, 64]}}}\n",
            r"random.trials 9 exceeds the 2 distinct points",
        ),
        (
            "grid: {lr: [0.1]}\nrandom: {trials: 2, space: {lr: {uniform: [0.1, 1]}}}\n",
            r"random.space.lr: already in the grid",
        ),
        ("grid: {lr: [0.1], batch_size: [0]}\n", r"grid.batch_size value 0: 'batch_size' is out"),
    ],
)
def test_bad_sweep_files_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as info:
        expand(spec_from(tmp_path, text))
    assert "\n" not in str(info.value)


def test_grid_order_seeds_and_defaults(tmp_path):
    spec = spec_from(
        tmp_path, "base: {epochs: 2}\ngrid:\n  lr: [0.1, 0.3]\n  batch_size: [64, 256]\nseeds: 2\n"
    )
    trials = expand(spec)
    assert [(t.config.lr, t.config.batch_size, t.config.seed) for t in trials] == [
        (lr, b, s) for lr in (0.1, 0.3) for b in (64, 256) for s in (0, 1)
    ]
    assert all(t.config.epochs == 2 and t.config.val_fraction == 0.1 for t in trials)
    assert trials[1].point == {"lr": 0.1, "batch_size": 64, "seed": 1}
    assert len({t.id for t in trials}) == 8


def test_ids_are_stable_across_expansions_and_edits(tmp_path):
    first = expand(spec_from(tmp_path, "grid: {lr: [0.1, 0.3]}\n"))
    edited = expand(spec_from(tmp_path, "grid: {lr: [0.1, 0.3, 1.0]}\n"))
    assert [t.id for t in first] == [t.id for t in edited[:2]]


def test_validation_fraction_can_be_set_or_disabled(tmp_path):
    spec = spec_from(tmp_path, "base: {val_fraction: 0.2}\ngrid: {lr: [0.1]}\n")
    assert expand(spec)[0].config.val_fraction == 0.2


grid_values = st.lists(st.integers(1, 10_000), min_size=1, max_size=4, unique=True)


@SLOW_OK
@given(
    st.dictionaries(
        st.sampled_from(["batch_size", "epochs", "train_subset", "val_seed"]),
        grid_values,
        min_size=1,
        max_size=3,
    )
)
def test_grid_is_the_cartesian_product(grid):
    points = grid_points(grid)
    assert len(points) == math.prod(len(v) for v in grid.values())
    assert {tuple(p.values()) for p in points} == set(itertools.product(*grid.values()))
    assert all(list(p) == list(grid) for p in points)


@SLOW_OK
@given(st.floats(1e-6, 10), st.floats(1.01, 100), st.integers(1, 30), st.integers(0, 2**16))
def test_random_samples_lie_in_their_bounds_and_repeat_with_the_seed(lo, factor, n, seed):
    space = {
        "lr": parse_distribution({"loguniform": [lo, lo * factor]}, "x"),
        "momentum": parse_distribution({"uniform": [0.0, 0.9]}, "x"),
        "epochs": parse_distribution({"int": [1, 5]}, "x"),
    }
    points = random_points(space, n, seed)
    assert points == random_points(space, n, seed)
    for p in points:
        assert lo * 0.9999 <= p["lr"] <= lo * factor * 1.0001
        assert 0 <= p["momentum"] <= 0.9 and p["epochs"] in range(1, 6)


@SLOW_OK
@given(st.integers(1, 12), st.integers(0, 1000))
def test_discrete_space_is_sampled_without_replacement(n, seed):
    space = {
        "batch_size": parse_distribution({"choice": [32, 64, 128, 256]}, "x"),
        "epochs": parse_distribution({"int": [1, 3]}, "x"),
    }
    points = random_points(space, n, seed)
    assert len({tuple(p.values()) for p in points}) == n


@SLOW_OK
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
        max_leaves=8,
    )
)
def test_any_yaml_document_expands_or_is_a_config_error(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("s") / "s.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        expand(load_sweep_spec(path))
    except ConfigError as exc:
        assert "\n" not in str(exc)


@SLOW_OK
@given(
    st.dictionaries(
        st.sampled_from(
            ["lr", "batch_size", "epochs", "weight_decay", "seeds", "metric", "momentum"]
        ),
        st.lists(st.none() | st.integers(-5, 300) | st.floats() | st.text(max_size=4), max_size=3),
        max_size=4,
    )
)
def test_any_grid_expands_or_is_a_config_error(tmp_path_factory, grid):
    path = tmp_path_factory.mktemp("s") / "s.yaml"
    path.write_text(yaml.safe_dump({"grid": grid}))
    try:
        trials = expand(load_sweep_spec(path))
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        assert all(isinstance(t.config, TrainConfig) for t in trials)


def test_jobs_fuse_trials_that_share_minibatches(tmp_path):
    spec = spec_from(
        tmp_path,
        "grid:\n  lr: [0.1, 0.3]\n  weight_decay: [0, 0.001]\n"
        "  batch_size: [64, 256]\n  epochs: [2, 4]\n",
    )
    trials = expand(spec)
    jobs = plan_jobs(trials, fuse=True)
    assert sorted(len(j.trials) for j in jobs) == [8, 8]
    assert all(len({t.config.batch_size for t in j.trials}) == 1 for j in jobs)
    assert len(plan_jobs(trials, fuse=False)) == 16
    split = plan_jobs(trials, fuse=True, workers=2)
    assert sorted(len(j.trials) for j in split) == [8, 8]
    one_group = [t for t in trials if t.config.batch_size == 64]
    assert sorted(len(j.trials) for j in plan_jobs(one_group, True, workers=2)) == [4, 4]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_grid_point_decodes_the_grid_order(sizes, data):
    grid = {f"k{i}": list(range(n)) for i, n in enumerate(sizes)}
    everything = grid_points(grid)
    index = data.draw(st.integers(0, len(everything) - 1))
    assert grid_point(grid, index) == everything[index]


def test_a_huge_grid_is_refused_before_it_is_expanded(tmp_path):
    values = "[" + ", ".join(str(0.01 * i) for i in range(1, 11)) + "]"
    keys = (
        "lr",
        "weight_decay",
        "momentum",
        "init_sigma",
        "min_delta",
        "val_fraction",
        "lr_min",
        "lr_step_factor",
    )
    path = tmp_path / "huge.yaml"
    path.write_text("grid:\n" + "".join(f"  {k}: {values}\n" for k in keys))
    spec = load_sweep_spec(path)
    assert spec.size == 10**8
    with pytest.raises(
        ConfigError,
        match=r"huge.yaml: this sweep has 100,000,000 trials, "
        r"over the limit of 100,000; sample .*'random' "
        r"block.*max_trials: N",
    ):
        expand(spec)
    path.write_text("max_trials: 5\ngrid:\n  lr: [0.1, 0.2, 0.3]\n  batch_size: [64, 128]\n")
    with pytest.raises(ConfigError, match="6 trials, over the limit of 5"):
        expand(load_sweep_spec(path))
    path.write_text("max_trials: 0\ngrid:\n  lr: [0.1]\n")
    with pytest.raises(ConfigError, match=r"huge.yaml:1: max_trials: must be a whole number"):
        load_sweep_spec(path)


def test_a_small_sample_of_a_huge_discrete_space_is_drawn_without_building_it():
    space = {f"k{i}": Distribution("choice", tuple(range(10))) for i in range(10)}
    points = random_points(space, 5, seed=1)  # a space of 10^10 points
    assert len(points) == 5 and len({tuple(p.values()) for p in points}) == 5


def test_discrete_samples_are_those_of_the_grid_order():
    """Index decoding picks what indexing the built grid picked: sweeps keep their trials."""
    space = {"a": Distribution("choice", (1, 2, 3)), "b": Distribution("int", (0, 4))}
    everything = grid_points({k: d.values() for k, d in space.items()})
    picked = np.random.default_rng(7).choice(len(everything), size=6, replace=False)
    assert random_points(space, 6, seed=7) == [everything[i] for i in picked]
