"""`softmax sweep`: run a sweep file (grid, random or TPE search), resumably, and rank it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .common import DATA_DIR_HELP, domain_errors, err, fail, out, state, stopped, with_default
from .tracking import live_tracking, mlflow_option, resolve, tensorboard_option


@domain_errors
def sweep(
    spec: Path = typer.Argument(
        ..., metavar="SPEC", help="Sweep file (YAML): base; grid, random or tpe; seeds, metric."
    ),
    out_dir: Optional[Path] = typer.Option(
        None,
        "--out",
        metavar="DIR",
        help=with_default("Sweep directory; rerunning resumes it.", "runs/sweep-<name>"),
    ),
    workers: Optional[int] = typer.Option(
        None,
        "--workers",
        "-j",
        min=1,
        metavar="N",
        help=with_default(
            "Worker processes, at least 1 (1: this process; with Ray, the cluster's CPUs decide).",
            "one per core when several fused groups are worth it; TPE and pruning: 1",
        ),
    ),
    executor: str = typer.Option(
        "local", "--executor", metavar="NAME", help="Where trials run: local or ray."
    ),
    address: Optional[str] = typer.Option(
        None,
        "--address",
        metavar="HOST:PORT",
        help=with_default(
            "With --executor ray: the cluster's address, as 'ray start --head' prints it.",
            "a new local instance",
        ),
    ),
    restart: bool = typer.Option(
        False,
        "--restart",
        help="Run every trial again (and start the directory over for another sweep file).",
    ),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Stop at the first failure."),
    fuse: bool = typer.Option(
        True,
        "--fuse/--no-fuse",
        help="Train trials that share their minibatches as one stacked model.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the trials and stop."),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", envvar="SOFTMAX_DATA_DIR", metavar="DIR", help=DATA_DIR_HELP
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the summary."),
    refit: bool = typer.Option(
        False,
        "--refit",
        help="Then train the selected point without "
        "a validation split (best.yaml) and report its test accuracy.",
    ),
    report: bool = typer.Option(
        True,
        "--report/--no-report",
        help="Keep report.html in the sweep directory up to date as trials end.",
    ),
    mlflow: Optional[str] = mlflow_option(),
    tensorboard: Optional[Path] = tensorboard_option(),
) -> None:
    """Run every trial of a sweep file, resumably, and rank them on the sweep's metric.

    Example: softmax sweep configs/grid.yaml --workers 2
    """
    from softmax_exp.sweep import load_sweep_spec, make_executor, run_sweep
    from softmax_exp.sweep.directory import SweepDirectoryTaken

    from .sweep_display import SweepDisplay, leaderboard_table
    from .tables import show

    if dry_run:
        _dry_run(spec)
        return
    if address is not None and executor != "ray":
        raise fail(f"--address {address}: only --executor ray joins a cluster; add --executor ray")
    options = {"address": address, "ray_logs": state["debug"]} if executor == "ray" else {}
    tracking = resolve(load_sweep_spec(spec).tracking, mlflow, tensorboard)
    try:
        with live_tracking(tracking) as live, SweepDisplay(out, quiet=quiet) as display:
            runner = make_executor(executor, workers, **options)
            refresher = None
            if report:
                from softmax_exp.report import ReportRefresher

                refresher = ReportRefresher(data_dir, display.note)
            result = run_sweep(
                spec,
                out_dir,
                executor=runner,
                restart=restart,
                fail_fast=fail_fast,
                fuse=fuse,
                data_dir=data_dir,
                observer=live.sweep_observer(display) if live else display,
                argv=["softmax", *sys.argv[1:]],
                workers=workers or 1,
                on_tables=refresher,
            )
    except KeyboardInterrupt:  # said once the live view is gone, or it would cover it
        raise stopped("finished trials and checkpoints kept; run it again to go on") from None
    except SweepDirectoryTaken as exc:
        if state["debug"]:
            raise
        raise fail(exc.message("--restart", "another --out DIR")) from None
    show(out, leaderboard_table(out, result, top=10, title="final leaderboard", final=True))
    failures = result.failures()
    for record in failures:
        err.print(
            f"{record.status}: {record.trial.id}: {record.info.get('error')} "
            f"(log: {record.path / 'error.log'})",
            markup=False,
            soft_wrap=True,
        )
    # one path a line, so that a narrow terminal never breaks one where it is copied
    problem = refresher.problem if refresher else ""  # why report.html is not written
    written = report and not problem
    for label, name in (
        ("results:", "trials.csv"),
        ("", "epochs.csv"),
        *((("report:", "report.html"),) if written else ()),
    ):
        out.print(f"{label:<9}{result.path / name}", markup=False, soft_wrap=True)
    if report and not written:
        err.print(
            f"report.html not written: {problem}; softmax report {result.path} writes it",
            markup=False,
            soft_wrap=True,
        )
    _select(result, spec, refit, data_dir, quiet)
    if failures or (report and not written):
        raise typer.Exit(1)


def _select(result, spec: Path, refit: bool, data_dir: Optional[Path], quiet: bool) -> None:
    """Write the selected point as best.yaml; with --refit, train it on all the data."""
    from softmax_exp.layout import BEST_FILE
    from softmax_exp.sweep import refit as selection

    best = selection.select_best(result)
    if best is None:
        return
    config = selection.best_train_config(best)
    path = result.path / BEST_FILE
    selection.write_best_config(best, config, path, source=str(spec))
    out.print(
        f"selected: {best.label} (val {best.score:.4f}, test at best {best.test_acc:.4f})",
        markup=False,
    )
    out.print(f"as a train config: {path}", markup=False, soft_wrap=True)
    if not refit:
        return
    from .display import TrainDisplay

    with TrainDisplay(out, config.epochs, quiet=quiet) as display:
        run = selection.refit(config, result.path, data_dir, observer=display)
    final = run.info.get("final") or {}
    test_acc = final.get("test_acc", float("nan"))
    out.print(
        f"refit without a validation split: test acc {test_acc:.4f} after "
        f"{run.info.get('epochs_run')} epochs",
        markup=False,
    )
    out.print(f"refit run: {run.path}", markup=False, soft_wrap=True)


LIST_AT_MOST = 1000  # a dry run lists the trials of sweeps up to this size


def _dry_run(spec_path: Path) -> None:
    """The sweep's size, counted without expanding it; its trials when few enough."""
    from softmax_exp.sweep import load_sweep_spec, make_sweeper
    from softmax_exp.sweep.expand import check_size
    from softmax_exp.sweep.leaderboard import point_label

    from .tables import Column, fit, show

    spec = load_sweep_spec(spec_path)
    check_size(spec)
    if spec.size > LIST_AT_MOST and spec.search != "tpe":
        out.print(
            f"{spec.name}: {spec.size:,} trials (not listed: over {LIST_AT_MOST:,})", markup=False
        )
        return
    trials = make_sweeper(spec).known()  # a TPE sweep: its probes validated, none known
    if not trials:
        out.print(
            f"{spec.name}: {spec.size:,} trials (chosen by {spec.search.upper()} as it runs)",
            markup=False,
        )
        return

    columns = [
        Column("#"),
        Column("trial", justify="left"),
        Column("point", justify="left", wrap=True),
        Column("epochs"),
    ]
    rows = [
        [
            str(trial.index),
            trial.id,
            point_label(trial.point)
            + (f" seed={trial.config.seed}" if "seed" in trial.point else ""),
            str(trial.config.epochs),
        ]
        for trial in trials
    ]
    show(out, fit(out, columns, rows, f"{spec.name}: {len(trials)} trials")[0])
