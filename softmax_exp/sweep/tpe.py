"""Model-based search: Optuna's TPE sampler as a Sweeper (ask-and-tell).

The study lives in the sweep directory (`optuna.journal`, a file-backed storage),
so an interrupted TPE sweep resumes where it stopped: asks that never finished are
closed as failed and asked again first, and finished trials are not run twice.
"""

from __future__ import annotations

import contextlib
import json
import math
import statistics
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np

from ..errors import RunError
from ..fileio import read_bytes, write_bytes, write_json
from ..layout import TPE_JOURNAL as JOURNAL
from ..layout import TPE_SAMPLER as SAMPLER_STATE
from ..runs import FINISHED
from ..summary import best_row
from .base import Registry, Sweeper
from .expand import Trial, probe_points, trials_for_points
from .jobs import MAX_FUSED
from .spec import Distribution, SweepSpec

ENDED = (*FINISHED, "failed")
STARTUP = 10  # TPESampler's n_startup_trials: its first points are random draws
# Rounds after the start-up: benchmarks/search.py measured 2, 3 and 4 (18 trials, 5
# sampler seeds); 3 matched one-by-one TPE's mean best accuracy at 1.2-1.3x the time of
# fused random search.
MODEL_ROUNDS = 3
JOURNAL_LIMIT = 1 << 30


class TPESweeper(Sweeper):
    """Optuna's TPE, asked for several points at a time: its first `STARTUP` points are
    random draws anyway, so they come in one round; after that each round asks a third
    of the rest of the budget (at least `workers`, at most `MAX_FUSED`), and the points
    still running count as bad ones (Optuna's constant liar), which keeps a round's
    points apart. Points that share a minibatch sequence then train fused. The block's
    `per_round: N` asks N at a time instead (1: one by one, as TPE is usually run)."""

    def __init__(self, spec: SweepSpec, workers: int = 1):
        super().__init__(spec)
        assert spec.sample is not None, "a TPE sweep has its tpe block"
        self.sample = spec.sample
        self.planned, self.workers = self.sample.trials, max(1, workers)
        self.probes = trials_for_points(spec, probe_points(spec))  # validated here, once
        self.study: Any = None  # an optuna Study, once open
        self.registry: Optional[Registry] = None
        self.asks = 0
        self.pending: list[tuple[Any, list[Trial]]] = []

    def probe(self) -> list[Trial]:
        return self.probes

    def open(self, path: Path, restart: bool, registry: Registry) -> None:
        self.registry, self.path = registry, path
        self.study, self.replay = _open_study(self.spec, path, restart, self._register_point)
        # The sampler goes on from where its random streams stood after the round a kill
        # left open (asking it again, from the journal, draws nothing); without a saved
        # state of that round (a kill between its asks and the save), from its seed.
        streams = _saved_streams(path, len(self.study.trials) - self.replay)
        if streams is not None and not restart:
            _set_streams(self.study.sampler, streams)

    def ask(self, records: Mapping[str, Any]) -> list[Trial]:
        ended = _ended(records)
        if ended >= self.planned or self.asks >= 20 * self.planned:
            return []
        if self.replay:  # the round a kill left open, asked again as it was
            size, self.replay = self.replay, 0
        else:
            size = self.round_size(ended)
        batch: dict[str, Trial] = {}
        for _ in range(size):
            asked = self.study.ask()
            self.asks += 1
            params = {key: _suggest(asked, key, dist) for key, dist in self.sample.space.items()}
            trials = self._register_point(params)
            self.pending.append((asked, trials))
            batch.update((t.id, t) for t in trials)
        _save_streams(self.path, self.study)
        return list(batch.values())

    def tell(self, records: Mapping[str, Any]) -> None:
        for asked, trials in self.pending:
            _tell(self.study, asked, [records[t.id] for t in trials], self.spec)
        self.pending = []

    def round_size(self, ended: int) -> int:
        left = self.planned - ended
        if self.sample.per_round:
            return min(self.sample.per_round, left)
        size = (
            STARTUP - ended
            if ended < STARTUP
            else min(MAX_FUSED, math.ceil((self.planned - STARTUP) / MODEL_ROUNDS))
        )
        return min(max(size, self.workers), left)

    def _register_point(self, params: dict[str, Any]) -> list[Trial]:
        """The trials (one per seed) of a point, registered with the driver; their indexes
        follow the trials known so far (a config asked for twice is the same trial)."""
        point = {
            key: _rounded(params[key], dist)
            for key, dist in self.sample.space.items()
            if key in params
        }
        assert self.registry is not None, "open() comes first"
        start = len(self.registry.records)
        return self.registry.register(trials_for_points(self.spec, [point], start=start))


