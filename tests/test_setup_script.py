"""scripts/setup refuses a Python it cannot set up in one line, before installing anything."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SETUP = Path(__file__).parent.parent / "scripts" / "setup"


def fake_python(tmp_path: Path, version: str) -> Path:
    """An 'interpreter' that answers setup's version question with `version`."""
    path = tmp_path / f"python{version}"
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


def setup(tmp_path: Path, python: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": python, "VENV": str(tmp_path / "venv")}
    return subprocess.run(["bash", str(SETUP)], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


@pytest.mark.parametrize("version", ["3.8", "3.14", "2.7"])
def test_an_unsupported_python_is_one_line_naming_those_that_work(tmp_path, version):
    done = setup(tmp_path, str(fake_python(tmp_path, version)))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert f"is Python {version}; softmax-exp runs on Python 3.9, 3.10, 3.11, 3.12, 3.13" in (
        done.stderr
    )
    assert not (tmp_path / "venv").exists()


def test_a_python_that_does_not_run_is_one_line(tmp_path):
    done = setup(tmp_path, str(tmp_path / "no-such-python"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "does not run; point it at a Python 3.9, 3.10" in done.stderr
