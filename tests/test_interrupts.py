"""Signals held while destructors run reach their handlers right after, never lost."""

from __future__ import annotations

import os
import signal

import pytest

from softmax_exp.interrupts import signals_held
from softmax_exp.mxnet_compat import load_mxnet


def test_a_signal_during_the_block_is_delivered_after_it():
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda number, _: seen.append(number))
    try:
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
            assert seen == []  # held
        assert seen == [signal.SIGTERM]  # delivered once, after the block
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_ctrl_c_inside_a_destructor_is_not_lost():
    class Slow:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while a destructor runs

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        with pytest.raises(KeyboardInterrupt), signals_held():
            Slow()  # freed here: without the hold, Python would print and drop it
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_in_the_library_takes_effect_between_minibatches():
    """softmax_exp used from Python, with Python's own Ctrl-C handler: the signal waits
    for the next minibatch boundary (code running when it came goes on), then the run
    ends `interrupted` with what its finished epochs learnt. SIGTERM's default (the
    process ends) is left to the OS."""
    mx = load_mxnet()

    from helpers import synthetic_dataset
    from softmax_exp.config import TrainConfig
    from softmax_exp.split import split_dataset
    from softmax_exp.training import TrainHooks, train_group

    class Hooks(TrainHooks):
        def __init__(self):
            self.went_on, self.ended, self.term = False, [], None

        def epoch_started(self, epoch, num_batches):
            self.term = signal.getsignal(signal.SIGTERM)
            if epoch == 2:
                os.kill(os.getpid(), signal.SIGINT)
                self.went_on = True  # the hook was not cut short

        def trial_ended(self, index, outcome):
            self.ended.append(
                (outcome.status, len(outcome.history), outcome.final_params is not None)
            )

    config = TrainConfig(epochs=4, batch_size=50, val_fraction=0.2)
    split = split_dataset(synthetic_dataset(), config)
    hooks = Hooks()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    term = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with pytest.raises(KeyboardInterrupt):
            train_group([config], split, mx.cpu(), hooks)
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, term)
    assert hooks.went_on and hooks.ended == [("interrupted", 1, True)]
    assert hooks.term == signal.SIG_DFL
