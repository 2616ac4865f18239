"""Choosing the MXNet context, and failing before training when it cannot work."""

from __future__ import annotations

from . import kernels
from .config import CTX_PATTERN
from .errors import DeviceError
from .mxnet_compat import load_mxnet

CUDA_HINT = (
    "install a CUDA build of MXNet matching your driver (pip install mxnet-cu112, "
    "for example) or use ctx cpu"
)


def resolve_context(name: str):
    """Turn 'cpu', 'gpu' or 'gpu:N' into an mx.Context that is known to exist.

    mx.gpu(N) itself never fails: the error would come at the first allocation,
    deep inside training. So ask MXNet how many GPUs it sees first.
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
    return mx.gpu(index)


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
