"""What every command shares: consoles, the --debug switch, turning domain errors into one line."""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console

from softmax_exp.errors import SoftmaxExpError

F = TypeVar("F", bound=Callable[..., Any])

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
state = {"debug": bool(os.environ.get("SOFTMAX_DEBUG"))}


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
