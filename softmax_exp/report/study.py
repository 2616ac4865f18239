"""Any sweep as an Optuna study: every trial with its params and their distributions,
its per-epoch selection metric as intermediate values, its value and its state.

`export_study` writes one to a journal file that `optuna.load_study` and
optuna-dashboard open; `param_importances` feeds the same trials to Optuna's
fANOVA evaluator for the report.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from ..errors import RunError
from ..fileio import atomic_path
from ..layout import STUDY_FILE
from . import thinning
from .sources import Source, read_source

STATES = {"completed": "COMPLETE", "diverged": "COMPLETE", "pruned": "PRUNED"}  # else FAIL


def _distribution(source: Source, setting: str):
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    dist = source.distribution(setting)
    if dist is None:  # a swept seed: the sweep's seeds are its choices
        return CategoricalDistribution(sorted(int(s) for s in source.trials[setting].unique()))
    if dist.kind == "choice":
        return CategoricalDistribution(list(dist.args))
    if dist.kind == "int":
        return IntDistribution(int(dist.args[0]), int(dist.args[1]))
    return FloatDistribution(
        float(dist.args[0]), float(dist.args[1]), log=dist.kind == "loguniform"
    )


def _param(value: Any, distribution) -> Any:
    """trials.csv's value as the distribution holds it (an empty cell is None, 15.0 is 15)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if isinstance(distribution, CategoricalDistribution):
        for choice in distribution.choices:
            if (choice is None and missing) or (
                not missing and choice is not None and choice == value
            ):
                return choice
        raise RunError(
            f"value {value!r} is not among the sweep's choices "
            f"{list(distribution.choices)}; was sweep.yaml edited after the sweep?"
        )
    return int(value) if isinstance(distribution, IntDistribution) else float(value)


def frozen_trials(source: Source, with_seed: bool = True, with_steps: bool = True) -> list:
    """One Optuna trial per row of trials.csv, in its order; `with_steps`: with every
    epoch's selection metric as its intermediate values."""
    import optuna
    from optuna.trial import TrialState

    if source.spec is None:
        raise RunError(
            f"{source.path}: no readable sweep.yaml, so no distributions; "
            "pass a sweep directory made by softmax sweep"
        )
    settings = source.swept()
    if with_seed and source.trials["seed"].nunique() > 1:
        settings = [*settings, "seed"]
    distributions = {s: _distribution(source, s) for s in settings}
    curves = _steps(source) if with_steps else {}
    made = []
    for row in source.trials.to_dict("records"):
        state = TrialState[STATES.get(row["status"], "FAIL")]
        steps = curves.get(row["trial_id"], {})
        if state == TrialState.COMPLETE and not math.isfinite(row["score"]):
            state = TrialState.FAIL  # it ran, but never had a finite metric to rank on
        value = row["score"] if state == TrialState.COMPLETE else None
        made.append(
            optuna.trial.create_trial(
                state=state,
                value=value,
                intermediate_values=steps,
                params={s: _param(row[s], distributions[s]) for s in settings},
                distributions=distributions,
                user_attrs={
                    "trial_id": str(row["trial_id"]),
                    "status": str(row["status"]),
                    "path": str(row["path"]),
                    "best_epoch": _plain(row["best_epoch"]),
                },
            )
        )
    return made


def _steps(source: Source) -> dict[Any, dict[int, float]]:
    """Each trial's finite values of the selection metric, by epoch."""
    steps: dict[Any, dict[int, float]] = {}
    epochs = source.epochs
    for trial_id, epoch, value in zip(epochs["trial_id"], epochs["epoch"], epochs[source.metric]):
        if isinstance(value, float) and math.isfinite(value):
            steps.setdefault(trial_id, {})[int(epoch)] = float(value)
    return steps


def _plain(value: Any) -> Optional[int]:
    return int(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def export_study(path: Path, out: Optional[Path] = None) -> Path:
    """Write the sweep at `path` as an Optuna journal (`optuna-study.journal` in it)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    source = read_source(Path(path))
    trials = frozen_trials(source)
    target = Path(out) if out else source.path / STUDY_FILE
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with atomic_path(target) as tmp:
        os.unlink(tmp)  # the journal is created fresh, then renamed into place
        storage = JournalStorage(JournalFileBackend(str(tmp)))
        study = optuna.create_study(
            storage=storage,
            study_name=source.name,
            direction="maximize" if source.mode == "max" else "minimize",
        )
        study.set_user_attr("metric", source.metric)
        study.add_trials(trials)
    return target


def param_importances(source: Source) -> dict[str, float]:
    """Importance of each swept setting for the selection metric, by Optuna's PED-ANOVA
    evaluator (its fANOVA needs scikit-learn); empty when fewer than two trials completed
    or nothing varies among them. Past `thinning.IMPORTANCE_TRIALS` completed trials, on
    an evenly spaced sample of them by rank (`thinning.importance_rows`)."""
    import optuna
    from optuna.trial import TrialState

    if source.spec is None or not source.swept():
        return {}
    weighed = replace(source, trials=thinning.importance_rows(source))
    completed = [
        t
        for t in frozen_trials(weighed, with_seed=False, with_steps=False)
        if t.state == TrialState.COMPLETE
    ]
    varied = [s for s in source.swept() if len({repr(t.params[s]) for t in completed}) > 1]
    if len(completed) < 2 or not varied:
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if source.mode == "max" else "minimize")
    study.add_trials(completed)
    importance = _optuna_importance()
    evaluator = importance.PedAnovaImportanceEvaluator()
    return importance.get_param_importances(study, evaluator=evaluator, params=varied)


def _optuna_importance():
    """optuna.importance, without the scikit-learn that its package imports for fANOVA
    when it is installed (mlflow brings it): 0.6 s of every report, where PED-ANOVA needs
    none of it. Optuna imports it under `try_import`, which takes an ImportError as
    "not installed"; a None in sys.modules makes `import sklearn` raise one."""
    if "sklearn" in sys.modules or "optuna.importance" in sys.modules:
        import optuna.importance
    else:
        sys.modules["sklearn"] = None  # type: ignore[assignment]
        try:
            import optuna.importance
        finally:
            del sys.modules["sklearn"]
    return optuna.importance
