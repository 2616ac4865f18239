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
from typer.core import TyperCommand

from softmax_exp.errors import SoftmaxExpError

F = TypeVar("F", bound=Callable[..., Any])



class _Console(Console):
    def on_broken_pipe(self) -> None:
        """The reader went away (softmax sweep ... | head): rich would exit 1 here; the
        command stops as for any closed pipe, and `main` makes that exit 0 quietly."""
        self.quiet = True
        raise BrokenPipeError


out = _Console(highlight=False)
err = _Console(stderr=True, highlight=False)
DATA_DIR_HELP = ("Directory holding the four Fashion-MNIST IDX .gz files  [default: the "
                 "cache, Debian's package, else a download; see softmax data]")


class PlainCommand(TyperCommand):
    """Help as click writes it, arguments named by their metavar: typer writes required
    arguments as `{spec}` in the usage line and adds `<path>` after their names."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [_argument_name(p) for p in self.get_params(ctx)
                         if p.param_type_name == "argument"]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        sections: dict[str, list[tuple[str, str]]] = {"argument": [], "option": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None and param.param_type_name in sections:
                name = _argument_name(param) if param.param_type_name == "argument" \
                    else record[0]
                sections[param.param_type_name].append((name, record[1]))
        for kind, title in (("argument", "Arguments"), ("option", "Options")):
            if sections[kind]:
                with formatter.section(title):
                    formatter.write_dl(sections[kind])


def _argument_name(param: Any) -> str:
    name = param.metavar or param.name.upper()
    return name + ("..." if param.nargs != 1 else "")


def with_default(text: str, default: object) -> str:
    """Help for an option whose default lives in the library (None here means "not
    given"): shown the way typer shows the others."""
    return f"{text}  [default: {default}]"


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
