"""A real full disk (a small tmpfs): files under their final names are complete."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from softmax_exp.errors import reason
from softmax_exp.mxnet_compat import load_mxnet

SWEEP = (
    "base: {epochs: 2, train_subset: 1000, batch_size: 100}\n"
    "grid: {lr: [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]}\n"
)


def test_the_reason_of_an_mxnet_error_is_its_last_line_not_traceback():
    error = RuntimeError(
        'Traceback (most recent call last):\n  File "../src/ndarray/'
        'ndarray.cc", line 1860\nMXNetError: Check failed: fi->Read(data): '
        "Invalid NDArray file format"
    )
    assert reason(error) == "Invalid NDArray file format"
    assert reason(OSError(28, "No space left on device")) == "[Errno 28] No space left on device"


@pytest.fixture
def small_disk(tmp_path, request):
    """A tmpfs of `request.param` bytes; skipped where this process may not mount one."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={request.param}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'not root'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.e2e
@pytest.mark.slow  # two sweeps run until a small disk is full
@pytest.mark.parametrize("small_disk", [300_000, 380_000], indirect=True)
def test_a_sweep_filling_the_disk_leaves_no_torn_file(tmp_path, small_disk, real_dataset):
    mx = load_mxnet()

    (tmp_path / "s.yaml").write_text(SWEEP)
    out = small_disk / "sweep"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "softmax_exp_cli",
            "sweep",
            str(tmp_path / "s.yaml"),
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: cannot write ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr, done.stderr
    params = list(out.rglob("*.params"))
    for path in params:  # every parameter file under its final name loads
        loaded = mx.nd.load(str(path))
        assert set(loaded) == {"0.weight", "0.bias"}, path
        assert loaded["0.weight"].shape == (10, 784), path
    for path in out.rglob("run.json"):
        json.loads(path.read_text())
    if (out / "trials.csv").exists():
        pd.read_csv(out / "trials.csv")
    assert [p for p in out.rglob("*") if p.name.endswith(".tmp")] == []
    assert params, "the disk filled before any trial finished; make it larger"
