"""Runs and sweeps in an MLflow tracking store: a sweep is one parent run with one nested
run per trial (params: its settings; metrics: every epoch's losses and accuracies, step =
epoch, sent in batches; tags: its id, status, stop reason, best epoch, config id,
versions; artifacts: config.yaml, run.json, and for the parent the sweep file and
report.html). A lone run is one top-level run.

Runs are found again by their tags (`softmax_exp.trial_id` under the sweep's parent run,
in the experiment), and a metric's steps already stored are not sent again: exporting
twice, or after a live sweep, adds nothing twice. Only this module imports mlflow.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, MutableMapping, Optional, Sequence

from .base import (
    MLFLOW_STATUS,
    SUMMARY_METRICS,
    ExportSource,
    ExportTrial,
    TrackingError,
    ended_ms,
    epoch_metrics,
    epoch_times,
    finite,
    read_export_source,
    started_ms,
)

TAG = "softmax_exp."
RUN_EXPERIMENT = "softmax-train"  # lone runs' experiment, unless one is named
MAX_METRICS, MAX_PARAMS, MAX_TAGS = 1000, 100, 100  # MLflow's limits for one log_batch
TAG_LENGTH = 5000  # MLflow keeps tag values up to 8000 characters
# The UI opens an experiment of this kind on its runs (training), not on GenAI traces.
EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_TAG = (EXPERIMENT_KIND, "custom_model_development")


@dataclass(frozen=True)
class ExportSummary:
    uri: str
    experiment: str
    runs: int  # runs written to (the parent included)
    created: int  # of which new
    points: int  # metric points sent (those already there are not)


def export(path: Path, uri: str, experiment: Optional[str] = None) -> ExportSummary:
    """The run or sweep at `path` into the store at `uri`, idempotently."""
    source = read_export_source(path)
    store = MlflowStore(uri, experiment or default_experiment(source.kind, source.name))
    before = store.points
    created = 0
    if source.kind == "sweep":
        starts = [s for s in (started_ms(t.info or {}) for t in source.trials) if s is not None]
        ends = [e for e in (ended_ms(t.info or {}) for t in source.trials) if e is not None]
        parent, made = store.ensure_run(
            source.name,
            parent_tags(source.name, source.path),
            role="sweep",
            start=min(starts) if starts else None,
        )
        created += made
        known = store.children(parent)
        for trial in source.trials:
            created += store.send_trial(trial, source.name, parent, known.get(trial.trial_id))
        store.upload(parent, source.files)
        status = sweep_status(t.status for t in source.trials)
        store.end(parent, status, max(ends) if ends else None)
    else:
        (trial,) = source.trials
        trial = _as_lone_run(trial, source)
        known = store.lone_runs(trial.trial_id)
        created += store.send_trial(trial, "", None, known)
    runs = len(source.trials) + (source.kind == "sweep")
    return ExportSummary(uri, store.experiment_name, runs, created, store.points - before)


def default_experiment(kind: str, name: str) -> str:
    """A sweep's experiment is named after it; lone runs share one."""
    return name if kind == "sweep" else RUN_EXPERIMENT


def _as_lone_run(trial: ExportTrial, source: ExportSource) -> ExportTrial:
    """A run directory's trial is known by the directory's name (its config id is not
    unique: the same config can run twice)."""
    from dataclasses import replace

    return replace(trial, trial_id=source.path.name)


def sweep_status(statuses: Iterable[str]) -> str:
    """The parent run's end: FINISHED once every trial has ended; KILLED when some were
    interrupted (the sweep goes on from them when run again)."""
    statuses = list(statuses)
    return "KILLED" if any(s in ("running", "interrupted") for s in statuses) else "FINISHED"


def parent_tags(name: str, path: Path) -> dict[str, str]:
    return {TAG + "sweep": name, TAG + "path": str(Path(path).resolve())}


def trial_tags(
    trial_id: str,
    status: str,
    info: Mapping[str, Any],
    sweep: str = "",
    stop_reason: str = "",
    best_epoch: Optional[int] = None,
    directory: Optional[Path] = None,
) -> dict[str, str]:
    """A trial's tags (set again on each export: they may have changed)."""
    tags = {
        TAG + "status": status,
        TAG + "stop_reason": (stop_reason or str(info.get("stop_reason") or ""))[:TAG_LENGTH],
        TAG + "best_epoch": "" if best_epoch is None else str(best_epoch),
        TAG + "config_id": str(info.get("id") or ""),
    }
    if sweep:
        tags[TAG + "sweep"] = sweep
    if directory is not None:
        tags[TAG + "path"] = str(Path(directory).resolve())
    if info.get("error"):
        tags[TAG + "error"] = str(info["error"])[:TAG_LENGTH]
    for name, version in (info.get("versions") or {}).items():
        tags[f"{TAG}version.{name}"] = str(version)
    return tags


