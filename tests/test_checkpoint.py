"""Per-trial checkpoints: trials stopped after an epoch go on in other groups, in another
order, as if never stopped (real data)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from helpers import FUSED_ATOL, MXNET_CALM_LR, assert_same_metrics, kernels_in_use
from softmax_exp import checkpoint as checkpoints
from softmax_exp.config import TrainConfig
from softmax_exp.errors import ConfigError, RunError
from softmax_exp.model import NUM_INPUTS
from softmax_exp.mxnet_compat import load_mxnet
from softmax_exp.split import split_dataset
from softmax_exp.training import TrainHooks, train_group

mx = load_mxnet()

pytestmark = pytest.mark.e2e

BASE = {"epochs": 6, "batch_size": 100, "train_subset": 2000, "val_fraction": 0.1}
CUT = 3  # the epoch after which the interrupted runs stop
# Two fuse groups (momentum is a fuse key); all at calm rates, where MXNet's operators
# keep fused trials within FUSED_ATOL of separate ones.
PLAIN = [
    TrainConfig(**BASE, lr=0.1),
    TrainConfig(**BASE, lr=0.05, weight_decay=1e-3, lr_schedule="cosine"),
    TrainConfig(**BASE, lr=0.2, lr_schedule="step", lr_step_epochs=2, lr_step_factor=0.5),
    TrainConfig(**BASE, lr=0.1, patience=2, min_delta=0.03),  # stops after the cut
    TrainConfig(**BASE, lr=0.15, patience=1, min_delta=0.01),
]  # stops at the cut
MOMENTUM = [
    TrainConfig(**BASE, lr=0.02, momentum=0.9),
    TrainConfig(
        **BASE, lr=0.01, momentum=0.9, weight_decay=1e-3, lr_schedule="cosine", warmup_epochs=1
    ),
]
assert max(c.lr for c in PLAIN + MOMENTUM) <= MXNET_CALM_LR


class StopAfter(TrainHooks):
    """Takes checkpoints after epoch `at` only, then stops as Ctrl-C would."""

    def __init__(self, at: int):
        self.at, self.asked, self.taken = at, [], {}

    def wants_checkpoint(self, epoch):
        self.asked.append(epoch)
        return epoch == self.at

    def checkpoint(self, index, checkpoint):
        assert index not in self.taken
        self.taken[index] = checkpoint

    def epoch_started(self, epoch, num_batches):
        if epoch > self.at:
            raise KeyboardInterrupt


def train(configs, dataset, hooks=None, start=None):
    return train_group(configs, split_dataset(dataset, configs[0]), mx.cpu(), hooks, start)


def interrupted(configs, dataset, at=CUT):
    hooks = StopAfter(at)
    with pytest.raises(KeyboardInterrupt):
        train(configs, dataset, hooks)
    assert hooks.asked == list(range(1, at + 1))
    return hooks.taken


def assert_same_trial(kernels, resumed, whole):
    """The resumed trial's outcome is the uninterrupted one's: every epoch's metrics,
    how and when it ended; its parameters bit for bit on the fused kernels."""
    assert_same_metrics(resumed.history, whole.history, atol=FUSED_ATOL[kernels])
    assert (resumed.status, resumed.stop_reason, resumed.best_epoch) == (
        whole.status,
        whole.stop_reason,
        whole.best_epoch,
    )
    if kernels == "native":
        for name in ("0.weight", "0.bias"):
            np.testing.assert_array_equal(resumed.final_params[name], whole.final_params[name])
            np.testing.assert_array_equal(resumed.best_params[name], whole.best_params[name])


@pytest.mark.slow  # three sweeps' worth of training, twice
def test_trials_resume_in_other_groups_as_if_never_stopped(both_kernels, real_dataset):
    whole = train(PLAIN, real_dataset) + train(MOMENTUM, real_dataset)
    stops = [len(o.history) for o in whole if o.stop_reason.startswith("early stopping")]
    assert stops == [CUT + 1, CUT], "the early stops are not around the cut"
    cut = interrupted(PLAIN, real_dataset)
    cut.update({5 + k: c for k, c in interrupted(MOMENTUM, real_dataset).items()})
    # the trial that stopped early at the cut has ended for good: no checkpoint
    assert sorted(cut) == [0, 1, 2, 3, 5, 6] and {c.epoch for c in cut.values()} == {CUT}
    assert cut[0].weight.shape == (10, NUM_INPUTS) and cut[0].bias.shape == (10,)
    assert cut[0].weight_momentum is None and cut[5].weight_momentum.shape == (10, NUM_INPUTS)
    configs = PLAIN + MOMENTUM
    for group in ([2, 0], [1], [3], [6, 5]):  # regrouped, and in other places
        outcomes = train([configs[k] for k in group], real_dataset, start=[cut[k] for k in group])
        for k, outcome in zip(group, outcomes):
            assert len(outcome.history) == len(whole[k].history)
            assert_same_trial(both_kernels, outcome, whole[k])


def test_a_trial_goes_on_from_its_saved_checkpoint(tmp_path, real_dataset):
    """save then load gives back every field a resume needs, and the resume goes on as
    the uninterrupted run did."""
    configs = MOMENTUM
    whole = train(configs, real_dataset)
    cut = interrupted(configs, real_dataset, at=2)
    loaded = []
    for k, checkpoint in cut.items():
        (tmp_path / str(k)).mkdir()
        checkpoints.save(tmp_path / str(k), checkpoint)
        again = checkpoints.load(tmp_path / str(k))
        for name in ("weight", "bias", "weight_momentum", "bias_momentum"):
            np.testing.assert_array_equal(getattr(again, name), getattr(checkpoint, name))
        for name in ("epoch", "updates", "rng", "stopper", "best_epoch", "kernels"):
            assert getattr(again, name) == getattr(checkpoint, name)
        assert sorted(p.name for p in (tmp_path / str(k)).iterdir()) == [
            "checkpoint-2.params",
            "checkpoint.json",
        ]
        # what the run's metrics.csv and best.params hold, as resume_train fills them in:
        again.history, again.best_params = checkpoint.history, checkpoint.best_params
        loaded.append(again)
    for k, outcome in zip((1, 0), train(configs[::-1], real_dataset, start=loaded[::-1])):
        assert_same_trial(kernels_in_use(), outcome, whole[k])


def test_trials_at_different_epochs_are_refused(real_dataset):
    configs = PLAIN[:2]
    early, late = interrupted(configs, real_dataset, at=1), interrupted(configs, real_dataset)
    with pytest.raises(ConfigError, match=r"checkpoints at epochs \[1, 3\].*same epoch"):
        train(configs, real_dataset, start=[early[0], late[1]])
    with pytest.raises(ConfigError, match=r"checkpoints at epochs \[0, 3\]"):
        train(configs, real_dataset, start=[None, late[1]])
    with pytest.raises(ConfigError, match="1 checkpoints for 2 trials"):
        train(configs, real_dataset, start=[late[0]])
    done = configs[0].model_copy(update={"epochs": CUT})
    with pytest.raises(ConfigError, match="trial 0 already trained 3 of its 3 epochs"):
        train([done], real_dataset, start=[late[0]])


def test_a_checkpoint_of_an_older_softmax_exp_is_read(tmp_path, real_dataset, both_kernels):
    """Before checkpoints were per trial, `softmax train` saved its one-trial group's
    padded layer and MXNet's pickled optimizer states in the backend's own layout."""
    (checkpoint,) = interrupted(MOMENTUM[:1], real_dataset, at=2).values()
    padded = {
        name: np.zeros((16, *getattr(checkpoint, name).shape[1:]), np.float32)
        for name in ("weight", "bias", "weight_momentum", "bias_momentum")
    }
    for name, array in padded.items():
        array[:10] = getattr(checkpoint, name)
    stored = padded["weight_momentum"].T if both_kernels == "native" else padded["weight_momentum"]
    mx.nd.save(
        str(tmp_path / "checkpoint.params"),
        {
            "weight": mx.nd.array(padded["weight"]),
            "bias": mx.nd.array(padded["bias"]),
            "epoch": mx.nd.array([checkpoint.epoch]),
        },
    )
    (tmp_path / "checkpoint.states").write_bytes(
        pickle.dumps({0: mx.nd.array(stored), 1: mx.nd.array(padded["bias_momentum"])})
    )
    state = {
        k: getattr(checkpoint, k)
        for k in ("epoch", "updates", "rng", "stopper", "best_epoch", "kernels")
    }
    (tmp_path / "checkpoint.json").write_text(json.dumps(state))
    old = checkpoints.load(tmp_path)
    for name in padded:
        np.testing.assert_array_equal(getattr(old, name), getattr(checkpoint, name))
    checkpoints.save(tmp_path, old)  # rewritten in today's form: the old files go
    assert not (tmp_path / "checkpoint.states").exists()
    assert not (tmp_path / "checkpoint.params").exists()
    (tmp_path / "checkpoint.json").write_text("{")
    with pytest.raises(RunError, match="no usable checkpoint"):
        checkpoints.load(tmp_path)


def test_a_kill_between_the_arrays_and_the_json_leaves_the_last_whole_checkpoint(
    tmp_path, real_dataset, monkeypatch
):
    """The arrays of epoch e are written under their own name before the JSON: a kill in
    between leaves the JSON of epoch e-1 and its arrays, which load as they were."""
    cut = interrupted(MOMENTUM[:1], real_dataset, at=2)[0]
    earlier = interrupted(MOMENTUM[:1], real_dataset, at=1)[0]
    checkpoints.save(tmp_path, earlier)

    def killed(path, data):
        raise KeyboardInterrupt  # as if the process ended right here

    monkeypatch.setattr(checkpoints, "write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoints.save(tmp_path, cut)
    assert (tmp_path / "checkpoint-2.params").is_file()  # written, not yet named
    again = checkpoints.load(tmp_path)
    assert again.epoch == 1
    np.testing.assert_array_equal(again.weight, earlier.weight)
