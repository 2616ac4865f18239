"""The `softmax` command. Only typer and rich load here: `softmax --help` stays fast."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Optional

import typer

try:  # typer >= 0.20 ships its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_errors  # type: ignore[no-redef]

from softmax_exp import __version__
from softmax_exp.errors import show_warning_line

from . import compare, data, doctor, export, inspection, report, sweep, train
from .common import PlainCommand, err, one_line, remembered_interrupts, state

app = typer.Typer(
    name="softmax",
    help="Softmax regression experiments on Fashion-MNIST with MXNet Gluon.\n\n"
    "Example: softmax train --lr 0.1",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # real bugs print a plain traceback
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"softmax-exp {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Train, sweep and compare softmax regression on Fashion-MNIST.

    Example: softmax train --lr 0.1
    """
    state["debug"] = debug or bool(os.environ.get("SOFTMAX_DEBUG"))
    warnings.showwarning = show_warning_line  # warnings for the user: one plain line


# Short help for the command list: click cuts longer first sentences at 80 columns.
COMMANDS = (
    ("train", train.train, "Train one run and record it in a run directory."),
    ("sweep", sweep.sweep, "Run a sweep file's trials, resumably, and rank them."),
    ("compare", compare.compare, "Print runs and sweeps as one sorted table."),
    ("evaluate", inspection.evaluate, "Test accuracy of saved parameters, per class."),
    ("plot", inspection.plot, "Draw a run's or a sweep's curves as PNG and SVG."),
    ("report", report.report, "Write one HTML page of a sweep's or runs' results."),
    ("export", export.export, "Export to Optuna, MLflow or TensorBoard."),
    ("data", data.data, "Show where the data comes from, and verify it."),
    ("doctor", doctor.doctor, "Check what runs depend on; say what to fix."),
)
for _name, _command, _short in COMMANDS:
    app.command(name=_name, cls=PlainCommand, short_help=_short)(_command)


def main(argv: Optional[list[str]] = None) -> int:
    """Run the CLI; usage errors become one line too. Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in argv:  # accept it after the command name too
        argv = ["--debug", *(a for a in argv if a != "--debug")]
    try:
        with remembered_interrupts():
            result = app(args=argv, prog_name="softmax", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else "")
        return 0
    except click_errors.ClickException as exc:
        ctx = getattr(exc, "ctx", None)  # a UsageError's; other ClickExceptions have none
        hint = (
            f" (see 'softmax {ctx.command_path.partition(' ')[2]} --help')".replace(
                "softmax  --", "softmax --"
            )
            if ctx
            else ""
        )
        err.print(f"error: {one_line(exc.format_message())}{hint}", markup=False, soft_wrap=True)
        return exc.exit_code
    except typer.Abort:
        err.print("aborted", markup=False)
        return 130
    except BrokenPipeError:  # the reader has gone (softmax sweep ... | head): stop quietly
        _silence_stdout()
        return 0
    except SystemExit:  # typer exits 1 when click's own output meets a closed pipe
        if type(sys.stdout).__name__ != "PacifyFlushWrapper":
            raise
        _silence_stdout()
        return 0
    return result if isinstance(result, int) else 0


def _silence_stdout() -> None:
    """Python flushes stdout at exit; into a closed pipe that prints a warning."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # not a file (tests)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run() -> None:
    sys.exit(main())
