"""What every command shares: consoles, the --debug switch, turning domain errors into one line."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console
from typer.core import TyperCommand

from softmax_exp.errors import SoftmaxExpError
from softmax_exp.interrupts import StopSignals

F = TypeVar("F", bound=Callable[..., Any])


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """The reader went away (softmax sweep ... | head): rich would exit 1 at once,
        wherever it was. The command goes on without output instead, so a sweep or a run
        still ends with its files complete, and exits as it would have."""
        self.quiet = True
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.file.fileno())


out = _Console(highlight=False)
err = _Console(stderr=True, highlight=False)

DATA_DIR_HELP = (
    "Directory holding the four Fashion-MNIST IDX .gz files.  [default: the "
    "cache, Debian's package, else a download; see softmax data]"
)
# `softmax data` itself: the same, without sending its reader to itself
DATA_DIR_HELP_HERE = DATA_DIR_HELP.replace("; see softmax data]", "]")
# click's range notation, which the help says in words instead ("at least 1")
_RANGE = r"[-+.\d]*(?:<=?)?x(?:[<>]=?[-+.\d]+)?"
CLICK_RANGE = re.compile(rf"  \[{_RANGE}\]|; {_RANGE}(?=\])")


class PlainCommand(TyperCommand):
    """Help as click writes it, arguments named by their metavar: typer writes required
    arguments as `{spec}` in the usage line and adds `<path>` after their names."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [
            _argument_name(p) for p in self.get_params(ctx) if p.param_type_name == "argument"
        ]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        sections: dict[str, list[tuple[str, str]]] = {"argument": [], "option": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None and param.param_type_name in sections:
                name = _argument_name(param) if param.param_type_name == "argument" else record[0]
                text = CLICK_RANGE.sub("", record[1])
                sections[param.param_type_name].append((name, text))
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


state: dict[str, Any] = {"debug": bool(os.environ.get("SOFTMAX_DEBUG"))}
stop_signals = StopSignals()


def remembered_interrupts() -> StopSignals:
    """Ctrl-C (and SIGTERM, handled the same way) raises KeyboardInterrupt, and is
    remembered too (softmax_exp.interrupts.StopSignals): `interrupt_point()` raises it
    again at the next safe point, `stopped` names it."""
    return stop_signals


def stopped(message: str) -> typer.Exit:
    """Say why the command stopped; exit 128 + the signal's number (130 for Ctrl-C, 143
    for SIGTERM), as a shell reports a process the signal ended."""
    number = stop_signals.signal or signal.SIGINT
    name = "terminated (SIGTERM)" if number == signal.SIGTERM else "interrupted"
    err.print(f"{name}{': ' + message if message else ''}", markup=False, soft_wrap=True)
    return typer.Exit(128 + int(number))


def interrupt_point() -> None:
    stop_signals.check()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one plain error line and return the Exit to raise."""
    err.print(f"error: {one_line(message)}", markup=False, soft_wrap=True)
    return typer.Exit(code)


CONTROL_ESCAPES = {code: repr(chr(code))[1:-1] for code in (*range(32), 127)}


def one_line(message: str) -> str:
    """An error that quotes what the user typed stays one line: a newline (or another
    control character) in it is shown escaped, as Python writes it (\\n)."""
    return message.translate(CONTROL_ESCAPES)


# The library's errors name settings; where a command has an option for the setting an
# error starts with, the user reads the option instead.
FLAGS = {"ctx": "--ctx", "workers": "--workers", "executor": "--executor", "address": "--address"}


def in_flags(exc: SoftmaxExpError) -> str:
    """The error's message, the words naming its setting turned into the command's option."""
    message, flag = str(exc), FLAGS.get(getattr(exc, "setting", ""))
    if flag and message.startswith(exc.subject + " "):
        return flag + message[len(exc.subject) :]
    return message


def domain_errors(command: F) -> F:
    """Domain errors become one line and exit code 2; --debug shows the traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SoftmaxExpError as exc:
            if state["debug"]:
                raise
            raise fail(in_flags(exc)) from None
        except KeyboardInterrupt:
            raise stopped("") from None

    return wrapper  # type: ignore[return-value]
