"""`softmax report` reads a directory as the tool wrote it (issue 25): a planted link or a
trial path out of the sweep is refused in one line, never embedded in a page meant to be
shared; what a killed report left behind is cleaned up; a sweep whose page could not be
written says so instead of printing its path."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pandas as pd
import pytest

from helpers import write_fake_sweep
from softmax_exp import fileio
from softmax_exp.report import REPORT_FILE
from softmax_exp_cli.main import main

SECRET = "secret-token-4242"


@pytest.fixture
def fake(tmp_path):
    return write_fake_sweep(tmp_path / "sweep", trials=4, epochs=3)


def report(capsys, *argv) -> tuple[int, str]:
    code = main(["report", *map(str, argv), "--no-evaluate"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    if code:
        assert code == 2 and captured.err.startswith("error: "), captured.err
        assert captured.err.count("\n") == 1, captured.err
    return code, captured.err


@pytest.mark.parametrize("name", ["sweep.yaml", "commands.log", "trials.csv", "epochs.csv"])
def test_a_linked_input_is_refused_not_embedded(fake, tmp_path, capsys, name):
    outside = tmp_path / "outside"
    outside.write_text((fake / name).read_text() + f"# {SECRET}\n")
    (fake / name).unlink()
    (fake / name).symlink_to(outside)
    code, err = report(capsys, fake)
    assert code == 2 and "symbolic link" in err
    assert not (fake / REPORT_FILE).exists()


def test_a_linked_run_file_is_refused(tmp_path, capsys):
    """A run directory's config.yaml (shown in the page) as a link."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch\n")
    (tmp_path / "outside").write_text(SECRET)
    (run / "config.yaml").symlink_to(tmp_path / "outside")
    code, err = report(capsys, run)
    assert code == 2 and "symbolic link" in err


@pytest.mark.parametrize("path", ["../../etc", "/etc", "trials/../../x"])
def test_a_trial_path_out_of_the_sweep_is_refused(fake, capsys, path):
    table = pd.read_csv(fake / "trials.csv")
    table.loc[0, "path"] = path
    table.to_csv(fake / "trials.csv", index=False)
    code, err = report(capsys, fake)
    assert code == 2 and "leads out of the sweep" in err


def test_a_linked_trial_directory_is_refused(fake, tmp_path, capsys):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "run.json").write_text(f'{{"error": "{SECRET}"}}')
    trial = pd.read_csv(fake / "trials.csv").path[0]
    (fake / trial).symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    code, err = report(capsys, fake)
    assert code == 2 and "symbolic link" in err


def test_what_a_killed_report_left_is_removed_and_a_live_writers_kept(fake, capsys):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = fake / f".{REPORT_FILE}.{dead.stdout.strip()}.abc123.tmp"
    live = fake / f".{REPORT_FILE}.{os.getppid()}.def456.tmp"
    stale.write_text("x" * 1000)
    live.write_text("y")
    assert report(capsys, fake)[0] == 0
    assert not stale.exists() and live.exists()
    assert (fake / REPORT_FILE).is_file()


def test_a_temporary_names_its_writer(tmp_path):
    with fileio.atomic_path(tmp_path / "x.txt") as tmp:
        assert tmp.name.startswith(f".x.txt.{os.getpid()}.") and tmp.name.endswith(".tmp")
        tmp.write_text("done")
    assert (tmp_path / "x.txt").read_text() == "done"


@pytest.mark.e2e
def test_a_sweep_whose_page_meets_a_full_disk_says_so(tmp_path, capsys, monkeypatch, real_dataset):
    import softmax_exp.report as report_module

    @contextlib.contextmanager
    def full(path, mode="w"):  # the page's writer meets a full disk
        raise fileio.disk_error(path, OSError(28, os.strerror(28)))
        yield

    monkeypatch.setattr(report_module, "atomic_writer", full)
    (tmp_path / "s.yaml").write_text("base: {epochs: 1, train_subset: 500}\ngrid: {lr: [0.1]}\n")
    code = main(["sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 1, captured
    assert "report:" not in captured.out and "results:" in captured.out
    assert "report.html not written" in captured.err and "No space left" in captured.err
    assert not (tmp_path / "out" / REPORT_FILE).exists()
