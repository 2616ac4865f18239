"""The library's arrows point down: no import cycles, and records and paths on the
ground floor, so that what reads runs never needs the trainer.

Packages are nodes like any module: importing `a.b.c` runs `a/__init__.py` and
`a/b/__init__.py` first, so an arrow to `a.b.c` from outside `a.b` is also an arrow to
`a.b`, and to whatever `a/b/__init__.py` imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "softmax_exp"
TRAINER = {"softmax_exp.training", "softmax_exp.backends", "softmax_exp.kernels"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(
        ".__init__"
    )


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _import_nodes(tree: ast.AST, loaded_only: bool) -> list[ast.AST]:
    """Every import statement, or with `loaded_only` those that run when the module is
    imported (not in a function's body); `if TYPE_CHECKING:` blocks never run."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif _type_checking(node):
            todo.extend(getattr(node, "orelse", []))
        elif not (loaded_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))):
            todo.extend(ast.iter_child_nodes(node))
    return found


def imports_of(path: Path, loaded_only: bool = False) -> set[str]:
    """The names a file imports, relative imports resolved."""
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    found = set()
    for node in _import_nodes(ast.parse(path.read_text()), loaded_only):
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


def graph(loaded_only: bool = False) -> dict[str, set[str]]:
    """softmax_exp's modules and packages, each with what importing it loads of ours:
    the modules it names and the packages above them that it does not sit in."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    packages = {name for name, p in paths.items() if p.name == "__init__.py"}
    edges = {}
    for name, path in paths.items():
        targets = set()
        for imported in imports_of(path, loaded_only) & paths.keys():
            parts = imported.split(".")
            for end in range(1, len(parts) + 1):
                target = ".".join(parts[:end])
                inside = name == target or name.startswith(target + ".")
                if target in paths and not (target in packages and inside):
                    targets.add(target)
        edges[name] = targets - {name}
    return edges


def reach(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in edges[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


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


def test_the_graph_sees_packages_and_the_packages_above_an_import():
    edges = graph()
    assert "softmax_exp.report.sources" in edges["softmax_exp.report"]  # __init__ is a node
    # from outside a package, importing its module runs the package's __init__ too
    assert "softmax_exp.sweep" in edges["softmax_exp.report.sources"]
    assert "softmax_exp.report" not in edges["softmax_exp.report.sources"]


def test_records_and_paths_are_the_ground_floor():
    edges = graph()
    assert edges["softmax_exp.records"] <= {"softmax_exp.config"}
    assert edges["softmax_exp.paths"] == set()
    assert edges["softmax_exp.layout"] == set()  # the file names: anyone may import them
    assert "softmax_exp.training" not in edges["softmax_exp.summary"]
    assert "softmax_exp.data" not in edges["softmax_exp.kernels"]


def test_what_reads_runs_never_loads_the_trainer():
    loaded = graph(loaded_only=True)
    for reader in ("softmax_exp.report", "softmax_exp.report.sources", "softmax_exp.results"):
        assert not reach(loaded, reader) & TRAINER, reader
    # nor does the sweep import the report: the CLI hands it the refresh
    assert not {
        m for m in reach(graph(), "softmax_exp.sweep") if m.startswith("softmax_exp.report")
    }


def test_importing_the_report_sources_loads_neither_mxnet_nor_the_trainer():
    code = (
        "import sys, softmax_exp.report.sources; "
        "print(' '.join(m for m in sys.modules if m == 'mxnet' or m.startswith('softmax_exp')))"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert "softmax_exp.report.sources" in loaded  # the probe ran
    assert not loaded & (TRAINER | {"mxnet"}), loaded


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
