"""The one way into MXNet: `load_mxnet()` imports MXNet 1.9.1 beside today's numpy.

MXNet 1.9.1, its last release, reads numpy names at import time that numpy has since
removed: the builtin aliases (`np.bool`, `np.int`, ...: gone in numpy 1.24, the first
numpy with wheels for Python 3.12 is 1.26) and, in numpy 2 (the only numpy for Python
3.13), constants and functions (`np.PZERO`, `np.NAN`, `np.alltrue`, `np.round_`, the
financial functions, ...). It also imports `distutils`, gone from the standard library
in Python 3.12 (setuptools brings it back).

So `load_mxnet()` lends numpy each missing name for the length of MXNet's import and
takes it back afterwards: a program that imports softmax_exp sees numpy exactly as it
was, before and after MXNet loads (tests/test_mxnet_compat.py). MXNet's modules keep
the values they read while importing. The few MXNet functions that read a removed name
when called belong to `mxnet.numpy` (`mx.np`) and `gluon.contrib.estimator`, which
softmax-exp does not use; they fail there as they would without this module.

Every import of MXNet in the project goes through here (tests/test_mxnet_compat.py
checks that no other module imports it).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import sys
import threading
import warnings
from types import ModuleType
from typing import Any, Callable

from .errors import SoftmaxExpError

MXNET_VERSION = "1.9.1"
INSTALL_HINT = f"pip install --no-deps mxnet=={MXNET_VERSION}"


class MxnetMissingError(SoftmaxExpError):
    """MXNet is not installed, or cannot be imported on this Python."""


def _expired(name: str) -> Callable[..., Any]:
    def removed(*args: Any, **kwargs: Any) -> Any:
        raise AttributeError(f"numpy.{name} was removed from numpy; see numpy-financial")

    removed.__name__ = name
    return removed


def _replacements(numpy: ModuleType) -> dict[str, Any]:
    """Each name MXNet 1.9.1 reads from numpy while importing, with what it meant."""
    return {
        # numpy 1.24 removed the aliases of Python's own types.
        "bool": bool, "int": int, "float": float, "complex": complex,
        "object": object, "str": str,
        # numpy 2.0 removed these constants and aliases ...
        "PZERO": 0.0, "NZERO": -0.0, "NAN": math.nan, "NaN": math.nan,
        "NINF": -math.inf, "PINF": math.inf, "Inf": math.inf,
        "alltrue": numpy.all, "sometrue": numpy.any, "product": numpy.prod,
        "round_": numpy.round, "msort": lambda a: numpy.sort(a, axis=0),
        # ... and numpy 2.4 these (trapezoid is their name since 2.0).
        "trapz": getattr(numpy, "trapezoid", None), "in1d": numpy.isin,
        # numpy 1.20 removed the financial functions; 1.x still answers with a stub.
        **{name: _expired(name) for name in ("mirr", "npv", "pmt", "ppmt", "pv", "rate")},
    }  # fmt: skip


def _missing(numpy: ModuleType, name: str) -> bool:
    with warnings.catch_warnings():  # numpy 1.x warns when its stubs are read
        warnings.simplefilter("ignore")
        try:
            getattr(numpy, name)
        except AttributeError:
            return True
    return False


_lock = threading.Lock()
_lent: tuple[str, ...] = ()


def load_mxnet() -> Any:
    """The `mxnet` module, imported once (MxnetMissingError when it cannot be)."""
    if "mxnet" not in sys.modules:
        with _lock:
            _import_once()
    return sys.modules["mxnet"]


def lent_names() -> tuple[str, ...]:
    """The numpy names lent for MXNet's import in this process (empty: none needed, or
    MXNet not loaded yet, or loaded by someone else first)."""
    return _lent


@functools.cache
def _import_once() -> None:
    global _lent
    if "mxnet" in sys.modules:
        return
    if importlib.util.find_spec("mxnet") is None:
        raise MxnetMissingError(
            f"MXNet is not installed in {sys.prefix}: {INSTALL_HINT} there (scripts/setup does "
            "so for its .venv); its metadata asks for numpy<2, so beside numpy 2 pip installs "
            "it only without its dependencies"
        )
    _require_distutils()
    import numpy

    values = _replacements(numpy)
    lent = tuple(name for name in values if _missing(numpy, name))
    for name in lent:
        setattr(numpy, name, values[name])
    try:
        import mxnet  # noqa: F401 - the one import of MXNet in the project
    finally:
        for name in lent:
            delattr(numpy, name)
    _lent = lent


def _require_distutils() -> None:
    if importlib.util.find_spec("distutils") is None:
        raise MxnetMissingError(
            f"MXNet {MXNET_VERSION} imports distutils, which Python "
            f"{sys.version_info.major}.{sys.version_info.minor} no longer has; "
            "pip install setuptools (it provides distutils), or run scripts/setup"
        )
