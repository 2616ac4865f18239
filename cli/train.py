"""`softmax train`: one run of the chapter's experiment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import typer

from .common import DATA_DIR_HELP, domain_errors, fail, out, stopped, with_default
from .tracking import live_tracking, mlflow_option, resolve, tensorboard_option

if TYPE_CHECKING:  # the library is imported inside the command, to keep --help light
    from softmax_exp.training import TrainHooks

CONFIG_HELP = "YAML file of settings (see configs/default.yaml); options below override it."


@domain_errors
def train(
    config: Optional[Path] = typer.Option(None, "--config", "-c", metavar="FILE", help=CONFIG_HELP),
    lr: Optional[float] = typer.Option(
        None, "--lr", metavar="FLOAT", help=with_default("SGD learning rate.", 0.1)
    ),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", metavar="N", help=with_default("Minibatch size.", 256)
    ),
    epochs: Optional[int] = typer.Option(
        None, "--epochs", metavar="N", help=with_default("Passes over the training set.", 10)
    ),
    seed: Optional[int] = typer.Option(
        None, "--seed", metavar="N", help=with_default("Seeds initialisation and shuffling.", 0)
    ),
    ctx: Optional[str] = typer.Option(
        None, "--ctx", metavar="CTX", help=with_default("cpu, gpu or gpu:N.", "cpu")
    ),
    settings: List[str] = typer.Option(
        [],
        "--set",
        metavar="KEY=VALUE",
        show_default=False,
        help="Any setting (repeatable), e.g. --set weight_decay=1e-4; see docs/settings.md. "
        "A setting with its own option (--lr, --batch-size, --epochs, --seed, "
        "--ctx) takes that option or --set, not both.",
    ),
    out_dir: Path = typer.Option(
        Path("runs"), "--out", metavar="DIR", help="Where run directories go."
    ),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", envvar="SOFTMAX_DATA_DIR", metavar="DIR", help=DATA_DIR_HELP
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and stop."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final summary."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object and nothing else."),
    resume: Optional[Path] = typer.Option(
        None,
        "--resume",
        metavar="RUN_DIR",
        help="Go on with an interrupted run from its last "
        "finished epoch, or extend a finished one "
        "(with --epochs).",
    ),
    mlflow: Optional[str] = mlflow_option(),
    tensorboard: Optional[Path] = tensorboard_option(),
) -> None:
    """Train the chapter's softmax regression and record it in a run directory.

    Example: softmax train --lr 0.1 --epochs 5
    """
    from softmax_exp.config import (
        TrackingConfig,
        load_tracking_config,
        load_train_config,
        parse_assignment,
    )
    from softmax_exp.experiment import new_run_path, run_train

    from .display import TrainDisplay

    if resume is not None:
        given = [
            flag
            for flag, value in (
                ("--config", config),
                ("--lr", lr),
                ("--seed", seed),
                ("--batch-size", batch_size),
                ("--ctx", ctx),
                ("--set", settings),
            )
            if value
        ]
        if given:
            raise fail(
                f"--resume {resume}: {given[0]} cannot change a run it resumes; give "
                "only --epochs (to extend it), or start a new run"
            )
        tracking = resolve(TrackingConfig(), mlflow, tensorboard)
        _resume(resume, epochs, data_dir, quiet or as_json, as_json, tracking)
        return
    overrides: dict[str, Any] = {}  # setting -> its value from the command line
    where: dict[str, str] = {}  # setting -> the option that set it
    for text in settings:
        key, value = parse_assignment(text, "--set")
        if key in overrides:
            raise fail(f"{where[key]} and --set {text} both set {key}; give only one of them")
        overrides[key], where[key] = value, f"--set {text}"
    flags = {"lr": lr, "batch_size": batch_size, "epochs": epochs, "seed": seed, "ctx": ctx}
    for key, value in flags.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if key in overrides:  # neither order may win silently
            raise fail(f"{flag} {value} and {where[key]} both set {key}; give only one of them")
        overrides[key], where[key] = value, flag
    cfg = load_train_config(config, overrides, where, explicit=list(overrides))
    if dry_run:
        from softmax_exp.config import to_yaml

        typer.echo(to_yaml(cfg), nl=False)
        return
    tracking = resolve(load_tracking_config(config), mlflow, tensorboard)
    path = new_run_path(out_dir, cfg)
    try:
        # the trackers close after the display: what they could not send is said below it
        with live_tracking(tracking) as live:  # noqa: SIM117
            with TrainDisplay(out, cfg.epochs, quiet=quiet or as_json) as display:
                hooks = live.train_hooks(display, path, cfg) if live else display
                result = run_train(cfg, out_dir, data_dir, observer=hooks, path=path)
    except KeyboardInterrupt:  # said once the display is gone, or it would cover it
        raise stopped(_kept(path)) from None
    if as_json:
        typer.echo(json.dumps({"run_dir": str(result.path), **result.info}, default=str))
        return
    _summary(result)


def _resume(
    run: Path,
    epochs: Optional[int],
    data_dir: Optional[Path],
    quiet: bool,
    as_json: bool,
    tracking=None,
) -> None:
    from softmax_exp.checkpoint import ConfigChanged
    from softmax_exp.config import load_train_config
    from softmax_exp.experiment import resume_train

    from .display import TrainDisplay

    config_file = run / "config.yaml"  # for the progress bar; resume_train checks it
    planned = epochs or (load_train_config(config_file).epochs if config_file.is_file() else 0)
    try:
        with live_tracking(tracking) as live, TrainDisplay(out, planned, quiet=quiet) as display:
            hooks: TrainHooks = display  # or the trackers' hooks around it
            if live and config_file.is_file():  # else resume_train says what is wrong
                hooks = live.train_hooks(display, run, load_train_config(config_file))
            result = resume_train(run, epochs, data_dir, observer=hooks)
    except ConfigChanged as exc:
        raise fail(f"{exc}: softmax train --config {exc.path / 'config.yaml'}") from None
    except KeyboardInterrupt:
        raise stopped(_kept(run)) from None
    if as_json:
        typer.echo(json.dumps({"run_dir": str(result.path), **result.info}, default=str))
        return
    _summary(result)


def _kept(path: Path) -> str:
    """Where an interrupted run is, and how to go on with it."""
    if not (path / "run.json").is_file():
        return ""
    return f"the finished epochs are kept in {path}\ngo on with: softmax train --resume {path}"


def _summary(result) -> None:
    """The run in three lines; a diverged run says so and exits 1."""
    info = result.info
    final, best = info["final"] or {}, info["best"] or {}
    epochs = info["epochs_run"]
    out.print(
        f"[bold]{info['status']}[/] after {epochs} epoch{'s' * (epochs != 1)} "
        f"({info['stop_reason']}) in {info['wall_seconds']:.1f} s"
    )
    if info["best_epoch"] is not None:
        out.print(
            f"final test acc {_acc(final)}; best epoch {info['best_epoch']} "
            f"(test acc {_acc(best)})",
            markup=False,
        )
    if info["status"] == "diverged":
        out.print(
            f"the training loss became NaN or inf in epoch {epochs}; try a smaller --lr",
            markup=False,
        )
    out.print(f"run directory: {result.path}", markup=False, soft_wrap=True)
    if info["status"] == "diverged":
        raise typer.Exit(1)


def _acc(row: dict) -> str:
    value = row.get("test_acc")
    return f"{value:.4f}" if isinstance(value, (int, float)) and value == value else "-"
