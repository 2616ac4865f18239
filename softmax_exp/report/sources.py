"""What a report is made of: a sweep or run directory read into tables and facts.

Nothing here draws; `figures` and `page` turn a `Source` into HTML.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ..config import SETTINGS
from ..errors import ConfigError, RunError
from ..fileio import read_bytes, real_directory, refuse_link
from ..layout import COMMANDS_LOG, CONFIG_FILE, METRICS_FILE, RUN_FILE, SPEC_FILE, TRIALS_CSV
from ..metrics import best_of, direction, finite_or_nan
from ..results import load, varying_settings
from ..runs import read_run_info
from ..sweep.spec import Distribution, SweepSpec, load_sweep_spec

TEXT_LIMIT = 1 << 20  # sweep.yaml, config.yaml, commands.log: shown, a few KB each

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Source:
    """One directory given to `softmax report`: a sweep (many trials) or a single run."""

    path: Path
    kind: str  # "sweep" or "run"
    trials: pd.DataFrame  # trials.csv's columns plus `score`
    epochs: pd.DataFrame  # epochs.csv's columns
    metric: str  # the selection metric, e.g. val_acc
    mode: str  # max or min
    spec: Optional[SweepSpec] = None
    spec_text: str = ""
    config_text: str = ""
    commands: list[str] = field(default_factory=list)
    facts: RunFacts = field(default_factory=lambda: RunFacts())  # from every run.json
    infos: dict[str, dict] = field(default_factory=dict)  # run.json by trial, if asked for

    def add_info(self, trial_id: str, info: Optional[dict], keep: bool) -> None:
        self.facts.add(info or {})
        if keep:
            self.infos[trial_id] = info or {}

    @property
    def name(self) -> str:
        if self.spec is not None and ("name",) in self.spec.lines:
            return self.spec.name
        return self.path.name

    def swept(self) -> list[str]:
        """The settings this source varies on purpose (seeds aside)."""
        if self.spec is not None:
            keys = [*self.spec.grid, *self.spec.space]
            return [k for k in SETTINGS if k in keys]
        return [s for s in varying_settings(self.trials) if s != "seed"]

    def distribution(self, setting: str) -> Optional[Distribution]:
        if self.spec is None:
            return None
        if setting in self.spec.space:
            return self.spec.space[setting]
        if setting in self.spec.grid:
            return Distribution("choice", tuple(self.spec.grid[setting]))
        return None

    def best(self) -> Optional[Any]:
        """The selected trial's row: the first with the best score on the selection metric."""
        scores = self.trials["score"]
        index = best_of(scores.index, lambda i: scores[i], self.mode)
        return None if index is None else self.trials.loc[index]

    def status_counts(self) -> Counter:
        return Counter(self.trials["status"].astype(str))


@dataclass
class RunFacts:
    """What the trials' run.json files say of where and how they ran, gathered as each is
    read: a report of 10,000 trials needs these few facts, not 10,000 dicts in memory."""

    kernels: Counter = field(default_factory=Counter)
    versions: dict = field(default_factory=dict)  # the first trial's that has them
    hosts: set = field(default_factory=set)
    contexts: set = field(default_factory=set)
    first_start: Optional[datetime] = None
    last_end: Optional[datetime] = None

    def add(self, info: dict) -> None:
        if info.get("kernels"):
            self.kernels[str(info["kernels"])] += 1
        if not self.versions and isinstance(info.get("versions"), dict):
            self.versions = info["versions"]
        self.hosts |= {str(info["host"])} if info.get("host") else set()
        self.contexts |= {str(info["context"])} if info.get("context") else set()
        start, end = _time(info.get("started_at")), _time(info.get("ended_at"))
        if start and (self.first_start is None or start < self.first_start):
            self.first_start = start
        if end and (self.last_end is None or end > self.last_end):
            self.last_end = end


def _time(text: Any) -> Optional[datetime]:
    """A time as run.json holds it (UTC, to the second; one without a zone is taken as
    UTC, so that any two compare); None for anything else."""
    try:
        value = datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def read_source(path: Path, with_infos: bool = False) -> Source:
    """A sweep or run directory, every file read as the tool wrote it: a symbolic link
    among them is refused (a report is meant to be shared: nothing outside the directory
    goes into it), and so is a trial path in trials.csv that leads out of the sweep.
    Each trial's run.json goes into `facts`; `with_infos`: also kept whole, by trial id."""
    path = Path(path)
    for name in (SPEC_FILE, COMMANDS_LOG, CONFIG_FILE, RUN_FILE, METRICS_FILE):
        refuse_link(path / name)
    results = load(path)
    trials, epochs = results.trials, results.epochs
    if (path / TRIALS_CSV).is_file():
        spec, spec_text = _spec(path)
        metric = _selected_on(trials, spec)
        mode = spec.mode if spec else direction(metric)
        commands = _lines(path / COMMANDS_LOG)
        source = Source(
            path,
            "sweep",
            trials,
            epochs,
            metric,
            mode,
            spec,
            spec_text,
            commands=commands,
        )
        for row in trials.itertuples():
            info = read_run_info(trial_directory(path, row.path))
            source.add_info(str(row.trial_id), info, with_infos)
    else:
        metric = str(trials["selected_on"].iloc[0])
        mode = direction(metric)
        source = Source(
            path,
            "run",
            trials,
            epochs,
            metric,
            mode,
            config_text=_text(path / CONFIG_FILE),
        )
        source.add_info(str(trials["trial_id"].iloc[0]), read_run_info(path), with_infos)
    _add_scores(source)
    return source


def _spec(path: Path) -> tuple[Optional[SweepSpec], str]:
    text = _text(path / SPEC_FILE)
    try:
        return load_sweep_spec(path / SPEC_FILE), text
    except ConfigError:  # an edited or foreign sweep.yaml: show it, do without its hints
        return None, text


def _selected_on(trials, spec: Optional[SweepSpec]) -> str:
    if spec is not None:
        return spec.metric
    if "selected_on" not in trials:
        return "val_acc"
    chosen = trials["selected_on"].dropna()
    return str(chosen.iloc[0]) if len(chosen) else "val_acc"


def _add_scores(source: Source) -> None:
    """`score`: each trial's selection metric at its best epoch (NaN when it has none)."""
    trials, epochs, metric = source.trials, source.epochs, source.metric
    at_best = epochs.merge(trials[["trial_id", "best_epoch"]], on="trial_id")
    at_best = at_best[at_best["epoch"] == at_best["best_epoch"]]
    scores = dict(zip(at_best["trial_id"], at_best[metric].astype(float)))
    trials["score"] = [finite_or_nan(scores.get(t)) for t in trials["trial_id"]]


def trial_directory(sweep: Path, text: Any) -> Path:
    """A trial's directory as trials.csv names it (`trials/<id>`), checked to be the
    sweep's own: relative, no '..', no link on the way."""
    relative = Path(str(text))
    if relative.is_absolute() or ".." in relative.parts:
        raise RunError(
            f"{sweep / 'trials.csv'}: trial path {str(text)!r} leads out of the sweep; "
            "run the sweep again to rewrite the table"
        )
    return real_directory(sweep / relative, sweep)


def _text(path: Path) -> str:
    try:
        return read_bytes(path, TEXT_LIMIT).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _lines(path: Path) -> list[str]:
    return [line for line in _text(path).splitlines() if line.strip()]
