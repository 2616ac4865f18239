"""softmax_exp.mxnet_compat: the one way into MXNet, on every supported Python and numpy.

What a program that imports softmax_exp sees of numpy: the same names before and after
MXNet loads (the names MXNet needed are lent for its import only)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from softmax_exp.mxnet_compat import _replacements

ROOT = Path(__file__).resolve().parent.parent
COMPAT = ROOT / "softmax_exp" / "mxnet_compat.py"


def python_sources():
    for folder in ("softmax_exp", "cli", "tests", "benchmarks", "scripts"):
        yield from (ROOT / folder).rglob("*.py")


def mxnet_imports(path: Path, root: Path = ROOT) -> list[str]:
    """`import mxnet...`, `from mxnet... import` and importlib/__import__ of "mxnet..."."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = ast.unparse(node.func)
            if func.endswith(("import_module", "__import__")):
                names = [str(node.args[0].value)]
        found += [f"{path.relative_to(root)}:{node.lineno}" for name in names
                  if name == "mxnet" or name.startswith("mxnet.")]  # fmt: skip
    return found


def test_no_module_imports_mxnet_but_the_compat_module():
    bypasses = [hit for path in python_sources() if path != COMPAT for hit in mxnet_imports(path)]
    assert bypasses == [], f"import MXNet through softmax_exp.mxnet_compat: {bypasses}"


def test_the_scan_sees_every_form_of_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import mxnet as mx\nfrom mxnet.gluon import nn\nimport os, mxnet.ndarray\n"
        "import importlib\nimportlib.import_module('mxnet')\n__import__('mxnet.base')\n"
        "from .mxnet import x\nimport mxnetic\n"
    )
    hits = [hit.rsplit(":", 1)[1] for hit in mxnet_imports(sample, tmp_path)]
    assert hits == ["1", "2", "3", "5", "6"]


def run_python(code: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


NAMESPACE_PROBE = """
import json, warnings
import numpy
def names():  # numpy's submodules that MXNet imports (numpy.testing) are numpy's own
    return {n: id(v) for n, v in vars(numpy).items() if type(v) is not type(numpy)}
before = names()
import softmax_exp.training  # what a program importing the library gets
from softmax_exp.mxnet_compat import load_mxnet, lent_names
mx = load_mxnet()
after = names()
print(json.dumps({"added": sorted(set(after) - set(before)),
                  "removed": sorted(set(before) - set(after)),
                  "changed": sorted(n for n in before if n in after and before[n] != after[n]),
                  "lent": list(lent_names()), "numpy": numpy.__version__,
                  "sum": float(mx.nd.array([1, 2, 3]).sum().asscalar())}))
"""


def test_numpy_is_the_same_after_mxnet_loads():
    found = run_python(NAMESPACE_PROBE)
    assert (found["added"], found["removed"], found["changed"]) == ([], [], [])
    assert found["sum"] == 6.0


def test_names_are_lent_exactly_where_numpy_lacks_them():
    found = run_python(NAMESPACE_PROBE)
    major, minor = (int(part) for part in np.__version__.split(".")[:2])
    expected = set()
    if (major, minor) >= (1, 24):
        expected |= {"int", "float", "complex", "object", "str"}
    if major == 1 and minor >= 24:
        expected.add("bool")  # numpy 2 has np.bool again
    if major >= 2:
        expected |= {"PZERO", "NZERO", "NAN", "NaN", "NINF", "PINF", "Inf", "alltrue",
                     "sometrue", "product", "round_", "msort"}  # fmt: skip
    assert expected <= set(found["lent"]) <= set(_replacements(np))


def test_each_replacement_means_what_the_removed_name_meant():
    values = _replacements(np)
    data = np.array([[3.0, 1.0], [2.0, 4.0]])
    assert values["alltrue"](data > 0) and not values["sometrue"](data > 5)
    assert values["product"](data) == 24.0 and values["round_"](2.6) == 3.0
    assert values["msort"](data).tolist() == [[2.0, 1.0], [3.0, 4.0]]
    assert np.isnan(values["NAN"]) and values["NINF"] == -np.inf and values["bool"] is bool
    with pytest.raises(AttributeError, match="mirr was removed"):
        values["mirr"](0.1, [1, 2])


HIDDEN = """
import importlib.util, json, sys
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == {hide!r} else real(name, *a)
sys.modules.pop("mxnet", None)
from softmax_exp.errors import SoftmaxExpError
from softmax_exp.mxnet_compat import load_mxnet
try:
    load_mxnet()
except SoftmaxExpError as exc:
    print(json.dumps({{"error": str(exc)}}))
"""


@pytest.mark.parametrize(
    "hide, words",
    [("mxnet", ["MXNet is not installed", "scripts/setup", "--no-deps mxnet==1.9.1"]),
     ("distutils", ["imports distutils", "pip install setuptools"])],
)  # fmt: skip
def test_a_missing_piece_is_one_line_saying_what_to_install(hide, words):
    error = run_python(HIDDEN.format(hide=hide))["error"]
    assert "\n" not in error and all(word in error for word in words), error


def test_the_cli_says_it_in_one_line_and_exit_2(tmp_path):
    code = HIDDEN.split("from softmax_exp.errors")[0].format(hide="mxnet") + (
        "sys.argv = ['softmax', 'train', '--epochs', '1', '--out', sys.argv[1]]\n"
        "from softmax_exp_cli.main import run\nrun()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "MXNet is not installed" in done.stderr
    assert "Traceback" not in done.stderr and not list(tmp_path.iterdir())


def test_compat_module_is_light():
    """Importing it (every library module does) loads neither MXNet nor numpy."""
    found = run_python(
        "import json, sys\nimport softmax_exp.mxnet_compat\n"
        "print(json.dumps(sorted({'mxnet', 'numpy'} & set(sys.modules))))"
    )
    assert found == []
