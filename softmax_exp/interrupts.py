"""Ctrl-C and SIGTERM that are never lost in a destructor.

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
from typing import Iterator

HELD = (signal.SIGINT, signal.SIGTERM)


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
        for number in dict.fromkeys(held):
            signal.raise_signal(number)


class Deferred:
    """SIGINT and SIGTERM, recorded when they come and delivered at `safe_point()`.

    Only signals whose handler is Python code are deferred (Python's own Ctrl-C handler,
    which raises KeyboardInterrupt, or a program's, as the CLI's): delivering them means
    calling that handler at a point where an exception cannot land in a destructor. A
    signal left to the OS (SIGTERM's default: the process ends) or ignored stays so.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[int, object]] = []
        self.previous: dict[int, object] = {}

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