def epoch_points(
    epochs: Sequence[Mapping[str, Any]], settings: Mapping[str, Any], start: int
) -> list[tuple[str, float, int, int]]:
    """(key, value, timestamp in ms, step = epoch) for every metric of every epoch."""
    points = []
    for row, at in zip(epochs, epoch_times(start, epochs)):
        for key, value in epoch_metrics(row, settings).items():
            points.append((key, value, at, int(row["epoch"])))
    return points


def summary_points(
    summary: Mapping[str, Any], best_epoch: Optional[int], at: int
) -> list[tuple[str, float, int, int]]:
    """The trial's best val acc and test acc at best, at its best epoch's step."""
    if best_epoch is None:
        return []
    values = {k: finite(summary.get(k)) for k in SUMMARY_METRICS}
    return [(k, v, at, best_epoch) for k, v in values.items() if v is not None]


def settings_params(settings: Mapping[str, Any]) -> dict[str, str]:
    return {k: "null" if v is None else str(v) for k, v in settings.items()}


class MlflowStore:
    """One tracking store and the experiment runs go to; every call to MLflow is here.
    `timeout` and `retries` bound each HTTP request (None: the export's defaults)."""

    def __init__(
        self, uri: str, experiment: str, timeout: Optional[float] = None, retries: int = 2
    ):
        _bound_requests(timeout or 20, retries)
        from mlflow.tracking import MlflowClient

        _quiet()
        self.uri, self.experiment_name, self.points = uri, experiment, 0
        if uri.startswith("sqlite:///"):
            _make_parent(Path(uri[len("sqlite:///") :]))
        self.client = MlflowClient(tracking_uri=uri)
        with self.calls("opening the store"):
            self.experiment_id = self._experiment(experiment)

    def calls(self, doing: str):
        return _Translated(self.uri, doing)

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None and found.lifecycle_stage != "active":
            raise TrackingError(
                f"MLflow at {self.uri}: experiment '{name}' is deleted; restore it "
                f"(mlflow experiments restore) or name another experiment"
            )
        if found is not None:
            if EXPERIMENT_KIND not in found.tags:
                self.client.set_experiment_tag(found.experiment_id, *EXPERIMENT_KIND_TAG)
            return found.experiment_id
        return self.client.create_experiment(
            name, artifact_location=_artifact_location(self.uri), tags=dict([EXPERIMENT_KIND_TAG])
        )

    def _search(self, filter_string: str) -> list[Any]:
        runs: list[Any] = []  # mlflow's Run objects
        token: Optional[str] = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id], filter_string, max_results=1000, page_token=token
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def ensure_run(
        self,
        name: str,
        tags: Mapping[str, str],
        role: str,
        parent: Optional[str] = None,
        start: Optional[int] = None,
        found: Any = None,
    ) -> tuple[str, bool]:
        """The run named by its role and name (a sweep's parent run, or a trial found
        beforehand as `found`); created when it is not there. Returns (run id, created)."""
        with self.calls(f"finding run {name}"):
            if role == "sweep" and found is None:
                found = next(
                    (
                        r
                        for r in self._search(f"tags.`{TAG}role` = 'sweep'")
                        if r.data.tags.get(TAG + "sweep") == name
                    ),
                    None,
                )
            if found is not None:
                run_id = found if isinstance(found, str) else found.info.run_id
                self.set_tags(run_id, tags)
                return run_id, False
            keys = {TAG + "role": role, TAG + "trial_id": name, "mlflow.runName": name}
            if parent:
                keys["mlflow.parentRunId"] = parent
            run = self.client.create_run(
                self.experiment_id, start_time=start, tags={**keys, **tags}, run_name=name
            )
        return run.info.run_id, True

    def children(self, parent: str) -> dict[str, Any]:
        """The parent run's trials, by trial id."""
        with self.calls("listing the sweep's runs"):
            runs = self._search(f"tags.`mlflow.parentRunId` = '{parent}'")
        return {r.data.tags.get(TAG + "trial_id"): r for r in runs}

    def lone_runs(self, trial_id: str) -> Any:
        """The top-level run of a run directory of that name, or None."""
        with self.calls("finding the run"):
            runs = self._search(f"tags.`{TAG}role` = 'run'")
        return next((r for r in runs if r.data.tags.get(TAG + "trial_id") == trial_id), None)

    def logged_steps(self, run: Any) -> dict[str, set[int]]:
        """The steps each metric of `run` (a Run, or an id) already has."""
        with self.calls("reading metric history"):
            if isinstance(run, str):
                run = self.client.get_run(run)
            return {
                key: {m.step for m in self.client.get_metric_history(run.info.run_id, key)}
                for key in run.data.metrics
            }

    def send_trial(
        self,
        trial: ExportTrial,
        sweep: str,
        parent: Optional[str],
        found: Any,
        known: Optional[dict[str, set[int]]] = None,
    ) -> int:
        """One trial (or lone run) whole: its run found (a Run, or its id) or made, what
        it lacks sent, its tags and end set, its files uploaded. `known`: the steps its
        metrics have, when the caller knows (it sent them, params included). Returns 1
        when its run is new."""
        info = trial.info or {}
        start = started_ms(info)
        run_id, created = self.ensure_run(
            trial.trial_id,
            trial_tags(
                trial.trial_id,
                trial.status,
                info,
                sweep,
                trial.stop_reason,
                trial.best_epoch,
                trial.directory,
            ),
            role="trial" if parent else "run",
            parent=parent,
            start=start,
            found=found,
        )
        if known is not None:
            params = settings_params(trial.settings)  # sent with its first epoch
        elif created:
            known, params = {}, {}
        else:
            known = self.logged_steps(found)
            params = dict(found.data.params) if not isinstance(found, str) else {}
        at = start if start is not None else _now_ms()
        points = epoch_points(trial.epochs, trial.settings, at)
        ends = epoch_times(at, trial.epochs)
        best_at = (
            ends[trial.best_epoch - 1] if trial.best_epoch and trial.best_epoch <= len(ends) else at
        )
        points += summary_points(trial.summary, trial.best_epoch, best_at)
        self.log(run_id, points, known, settings_params(trial.settings), params)
        self.upload(run_id, trial.files)
        self.end(run_id, MLFLOW_STATUS.get(trial.status, "FAILED"), ended_ms(info))
        return int(created)

    def log(
        self,
        run_id: str,
        points: Sequence[tuple[str, float, int, int]],
        known: MutableMapping[str, set[int]],
        params: Optional[Mapping[str, str]] = None,
        logged_params: Optional[Mapping[str, str]] = None,
    ) -> int:
        """The points (and params) the run does not have yet, in batches. A param that
        the run has with another value (an extended run's epochs) keeps its first."""
        from mlflow.entities import Metric, Param

        new = [p for p in points if p[3] not in known.get(p[0], ())]
        metrics = [Metric(k, v, ts, step) for k, v, ts, step in new]
        fresh = [Param(k, v) for k, v in (params or {}).items() if k not in (logged_params or {})]
        with self.calls("logging metrics"):
            for i in range(0, len(fresh), MAX_PARAMS):
                self.client.log_batch(run_id, params=fresh[i : i + MAX_PARAMS])
            for i in range(0, len(metrics), MAX_METRICS):
                self.client.log_batch(run_id, metrics=metrics[i : i + MAX_METRICS])
        for key, _, _, step in new:
            known.setdefault(key, set()).add(step)
        self.points += len(new)
        return len(new)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, v) for k, v in tags.items()]
        with self.calls("setting tags"):
            for i in range(0, len(items), MAX_TAGS):
                self.client.log_batch(run_id, tags=items[i : i + MAX_TAGS])

    def upload(self, run_id: str, files: Iterable[Path]) -> None:
        with self.calls("uploading artifacts"):
            for path in files:
                self.client.log_artifact(run_id, str(path))

    def end(self, run_id: str, status: str, end: Optional[int] = None) -> None:
        with self.calls("ending the run"):
            if status == "RUNNING":
                self.client.update_run(run_id, status="RUNNING")
            else:
                self.client.set_terminated(run_id, status, end_time=end)


