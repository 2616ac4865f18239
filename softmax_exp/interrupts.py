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
    previous = {number: signal.signal(number, lambda number, _: held.append(number))
                for number in HELD}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(held):
            signal.raise_signal(number)
