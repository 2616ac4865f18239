"""The library speaks its own words (settings, files, runs); only the CLI knows its flags."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from softmax_exp.device import resolve_context
from softmax_exp.errors import DeviceError
from softmax_exp_cli.main import app

PACKAGE = Path(__file__).parent.parent / "softmax_exp"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def message_texts(path: Path):
    """The string parts of every exception raised in a module."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for part in ast.walk(node.exc):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    yield part.lineno, part.value


def test_no_library_error_names_a_command_line_flag():
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text!r}"
        for path in PACKAGE.rglob("*.py")
        for line, text in message_texts(path)
        if FLAG.search(text) and "ray start" not in text
    ]
    assert found == []


def test_the_library_names_the_setting_and_the_cli_its_option():
    with pytest.raises(DeviceError, match=r"^ctx gpu:7: ") as raised:
        resolve_context("gpu:7")
    assert raised.value.setting == "ctx"
    done = CliRunner().invoke(app, ["train", "--ctx", "gpu:7"])
    assert done.exit_code == 2 and done.output.startswith("error: --ctx gpu:7: ")
