from __future__ import annotations

import math

import numpy as np
import pytest

from helpers import assert_fused_equals_separate, synthetic_dataset, without_timing
from softmax_exp.backends import choose_backend
from softmax_exp.config import TrainConfig
from softmax_exp.errors import ConfigError
from softmax_exp.model import block_params, chapter_weights
from softmax_exp.mxnet_compat import load_mxnet
from softmax_exp.progress import EarlyStopping
from softmax_exp.schedule import schedule_for
from softmax_exp.split import split_dataset
from softmax_exp.training import TrainHooks, train_group

mx = load_mxnet()

CPU = mx.cpu()


def train(configs, dataset=None, hooks=None):
    dataset = dataset or synthetic_dataset()
    return train_group(configs, split_dataset(dataset, configs[0]), CPU, hooks)


def test_it_learns():
    (outcome,) = train([TrainConfig(epochs=5, batch_size=32)])
    losses = [m.train_loss for m in outcome.history]
    assert losses[-1] < losses[0] * 0.6
    assert outcome.history[-1].test_acc > 0.8
    assert outcome.status == "completed" and outcome.stop_reason == "reached the epoch limit"


def test_same_seed_same_metrics_other_seed_differs():
    config = TrainConfig(epochs=3, batch_size=32, seed=7)
    first = without_timing(train([config])[0].history)
    assert first == without_timing(train([config])[0].history)
    assert first != without_timing(train([TrainConfig(epochs=3, batch_size=32, seed=8)])[0].history)


def test_initial_weights_follow_the_chapter(both_kernels):
    weight = chapter_weights(0.01, seed=3)
    assert weight.shape == (10, 784)
    assert abs(weight.std() - 0.01) < 0.001 and abs(weight.mean()) < 0.001
    backend = choose_backend(CPU)
    assert backend.name == both_kernels
    backend.build(3, 0.01, seed=3)
    stacked_weight, stacked_bias = backend.param_arrays()
    assert stacked_weight.shape == (16 * 2, 784) and not stacked_bias.any()
    for k in range(3):
        np.testing.assert_array_equal(
            block_params((stacked_weight, stacked_bias), k)["0.weight"], weight
        )


def softmax_grad(weight, bias, images, labels):
    x = images.astype(np.float64) / 255.0
    scores = x @ weight.T + bias
    scores -= scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1
    return p.T @ x / len(labels), p.mean(axis=0)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_one_step_matches_hand_computed_sgd_with_weight_decay(weight_decay, both_kernels):
    """One full batch: W1 = W0 - lr (grad + wd W0); the bias is not decayed."""
    dataset = synthetic_dataset(n_train=50)
    config = TrainConfig(epochs=1, batch_size=50, lr=0.5, weight_decay=weight_decay)
    weight0 = chapter_weights(config.init_sigma, config.seed)
    (outcome,) = train([config], dataset)
    grad_w, grad_b = softmax_grad(weight0, np.zeros(10), dataset.train_images, dataset.train_labels)
    expected_w = weight0 - config.lr * (grad_w + weight_decay * weight0)
    np.testing.assert_allclose(outcome.final_params["0.weight"], expected_w, atol=2e-6)
    np.testing.assert_allclose(outcome.final_params["0.bias"], -config.lr * grad_b, atol=2e-6)


def test_fused_trials_equal_separate_runs(both_kernels):
    configs = [
        TrainConfig(epochs=4, batch_size=32, lr=0.3),
        TrainConfig(epochs=2, batch_size=32, lr=0.05, weight_decay=0.01),
        TrainConfig(epochs=3, batch_size=32, lr=1.0, weight_decay=0.001),
        TrainConfig(epochs=3, batch_size=32, lr=0.15, weight_decay=0.001),
    ]
    fused = train(configs)
    for config, together in zip(configs, fused):
        (alone,) = train([config])
        assert len(together.history) == config.epochs
        assert_fused_equals_separate(both_kernels, together.history, alone.history, config.lr)
        if both_kernels == "native":
            np.testing.assert_array_equal(
                together.final_params["0.weight"], alone.final_params["0.weight"]
            )


def test_fused_momentum_trials_equal_separate_runs(both_kernels):
    configs = [TrainConfig(epochs=2, batch_size=64, lr=lr, momentum=0.9) for lr in (0.01, 0.1)]
    for config, together in zip(configs, train(configs)):
        (alone,) = train([config])
        assert_fused_equals_separate(both_kernels, together.history, alone.history)


