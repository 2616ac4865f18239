"""`softmax report` and `softmax export`: results for a browser and for Optuna's tools."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import DATA_DIR_HELP, domain_errors, out, with_default


@domain_errors
def report(
    paths: List[Path] = typer.Argument(
        ..., metavar="PATHS", help="Sweep or run directories (several are compared side by side)."
    ),
    out_file: Optional[Path] = typer.Option(
        None,
        "--out",
        metavar="FILE",
        help=with_default(
            "Where to write the page.", "PATH/report.html; ./report.html for several"
        ),
    ),
    evaluate: bool = typer.Option(
        True,
        "--evaluate/--no-evaluate",
        help="Evaluate the selected trial's best.params for the per-class view.",
    ),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", envvar="SOFTMAX_DATA_DIR", metavar="DIR", help=DATA_DIR_HELP
    ),
) -> None:
    """Write report.html: one self-contained page (plotly.js inlined, no network) with the
    leaderboard, learning curves, parallel coordinates, slices, parameter importance and
    the selected trial's per-class view.

    Example: softmax report runs/sweep-grid
    """
    from softmax_exp.report import write_report

    written = write_report(paths, out_file, evaluate=evaluate, data_dir=data_dir)
    out.print(f"wrote {written}", markup=False, soft_wrap=True)


@domain_errors
def export(
    path: Path = typer.Argument(..., metavar="PATH", help="A sweep directory."),
    optuna: bool = typer.Option(
        False,
        "--optuna",
        help="Write an Optuna study (journal "
        "file) that optuna.load_study and optuna-dashboard open.",
    ),
    out_file: Optional[Path] = typer.Option(
        None,
        "--out",
        metavar="FILE",
        help=with_default("Where to write it.", "PATH/optuna-study.journal"),
    ),
) -> None:
    """Export a sweep for other tools: every trial with its params and distributions,
    per-epoch selection metric, value and state.

    Example: softmax export runs/sweep-grid --optuna
    """
    from softmax_exp.errors import ConfigError
    from softmax_exp.report import export_study

    if not optuna:
        raise ConfigError("choose what to export: --optuna (the only format so far)")
    written = export_study(path, out_file)
    out.print(
        f"wrote {written}; open it with: optuna-dashboard {written}", markup=False, soft_wrap=True
    )
