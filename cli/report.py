"""`softmax report`: a sweep's or runs' results as one page for a browser."""

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
