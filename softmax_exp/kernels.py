"""Fused CPU kernels for the stacked trainer (kernels.cc), built on first use.

Why: with trials stacked, MXNet's own operators for the loss and the update
(log_softmax, pick, argmax, sum, the SGD kernels and the weight-decay multiply) cost
more per batch than the work they do, and MXNet's matrix products (oneDNN) choose
their reduction order by the shape of the whole product, so a stacked trial would not
equal its separate run bit for bit. kernels.cc computes a batch in four custom
operators, one pass each: `gather_pixels` (the batch's uint8 rows as floats),
`stacked_dense` (the stacked layer's matrix products, forward and backward),
`stacked_xent` (each trial's loss with its metrics and gradient) and `stacked_sgd`
(the SGD step with per-trial weight decay). Measurements: docs/performance.md.

How: the C++ compiler (`$CXX`, else g++) builds kernels.cc against the headers in
the MXNet wheel (MXNet's library API for custom operators) into the user cache,
once per source, MXNet version, compiler and CPU; `_load_library` adds the
operators to MXNet. SOFTMAX_EXP_KERNELS chooses: `auto` (default: the kernels on
the CPU when they build, else MXNet's operators with a warning), `native` (the
kernels or an error) or `mxnet` (MXNet's operators). On a GPU, MXNet's operators
always. Both paths compute the same functions; their rounding differs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any, Optional

from .errors import SoftmaxExpError
from .mxnet_compat import load_mxnet

SOURCE = Path(__file__).with_name("kernels.cc")
LIBRARY = "libsoftmax_exp_kernels.so"
CHOICE_ENV = "SOFTMAX_EXP_KERNELS"
CHOICES = ("auto", "native", "mxnet")
ARCH_ENV = "SOFTMAX_EXP_KERNELS_ARCH"
# -O3: GCC 12 vectorizes these loops at -O3 only (the uint8 gather: 250 against 30 us
# a batch). -march=native (or $SOFTMAX_EXP_KERNELS_ARCH, e.g. x86-64-v2, to build for a
# lesser CPU): the build is keyed by it and this CPU. -ffp-contract=off: no fused
# multiply-add contraction, so the bits do not depend on which instructions exist.
# -fopenmp: the matrix products share their tiles among MXNet's OpenMP threads.
FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-ffp-contract=off", "-fopenmp")


def flags() -> tuple[str, ...]:
    arch = os.environ.get(ARCH_ENV, "").strip() or "native"
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", arch):
        raise KernelError(
            f"{ARCH_ENV}={arch}: not a CPU name; use native, x86-64-v2, "
            f"x86-64-v3, x86-64-v4 or another of the compiler's -march names"
        )
    return (*FLAGS, f"-march={arch}")


class KernelError(SoftmaxExpError):
    """The fused kernels were asked for and cannot be built or loaded."""


class KernelWarning(UserWarning):
    """The fused kernels cannot be built; training falls back to MXNet's operators."""


def choice() -> str:
    value = os.environ.get(CHOICE_ENV, "auto").strip().lower() or "auto"
    if value not in CHOICES:
        raise KernelError(f"{CHOICE_ENV}={value}: not a choice; use one of {', '.join(CHOICES)}")
    return value


def use_native(ctx) -> bool:
    """Whether training on `ctx` uses the fused kernels (building them if need be)."""
    wanted = choice()
    if wanted == "mxnet" or ctx.device_type != "cpu":
        return False
    try:
        load()
    except KernelError as exc:
        if wanted == "native":
            raise
        _warn_once(str(exc))
        return False
    return True


@functools.cache
def _warn_once(reason: str) -> None:
    warnings.warn(
        f"{reason}; training uses MXNet's own operators (slower for fused sweeps). "
        f"Install a C++ compiler (apt-get install g++) to use the fused kernels, or "
        f"set {CHOICE_ENV}=mxnet to choose MXNet's operators without this warning",
        KernelWarning,
        stacklevel=3,
    )


def load() -> Path:
    """Build (once per machine) and load the kernels into MXNet; their library path.
    Tried once per process: a failure is remembered, not retried for every trainer."""
    path, error = _load_once()
    if path is None:
        raise KernelError(error)
    return path


@functools.cache
def _load_once() -> tuple[Optional[Path], str]:
    try:
        return _build_and_load(), ""
    except KernelError as exc:
        return None, str(exc)


def _build_and_load() -> Path:
    mx = load_mxnet()

    path = library_path()
    if not path.exists():
        build(path)
    try:
        _load_library(path)
    except mx.base.MXNetError as exc:
        raise KernelError(
            f"cannot load {path}: {str(exc).strip().splitlines()[-1]}; "
            f"delete {path.parent} to rebuild it"
        ) from None
    return path


OPERATORS = ("gather_pixels", "stacked_dense", "stacked_xent", "stacked_sgd")


