"""What `pip install .` puts into site-packages: the library and its CLI under the
project's own names, never a generic top-level `cli` package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from softmax_exp import __version__

ROOT = Path(__file__).parent.parent


@pytest.mark.slow  # pip builds a wheel (and fetches setuptools for build isolation)
def test_the_wheel_installs_no_top_level_cli(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("softmax_exp-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {
        name.split("/")[0]
        for name in names
        if not name.split("/")[0].endswith((".dist-info", ".data"))
    }
    assert tops == {"softmax_exp", "softmax_exp_cli"}
    assert "softmax_exp_cli/inspection.py" in names and "softmax_exp/kernels.cc" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "softmax = softmax_exp_cli.main:run" in zipfile.ZipFile(wheel).read(entry).decode()
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    assert f"\nVersion: {__version__}\n" in zipfile.ZipFile(wheel).read(metadata).decode()
    assert wheel.name.startswith(f"softmax_exp-{__version__}-")  # one version, the package's


def test_the_version_has_one_source():
    """pyproject.toml reads the version from softmax_exp.__version__ (dynamic), so the
    installed metadata and the package say the same."""
    import importlib.metadata
    import re

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert not re.search(r'^version\s*=\s*"', pyproject, re.M)  # no literal one there
    assert 'version = {attr = "softmax_exp.__version__"}' in pyproject
    assert importlib.metadata.version("softmax-exp") == __version__


@pytest.mark.slow  # a pip install into a new virtualenv
def test_setup_builds_the_editable_install_without_setuptools_banner(tmp_path):
    """scripts/setup's editable install, with the warnings filter the script gives pip
    (into a throwaway environment here): setuptools' boxed advice does not print, which
    wraps badly at 80 columns (issue 26)."""
    import os
    import re

    line = next(
        line for line in (ROOT / "scripts" / "setup").read_text().splitlines() if " -e " in line
    )
    warnings_filter = re.match(r'PYTHONWARNINGS="([^"]+)" ', line)
    assert warnings_filter, line
    # into a fresh environment of its own: an install elsewhere would replace this one's
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path)], check=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(tmp_path / "bin" / "python")]
        + ["install", "--no-deps", "-q", "-e", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": warnings_filter.group(1)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert list(tmp_path.glob("lib/*/site-packages/softmax_exp-*.dist-info"))
    assert "Editable installation" not in done.stderr + done.stdout
