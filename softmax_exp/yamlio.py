"""YAML reading that remembers where each key was, so errors can say file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Tuple

import yaml

from .errors import ConfigError

KeyLines = Dict[Tuple[str, ...], int]


def read_mapping(path: Path) -> tuple[dict[str, Any], KeyLines]:
    """Load a YAML file that must hold a mapping (or nothing).

    Returns the data and the 1-based line of every key, by its path of names.
    """
    return parse_mapping(read_text(path), str(path))


def read_text(path: Path) -> str:
    """A YAML file's text, or a ConfigError that says why it cannot be read."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read it ({exc}); pass a readable UTF-8 YAML file"
        ) from None


def parse_mapping(text: str, where: str) -> tuple[dict[str, Any], KeyLines]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # an error found at the end of the text is marked on the line after the last one
        last = max(1, len(text.splitlines()))
        line = f":{min(mark.line + 1, last)}" if mark is not None else ""
        problem = " ".join(str(exc.problem or exc.context or "malformed YAML").split())
        raise ConfigError(
            f"{where}{line}: malformed YAML: {problem}; fix the syntax "
            "(indentation, colons, quotes)"
        ) from None
    except yaml.YAMLError as exc:  # e.g. a control character: no line to point at
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{where}: malformed YAML: {problem}; fix the syntax") from None
    if data is None or node is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where}: expected a mapping of settings (key: value), "
            f"got a {type(data).__name__}; write one 'key: value' per line"
        )
    lines: KeyLines = {}
    _collect_lines(node, (), lines, where)
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(
                f"{where}:{lines.get((str(key),), '?')}: setting names must be "
                f"text, got {key!r}; quote it or rename it"
            )
    return data, lines


def _collect_lines(node: yaml.Node, prefix: tuple[str, ...], lines: KeyLines, where: str) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        key = (*prefix, str(key_node.value))
        if key in lines:
            raise ConfigError(
                f"{where}:{key_node.start_mark.line + 1}: "
                f"'{'.'.join(key)}' is set twice (first on line {lines[key]}); "
                "keep one"
            )
        lines[key] = key_node.start_mark.line + 1
        _collect_lines(value_node, key, lines, where)


def dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