def _load_library(path: Path) -> None:
    """What `mx.library.load` does, less the time it spends regenerating the Python
    function of every MXNet operator, where only ours are new (MXNet 1.9's own helpers)."""
    import ctypes

    mx = load_mxnet()
    base = mx.base
    _make_ndarray_function = mx.ndarray.register._make_ndarray_function
    _make_symbol_function = mx.symbol.register._make_symbol_function

    base.check_call(base._LIB.MXLoadLib(ctypes.c_char_p(str(path).encode()), base.mx_uint(0)))
    for name in OPERATORS:
        handle = base.OpHandle()
        base.check_call(base._LIB.NNGetOpHandle(base.c_str(name), ctypes.byref(handle)))
        for module, make in (
            (mx.ndarray, _make_ndarray_function),
            (mx.symbol, _make_symbol_function),
        ):
            function = make(handle, name, name)
            setattr(module, name, function)
            setattr(module.op, name, function)


def library_path() -> Path:
    """Where the build for this source, MXNet, compiler and CPU lives in the cache."""
    from .paths import cache_root

    compiler = _compiler()
    key = hashlib.sha256()
    for part in (SOURCE, *_api_files()):
        key.update(part.read_bytes())
    for text in (*flags(), compiler, str(os.stat(compiler).st_mtime_ns), _cpu_identity()):
        key.update(text.encode())
    return cache_root() / "kernels" / key.hexdigest()[:16] / LIBRARY


def build(path: Path, timeout: float = 600) -> None:
    """Compile kernels.cc and MXNet's lib_api.cc into `path` (written, then renamed)."""
    header, api_source = _api_files()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    command = [
        _compiler(),
        *flags(),
        str(SOURCE),
        str(api_source),
        f"-I{header.parent.parent}",
        "-o",
        str(tmp),
    ]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise KernelError(f"building the fused kernels failed ({command[0]}: {last})")
        os.replace(tmp, path)
    except subprocess.TimeoutExpired:
        raise KernelError(f"building the fused kernels took over {timeout:.0f} s") from None
    except OSError as exc:  # an unwritable cache directory, say
        raise KernelError(
            f"cannot build the fused kernels into {path.parent}: {exc.strerror or exc}"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _compiler() -> str:
    name = os.environ.get("CXX") or "g++"
    found = shutil.which(name)
    if found is None:
        raise KernelError(f"no C++ compiler: {name} not found on PATH")
    return found


def _api_files() -> tuple[Path, Path]:
    """MXNet's include/mxnet/lib_api.h and src/lib_api.cc, shipped in its wheel."""
    mx = load_mxnet()

    root = Path(mx.__file__).parent
    header, source = root / "include" / "mxnet" / "lib_api.h", root / "src" / "lib_api.cc"
    if not (header.exists() and source.exists()):
        raise KernelError(f"this MXNet ({root}) ships no lib_api.h/lib_api.cc to build against")
    return header, source


def _cpu_identity() -> str:
    """The CPU model and its instruction-set flags: a -march=native build is only
    reused on a CPU that has them."""
    found = cpuinfo()
    if found is None:
        import platform

        return platform.processor() or platform.machine()
    return "|".join(found.get(name, "") for name in ("model name", "flags"))


def cpuinfo() -> Optional[dict[str, str]]:
    """The first CPU's "model name" and "flags" lines of /proc/cpuinfo (None where
    there is no such file)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    found: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip() in ("model name", "flags") and name.strip() not in found:
            found[name.strip()] = value.strip()
    return found


@functools.cache
def stacked_sgd_class():
    """An MXNet optimizer whose step is the `stacked_sgd` kernel: SGD at rate 1 (each
    trial's rate scales its loss) with per-row weight decay, plain or with momentum."""
    mx = load_mxnet()

    class StackedSGD(mx.optimizer.Optimizer):  # type: ignore[name-defined]  # MXNet: Any
        def __init__(self, momentum: float = 0.0, **kwargs):
            super().__init__(learning_rate=1.0, **kwargs)
            self.momentum = momentum
            self.decay: Any = None  # per weight row: lr * wd (an NDArray)
            self.no_decay: Any = None

        def set_decay(self, rows, ctx) -> None:
            self.decay = mx.nd.array(rows, ctx=ctx)
            self.no_decay = mx.nd.zeros(len(rows), ctx=ctx)

        def create_state(self, index, weight):
            return mx.nd.zeros_like(weight) if self.momentum else None

        def update(self, index, weight, grad, state):
            decay = self.decay if weight.ndim == 2 else self.no_decay  # biases never decay
            extra = [] if state is None else [state]
            mx.nd.stacked_sgd(
                weight,
                grad,
                decay,
                *extra,
                rescale=self.rescale_grad,
                momentum=self.momentum,
                out=weight,
            )

    return StackedSGD


if __name__ == "__main__":  # python -m softmax_exp.kernels: build now (scripts/setup does)
    print(f"fused kernels: {load()}")
