"""`--mlflow` and `--tensorboard` for `softmax train` and `softmax sweep`: the trackers
fed as the command runs, and the one line each says when it gave up."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import typer

from .common import err

if TYPE_CHECKING:  # imported when tracking is asked for, to keep `softmax --help` light
    from softmax_exp.tracking import LiveTracking

MLFLOW_HELP = (
    "Also log each epoch to MLflow as it ends: sqlite:///path.db or http://host:port "
    "(overrides the file's tracking: section). A server that is down never stops training."
)
TENSORBOARD_HELP = "Also write TensorBoard logs (scalars, HParams) under DIR as epochs end."


def mlflow_option():
    return typer.Option(None, "--mlflow", metavar="URI", help=MLFLOW_HELP)


def tensorboard_option():
    return typer.Option(None, "--tensorboard", metavar="DIR", help=TENSORBOARD_HELP)


def resolve(section, mlflow: Optional[str], tensorboard: Optional[Path]):
    """The file's tracking section, with the command line's values in place of its own;
    None when nothing is tracked. The options are checked as the file's values are."""
    from softmax_exp.config import tracking_config

    given = {}
    if mlflow is not None:
        given["mlflow"] = tracking_config({"mlflow": mlflow}, "--mlflow").mlflow
    if tensorboard is not None:
        given["tensorboard"] = str(tensorboard)
    tracking = section.merged(**given)
    return tracking if tracking.active else None


@contextlib.contextmanager
def live_tracking(tracking) -> Iterator[Optional[LiveTracking]]:
    """The trackers (None: none asked for), closed whatever happens; what they could not
    send is said once, a line each, after the command's own display is gone."""
    if tracking is None:
        yield None
        return
    from softmax_exp.tracking import LiveTracking

    live = LiveTracking(tracking)  # a missing extra fails here, before any training
    interrupted = False
    try:
        yield live
    except BaseException:
        interrupted = True
        raise
    finally:
        for line in live.close(interrupted=interrupted):
            err.print(f"warning: {line}", markup=False, soft_wrap=True)
        for line in live.delivered():  # on stderr: --json keeps stdout to its one object
            err.print(line, markup=False, soft_wrap=True)
