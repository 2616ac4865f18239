"""What every command shares: consoles, the --debug switch, turning domain errors into one line."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
from typing import Any, Callable, Iterator, TypeVar

import typer
from rich.console import Console

from softmax_exp.errors import SoftmaxExpError

F = TypeVar("F", bound=Callable[..., Any])

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
state = {"debug": bool(os.environ.get("SOFTMAX_DEBUG")), "interrupted": False}


@contextlib.contextmanager
def remembered_interrupts() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt as usual, and is remembered too: Python drops an
    exception raised inside a destructor (MXNet frees a cached graph in `__del__`, which
    waits for the work queued on it), so a Ctrl-C landing there would be lost and the
    command would run on. `interrupt_point()` raises it again at the next safe point."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state["interrupted"] = False
    previous = signal.signal(signal.SIGINT, _on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        state["interrupted"] = False


def _on_interrupt(signum: int, frame: Any) -> None:
    state["interrupted"] = True
    raise KeyboardInterrupt


def interrupt_point() -> None:
    if state["interrupted"]:
        raise KeyboardInterrupt


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one plain error line and return the Exit to raise."""
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    return typer.Exit(code)


def domain_errors(command: F) -> F:
    """Domain errors become one line and exit code 2; --debug shows the traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SoftmaxExpError as exc:
            if state["debug"]:
                raise
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            err.print("interrupted", markup=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]
