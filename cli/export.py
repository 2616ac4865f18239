"""`softmax export`: a run or sweep for other tools (Optuna, MLflow, TensorBoard)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import domain_errors, out, with_default


@domain_errors
def export(
    path: Path = typer.Argument(..., metavar="PATH", help="A sweep or run directory."),
    optuna: bool = typer.Option(
        False,
        "--optuna",
        help="Write an Optuna study (journal "
        "file) that optuna.load_study and optuna-dashboard open (a sweep only).",
    ),
    out_file: Optional[Path] = typer.Option(
        None,
        "--out",
        metavar="FILE",
        help=with_default("Where to write the Optuna study.", "PATH/optuna-study.journal"),
    ),
    mlflow: Optional[str] = typer.Option(
        None,
        "--mlflow",
        metavar="URI",
        help="Send it to an MLflow store: sqlite:///path.db or http://host:port (a sweep is "
        "one parent run with a nested run per trial). Sending again adds nothing twice.",
    ),
    experiment: Optional[str] = typer.Option(
        None,
        "--experiment",
        metavar="NAME",
        help=with_default("The MLflow experiment.", "the sweep's name; softmax-train for a run"),
    ),
    tensorboard: Optional[Path] = typer.Option(
        None,
        "--tensorboard",
        metavar="DIR",
        help="Write TensorBoard logs under DIR: one directory per trial, scalars and HParams.",
    ),
) -> None:
    """Export a run or sweep for other tools: an Optuna study, an MLflow store (params,
    every epoch's metrics, tags, artifacts) or TensorBoard logs (scalars and HParams).

    Example: softmax export runs/sweep-grid --mlflow sqlite:///mlflow.db
    """
    from softmax_exp.config import tracking_config
    from softmax_exp.errors import ConfigError

    if not (optuna or mlflow or tensorboard):
        raise ConfigError(
            "choose what to export: --optuna, --mlflow URI or --tensorboard DIR (one or more)"
        )
    if mlflow is not None:
        tracking_config({"mlflow": mlflow}, "--mlflow")  # the URI checked before any work
    if optuna:
        from softmax_exp.report import export_study

        written = export_study(path, out_file)
        out.print(
            f"wrote {written}; open it with: optuna-dashboard {written}",
            markup=False,
            soft_wrap=True,
        )
    if mlflow is not None:
        from softmax_exp.tracking import export_mlflow
        from softmax_exp.tracking.live import mlflow_ui_hint

        sent = export_mlflow(path, mlflow, experiment)
        out.print(
            f"MLflow: {sent.runs} runs ({sent.created} new), {sent.points} metric points "
            f"sent to experiment '{sent.experiment}' at {sent.uri}; see them with: "
            f"{mlflow_ui_hint(sent.uri)}",
            markup=False,
            soft_wrap=True,
        )
    if tensorboard is not None:
        from softmax_exp.tracking import export_tensorboard

        written = export_tensorboard(path, tensorboard)
        out.print(
            f"TensorBoard: {written.trials} trial logs in {written.log_dir}; see them with: "
            f"tensorboard --logdir {written.log_dir}",
            markup=False,
            soft_wrap=True,
        )
