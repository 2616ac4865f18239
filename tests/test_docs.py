"""The docs cannot drift from the code: every `softmax` command in README.md and docs/
names a real command and real options (the cheap ones run), every Python snippet
runs, every relative link resolves, every test docs/design.md names exists, and
docs/settings.md is what the code generates."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from softmax_exp import reference
from softmax_exp.config import TrainConfig
from softmax_exp.sweep import pruners, spec
from softmax_exp_cli.main import app

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CLI = typer.main.get_command(app)
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
# Programs other than softmax that the docs' bash blocks may name: they belong to Ray,
# pip, Optuna's dashboard or the shell, not to this project.
OTHER_PROGRAMS = {
    "ray",
    "pip",
    "optuna-dashboard",
    "export",
    "timeout",
    "mlflow",
    "tensorboard",
    "git",
}
# Linked before it exists on every branch: docs/contributing.md comes with the test
# tiers; once it is there, links to it are checked like any other.
NOT_YET_WRITTEN = {ROOT / "docs" / "contributing.md"}


def blocks(language: str) -> list[tuple[str, int, str]]:
    """(page, line, text) of every fenced block in that language; line: its first."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            if match.group(1) == language:
                line = text.count("\n", 0, match.start()) + 2
                found.append((str(page.relative_to(ROOT)), line, match.group(2)))
    return found


def bash_commands() -> list[tuple[str, list[str]]]:
    """(where, words) of every command in the bash blocks, `a && b` as two."""
    found = []
    for page, first, text in blocks("bash"):
        for offset, line in enumerate(text.splitlines()):
            line = line.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            for part in line.split("&&"):
                found.append((f"{page}:{first + offset}", shlex.split(part)))
    return found


def softmax_args(words: list[str]) -> list[str] | None:
    """The arguments given to `softmax` (or .venv/bin/softmax) in a command, if any."""
    for i, word in enumerate(words):
        if word == "softmax" or word.endswith("/softmax"):
            return words[i + 1 :]
    return None


def inline_commands() -> list[tuple[str, list[str]]]:
    """`softmax ...` in the text's code spans, outside fenced blocks."""
    found = []
    for page in PAGES:
        prose = FENCE.sub("", page.read_text())
        for match in re.finditer(r"`(softmax(?:\s[^`]+)?)`", prose):
            words = [w for w in shlex.split(match.group(1)) if w != "..."]
            found.append((f"{page.relative_to(ROOT)}: {match.group(1)!r}", words[1:]))
    return found


def every_softmax_command() -> list[tuple[str, list[str]]]:
    commands = [(where, softmax_args(words)) for where, words in bash_commands()]
    return [(w, a) for w, a in commands if a is not None] + inline_commands()


def options_of(command) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)}


def check_softmax(args: list[str]) -> None:
    """The command and every option exist, and click parses the line."""
    root_options = options_of(CLI) | {"-h", "--help"}
    while args and args[0] in root_options:
        args = args[1:]
    if not args:
        return
    name, rest = args[0], args[1:]
    assert name in CLI.commands, f"no command {name!r}"
    command = CLI.commands[name]
    known = options_of(command) | root_options
    for word in rest:
        if word.startswith("-") and word != "-":
            assert word.split("=", 1)[0] in known, f"softmax {name} has no option {word}"
    command.make_context(name, list(rest), resilient_parsing=True)


def test_the_docs_have_commands_to_check():
    commands = every_softmax_command()
    assert len(commands) > 40
    assert {args[0] for _, args in commands if args} >= set(CLI.commands)


@pytest.mark.parametrize(("where", "args"), every_softmax_command())
def test_every_softmax_command_in_the_docs_exists(where, args):
    check_softmax(args)


@pytest.mark.parametrize(
    "args", [["nosuch"], ["train", "--lrr", "0.1"], ["sweep", "x.yaml", "--no-such"]]
)
def test_the_command_check_refuses_what_softmax_refuses(args):
    with pytest.raises(Exception):  # noqa: B017 - an assertion or click's own error
        check_softmax(args)


def test_every_other_program_in_the_docs_is_known():
    for where, words in bash_commands():
        while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value before a command
            words = words[1:]
        program = words[0]
        if softmax_args(words) is not None or program in OTHER_PROGRAMS:
            continue
        if program == ".venv/bin/python":
            script = ROOT / words[1]
            assert script.is_file(), f"{where}: no {words[1]}"
            for option in (w for w in words[2:] if w.startswith("--")):
                assert f'"{option}"' in script.read_text(), f"{where}: {words[1]} {option}?"
        else:
            assert (ROOT / program).is_file(), f"{where}: unknown program {program}"


