"""What every tracker shares: its errors, the extras it needs, and a run or sweep
directory read into small frozen records (`ExportSource`, one `ExportTrial` a trial)."""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from ..config import SETTINGS, TrainConfig, load_train_config
from ..errors import ConfigError, SoftmaxExpError
from ..layout import CONFIG_FILE, OWNER_FILE, REPORT_FILE, RUN_FILE, SPEC_FILE
from ..records import METRIC_COLUMNS

# what each tracker gets of an epoch: its losses and accuracies (timings stay in the CSV)
EPOCH_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
# a trial's summary, as trials.csv names it: the HParams table's metrics
SUMMARY_METRICS = ("best_val_acc", "test_acc_at_best")
# MLflow has four ends for a run; a trial's status keeps its own name in a tag
MLFLOW_STATUS = {
    "completed": "FINISHED",
    "diverged": "FAILED",  # its loss became NaN or inf
    "failed": "FAILED",  # it raised, or its worker died
    "pruned": "KILLED",  # stopped early on purpose
    "interrupted": "KILLED",  # stopped by the user; the sweep goes on from it when rerun
    "running": "RUNNING",
}
EXTRAS = {  # extra -> the modules it installs
    "mlflow": ("mlflow",),
    "tensorboard": ("tensorboardX", "tensorboard"),
}


class TrackingError(SoftmaxExpError):
    """A tracker cannot be reached or refuses what it is sent. `reason`, when set: what
    failed in a few words, without the message's advice (a live tracker's one line)."""

    reason: str = ""


class MissingExtra(TrackingError):
    """The optional dependencies of a tracker are not installed."""

    def __init__(self, extra: str):
        self.extra = extra
        super().__init__(
            f"{extra} is not installed; install it with: pip install 'softmax-exp[{extra}]'"
        )


def require(extra: str) -> None:
    """A MissingExtra unless the extra's modules can be imported (found, not loaded)."""
    if not all(importlib.util.find_spec(module) for module in EXTRAS[extra]):
        raise MissingExtra(extra)


@dataclass(frozen=True)
class ExportTrial:
    """One trial (or a lone run) as trackers see it."""

    trial_id: str
    status: str
    settings: Mapping[str, Any]  # every setting of its config
    hparams: Mapping[str, Any]  # the settings its sweep varies (all of a lone run's)
    epochs: tuple[Mapping[str, Any], ...]  # one row a finished epoch (METRIC_COLUMNS)
    summary: Mapping[str, Optional[float]]  # SUMMARY_METRICS, None when it has none
    best_epoch: Optional[int] = None
    stop_reason: str = ""
    info: Optional[Mapping[str, Any]] = None  # run.json ({} when it is missing)
    directory: Optional[Path] = None  # its run directory, when there is one

    @property
    def files(self) -> list[Path]:
        """What goes with it as artifacts: its config.yaml and run.json."""
        if self.directory is None:
            return []
        return [
            self.directory / name
            for name in (CONFIG_FILE, RUN_FILE)
            if (self.directory / name).is_file() and not (self.directory / name).is_symlink()
        ]


@dataclass(frozen=True)
class ExportSource:
    """A sweep directory (kind "sweep") or a run directory (kind "run")."""

    kind: str
    name: str
    path: Path
    trials: tuple[ExportTrial, ...]
    files: tuple[Path, ...] = ()  # a sweep's own artifacts: its sweep file and report


def read_export_source(path: Path) -> ExportSource:
    """A run or sweep directory read and checked (a RunError naming what is wrong)."""
    from ..report.sources import read_source

    source = read_source(Path(path), with_infos=True)
    swept = list(source.swept())
    if source.kind == "sweep" and source.trials["seed"].nunique() > 1:
        swept.append("seed")
    curves = {str(t): rows for t, rows in source.epochs.groupby("trial_id", sort=False)}
    trials = []
    for row in source.trials.to_dict("records"):
        trial_id = str(row["trial_id"])
        directory = source.path if source.kind == "run" else source.path / str(row["path"])
        settings = _settings(row, directory)
        rows = curves.get(trial_id)
        epochs = () if rows is None else tuple(_epoch_row(r) for r in rows.to_dict("records"))
        trials.append(
            ExportTrial(
                trial_id=trial_id,
                status=str(row["status"]),
                settings=settings,
                hparams={k: settings[k] for k in (swept if source.kind == "sweep" else SETTINGS)},
                epochs=epochs,
                summary={k: finite(row.get(k)) for k in SUMMARY_METRICS},
                best_epoch=whole(row.get("best_epoch")),
                stop_reason=_text(row.get("stop_reason")),
                info=source.infos.get(trial_id) or {},
                directory=directory if directory.is_dir() else None,
            )
        )
    files = sweep_artifacts(source.path) if source.kind == "sweep" else ()
    return ExportSource(source.kind, _name(source), source.path, tuple(trials), files)


