"""Signals held while destructors run reach their handlers right after, never lost."""

from __future__ import annotations

import os
import signal

import pytest

from softmax_exp.interrupts import signals_held


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
