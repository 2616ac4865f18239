"""No orphans (issue 25): when a `-j 2` sweep's driver alone is killed with -9 (what the
out-of-memory killer does), its workers go too, within seconds, and the sweep run again
goes on from the checkpoints the driver wrote."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

SPEC = """\
base: {epochs: 4, train_subset: 12000, batch_size: 32}
grid: {lr: [0.05, 0.1, 0.2, 0.3]}
checkpoint_seconds: 0
"""


def workers_of(driver: int) -> list[int]:
    """The driver's worker processes (multiprocessing's spawned children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == driver and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for a reaper (a container's init may not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.slow  # kills a sweep driver and waits for its workers
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_end_when_their_driver_is_killed(tmp_path, real_dataset):
    spec, out = tmp_path / "s.yaml", tmp_path / "out"
    spec.write_text(SPEC)
    command = [sys.executable, "-m", "softmax_exp_cli", "sweep", str(spec), "--out", str(out)]
    command += ["-j", "2", "--no-fuse", "--quiet", "--no-report"]
    driver = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    workers: list[int] = []
    try:
        assert wait_until(lambda: len(list(out.glob("trials/*/checkpoint.json"))) >= 2, 240), (
            "the workers did not get going"
        )
        workers = workers_of(driver.pid)
        assert len(workers) == 2, workers
        driver.send_signal(signal.SIGKILL)  # the driver alone, not its process group
        driver.wait(30)
        assert wait_until(lambda: not any(alive(pid) for pid in workers), 10), [
            pid for pid in workers if alive(pid)
        ]
    finally:
        for pid in [driver.pid, *workers]:  # whatever the test left, it ends
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        driver.stderr.close()
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    trials = pd.read_csv(out / "trials.csv")
    assert sorted(trials.status) == ["completed"] * 4
