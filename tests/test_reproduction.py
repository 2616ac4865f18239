"""The chapter's run and the exercise-1 grid give the numbers first recorded on Python
3.11, to the last digit, on every supported Python and numpy (real data).

tests/data/*.csv are those runs' files less their timing columns: `softmax train --lr
0.1` (metrics.csv) and `softmax sweep configs/grid.yaml` (trials.csv). They hold on the
fused kernels, which compute every number in the same order on every x86-64 CPU with
FMA; elsewhere the test says why it cannot hold and skips."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import kernels_in_use
from softmax_exp_cli.main import app

pytestmark = pytest.mark.e2e
DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


@pytest.fixture(autouse=True)
def fused_kernels_with_fma(real_dataset):
    if kernels_in_use() != "native":
        pytest.skip("the fused kernels do not build here; MXNet's operators round otherwise")
    flags = next(
        (
            line
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("flags")
        ),
        "",
    )
    if " fma" not in flags:
        pytest.skip("this CPU has no FMA: the fused kernels' products round otherwise there")


def rows(path: Path, columns: list[str]) -> list[list[str]]:
    with open(path, newline="") as handle:
        return [[row[column] for column in columns] for row in csv.DictReader(handle)]


def columns_of(path: Path) -> list[str]:
    with open(path, newline="") as handle:
        return next(csv.reader(handle))


def invoke(*args: str) -> str:
    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return done.output


def test_the_chapter_run_gives_the_recorded_metrics(tmp_path):
    info = json.loads(invoke("train", "--lr", "0.1", "--out", str(tmp_path), "--json"))
    expected = DATA / "chapter-metrics.csv"
    got = Path(info["run_dir"]) / "metrics.csv"
    assert rows(got, columns_of(expected)) == rows(expected, columns_of(expected))
    assert info["final"]["test_acc"] == 0.8276


def test_the_grid_sweep_gives_the_recorded_table(tmp_path):
    invoke("sweep", str(ROOT / "configs" / "grid.yaml"), "--out", str(tmp_path), "--quiet",
           "--no-report")  # fmt: skip
    expected = DATA / "grid-trials.csv"
    assert rows(tmp_path / "trials.csv", columns_of(expected)) == rows(
        expected, columns_of(expected)
    )
