"""YAML reading that remembers where each key was, so errors can say file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import yaml

from . import fileio
from .errors import ConfigError, RunError

KeyLines = Dict[Tuple[str, ...], int]
# Settings and sweep files are a few hundred bytes; these limits are far above any real
# one and keep a hostile one (YAML aliases nested to a billion nodes) from taking the
# machine's memory and time.
MAX_BYTES = 1 << 20
MAX_NODES = 100_000  # nodes of the document as aliases expand it


def read_mapping(path: Path) -> tuple[dict[str, Any], KeyLines]:
    """Load a YAML file that must hold a mapping (or nothing).

    Returns the data and the 1-based line of every key, by its path of names.
    """
    return parse_mapping(read_text(path), str(path))


def read_text(path: Path) -> str:
    """A YAML file's text, or a ConfigError that says why it cannot be read (one larger
    than `MAX_BYTES` included: /dev/zero given as the file stops there)."""
    path = Path(path)
    try:
        return fileio.read_text(path, MAX_BYTES)
    except RunError as exc:
        raise ConfigError(str(exc)) from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read it ({exc}); pass a readable UTF-8 YAML file"
        ) from None


def parse_mapping(text: str, where: str) -> tuple[dict[str, Any], KeyLines]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        _check_size(node, where)
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


def _check_size(node: Optional[yaml.Node], where: str) -> None:
    """Count the document's nodes as its aliases expand it, refusing it past
    `MAX_NODES`: the walk stops there, so it costs at most that many steps."""
    count, stack = 0, [node] if node is not None else []
    while stack:
        current = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ConfigError(
                f"{where}: more than {MAX_NODES:,} values once its aliases (*name) are "
                "expanded; write the settings out plainly"
            )
        if isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
        elif isinstance(current, yaml.MappingNode):
            stack.extend(item for pair in current.value for item in pair)


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


# libyaml's emitter where PyYAML has it: the same text (the representer is the same),
# at a tenth of the pure-Python emitter's time, which a sweep pays once per trial
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, default_flow_style=False)
