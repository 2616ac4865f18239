"""What a person sees in an 80x24 terminal (tmux): no line wider than 80 columns, no
number cut short with an ellipsis, no traceback."""

from __future__ import annotations

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
