"""Every command's help, as a person sees it at 80 columns: complete and undamaged."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer.main

from softmax_exp.config import TrainConfig
from softmax_exp_cli.main import app

COMMANDS = sorted(typer.main.get_command(app).commands)


def render_help(*args: str) -> str:
    """`softmax ARGS` in a fresh process with an 80-column terminal width."""
    env = {"COLUMNS": "80", "PATH": "/usr/bin:/bin", "TERM": "xterm"}
    done = subprocess.run(
        [sys.executable, "-m", "softmax_exp_cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def options(text: str) -> dict[str, str]:
    """Each option's help record in the Options section, joined onto one line."""
    section = text.split("Options:\n", 1)[1].split("\n\n")[0]
    records: dict[str, str] = {}
    name = ""
    for line in section.splitlines():
        if re.match(r"  \S", line):
            name = line.split()[0].rstrip(",")
            if name.startswith("-") and not name.startswith("--"):
                name = line.split()[1]
            records[name] = line
        elif name:
            records[name] += " " + line.strip()
    return records


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_fits_80_columns_and_is_undamaged(command):
    text = render_help(*([command] if command else []), "--help")
    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert "..." not in re.sub(r"(PATHS|\[ARGS\])\.\.\.", "", text), text  # no cut short help
    assert not re.search(r" [.;](\s|$)", text), text  # what eaten [markup] leaves
    damages = ("<bool>", "{", "<path>", "<str>", "<int", "<float>", "<list", "╭", "()", "]]")
    for damage in damages:  # "]]": what removing click's range from its own [...] left
        assert damage not in text, (damage, text)
    if command:
        assert "Example: softmax " + command in " ".join(text.split())


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_says_what_it_means(command):
    for name, record in options(render_help(command, "--help")).items():
        words = record.split("  ", 1)[1] if "  " in record.strip() else ""
        assert len(words.split()) >= 2, (name, record)


def test_defaults_shown_are_the_configs_own():
    train = options(render_help("train", "--help"))
    defaults = TrainConfig()
    for flag, setting in (
        ("--lr", "lr"),
        ("--batch-size", "batch_size"),
        ("--epochs", "epochs"),
        ("--seed", "seed"),
        ("--ctx", "ctx"),
    ):
        assert f"[default: {getattr(defaults, setting)}]" in train[flag], train[flag]
    assert "[default: runs]" in train["--out"]


def test_bare_softmax_prints_the_help_once():
    text = render_help()
    assert text.count("Usage: softmax") == 1, text
    assert "Commands:" in text


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_reads_as_plain_sentences(command):
    """Each option's help ends its sentence before its default; ranges are said in words,
    not click's `x>=1`; no command sends its reader to itself (issue 26)."""
    text = render_help(*([command] if command else []), "--help")
    assert "Example: softmax " in text
    assert not re.search(r"\bx ?[<>]=?|[<>]=? ?x\b", text), text
    if command:
        assert f"see softmax {command}" not in text, text
    for name, record in options(text).items():
        words = record.split(None, 1)[1]
        sentence = re.split(r"\s+\[", words, maxsplit=1)[0].strip()
        assert sentence.endswith("."), (name, record)


def test_ranges_are_said_in_words():
    sweep = " ".join(render_help("sweep", "--help").split())
    assert "Worker processes, at least 1 " in sweep
    assert (
        "[default: one per core when several fused groups are worth it; TPE and pruning: 1] "
        in sweep
    )
    assert "Rows to print, at least 1.  [default: 30]" in render_help("compare", "--help")
