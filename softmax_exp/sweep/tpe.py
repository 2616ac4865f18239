"""Model-based search: Optuna's TPE sampler through its ask-and-tell interface.

The study lives in the sweep directory (`optuna.journal`, a file-backed storage),
so an interrupted TPE sweep resumes where it stopped: asks that never finished are
closed as failed and asked again first, and finished trials are not run twice.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from ..runs import FINISHED
from ..summary import best_row
from .expand import Trial, trials_for_points
from .spec import Distribution

JOURNAL = "optuna.journal"
ENDED = (*FINISHED, "failed")


def run_tpe(driver, executor, plan: dict, restart: bool) -> None:
    """Ask, run, tell, in rounds of `workers` trials, until the budget of distinct
    trials has run to an end."""
    spec = driver.spec
    study = _open_study(driver, restart)
    driver.sweep.skipped = _ended(driver)
    driver.observer.sweep_started(driver.sweep)
    asks = 0
    while _ended(driver) < spec.random_trials and asks < 20 * spec.random_trials:
        batch = []
        for _ in range(min(max(1, plan["workers"]), spec.random_trials - _ended(driver))):
            asked = study.ask()
            asks += 1
            params = {key: _suggest(asked, key, dist) for key, dist in spec.space.items()}
            batch.append((asked, driver.add_trials(_trials(driver, params))))
        to_run = {t.id: t for _, trials in batch for t in trials
                  if driver.sweep.records[t.id].status not in FINISHED}
        driver.run_jobs(executor, list(to_run.values()), plan)
        for asked, trials in batch:
            _tell(study, asked, [driver.sweep.records[t.id] for t in trials], spec)


def _open_study(driver, restart: bool):
    """The sweep's study, with its earlier trials registered as the sweep's own; asks
    a killed run left open are closed as failed and queued to be asked again first."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec, journal = driver.spec, driver.path / JOURNAL
    if restart and journal.exists():  # start over, but keep the old study beside
        journal.rename(journal.with_name(f"{JOURNAL}.{time.strftime('%Y%m%d-%H%M%S')}"))
    study = optuna.create_study(
        study_name=spec.name, storage=JournalStorage(JournalFileBackend(str(journal))),
        sampler=optuna.samplers.TPESampler(seed=spec.random_seed),
        direction="maximize" if spec.mode == "max" else "minimize", load_if_exists=True)
    for earlier in study.get_trials(deepcopy=False):
        driver.add_trials(_trials(driver, earlier.params))
        if earlier.state == TrialState.RUNNING:
            study.tell(earlier.number, state=TrialState.FAIL)
            study.enqueue_trial(earlier.params, skip_if_exists=False)
    return study


def _trials(driver, params: dict[str, Any]) -> list[Trial]:
    point = {key: _rounded(params[key], dist) for key, dist in driver.spec.space.items()
             if key in params}
    return trials_for_points(driver.spec, [point], start=len(driver.sweep.trials))


def _rounded(value, dist: Distribution):
    """As random search rounds: readable values, stable ids, also when read back."""
    return float(f"{value:.6g}") if dist.kind in ("uniform", "loguniform") else value


def _ended(driver) -> int:
    """Distinct trials that ran to an end: the budget counts configs, not asks."""
    return sum(1 for r in driver.sweep.records.values() if r.status in ENDED)


def _suggest(trial, key: str, dist: Distribution):
    if dist.kind == "choice":
        return trial.suggest_categorical(key, list(dist.args))
    if dist.kind == "int":
        return trial.suggest_int(key, dist.args[0], dist.args[1])
    return trial.suggest_float(key, float(dist.args[0]), float(dist.args[1]),
                               log=dist.kind == "loguniform")


def _tell(study, asked, records, spec) -> None:
    """COMPLETE with the mean best metric over seeds; PRUNED; else FAIL. Each epoch's
    metric (the mean over seeds) is reported first, as Optuna's own trials do."""
    from optuna.trial import TrialState

    asked.set_user_attr("trial_ids", [r.trial.id for r in records])
    by_epoch: dict[int, list[float]] = {}
    for record in records:
        for row in record.rows:
            value = row.get(spec.metric)
            if isinstance(value, float) and math.isfinite(value):
                by_epoch.setdefault(row["epoch"], []).append(value)
    for epoch, values in sorted(by_epoch.items()):
        asked.report(statistics.fmean(values), epoch)
    bests = [best_row(r.rows, spec.metric, spec.mode) for r in records
             if r.status in ("completed", "diverged")]
    values = [b[spec.metric] for b in bests if b]
    if values:
        study.tell(asked, statistics.fmean(values))
    elif any(r.status == "pruned" for r in records):
        study.tell(asked, state=TrialState.PRUNED)
    else:
        study.tell(asked, state=TrialState.FAIL)
