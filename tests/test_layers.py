"""The library's arrows point down: no import cycles, and records and paths on the
ground floor, so that what reads runs never needs the trainer."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "softmax_exp"


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(
        ".__init__"
    )


def imports_of(path: Path) -> set[str]:
    """The softmax_exp modules a file imports, relative imports resolved."""
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            name = (
                (f"{base}.{node.module}" if node.module else base)
                if node.level
                else node.module or ""
            )
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    packages = {name for name, p in paths.items() if p.name == "__init__.py"}
    # a package's __init__ re-exports its modules: an arrow into it is an arrow to them
    return {
        name: {
            m
            for m in imports_of(path)
            if m in paths and m != name and not (m in packages and name.startswith(m + "."))
        }
        for name, path in paths.items()
        if name not in packages
    }


def test_no_import_cycles():
    edges = graph()
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        for target in edges.get(name, ()):
            assert target not in trail, "import cycle: " + " -> ".join([*trail, target])
            if target not in done:
                visit(target, [*trail, target])
        done.add(name)

    for name in edges:
        visit(name, [name])


def test_records_and_paths_are_the_ground_floor():
    edges = graph()
    assert edges["softmax_exp.records"] <= {"softmax_exp.config"}
    assert edges["softmax_exp.paths"] == set()
    assert "softmax_exp.training" not in edges["softmax_exp.summary"]
    assert "softmax_exp.data" not in edges["softmax_exp.kernels"]


def test_events_sit_below_everything_that_sends_or_records_them():
    edges = graph()
    assert edges["softmax_exp.events"] <= {"softmax_exp.records"}
    assert "softmax_exp.training" not in edges["softmax_exp.runs"]  # runs are read alone
    for sender in ("softmax_exp.sweep.jobs", "softmax_exp.experiment", "softmax_exp.sweep.runner"):
        assert "softmax_exp.recording" in edges[sender] or "softmax_exp.events" in edges[sender], (
            sender
        )
    # the sweepers and the executors meet only in the base module and the runner
    assert "softmax_exp.sweep.tpe" not in edges["softmax_exp.sweep.runner"]
    assert not edges["softmax_exp.sweep.tpe"] & {
        "softmax_exp.sweep.executors",
        "softmax_exp.sweep.runner",
    }
