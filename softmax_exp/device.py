"""Choosing the MXNet context, and failing before training when it cannot work.

On a GPU, three things must hold, each checked before any run starts: MXNet was built
with CUDA, it sees the GPU, and it has machine code for the GPU's compute capability.
The `mxnet-cuXXX` 1.9.1 wheels carry code for compute capability 5.0, 6.0, 7.0, 8.0
and 8.6 only, and no PTX: Maxwell to Ampere and Ada (8.9 runs 8.6 code) work; Hopper
(9.0: H100, H200) and newer fail at their first operator with "no kernel image is
available". A one-element operation on the context finds that out up front.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Optional

from . import kernels
from .config import CTX_PATTERN
from .errors import DeviceError, reason
from .mxnet_compat import load_mxnet

# Compute capabilities the mxnet-cuXXX 1.9.1 wheels have code for (MXNet's
# config/distribution/linux_cu11*.cmake: MXNET_CUDA_ARCH "5.0;6.0;7.0;8.0;8.6").
WHEEL_ARCHES = ((5, 0), (6, 0), (7, 0), (8, 0), (8, 6))
CUDA_HINT = (
    "on an NVIDIA GPU of compute capability 5.0 to 8.9, install the mxnet-cuXXX==1.9.1 "
    "wheel for its CUDA 11 (see docs/training.md#gpu); else use ctx cpu"
)
SOURCE_HINT = (
    "the mxnet-cuXXX 1.9.1 wheels have code for compute capability 5.0-8.6 only: "
    "build MXNet 1.9.1 from source with CUDA 11.8+ and MXNET_CUDA_ARCH including {cc}, "
    "or use ctx cpu"
)


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    capability: Optional[tuple[int, int]]  # None when it could not be read

    @property
    def capability_text(self) -> str:
        return "unknown" if self.capability is None else "{}.{}".format(*self.capability)


def resolve_context(name: str):
    """Turn 'cpu', 'gpu' or 'gpu:N' into an mx.Context that is known to work.

    mx.gpu(N) itself never fails: the error would come at the first allocation or the
    first operator, deep inside training. So ask MXNet how many GPUs it sees, then run
    one tiny operation there.
    """
    if not CTX_PATTERN.match(name):
        raise DeviceError(f"ctx {name}: not a context; use cpu, gpu or gpu:N", "ctx")
    kernels.choice()  # a bad SOFTMAX_EXP_KERNELS fails here, before any run starts
    mx = load_mxnet()

    if name == "cpu":
        return mx.cpu()
    index = int(name.partition(":")[2] or 0)
    if not cuda_enabled():
        raise DeviceError(
            f"ctx {name}: this MXNet ({mx.__version__}) was built without CUDA; {CUDA_HINT}", "ctx"
        )
    count = gpu_count()
    if index >= count:
        seen = f"sees {count} GPU{'s' if count != 1 else ''}" if count else "sees no GPU"
        raise DeviceError(
            f"ctx {name}: MXNet {seen}; check nvidia-smi and CUDA_VISIBLE_DEVICES, or {CUDA_HINT}",
            "ctx",
        )
    context = mx.gpu(index)
    error = probe(context)
    if error:
        raise DeviceError(probe_failure(name, error, gpu_info(index)), "ctx")
    return context


def probe(context) -> str:
    """One tiny operation on `context`: MXNet's reason when it fails, else ''."""
    mx = load_mxnet()
    try:
        mx.nd.ones((1,), ctx=context).asnumpy()
    except mx.base.MXNetError as exc:
        return reason(exc)
    return ""


def probe_failure(name: str, error: str, gpu: Optional[Gpu]) -> str:
    """The one line for a GPU on which MXNet's first operation failed."""
    about = f"{gpu.name}, compute capability {gpu.capability_text}" if gpu else "its GPU"
    if "no kernel image" in error or "invalid device function" in error:
        cc = gpu.capability_text if gpu and gpu.capability else "your GPU's"
        return f"ctx {name}: this MXNet has no code for {about}; {SOURCE_HINT.format(cc=cc)}"
    return f"ctx {name}: MXNet cannot run on {about}: {error}; check nvidia-smi, or use ctx cpu"


def wheel_runs_on(capability: tuple[int, int]) -> bool:
    """Whether the mxnet-cuXXX 1.9.1 wheels have code that runs on this capability:
    code for major.m runs on major.n for n >= m (no PTX, so never on a newer major)."""
    major, minor = capability
    return any(
        arch_major == major and arch_minor <= minor for arch_major, arch_minor in WHEEL_ARCHES
    )


def cuda_enabled() -> bool:
    mx = load_mxnet()

    try:
        return bool(mx.runtime.Features().is_enabled("CUDA"))
    except Exception:  # noqa: BLE001 - very old builds lack runtime features
        return gpu_count() > 0


def gpu_count() -> int:
    mx = load_mxnet()

    try:
        return int(mx.context.num_gpus())
    except Exception:  # noqa: BLE001 - a CUDA build without a driver raises here
        return 0


def gpu_info(index: int) -> Optional[Gpu]:
    """One GPU's name and compute capability, from nvidia-smi (None without it)."""
    return next((gpu for gpu in list_gpus() if gpu.index == index), None)


def list_gpus() -> list[Gpu]:
    """The GPUs the driver sees, whatever MXNet was built with: nvidia-smi's view, with
    the compute capability from it or, for old drivers, from the CUDA runtime."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,compute_cap", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(out)


def parse_nvidia_smi(text: str) -> list[Gpu]:
    gpus = []
    for line in text.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) < 2 or not parts[0].isdigit():
            continue
        match = re.fullmatch(r"(\d+)\.(\d+)", parts[2]) if len(parts) > 2 else None
        capability = (int(match[1]), int(match[2])) if match else _runtime_capability(int(parts[0]))
        gpus.append(Gpu(int(parts[0]), parts[1], capability))
    return gpus


def _runtime_capability(index: int) -> Optional[tuple[int, int]]:
    """cudaDeviceGetAttribute(ComputeCapabilityMajor = 75, Minor = 76), where nvidia-smi
    is too old to print compute_cap."""
    for library in ("libcudart.so", "libcudart.so.11.0", "libcudart.so.12"):
        try:
            cudart = ctypes.CDLL(library)
        except OSError:
            continue
        major, minor = ctypes.c_int(), ctypes.c_int()
        failed = cudart.cudaDeviceGetAttribute(ctypes.byref(major), 75, index)
        failed = failed or cudart.cudaDeviceGetAttribute(ctypes.byref(minor), 76, index)
        return None if failed else (major.value, minor.value)
    return None
