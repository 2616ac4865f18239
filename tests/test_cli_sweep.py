"""`softmax sweep` and `softmax compare` through Typer's test runner."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from softmax_exp_cli.main import app

pytestmark = pytest.mark.e2e
runner = CliRunner()
SPEC = "base: {epochs: 1, train_subset: 1000, batch_size: 100}\ngrid: {lr: [0.1, 0.3]}\n"


@pytest.fixture(scope="module")
def swept(tmp_path_factory, real_dataset):
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "s.yaml").write_text(SPEC)
    result = runner.invoke(app, ["sweep", str(tmp / "s.yaml"), "--out", str(tmp / "out")])
    assert result.exit_code == 0, result.output
    return tmp, result.output


def test_sweep_prints_progress_lines_and_leaderboard(swept):
    _, output = swept
    assert "sweep s: 2 trials, 0 already finished, 2 to run" in output
    assert output.count("completed") >= 2
    assert "final leaderboard (by val_acc, max)" in output
    tmp = str(swept[0])
    assert max(len(line) for line in output.splitlines() if tmp not in line) <= 80
    final = output.split("final leaderboard")[1]
    for trial_id in pd.read_csv(swept[0] / "out" / "trials.csv").trial_id:
        assert trial_id in final  # the id names trials/<id> for softmax plot and evaluate
    padded = [line for line in output.splitlines() if line != line.rstrip()]
    assert padded == []  # piped: no line padded with spaces to a table's width


def test_sweep_dry_run_lists_trials(tmp_path):
    (tmp_path / "s.yaml").write_text(SPEC + "seeds: 2\n")
    result = runner.invoke(app, ["sweep", str(tmp_path / "s.yaml"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "s: 4 trials" in result.output and "lr=0.3 seed=1" in result.output
    assert [line for line in result.output.splitlines() if line != line.rstrip()] == []


def test_sweep_bad_file_is_one_line(tmp_path):
    (tmp_path / "s.yaml").write_text("grid:\n  lr: []\n")
    result = runner.invoke(app, ["sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert "grid.lr: empty list" in result.output
    assert not (tmp_path / "out").exists()


def test_too_many_workers_is_refused(tmp_path):
    (tmp_path / "s.yaml").write_text(SPEC)
    result = runner.invoke(app, ["sweep", str(tmp_path / "s.yaml"), "--workers", "64"])
    assert result.exit_code == 2 and "--workers 64: this machine has" in result.output


def test_compare_sorts_groups_and_writes_csv(swept, tmp_path):
    tmp, _ = swept
    result = runner.invoke(app, ["compare", str(tmp / "out"), "--csv", str(tmp_path / "t.csv")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "t.csv")
    assert list(table.best_val_acc) == sorted(table.best_val_acc, reverse=True)
    result = runner.invoke(app, ["compare", str(tmp / "out"), "--by", "lr"])
    assert result.exit_code == 0 and "grouped by lr" in result.output


def test_compare_errors(swept, tmp_path):
    tmp, _ = swept
    result = runner.invoke(app, ["compare", str(tmp_path)])
    assert result.exit_code == 2 and "neither a run directory" in result.output
    result = runner.invoke(app, ["compare", str(tmp / "out"), "--by", "colour"])
    assert result.exit_code == 2 and "group by colour: not a setting" in result.output


def test_compare_does_not_import_mxnet(swept):
    import subprocess
    import sys

    tmp, _ = swept
    code = (
        "import sys; from softmax_exp_cli.main import main; main(['compare', sys.argv[1]]); "
        "assert 'mxnet' not in sys.modules, 'compare imported mxnet'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp / "out")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_help_does_not_import_heavy_modules():
    import subprocess
    import sys

    code = (
        "import sys; from softmax_exp_cli.main import main; main(['--help']); "
        "heavy = {'mxnet', 'pandas', 'matplotlib', 'numpy', 'plotly', 'optuna'} & "
        "set(sys.modules); "
        "assert not heavy, heavy"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_dry_run_counts_a_large_sweep_without_listing_it(tmp_path):
    spec = tmp_path / "big.yaml"
    spec.write_text(
        "grid:\n  lr: [0.1, 0.2]\n  momentum: ["
        + ", ".join(str(i / 100) for i in range(40))
        + "]\n  weight_decay: ["
        + ", ".join(str(i / 100) for i in range(30))
        + "]\n"
    )
    result = runner.invoke(app, ["sweep", str(spec), "--dry-run"])
    assert result.exit_code == 0 and "big: 2,400 trials (not listed: over 1,000)" in result.output
    spec.write_text(spec.read_text() + "max_trials: 100\n")
    result = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "2,400 trials, over the limit of 100" in result.output
    assert not (tmp_path / "out").exists()


def test_another_sweep_file_into_the_same_directory_is_one_line(swept):
    tmp, _ = swept
    (tmp / "other.yaml").write_text(SPEC)
    result = runner.invoke(app, ["sweep", str(tmp / "other.yaml"), "--out", str(tmp / "out")])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1
    assert "holds sweep 's' (from" in result.output and "other.yaml" in result.output
    assert "--restart" in result.output and "--out" in result.output
