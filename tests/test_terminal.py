"""What a person sees in an 80x24 terminal (tmux): no line wider than 80 columns, no
number cut short with an ellipsis, no traceback."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from helpers import write_sweep

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.slow,  # CLI processes in a tmux terminal
]


def in_tmux(commands: list[str], cwd: Path) -> str:
    """Run `commands` one after another in a fresh 80x24 tmux session; returns the whole
    scrollback with wrapped lines joined (a line wider than 80 shows as one)."""
    session = f"softmax-test-{uuid.uuid4().hex[:8]}"
    softmax = Path(sys.executable).parent / "softmax"
    subprocess.run(
        ["tmux", "new", "-d", "-s", session, "-x", "80", "-y", "24", "-c", str(cwd)], check=True
    )
    try:
        subprocess.run(["tmux", "set", "-t", session, "history-limit", "20000"], check=True)
        script = cwd / "commands.sh"
        script.write_text(
            "clear\necho __BEGIN__\n"
            + "".join(f"{softmax} {c}\n" for c in commands)
            + "echo __END__\n"
        )
        subprocess.run(["tmux", "send-keys", "-t", session, f"bash {script}", "Enter"], check=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            text = subprocess.run(
                ["tmux", "capture-pane", "-t", session, "-p", "-J", "-S", "-20000"],
                capture_output=True,
                text=True,
            ).stdout
            if "\n__END__" in text:
                return text.split("__BEGIN__\n", 1)[1].split("\n__END__")[0]
            time.sleep(0.3)
        raise AssertionError("the commands did not finish in time")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def test_help_and_tables_fit_an_80_column_terminal(tmp_path):
    write_sweep(tmp_path / "sweep")
    (tmp_path / "grid.yaml").write_text(
        "grid: {lr: [0.01, 0.1, 0.3, 1.0], batch_size: [64, 256, 1024]}\n"
    )
    commands = [
        "--help",
        *(f"{c} --help" for c in ("train", "sweep", "compare", "evaluate", "plot", "data")),
        "sweep grid.yaml --dry-run",
        "compare sweep",
        "compare sweep --by lr --top 5",
        "compare sweep --by batch_size",
    ]
    screen = in_tmux(commands, tmp_path)
    assert "Usage: softmax compare" in screen and "sorted on best_val_acc" in screen
    assert screen.count("Usage: softmax") == 7
    wide = [line for line in screen.splitlines() if len(line) > 80]
    assert wide == [], "\n".join(wide)
    assert "…" not in screen and "Traceback" not in screen


@pytest.mark.e2e
def test_a_sweep_at_80x24_leaves_its_header_and_the_final_leaderboard_only(tmp_path, real_dataset):
    """Issue 26: the header never wraps; the live view goes when the sweep ends, so its
    last frame does not stand above the final leaderboard; a TPE sweep counts its
    statuses as a grid sweep does."""
    base = "base: {epochs: 2, train_subset: 1000, batch_size: 100}\n"
    (tmp_path / "grid.yaml").write_text(base + "grid: {lr: [0.1, 0.5]}\n")
    (tmp_path / "tpe.yaml").write_text(
        base + "tpe:\n  trials: 3\n  space: {lr: {loguniform: [0.01, 1.0]}}\n"
    )
    screen = in_tmux(
        ["sweep grid.yaml --out g", "sweep grid.yaml --out g", "sweep tpe.yaml --out t"],
        tmp_path,
    )
    wide = [line for line in screen.splitlines() if len(line) > 80]
    assert wide == [], "\n".join(wide)
    assert "Traceback" not in screen
    runs = screen.split("sweep grid: ")[1:] + screen.split("sweep tpe: ")[1:]
    assert len(runs) == 3, screen
    for run in runs:
        header, directory, *rest = run.splitlines()
        assert directory.startswith("sweep directory: "), run
        assert rest[0].startswith("final leaderboard"), run  # no live frame left above it
        assert "trials ━" not in run and "running" not in run
    assert runs[1].startswith("2 trials, 2 already finished, 0 to run")
    assert re.search(r"^status: (all \w+|\d+ \w+(, \d+ \w+)*)$", runs[2], re.M), runs[2]
