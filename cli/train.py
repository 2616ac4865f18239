"""`softmax train`: one run of the chapter's experiment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .common import domain_errors, out

CONFIG_HELP = "YAML file of settings (see configs/default.yaml); options below override it."


@domain_errors
def train(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate [default 0.1]."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Minibatch size "
                                             "[default 256]."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs [default 10]."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed [default 0]."),
    ctx: Optional[str] = typer.Option(None, "--ctx", help="cpu, gpu or gpu:N [default cpu]."),
    settings: List[str] = typer.Option([], "--set", help="Any setting as KEY=VALUE "
                                       "(repeatable), e.g. --set weight_decay=1e-4."),
    out_dir: Path = typer.Option(Path("runs"), "--out", help="Where run directories go."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", envvar="SOFTMAX_DATA_DIR",
                                            help="Directory holding the four Fashion-MNIST "
                                                 "IDX .gz files."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and stop."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final summary."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object and nothing "
                                 "else."),
) -> None:
    """Train the chapter's softmax regression and record it in a run directory.

    Example: softmax train --lr 0.1 --epochs 5
    """
    from softmax_exp.config import load_train_config, parse_assignment
    from softmax_exp.experiment import run_train

    from .display import TrainDisplay

    overrides, where = {}, {}
    for text in settings:
        key, overrides[key] = parse_assignment(text)
        where[key] = f"--set {text}"
    flags = {"lr": lr, "batch_size": batch_size, "epochs": epochs, "seed": seed, "ctx": ctx}
    for key, value in flags.items():
        if value is not None:
            overrides[key], where[key] = value, "--" + key.replace("_", "-")
    cfg = load_train_config(config, overrides, where)
    if dry_run:
        from softmax_exp.config import to_yaml

        typer.echo(to_yaml(cfg), nl=False)
        return
    with TrainDisplay(out, cfg.epochs, quiet=quiet or as_json) as display:
        result = run_train(cfg, out_dir, data_dir, observer=display)
    if as_json:
        typer.echo(json.dumps({"run_dir": str(result.path), **result.info}, default=str))
        return
    _summary(result)


def _summary(result) -> None:
    info = result.info
    final, best = info["final"] or {}, info["best"] or {}
    out.print(f"[bold]{info['status']}[/] after {info['epochs_run']} epochs "
              f"({info['stop_reason']}) in {info['wall_seconds']:.1f} s")
    out.print(f"final test acc {final.get('test_acc', float('nan')):.4f}; best epoch "
              f"{info['best_epoch']} (test acc {best.get('test_acc', float('nan')):.4f})")
    out.print(f"run directory: {result.path}", markup=False, soft_wrap=True)