def cheap_commands() -> list[tuple[str, list[str]]]:
    """The docs' softmax commands that run in a moment and write nothing."""
    return [
        (where, args)
        for where, args in every_softmax_command()
        if ("--dry-run" in args or "--help" in args or args == ["data"])
        and not any("<" in a for a in args)
    ]


@pytest.mark.parametrize(("where", "args"), cheap_commands())
def test_the_cheap_commands_in_the_docs_run(where, args, real_dataset):
    done = subprocess.run(
        [sys.executable, "-m", "softmax_exp_cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{where}: {done.stderr}"


def test_the_docs_yaml_blocks_are_valid_sweep_files(tmp_path):
    examples = blocks("yaml")
    assert examples
    for page, line, text in examples:
        path = tmp_path / "example.yaml"
        path.write_text(text)
        assert spec.load_sweep_spec(path).size > 0, f"{page}:{line}"


def softmax(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "softmax_exp_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.e2e
@pytest.mark.slow
def test_every_python_snippet_runs_after_a_real_run_and_sweep(tmp_path, real_dataset):
    """The snippets name `runs/...` as a reader's directory would hold them after
    `softmax train` and `softmax sweep configs/grid.yaml` (here made small)."""
    assert softmax(tmp_path, "train", "--epochs", "2", "--quiet").returncode == 0
    (tmp_path / "grid.yaml").write_text(
        "base: {epochs: 2, train_subset: 2000}\ngrid: {lr: [0.1, 0.3], batch_size: [64, 256]}\n"
    )
    assert softmax(tmp_path, "sweep", "grid.yaml", "--quiet", "--no-report").returncode == 0
    assert softmax(tmp_path, "export", "runs/sweep-grid", "--optuna").returncode == 0
    snippets = blocks("python")
    assert len(snippets) >= 4
    for page, line, code in snippets:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "MPLBACKEND": "Agg"},
        )
        assert done.returncode == 0, f"{page}:{line}:\n{done.stderr}"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    prose = FENCE.sub("", page.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", prose, re.MULTILINE)}


def test_every_relative_link_resolves():
    checked = 0
    for page in PAGES:
        prose = FENCE.sub("", page.read_text())
        for target in re.findall(r"\]\(([^)\s]+)\)", prose):
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if file in NOT_YET_WRITTEN and not file.exists():
                continue
            assert file.exists(), f"{page.relative_to(ROOT)}: {target}: no such file"
            if anchor:
                assert anchor in anchors(file), f"{page.relative_to(ROOT)}: {target}: no anchor"
            checked += 1
    assert checked > 30


def test_the_link_check_knows_githubs_anchors():
    assert slug("Output, exit codes and interrupts") == "output-exit-codes-and-interrupts"
    assert slug("The fused kernels' cost") == "the-fused-kernels-cost"
    assert slug("A `random:` or `tpe:` block") == "a-random-or-tpe-block"


def test_every_test_the_docs_name_exists():
    named = set()
    for page in PAGES:
        named |= set(re.findall(r"(tests/test_\w+\.py)::(test_\w+)", page.read_text()))
    assert len(named) > 30
    for file, name in sorted(named):
        path = ROOT / file
        assert path.is_file(), f"{file} does not exist"
        assert re.search(rf"^\s*def {name}\(", path.read_text(), re.MULTILINE), (
            f"{file} has no {name}"
        )


def test_the_settings_reference_is_generated_from_the_code():
    written = (ROOT / "docs" / "settings.md").read_text()
    assert written == reference.render(), (
        "docs/settings.md is out of date: run python -m softmax_exp.reference docs/settings.md"
    )


def test_every_setting_and_sweep_key_is_described():
    assert all(field.description for field in TrainConfig.model_fields.values())
    assert tuple(spec.SWEEP_KEYS) == spec.TOP_KEYS
    assert set(spec.DISTRIBUTION_DOCS) == set(spec.DISTRIBUTIONS)
    assert set(spec.PRUNE_KEYS) == set().union(*pruners.KNOWN.values())
    text = reference.render()
    for name in [*TrainConfig.model_fields, *spec.SWEEP_KEYS, *spec.SAMPLE_KEYS]:
        assert f"| `{name}` |" in text


def test_the_reference_speaks_of_settings_not_flags():
    for part in (reference.train_settings(), reference.sweep_file()):
        assert not re.search(r"(?<![\w-])--?[a-z]", part), part


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200
