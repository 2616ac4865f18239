"""After selection: the chosen point as a plain train config, and its refit.

The sweep selects on validation data only. `select_best` takes the point (seeds pooled)
with the best mean selection metric; `best_train_config` makes it a plain train config
for the whole training set (no validation split, no early stopping: it trains for the
epochs that selection found best); `refit` trains that config in the sweep directory,
so its test accuracy is reported apart from the selection figures.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .. import yamlio
from ..config import TrainConfig
from ..fileio import write_text
from ..layout import REFIT_DIR
from ..metrics import best_of
from ..summary import best_row
from .leaderboard import point_label
from .state import SweepRun


@dataclass(frozen=True)
class Selection:
    """The best point of a sweep, as selection saw it."""

    label: str
    config: TrainConfig  # its first seed's trial config
    score: float  # mean selection metric over its seeds
    test_acc: float  # mean test accuracy at each seed's best epoch (reported, not chosen on)
    best_epoch: int  # mean best epoch over seeds, rounded
    seeds: int
    swept: tuple = ()  # the settings the sweep varied


def select_best(sweep: SweepRun) -> Optional[Selection]:
    """The point with the best mean of the sweep's metric; None when nothing finished."""
    metric, mode = sweep.spec.metric, sweep.spec.mode
    points: dict[str, list] = {}
    for record in sorted(sweep.records.values(), key=lambda r: r.trial.index):
        best = best_row(record.rows, metric, mode)
        if record.status in ("completed", "pruned") and best:
            points.setdefault(point_label(record.trial.point), []).append((record, best))
    top = best_of(
        points.items(), lambda item: statistics.fmean(b[metric] for _, b in item[1]), mode
    )
    if top is None:  # nothing finished
        return None
    label, chosen = top
    return Selection(
        label,
        chosen[0][0].trial.config,
        statistics.fmean(b[metric] for _, b in chosen),
        statistics.fmean(b["test_acc"] for _, b in chosen),
        round(statistics.fmean(b["epoch"] for _, b in chosen)),
        len(chosen),
        tuple(k for k in chosen[0][0].trial.point if k != "seed"),
    )


def best_train_config(selection: Selection) -> TrainConfig:
    """The selected point for the whole training set: no validation split, no early
    stopping, and the epochs selection found best when it stopped early."""
    values = selection.config.model_dump()
    early = values["patience"] is not None
    values.update(val_fraction=0.0, patience=None, min_delta=0.0, seed=0)
    if early:
        values["epochs"] = max(selection.best_epoch, values["warmup_epochs"] + 1)
    return TrainConfig(**values)


def write_best_config(selection: Selection, config: TrainConfig, path: Path, source: str) -> None:
    """`config` as a train config file: what the sweep varied, and what else differs
    from the defaults."""
    defaults = TrainConfig().model_dump()
    changed: dict[str, Any] = {
        key: value
        for key, value in config.model_dump().items()
        if value != defaults[key] or key in selection.swept
    }
    score = f"{selection.score:.4f}" if math.isfinite(selection.score) else "nan"
    header = (
        f"# The best point of {source}: validation {score}, mean of {selection.seeds}\n"
        f"# seed(s). Without its validation split (val_fraction 0): train it with\n"
        f"#   softmax train -c {path}\n"
    )
    write_text(path, header + (yamlio.dump(changed) if changed else "{}\n"))


def refit(config: TrainConfig, sweep_path: Path, data_dir: Optional[Path] = None, observer=None):
    """Train the selected config on the whole training set into `sweep_path/refit/`."""
    from ..experiment import new_run_path, run_train

    out = sweep_path / REFIT_DIR
    return run_train(config, out, data_dir, observer, path=new_run_path(out, config))