class _Translated:
    """MLflow's and the network's errors, as one TrackingError line saying what failed."""

    def __init__(self, uri: str, doing: str):
        self.uri, self.doing = uri, doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, trace) -> Literal[False]:
        if exc is None or isinstance(exc, TrackingError) or not isinstance(exc, Exception):
            return False
        error = TrackingError(
            f"MLflow at {self.uri}: {self.doing} failed ({describe(exc)}); check that "
            "the store or server is up and the URI right, then run the export again"
        )
        error.reason = f"{self.doing} failed ({describe(exc)})"
        raise error from exc


def describe(exc: BaseException) -> str:
    """An MLflow or requests error in one short line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "Max retries exceeded" in text or "Connection refused" in text:
        text = "connection refused"
    elif "timed out" in text.lower():
        text = "timed out"
    return f"{type(exc).__name__}: {text[:200]}"


def _bound_requests(timeout: float, retries: int) -> None:
    """MLflow's HTTP client retries 7 times over minutes by default; a tracker must not
    hold a sweep up for long. A user's own setting wins."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(max(1, timeout))))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")


def _quiet() -> None:
    """MLflow and its database migrations log at INFO to stderr, and SQLAlchemy warns of
    what MLflow's own code does; a command prints its own lines only."""
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for module in ("mlflow", "sqlalchemy", "alembic"):
        warnings.filterwarnings("ignore", module=rf"{module}(\.|$)")


def _artifact_location(uri: str) -> Optional[str]:
    """A SQLite store keeps artifacts beside its file (MLflow's default is ./mlruns in
    whatever directory the command ran in); a server decides for itself."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri[len("sqlite:///") :])
    return (database.parent.resolve() / "mlartifacts").as_uri()


def _make_parent(database: Path) -> None:
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrackingError(
            f"MLflow store sqlite:///{database}: cannot create {database.parent} "
            f"({exc.strerror}); choose another place for the database"
        ) from None


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
