"""Adaptive sweeps on the real dataset: pruning saves epochs and keeps the best trial;
a TPE sweep resumes to its budget without duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from softmax_exp.sweep import run_sweep

pytestmark = pytest.mark.e2e

SPACE = """\
base: {epochs: 4, train_subset: 3000, batch_size: 100}
random:
  trials: 10
  seed: 3
  space:
    lr: {loguniform: [0.00001, 1.0]}
"""


@pytest.mark.slow  # three sweeps of 10 trials
def test_pruning_saves_epochs_and_finds_the_same_best_trial(tmp_path, real_dataset):
    (tmp_path / "plain.yaml").write_text(SPACE)
    (tmp_path / "pruned.yaml").write_text(
        SPACE + "prune: {method: median, warmup_epochs: 1, min_trials: 2}\n"
    )
    results = {}
    for name in ("plain", "pruned"):
        run_sweep(tmp_path / f"{name}.yaml", tmp_path / name, fuse=False, argv=["test"])
        results[name] = pd.read_csv(tmp_path / name / "trials.csv")
    plain, pruned = results["plain"], results["pruned"]
    assert (pruned.status == "pruned").sum() >= 2
    assert pruned.epochs_run.sum() < plain.epochs_run.sum()
    best = plain.loc[plain.best_val_acc.idxmax(), "trial_id"]
    assert pruned.loc[pruned.best_val_acc.idxmax(), "trial_id"] == best
    epochs = pd.read_csv(tmp_path / "pruned" / "epochs.csv")
    for _, trial in pruned[pruned.status == "pruned"].iterrows():  # rows kept up to the stop
        assert len(epochs[epochs.trial_id == trial.trial_id]) == trial.epochs_run < 4


TPE = """\
base: {epochs: 3, train_subset: 8000, batch_size: 50}
tpe:
  trials: 6
  seed: 1
  per_round: 2
  space:
    lr: {loguniform: [0.001, 1.0]}
    weight_decay: {choice: [0.0, 0.0001]}
"""


@pytest.mark.slow  # a TPE sweep, stopped and resumed
def test_tpe_sweep_interrupted_resumes_to_its_budget_without_duplicates(tmp_path, real_dataset):
    spec = tmp_path / "tpe.yaml"
    spec.write_text(TPE)
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "softmax_exp_cli",
        "sweep",
        str(spec),
        "--out",
        str(out),
        "--quiet",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if (pd.read_csv(out / "trials.csv").status == "completed").sum() >= 2:
                break
        except (OSError, pd.errors.EmptyDataError):
            pass
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)
    before = pd.read_csv(out / "trials.csv")
    assert 2 <= (before.status == "completed").sum() < 6
    finished_before = set(before.trial_id[before.status == "completed"])

    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    after = pd.read_csv(out / "trials.csv")
    assert not after.trial_id.duplicated().any()
    assert (after.status.isin(["completed", "pruned", "diverged"])).sum() == 6
    assert finished_before <= set(after.trial_id)
    for trial_id in finished_before:  # not run again
        assert (
            after.wall_seconds[after.trial_id == trial_id].item()
            == before.wall_seconds[before.trial_id == trial_id].item()
        )
    assert (out / "optuna.journal").is_file()
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(
        study_name="tpe", storage=JournalStorage(JournalFileBackend(str(out / "optuna.journal")))
    )
    epochs = pd.read_csv(out / "epochs.csv")
    told = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(told) >= 6  # a config asked again is told again
    for trial in told:  # every epoch's val_acc, as Optuna's own trials report it
        (trial_id,) = trial.user_attrs["trial_ids"]
        curve = epochs[epochs.trial_id == trial_id]
        assert trial.intermediate_values == pytest.approx(dict(zip(curve.epoch, curve.val_acc)))