def test_configs_that_cannot_share_batches_are_refused():
    with pytest.raises(ConfigError, match="cannot train together"):
        train([TrainConfig(batch_size=32), TrainConfig(batch_size=64)])


def test_huge_learning_rate_diverges_without_hurting_its_neighbour(both_kernels):
    configs = [TrainConfig(epochs=3, batch_size=32, lr=1e38), TrainConfig(epochs=3, batch_size=32)]
    wild, calm = train(configs)
    assert wild.status == "diverged" and len(wild.history) == 1
    assert not math.isfinite(wild.history[-1].train_loss)
    assert calm.status == "completed" and len(calm.history) == 3
    (alone,) = train([configs[1]])
    assert_fused_equals_separate(both_kernels, calm.history, alone.history)


def test_early_stopping_rule_on_a_scripted_sequence():
    rule = EarlyStopping(patience=2, min_delta=0.01)
    script = [0.50, 0.60, 0.605, 0.62, 0.615, 0.625, 0.7]
    stops = [rule.update(epoch, value) for epoch, value in enumerate(script[:6], 1)]
    # 0.605 is no gain over 0.60 (+0.005 < 0.01); 0.62 is; 0.615 and 0.625 are not -> stop at 6
    assert stops == [False, False, False, False, False, True]
    assert (rule.best, rule.best_epoch) == (0.62, 4)


def test_early_stopping_treats_nan_as_no_gain():
    rule = EarlyStopping(patience=1)
    assert rule.update(1, 0.5) is False
    assert rule.update(2, float("nan")) is True
    assert rule.best_epoch == 1


def test_early_stopping_keeps_best_params_and_stops():
    config = TrainConfig(
        epochs=30, batch_size=16, lr=2.0, val_fraction=0.3, patience=2, train_subset=60
    )
    (outcome,) = train([config])
    vals = [m.val_acc for m in outcome.history]
    assert outcome.status == "completed" and "early stopping" in outcome.stop_reason
    assert len(vals) < 30
    best = vals.index(max(vals)) + 1
    assert outcome.best_epoch == best and len(vals) == best + 2
    assert outcome.best_params is not None


def test_prune_hook_stops_one_trial():
    class PruneSecond(TrainHooks):
        def should_prune(self, index, metrics, peers):
            assert metrics in peers and len(peers) == (2 if metrics.epoch <= 2 else 1)
            return index == 1 and metrics.epoch == 2

    a, b = train(
        [TrainConfig(epochs=4, batch_size=32), TrainConfig(epochs=4, batch_size=32, lr=0.2)],
        hooks=PruneSecond(),
    )
    assert (a.status, len(a.history)) == ("completed", 4)
    assert (b.status, len(b.history)) == ("pruned", 2)


def test_validation_split_is_stratified_and_seeded():
    dataset = synthetic_dataset(n_train=1000)
    split = split_dataset(dataset, TrainConfig(val_fraction=0.2, val_seed=1))
    assert len(split.val_labels) == 200 and len(split.train_labels) == 800
    assert np.bincount(split.val_labels).tolist() == [20] * 10
    again = split_dataset(dataset, TrainConfig(val_fraction=0.2, val_seed=1))
    np.testing.assert_array_equal(split.val_images, again.val_images)
    other = split_dataset(dataset, TrainConfig(val_fraction=0.2, val_seed=2))
    assert not np.array_equal(split.val_images, other.val_images)


def test_train_subset_first_or_sampled():
    dataset = synthetic_dataset(n_train=100)
    first = split_dataset(dataset, TrainConfig(train_subset=10, batch_size=5))
    np.testing.assert_array_equal(first.train_labels, dataset.train_labels[:10])
    sampled = split_dataset(dataset, TrainConfig(train_subset=10, subset_seed=4, batch_size=5))
    assert len(sampled.train_labels) == 10
    assert not np.array_equal(sampled.train_images, first.train_images)


def test_batch_or_subset_larger_than_data_is_a_config_error():
    dataset = synthetic_dataset(n_train=100)
    with pytest.raises(ConfigError, match="'batch_size' 256 is larger than the 100"):
        split_dataset(dataset, TrainConfig())
    with pytest.raises(ConfigError, match="'train_subset' is 200 but only 100"):
        split_dataset(dataset, TrainConfig(train_subset=200, batch_size=10))


