"""What a user needs to know when something does not work: `softmax doctor`.

Each check is one small function returning findings; one that fails says so as a
finding of its own, so the others still run. Nothing here builds, downloads or
verifies in full: the whole diagnosis stays within a few seconds (MXNet's import is
most of it).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from .errors import SoftmaxExpError

SUPPORTED_PYTHONS = ((3, 9), (3, 10), (3, 11), (3, 12), (3, 13))
# The instruction sets that decide oneDNN's kernels and the fused kernels' build.
ISA_FLAGS = ("sse4_1", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "amx_tile")


@dataclass(frozen=True)
class Finding:
    topic: str
    text: str
    problem: bool = False
    fix: str = ""  # what to do, for a problem


def diagnose() -> list[Finding]:
    """Every check's findings, in order; a check that cannot run is a problem finding."""
    from .mxnet_compat import MxnetMissingError

    findings: list[Finding] = []
    mxnet_missing = False
    for topic, check in CHECKS.items():
        try:
            findings += check()
        except MxnetMissingError as exc:
            text = "skipped: MXNet cannot be loaded (above)" if mxnet_missing else str(exc)
            findings.append(Finding(topic, text, True))
            mxnet_missing = True
        except (SoftmaxExpError, OSError) as exc:
            findings.append(Finding(topic, str(exc), True))
    return findings


def as_json(findings: list[Finding]) -> list[dict]:
    return [asdict(finding) for finding in findings]


def check_python() -> list[Finding]:
    version = sys.version_info[:2]
    text = f"{platform.python_version()} ({sys.executable})"
    if version in SUPPORTED_PYTHONS:
        return [Finding("python", text)]
    names = ", ".join(f"{major}.{minor}" for major, minor in SUPPORTED_PYTHONS)
    return [Finding("python", text, True, f"use Python {names} (PYTHON=... scripts/setup)")]


def check_numpy() -> list[Finding]:
    import numpy

    return [Finding("numpy", f"{numpy.__version__} ({Path(str(numpy.__file__)).parent})")]


def check_mxnet() -> list[Finding]:
    from .mxnet_compat import lent_names, load_mxnet

    mx = load_mxnet()
    lent = lent_names()
    shim = (
        f"numpy names lent for its import: {', '.join(lent)}"
        if lent
        else "no numpy names needed lending"
    )
    features = mx.runtime.Features()
    built = ", ".join(
        f"{label} {'yes' if features.is_enabled(key) else 'no'}"
        for label, key in (("CUDA", "CUDA"), ("cuDNN", "CUDNN"), ("oneDNN", "MKLDNN"))
    )
    return [
        Finding("mxnet", f"{mx.__version__} ({Path(str(mx.__file__)).parent})"),
        Finding("shim", f"active: {shim}" if lent else f"inactive: {shim}"),
        Finding("build", built),
    ]


def check_gpus() -> list[Finding]:
    from .device import cuda_enabled, gpu_count, list_gpus, wheel_runs_on

    gpus, cuda = list_gpus(), cuda_enabled()
    if not gpus:
        seen = f"MXNet sees {gpu_count()}" if cuda else "no nvidia-smi"
        return [Finding("gpu", f"none seen ({seen}): training runs on the CPU")]
    findings = []
    for gpu in gpus:
        about = f"{gpu.index}: {gpu.name}, compute capability {gpu.capability_text}"
        if not cuda:
            fix = "pip install mxnet-cu117==1.9.1 (or the cuXXX matching your CUDA 11)"
            findings.append(Finding("gpu", f"{about}; this MXNet has no CUDA", True, fix))
        elif gpu.capability is not None and not wheel_runs_on(gpu.capability):
            fix = (
                f"build MXNet from source with CUDA 11.8+ and MXNET_CUDA_ARCH {gpu.capability_text}"
            )
            text = f"{about}; the mxnet-cu 1.9.1 wheels have no code for it"
            findings.append(Finding("gpu", text, True, fix))
        else:
            findings.append(Finding("gpu", f"{about}; usable as ctx gpu:{gpu.index}"))
    return findings


def check_cpu() -> list[Finding]:
    model, flags = _cpuinfo()
    found = [flag for flag in ISA_FLAGS if flag in flags] or ["none of " + ", ".join(ISA_FLAGS)]
    limit = os.environ.get("DNNL_MAX_CPU_ISA")
    text = f"{model}; {' '.join(found)}" + (f"; DNNL_MAX_CPU_ISA={limit}" if limit else "")
    return [Finding("cpu", text)]


def check_kernels() -> list[Finding]:
    from . import kernels

    choice = kernels.choice()
    if choice == "mxnet":
        return [Finding("kernels", f"off ({kernels.CHOICE_ENV}=mxnet): MXNet's operators")]
    try:
        path = kernels.library_path()
    except kernels.KernelError as exc:
        return [Finding("kernels", f"cannot be built: {exc}", True, "apt-get install g++")]
    if not path.exists():
        fix = "python -m softmax_exp.kernels (they build on first use too, about 10 s)"
        return [Finding("kernels", "not built yet for this CPU and compiler", True, fix)]
    try:
        kernels.load()
    except kernels.KernelError as exc:
        return [Finding("kernels", str(exc), True, f"delete {path.parent} to rebuild them")]
    return [Finding("kernels", f"built and loaded from {_home(path)}")]


def check_data() -> list[Finding]:
    from . import data

    sources = data.candidate_sources()
    source = next((each for each in sources if each.complete), None)
    if source is None:
        looked = ", ".join(str(each.directory) for each in sources)
        return [Finding("data", f"not found (looked in {looked})", True, data.HOW_TO_GET)]
    where = f"{source.kind}: {source.directory}"
    if data.is_verified(source):
        return [Finding("data", f"{where}; checksums verified")]
    fix = "softmax data (verifies every file's sha256 once)"
    return [Finding("data", f"{where}; checksums not verified since its files changed", True, fix)]


def check_ray() -> list[Finding]:
    from .sweep.ray_cluster import token_source

    try:
        version = importlib.metadata.version("ray")
    except importlib.metadata.PackageNotFoundError:
        text = "not installed (only --executor ray needs it: pip install 'softmax-exp[ray]')"
        return [Finding("ray", text)]
    address = os.environ.get("RAY_ADDRESS") or "none (a new local instance)"
    token = token_source() or "none"
    return [Finding("ray", f"{version}; cluster address: {address}; token: {token}")]


def _cpuinfo() -> tuple[str, set[str]]:
    from .kernels import cpuinfo

    found = cpuinfo()
    if found is None:
        return platform.processor() or platform.machine(), set()
    return found.get("model name") or platform.machine(), set(found.get("flags", "").split())


def _home(path: Path) -> str:
    """`path` with the home directory written ~ (shorter, for an 80-column line)."""
    home = Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


CHECKS: dict[str, Callable[[], list[Finding]]] = {
    "python": check_python, "numpy": check_numpy, "mxnet": check_mxnet, "gpu": check_gpus,
    "cpu": check_cpu, "kernels": check_kernels, "data": check_data, "ray": check_ray,
}  # fmt: skip
