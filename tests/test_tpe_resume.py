"""A TPE sweep interrupted and run again ends with the same trials as one that never
stopped, pruning included (issue 25): the round a kill left open is asked again as it
was, and the sampler's random streams go on from where they stood after it; a journal a
kill tore or something else damaged is mended or refused in one line."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from softmax_exp.errors import RunError
from softmax_exp.sweep import SweepObserver, run_sweep
from softmax_exp.sweep.tpe import JOURNAL, check_journal

# 13 trials in rounds of 4: the first 10 are TPE's random start-up, the last ones come
# from its model; the median pruner stops some.
SPEC = """\
base: {epochs: 3, train_subset: 600, batch_size: 60}
tpe:
  trials: 13
  seed: 7
  per_round: 4
  space:
    lr: {loguniform: [0.001, 3.0]}
    weight_decay: {choice: [0.0, 0.001, 0.01]}
prune: {method: median, warmup_epochs: 1, min_trials: 2}
checkpoint_seconds: 0
"""


class StopInRound(SweepObserver):
    """Ctrl-C in the second epoch of the first trial of round `round` (0-based)."""

    def __init__(self, round: int):
        self.first = 4 * round

    def trial_epoch(self, record):
        if record.trial.index >= self.first and len(record.rows) == 2:
            raise KeyboardInterrupt


def table(out) -> pd.DataFrame:
    return pd.read_csv(out / "trials.csv").drop(columns=["wall_seconds"])


@pytest.fixture(scope="module")
def whole(tmp_path_factory, real_dataset):
    tmp = tmp_path_factory.mktemp("whole")
    (tmp / "s.yaml").write_text(SPEC)
    run_sweep(tmp / "s.yaml", tmp / "out", argv=["test"])
    trials = table(tmp / "out")
    assert len(trials) == 13 and "pruned" in set(trials.status)
    return trials


@pytest.mark.e2e
@pytest.mark.parametrize("round", [1, 3])  # in the start-up, and in the model's rounds
def test_an_interrupted_tpe_sweep_ends_with_the_same_trials(tmp_path, whole, round):
    (tmp_path / "s.yaml").write_text(SPEC)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(tmp_path / "s.yaml", tmp_path / "out", observer=StopInRound(round), argv=["t"])
    cut = table(tmp_path / "out")
    assert "interrupted" in set(cut.status)
    run_sweep(tmp_path / "s.yaml", tmp_path / "out", argv=["test"])
    pd.testing.assert_frame_equal(table(tmp_path / "out"), whole)


def test_a_torn_last_journal_entry_is_cut_off(tmp_path):
    journal = tmp_path / JOURNAL
    entries = [json.dumps({"op_code": 0, "worker_id": "w", "study_name": "s"})] * 2
    journal.write_text("\n".join(entries) + "\n" + '{"op_code": 4, "wor')
    check_journal(journal)
    assert journal.read_text() == "\n".join(entries) + "\n"


@pytest.mark.parametrize("line", ["garbage", "[1]", '{"op": 1}', '{"op_code": "x"}'])
def test_a_journal_entry_that_is_not_optunas_is_one_line(tmp_path, line):
    journal = tmp_path / JOURNAL
    journal.write_text(json.dumps({"op_code": 0}) + "\n" + line + "\n")
    with pytest.raises(RunError, match=r"line 2 is not an Optuna journal entry; restart"):
        check_journal(journal)


def test_a_linked_journal_is_refused(tmp_path):
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / JOURNAL).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RunError, match="symbolic link"):
        check_journal(tmp_path / JOURNAL)