def test_schedules_follow_mxnets_schedulers():
    step = schedule_for(
        TrainConfig(lr=0.4, epochs=6, lr_schedule="step", lr_step_epochs=2, lr_step_factor=0.5),
        batches_per_epoch=10,
    )
    assert [step(u) for u in (1, 20, 21, 40, 41, 60)] == [0.4, 0.4, 0.2, 0.2, 0.1, 0.1]
    cosine = schedule_for(
        TrainConfig(lr=0.4, epochs=4, lr_schedule="cosine", lr_min=0.1), batches_per_epoch=10
    )
    rates = [cosine(u) for u in range(1, 41)]
    assert rates[0] == pytest.approx(0.4, abs=1e-3) and rates[-1] == pytest.approx(0.1)
    assert rates[19] == pytest.approx(0.25, abs=0.02)
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    warm = schedule_for(TrainConfig(lr=0.4, epochs=4, warmup_epochs=1), batches_per_epoch=10)
    assert [warm(u) for u in (1, 5, 10, 11, 40)] == pytest.approx([0.04, 0.2, 0.4, 0.4, 0.4])
    assert schedule_for(TrainConfig(lr=0.3), 10)(123) == 0.3


def test_a_step_schedule_takes_the_hand_computed_steps(both_kernels):
    """Full batches: epoch 1 steps at lr, epoch 2 at lr * factor."""
    dataset = synthetic_dataset(n_train=50)
    config = TrainConfig(
        epochs=2, batch_size=50, lr=0.5, lr_schedule="step", lr_step_epochs=1, lr_step_factor=0.25
    )
    (outcome,) = train([config], dataset)
    weight, bias = chapter_weights(config.init_sigma, config.seed), np.zeros(10)
    for lr in (0.5, 0.125):
        grad_w, grad_b = softmax_grad(weight, bias, dataset.train_images, dataset.train_labels)
        weight, bias = weight - lr * grad_w, bias - lr * grad_b
    np.testing.assert_allclose(outcome.final_params["0.weight"], weight, atol=2e-6)
    np.testing.assert_allclose(outcome.final_params["0.bias"], bias, atol=2e-6)


def test_fused_trials_with_their_own_schedules_equal_separate_runs(both_kernels):
    configs = [
        TrainConfig(
            epochs=4,
            batch_size=32,
            lr=0.2,
            lr_schedule="cosine",
            warmup_epochs=1,
            weight_decay=0.001,
        ),
        TrainConfig(
            epochs=3,
            batch_size=32,
            lr=0.2,
            lr_schedule="step",
            lr_step_epochs=1,
            lr_step_factor=0.5,
        ),
        TrainConfig(epochs=4, batch_size=32, lr=0.1),
    ]
    for config, together in zip(configs, train(configs)):
        (alone,) = train([config])
        assert_fused_equals_separate(both_kernels, together.history, alone.history, config.lr)
    constant = train([configs[2]])[0]
    assert without_timing(train([configs[0]])[0].history) != without_timing(constant.history)


def test_an_interrupt_keeps_the_finished_epochs_parameters():
    """Ctrl-C mid-epoch: every live trial ends `interrupted` with the parameters of its
    last finished epoch as final and of its best epoch as best; a trial that had already
    ended keeps its own outcome."""

    class CtrlCInEpoch3(TrainHooks):
        def __init__(self):
            self.ended = {}

        def batches_done(self, done):
            if self.epoch == 3 and done >= 1:
                raise KeyboardInterrupt

        def epoch_started(self, epoch, num_batches):
            self.epoch = epoch

        def trial_ended(self, index, outcome):
            self.ended[index] = outcome

    hooks = CtrlCInEpoch3()
    configs = [
        TrainConfig(epochs=5, batch_size=16, lr=0.1, val_fraction=0.2),
        TrainConfig(epochs=1, batch_size=16, lr=0.3, val_fraction=0.2),
    ]
    with pytest.raises(KeyboardInterrupt):
        train(configs, hooks=hooks)
    live, short = hooks.ended[0], hooks.ended[1]
    assert (short.status, len(short.history)) == ("completed", 1)
    assert (live.status, live.stop_reason) == ("interrupted", "interrupted by the user")
    assert len(live.history) == 2 and live.best_params is not None
    (two_epochs,) = train([configs[0].model_copy(update={"epochs": 2})])
    np.testing.assert_array_equal(
        live.final_params["0.weight"], two_epochs.final_params["0.weight"]
    )
