"""A sweep's memory stays flat however many groups it trains (not timed)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a fresh process that imports MXNet

SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from softmax_exp.sweep import SerialExecutor, SweepObserver, run_sweep

    def rss_mb():
        return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20

    class Memory(SweepObserver):
        after = []
        def trial_finished(self, record):
            self.after.append(rss_mb())

    out = Path(sys.argv[1])
    (out.parent / "s.yaml").write_text(
        "base: {epochs: 1, batch_size: 1024}\\n"
        "grid: {lr: [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08]}\\n")
    run_sweep(out.parent / "s.yaml", out, executor=SerialExecutor(), fuse=False, argv=["test"],
              observer=Memory())
    print(json.dumps(Memory.after))
""")


def test_memory_after_many_groups_stays_near_memory_after_two(tmp_path, real_dataset):
    """Each unfused trial is a group of its own, with its own copy of the 54,000 training
    images (42 MB); before the fix every finished group kept its copy alive."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    after = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(after) == 8
    assert max(after[2:]) - after[1] < 30, after  # MB; a leaked group is 45 MB
