"""The Sweeper seam: grid, random and TPE answer ask and tell; the runner's one loop
plans fused jobs from whatever a sweeper asks, and knows no search by name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from softmax_exp.errors import ConfigError
from softmax_exp.sweep import SerialExecutor, load_sweep_spec, make_sweeper, run_sweep
from softmax_exp.sweep.state import TrialRecord
from softmax_exp.sweep.sweepers import GridSweeper, RandomSweeper
from softmax_exp.sweep.tpe import STARTUP, TPESweeper

TPE = """\
base: {{epochs: 2, train_subset: 2000, batch_size: 100}}
tpe:
  trials: {trials}
  seed: 3{per_round}
  space:
    lr: {{loguniform: [0.01, 1.0]}}
    weight_decay: {{choice: [0.0, 0.0001]}}
"""


def spec_from(tmp_path, text, name="s.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return load_sweep_spec(path)


class Registry:
    """The driver's part a sweeper sees, with every asked trial ending `status`."""

    def __init__(self):
        self.records: dict[str, TrialRecord] = {}

    def register(self, trials):
        for trial in trials:
            self.records.setdefault(trial.id, TrialRecord(trial, Path("unused")))
        return [self.records[t.id].trial for t in trials]

    def end(self, trials, val_acc):
        for trial in trials:
            record = self.records[trial.id]
            record.info = {"status": "completed"}
            record.rows = [{"epoch": 1, "val_acc": val_acc(trial)}]


@pytest.mark.parametrize(
    "text, kind, count",
    [
        ("grid: {lr: [0.1, 0.2, 0.3]}\nseeds: 2\n", GridSweeper, 6),
        ("random: {trials: 4, space: {lr: {uniform: [0.1, 1]}}}\n", RandomSweeper, 4),
        (
            "grid: {batch_size: [64, 128]}\n"
            "random: {trials: 3, space: {lr: {uniform: [0.1, 1]}}}\n",
            RandomSweeper,
            6,
        ),
    ],
)
def test_list_sweepers_ask_for_everything_once(tmp_path, text, kind, count):
    sweeper = make_sweeper(spec_from(tmp_path, text))
    assert type(sweeper) is kind and sweeper.planned == count
    registry = Registry()
    sweeper.open(tmp_path, False, registry)
    assert len(registry.records) == count  # known up front: resumed before anything runs
    batch = sweeper.ask(registry.records)
    assert [t.index for t in batch] == list(range(count)) and batch == sweeper.known()
    sweeper.tell(registry.records)
    assert sweeper.ask(registry.records) == []


def test_the_search_is_the_block_given_and_its_budget_belongs_to_it(tmp_path):
    spec = spec_from(tmp_path, TPE.format(trials=5, per_round="\n  per_round: 2"))
    assert spec.search == "tpe" and spec.sample.trials == 5 and spec.sample.per_round == 2
    assert spec.size == 5 and set(spec.space) == {"lr", "weight_decay"}
    legacy = spec_from(
        tmp_path,
        "search: tpe\nrandom: {trials: 4, space: {lr: {uniform: [0.1, 1]}}}\n",
        "legacy.yaml",
    )  # as older files said it
    assert legacy.search == "tpe" and legacy.sample.trials == 4
    with pytest.raises(
        ConfigError,
        match=r"s.yaml:2: search: 'grid' does not match the "
        r"file's 'random' search; remove 'search'",
    ):
        spec_from(tmp_path, "random: {trials: 4, space: {lr: {uniform: [0.1, 1]}}}\nsearch: grid\n")
    with pytest.raises(ConfigError, match=r"random.per_round: unknown key"):
        spec_from(tmp_path, "random: {trials: 4, per_round: 2, space: {lr: {uniform: [0.1, 1]}}}\n")
    with pytest.raises(ConfigError, match=r"tpe.per_round: must be a whole number >= 1"):
        spec_from(tmp_path, TPE.format(trials=5, per_round="\n  per_round: 0"))


@pytest.mark.parametrize(
    "trials, per_round, workers, rounds",
    [
        (18, None, 1, [STARTUP, 3, 3, 2]),  # random draws at once, then thirds of the rest
        (6, None, 1, [6]),
        (5, 1, 1, [1, 1, 1, 1, 1]),  # one by one, as TPE usually runs
        (5, 2, 1, [2, 2, 1]),
        (14, None, 3, [STARTUP, 3, 1]),  # at least a round per worker, never past the budget
    ],
)
def test_tpe_asks_in_rounds_until_its_budget_has_ended(
    tmp_path, trials, per_round, workers, rounds
):
    text = TPE.format(trials=trials, per_round=f"\n  per_round: {per_round}" if per_round else "")
    sweeper = make_sweeper(spec_from(tmp_path, text), workers)
    assert isinstance(sweeper, TPESweeper) and sweeper.planned == trials
    registry = Registry()
    sweeper.open(tmp_path, False, registry)
    sizes = []
    while batch := sweeper.ask(registry.records):
        sizes.append(len(batch))
        registry.end(batch, lambda t: 1 - abs(t.config.lr - 0.3))
        sweeper.tell(registry.records)
    assert sizes == rounds
    assert len(registry.records) == trials
    assert sorted(t.index for t in (r.trial for r in registry.records.values())) == list(
        range(trials)
    )


class JobSizes(SerialExecutor):
    """Runs jobs as the serial executor does, noting how many trials each trains."""

    def __init__(self):
        self.sizes = []

    def launch(self, jobs, handle, prepare=None, dataset=None):
        self.sizes += [len(job.trials) for job in jobs]
        super().launch(jobs, handle, prepare or (lambda job: job), dataset)


@pytest.mark.e2e
def test_a_tpe_round_trains_fused_and_one_by_one_does_not(tmp_path, real_dataset):
    import pandas as pd

    fused, alone = JobSizes(), JobSizes()
    (tmp_path / "fused.yaml").write_text(TPE.format(trials=6, per_round=""))
    (tmp_path / "alone.yaml").write_text(TPE.format(trials=3, per_round="\n  per_round: 1"))
    run_sweep(tmp_path / "fused.yaml", tmp_path / "a", executor=fused, argv=["t"])
    run_sweep(tmp_path / "alone.yaml", tmp_path / "b", executor=alone, argv=["t"])
    assert fused.sizes == [6]  # six points asked at once, one stacked model
    assert alone.sizes == [1, 1, 1]
    for out, count in ((tmp_path / "a", 6), (tmp_path / "b", 3)):
        trials = pd.read_csv(out / "trials.csv")
        assert list(trials.status) == ["completed"] * count


def test_the_runner_knows_no_search_by_name():
    source = (Path(__file__).parent.parent / "softmax_exp" / "sweep" / "runner.py").read_text()
    imported = {
        alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert {"Sweeper", "make_sweeper"} <= imported
    assert not imported & {"TPESweeper", "GridSweeper", "RandomSweeper", "expand"}
    code = [line.split("#")[0] for line in source.splitlines()]
    assert not [line for line in code if "tpe" in line.lower() or '"grid"' in line]


def test_a_missing_budget_is_named_missing(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"s.yaml:1: tpe.trials: missing; give a whole "
        r"number >= 1$",
    ):
        spec_from(tmp_path, "tpe: {space: {lr: {uniform: [0.1, 1]}}}\n")
