"""Ctrl-C and SIGTERM that are never lost in a destructor: every signal handler of the
project is here (the CLI installs `StopSignals`; the library holds or defers signals).

Python drops an exception raised inside a destructor, printing "Exception ignored in:
... KeyboardInterrupt" with a traceback, and the program runs on. MXNet frees cached
graphs and arrays in `__del__`, which waits for the work queued on them: a signal that
lands there is lost. Code that is about to run many destructors at once (freeing a
finished group) holds the signals meanwhile and delivers them right after.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator, Optional

HELD = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and what `kill` and schedulers send


class StopSignals:
    """A block in which SIGINT and SIGTERM raise KeyboardInterrupt and are remembered:
    `signal` is the last that came (it decides the exit code), and `check()` raises
    KeyboardInterrupt again at the next safe point, for one that landed in a destructor
    and was dropped there. What a program wraps itself in; main thread only (elsewhere
    the block runs as it is)."""

    def __init__(self) -> None:
        self.signal: Optional[int] = None
        self.pending = False
        self.previous: dict[int, Any] = {}  # the handlers before the block

    def __enter__(self) -> StopSignals:
        self.signal, self.pending = None, False
        if threading.current_thread() is threading.main_thread():
            self.previous = {number: signal.signal(number, self._stop) for number in HELD}
        return self

    def _stop(self, number: int, frame) -> None:
        self.pending, self.signal = True, number
        raise KeyboardInterrupt

    def check(self) -> None:
        """A safe point: raise KeyboardInterrupt if a signal came."""
        if self.pending:
            raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        self.previous, self.pending = {}, False


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done, then reach their own handlers.
    (Only the main thread can swap handlers; elsewhere the block runs as it is.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {
        number: signal.signal(number, lambda number, _: held.append(number)) for number in HELD
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for signum in dict.fromkeys(held):
            signal.raise_signal(signum)


class Deferred:
    """SIGINT and SIGTERM, recorded when they come and delivered at `safe_point()`.

    Only signals whose handler is Python code are deferred (Python's own Ctrl-C handler,
    which raises KeyboardInterrupt, or a program's, as the CLI's): delivering them means
    calling that handler at a point where an exception cannot land in a destructor. A
    signal left to the OS (SIGTERM's default: the process ends) or ignored stays so.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[int, Any]] = []
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> Deferred:
        if threading.current_thread() is threading.main_thread():
            for number in HELD:
                handler = signal.getsignal(number)
                if callable(handler):
                    self.previous[number] = signal.signal(number, self._record)
        return self

    def _record(self, number: int, frame) -> None:
        self.pending.append((number, frame))

    def safe_point(self) -> None:
        """Deliver what came since the last safe point: its handler may raise."""
        while self.pending:
            number, frame = self.pending.pop(0)
            self.previous[number](number, frame)

    def __exit__(self, *exc) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        self.previous = {}
        pending, self.pending = self.pending, []
        if exc[0] is not None and issubclass(exc[0], KeyboardInterrupt):
            return  # already stopping: a second Ctrl-C says nothing new
        for number in dict.fromkeys(number for number, _ in pending):
            signal.raise_signal(number)  # to their own handlers, as they would have gone


def signals_deferred() -> Deferred:
    """A block in which SIGINT and SIGTERM act only at its `safe_point()` calls (and at
    its end): the training loop, whose MXNet arrays are freed in destructors all along."""
    return Deferred()