def sweep_artifacts(path: Path) -> tuple[Path, ...]:
    """What a sweep's parent run carries: its sweep file and report, where they are
    files of the directory's own (never a link's target)."""
    return tuple(
        path / name
        for name in (SPEC_FILE, REPORT_FILE)
        if (path / name).is_file() and not (path / name).is_symlink()
    )


def _name(source) -> str:
    """A sweep's name as its directory records it (sweep.json: the name a live sweep is
    tracked under), else its report's name for it."""
    import json

    if source.kind == "sweep":
        try:
            owner = json.loads((source.path / OWNER_FILE).read_text(encoding="utf-8"))
            if isinstance(owner, dict) and isinstance(owner.get("name"), str) and owner["name"]:
                return owner["name"]
        except (OSError, ValueError):
            pass
        if source.spec is not None:
            return source.spec.name
    return source.name


def _settings(row: Mapping[str, Any], directory: Path) -> dict[str, Any]:
    """The trial's config.yaml when it is there and valid, else its trials.csv row."""
    if (directory / CONFIG_FILE).is_file():
        try:
            return load_train_config(directory / CONFIG_FILE).model_dump()
        except ConfigError:
            pass
    settings: dict[str, Any] = {}
    for name in SETTINGS:
        value = row.get(name)
        kinds = getattr(TrainConfig.model_fields[name].annotation, "__args__", None) or (
            TrainConfig.model_fields[name].annotation,
        )
        if value is None or (isinstance(value, float) and math.isnan(value)):
            settings[name] = None
        elif int in kinds and not isinstance(value, str):
            settings[name] = int(value)
        elif float in kinds:
            settings[name] = float(value)
        else:
            settings[name] = str(value)
    return settings


def _epoch_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"epoch": int(row["epoch"]), **{k: number(row.get(k)) for k in METRIC_COLUMNS[1:]}}


def number(value: Any) -> Optional[float]:
    """A metric as a float (NaN and inf kept: a diverged loss), None when absent."""
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value


def finite(value: Any) -> Optional[float]:
    value = number(value)
    return value if value is not None and math.isfinite(value) else None


def whole(value: Any) -> Optional[int]:
    value = finite(value)
    return int(value) if value is not None else None


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def epoch_metrics(row: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, float]:
    """An epoch's EPOCH_METRICS that it has: no val_* without a validation split (they
    are empty cells then, read as NaN); a NaN loss of a diverged trial is kept."""
    has_val = bool(settings.get("val_fraction"))
    values = {k: number(row.get(k)) for k in EPOCH_METRICS if has_val or not k.startswith("val_")}
    return {k: v for k, v in values.items() if v is not None}


def started_ms(info: Mapping[str, Any]) -> Optional[int]:
    """When the run started (run.json's started_at), in ms since the epoch."""
    try:
        return int(datetime.fromisoformat(str(info.get("started_at"))).timestamp() * 1000)
    except (TypeError, ValueError):
        return None


def ended_ms(info: Mapping[str, Any]) -> Optional[int]:
    try:
        return int(datetime.fromisoformat(str(info.get("ended_at"))).timestamp() * 1000)
    except (TypeError, ValueError):
        return None


def epoch_times(start_ms: int, epochs: Sequence[Mapping[str, Any]]) -> list[int]:
    """Each epoch's end in ms: the start plus the epochs' seconds so far. The same rows
    give the same times, live or exported, so a point sent twice is the same point."""
    times, elapsed = [], 0.0
    for row in epochs:
        seconds = finite(row.get("epoch_seconds"))
        elapsed += seconds if seconds is not None else 0.0
        times.append(start_ms + int(round(elapsed * 1000)))
    return times
