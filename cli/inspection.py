"""`softmax evaluate` and `softmax plot`: look at what a run or a sweep produced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.table import Table

from .common import DATA_DIR_HELP, domain_errors, out, with_default
from .tables import show

SHORT_NAMES = ("Tshrt", "Trous", "Pullo", "Dress", "Coat", "Sandl", "Shirt", "Snkr", "Bag", "Boot")


@domain_errors
def evaluate(
    run: Path = typer.Argument(
        ...,
        metavar="RUN",
        help="A run directory, a sweep's trials/<id>, or a sweep (its selected trial).",
    ),
    which: str = typer.Option("best", "--which", metavar="WHICH", help="best or final parameters."),
    ctx: str = typer.Option("cpu", "--ctx", metavar="CTX", help="cpu, gpu or gpu:N."),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", envvar="SOFTMAX_DATA_DIR", metavar="DIR", help=DATA_DIR_HELP
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Test accuracy and loss of saved parameters, per class, with a confusion matrix.

    Example: softmax evaluate runs/sweep-grid/trials/866b1454e3
    """
    from softmax_exp.errors import ConfigError
    from softmax_exp.evaluation import evaluate_run

    if which not in ("best", "final"):
        raise ConfigError(f"--which {which}: use best or final")
    result = evaluate_run(run, which, data_dir, ctx)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run": str(result.run),
                    "params": str(result.params),
                    "epoch": result.epoch,
                    "test_acc": result.test_acc,
                    "test_loss": result.test_loss,
                    "recorded_test_acc": result.recorded_test_acc,
                    "per_class_accuracy": dict(
                        zip(result.class_names, result.per_class_accuracy.tolist())
                    ),
                    "confusion": result.confusion.tolist(),
                }
            )
        )
        return
    recorded = result.recorded_test_acc
    if result.run != run:
        out.print(
            f"{run}: the sweep's selected trial is {result.run}", markup=False, soft_wrap=True
        )
    out.print(f"{result.params} (epoch {result.epoch})", markup=False, soft_wrap=True)
    out.print(
        f"test acc {result.test_acc:.4f}, test loss {result.test_loss:.4f} (recorded "
        f"during training: {'-' if recorded is None else f'{recorded:.4f}'})",
        markup=False,
    )
    per_class = Table(title="per class", title_justify="left")
    for column in ("class", "accuracy", "most confused with"):
        per_class.add_column(column)
    for i, name in enumerate(result.class_names):
        row = result.confusion[i].copy()
        row[i] = -1
        per_class.add_row(
            name,
            f"{result.per_class_accuracy[i]:.3f}",
            f"{result.class_names[int(row.argmax())]} ({int(row.max())})",
        )
    show(out, per_class)
    matrix = Table(
        title="confusion (rows: true, columns: predicted)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 0, 0, 1),
    )
    matrix.add_column("")
    for name in SHORT_NAMES:
        matrix.add_column(name, justify="right", min_width=5)
    for name, row in zip(SHORT_NAMES, result.confusion):
        matrix.add_row(name, *(str(v) for v in row))
    show(out, matrix)


@domain_errors
def plot(
    path: Path = typer.Argument(..., metavar="PATH", help="A run or sweep directory."),
    out_dir: Optional[Path] = typer.Option(
        None,
        "--out",
        metavar="DIR",
        help=with_default("Where to write the figures.", "PATH itself"),
    ),
) -> None:
    """Draw a run's curves, or a sweep's trials and its metric per setting, as PNG and SVG.

    Example: softmax plot runs/sweep-overfit
    """
    from softmax_exp.plots import plot as draw

    for written in draw(path, out_dir):
        out.print(f"wrote {written}", markup=False, soft_wrap=True)