def _open_study(
    spec: SweepSpec, path: Path, restart: bool, register_point: Callable[[dict], list[Trial]]
):
    """The sweep's study, with its earlier trials registered as the sweep's own; asks
    a killed run left open are closed as failed and queued to be asked again first."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    journal = path / JOURNAL
    if restart and (journal.exists() or journal.is_symlink()):  # keep the old one beside
        journal.rename(journal.with_name(f"{JOURNAL}.{time.strftime('%Y%m%d-%H%M%S')}"))
    check_journal(journal)
    with warnings.catch_warnings():  # constant_liar is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        assert spec.sample is not None
        sampler = optuna.samplers.TPESampler(seed=spec.sample.seed, constant_liar=True)
    try:
        study = optuna.create_study(
            study_name=spec.name,
            storage=JournalStorage(JournalFileBackend(str(journal))),
            sampler=sampler,
            direction="maximize" if spec.mode == "max" else "minimize",
            load_if_exists=True,
        )
        earlier_trials = study.get_trials(deepcopy=False)
    except Exception as exc:  # noqa: BLE001 - entries Optuna cannot replay
        raise _damaged(journal, f"Optuna cannot replay it ({type(exc).__name__})") from None
    replay = 0
    for earlier in earlier_trials:
        register_point(earlier.params)
        if earlier.state == TrialState.RUNNING:
            study.tell(earlier.number, state=TrialState.FAIL)
            study.enqueue_trial(earlier.params, skip_if_exists=False)
            replay += 1
    return study, replay


def _streams(sampler) -> list:
    """The random streams TPE draws from (its own and its start-up random sampler's):
    Optuna keeps them inside the sampler, so they are reached by name."""
    return [sampler._rng.rng, sampler._random_sampler._rng.rng]


def _save_streams(path: Path, study) -> None:
    """After a round's asks: the streams, and how many asks the journal then holds."""
    try:
        states = [stream.get_state() for stream in _streams(study.sampler)]
    except AttributeError:  # an Optuna that keeps them elsewhere: resumes from the seed
        return
    streams = [
        [name, keys.tolist(), pos, gauss, cached] for name, keys, pos, gauss, cached in states
    ]
    write_json(path / SAMPLER_STATE, {"asks": len(study.trials), "streams": streams})


def _saved_streams(path: Path, asks: int) -> Optional[list]:
    """The saved streams if they were saved when the journal held `asks` asks (the ones
    before this run's reopening): a kill between the asks and the save, a damaged or
    foreign file gives None."""
    try:
        saved = json.loads(read_bytes(path / SAMPLER_STATE, 1 << 20))
        if saved["asks"] != asks:
            return None
        streams = [
            (str(n), np.array(k, dtype=np.uint32), int(p), int(g), float(c))
            for n, k, p, g, c in saved["streams"]
        ]
        for stream, state in zip(_streams_template(), streams):
            stream.set_state(state)  # a check: raises on a state that is not one
        return streams
    except (OSError, RunError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _streams_template() -> list:
    return [np.random.RandomState(), np.random.RandomState()]


def _set_streams(sampler, streams: list) -> None:
    with contextlib.suppress(AttributeError):
        for stream, state in zip(_streams(sampler), streams):
            stream.set_state(state)


def check_journal(journal: Path) -> None:
    """The study's journal as a kill may leave it: a torn last entry (no newline: its
    write never finished) is cut off; any other entry that is not one of Optuna's (a JSON
    object with an op_code) is refused in one line, as is a link."""
    try:
        data = read_bytes(journal, JOURNAL_LIMIT)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _damaged(journal, exc.strerror or str(exc)) from None
    whole = data[: data.rfind(b"\n") + 1]
    for number, line in enumerate(whole.splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not (isinstance(entry, dict) and isinstance(entry.get("op_code"), int)):
            raise _damaged(journal, f"line {number} is not an Optuna journal entry")
    if whole != data:
        write_bytes(journal, whole)


def _damaged(journal: Path, why: str) -> RunError:
    return RunError(
        f"{journal}: {why}; restart the sweep to start its study over (the old journal "
        "is kept beside), or restore the file"
    )


def _rounded(value, dist: Distribution):
    """As random search rounds: readable values, stable ids, also when read back."""
    return float(f"{value:.6g}") if dist.kind in ("uniform", "loguniform") else value


def _ended(records: Mapping[str, Any]) -> int:
    """Distinct trials that ran to an end: the budget counts configs, not asks."""
    return sum(1 for r in records.values() if r.status in ENDED)


def _suggest(trial, key: str, dist: Distribution):
    if dist.kind == "choice":
        return trial.suggest_categorical(key, list(dist.args))
    if dist.kind == "int":
        return trial.suggest_int(key, dist.args[0], dist.args[1])
    return trial.suggest_float(
        key, float(dist.args[0]), float(dist.args[1]), log=dist.kind == "loguniform"
    )


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
    bests = [
        best_row(r.rows, spec.metric, spec.mode)
        for r in records
        if r.status in ("completed", "diverged")
    ]
    values = [b[spec.metric] for b in bests if b]
    if values:
        study.tell(asked, statistics.fmean(values))
    elif any(r.status == "pruned" for r in records):
        study.tell(asked, state=TrialState.PRUNED)
    else:
        study.tell(asked, state=TrialState.FAIL)
