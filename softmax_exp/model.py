"""The chapter's model, and the stacked layer that K trials share.

Trial k owns classes 10k .. 10k+9 of one stacked layer (softmax_exp.backends holds the
two ways to compute it). The layer is a few classes wider, zero and never trained, to
make its width a multiple of 16: whole 4-, 8- and 16-float vectors.

The layer takes raw pixels (0..255, as float) and its scores are scaled by 1/255
instead of the 784 inputs: the same function as the chapter's `ToTensor` then
`Dense`, at a fraction of the elementwise work per batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .mxnet_compat import load_mxnet

NUM_CLASSES = 10
NUM_INPUTS = 28 * 28
ALIGN = 16  # layer width is a multiple of this: whole 4-, 8- and 16-float vector groups


def width(blocks: int) -> int:
    return -(-NUM_CLASSES * blocks // ALIGN) * ALIGN


PIXEL_SCALE = 1.0 / 255


def chapter_weights(init_sigma: float, seed: int) -> np.ndarray:
    """The (10, 784) weights a lone chapter model (`Dense(10)`, `init.Normal(sigma)`)
    starts from after `mx.random.seed(seed)`."""
    mx = load_mxnet()
    init = mx.init

    mx.random.seed(seed)
    single = chapter_net()
    single.initialize(init.Normal(sigma=init_sigma), ctx=mx.cpu())
    return single[0].weight.data().asnumpy()


def chapter_net():
    """The chapter's model: a Sequential holding one Dense(10) (hybridizable form)."""
    nn = load_mxnet().gluon.nn

    net = nn.HybridSequential()
    net.add(nn.Dense(NUM_CLASSES, in_units=NUM_INPUTS))
    return net


def block_params(arrays: tuple[np.ndarray, np.ndarray], index: int) -> dict[str, np.ndarray]:
    """Trial `index`'s parameters, named as a lone chapter model saves them, from the
    stacked weight (rows = classes) and bias."""
    weight, bias = arrays
    rows = slice(NUM_CLASSES * index, NUM_CLASSES * (index + 1))
    return {"0.weight": weight[rows].copy(), "0.bias": bias[rows].copy()}


def save_params(path: Path, params: dict[str, np.ndarray]) -> None:
    """Write in MXNet's format (loadable by `chapter_net().load_parameters`), complete or
    absent, on a full disk too: MXNet does not report a failed last write, so the file is
    loaded back before it takes its final name."""
    mx = load_mxnet()

    from .errors import RunError, reason
    from .fileio import atomic_path

    try:
        with atomic_path(path, check=lambda done: _check_params(done, path, params)) as tmp:
            mx.nd.save(str(tmp), {k: mx.nd.array(v) for k, v in params.items()})
    except mx.base.MXNetError as exc:
        raise RunError(
            f"cannot write {path}: {reason(exc)}; free some disk space, check "
            "permissions, or choose another output directory"
        ) from None


def _check_params(written: Path, path: Path, params: dict) -> None:
    """Raises unless `written` loads back with every parameter of its shape."""
    mx = load_mxnet()

    from .errors import RunError, reason

    try:
        loaded = mx.nd.load(str(written))
        whole = set(loaded) == set(params) and all(
            loaded[k].shape == tuple(np.shape(v)) for k, v in params.items()
        )
    except Exception as exc:  # noqa: BLE001 - MXNetError: a torn file
        whole, problem = False, reason(exc)
    else:
        problem = "not every parameter was written"
    if not whole:
        size = written.stat().st_size if written.exists() else 0
        raise RunError(
            f"cannot write {path}: it came out incomplete ({size} bytes; "
            f"{problem}); the disk may be full: free some space, or choose "
            "another output directory"
        )


def load_params(path: Path, sha256: Optional[str] = None) -> dict[str, np.ndarray]:
    """A parameter file that save_params wrote, or a RunError saying why not. `sha256`:
    what the file must hash to (None: not known, for files written before it was kept)."""
    import hashlib

    mx = load_mxnet()

    from .errors import RunError, reason
    from .fileio import read_bytes

    try:
        raw = read_bytes(path, 64 << 20)
    except OSError as exc:
        raise RunError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        raise RunError(
            f"{path}: does not match the checksum recorded when it was written: it "
            "was damaged or replaced; train the run again"
        )
    try:
        loaded = mx.nd.load_frombuffer(raw)
    except Exception as exc:  # noqa: BLE001 - MXNetError and friends: an unreadable file
        raise RunError(
            f"{path}: cannot load parameters ({reason(exc)}); "
            "the run may not have finished; try its final.params"
        ) from None
    if not isinstance(loaded, dict) or set(loaded) != {"0.weight", "0.bias"}:
        raise RunError(f"{path}: not a softmax-exp parameter file")
    return {k: v.asnumpy() for k, v in loaded.items()}
