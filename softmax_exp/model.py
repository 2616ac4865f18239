"""The chapter's model, stacked K times so that trials can train side by side.

A run is a group of K >= 1 trials sharing one `Dense(10 * K)`: rows
10k..10k+9 of its weight are trial k's `Dense(10)`. With K = 1 this is exactly
the chapter's `nn.Sequential` holding one `nn.Dense(10)`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NUM_CLASSES = 10
NUM_INPUTS = 28 * 28


def build_net(blocks: int, init_sigma: float, ctx, seed: int):
    """Each block starts from the weights a lone chapter model would get from `seed`."""
    import mxnet as mx
    from mxnet import init
    from mxnet.gluon import nn

    mx.random.seed(seed)
    single = nn.HybridSequential()
    single.add(nn.Dense(NUM_CLASSES, in_units=NUM_INPUTS))
    single.initialize(init.Normal(sigma=init_sigma), ctx=mx.cpu())
    weight = single[0].weight.data().asnumpy()
    net = nn.HybridSequential()
    net.add(nn.Dense(NUM_CLASSES * blocks, in_units=NUM_INPUTS))
    net.initialize(init.Normal(sigma=init_sigma), ctx=ctx)
    net[0].weight.set_data(mx.nd.array(np.tile(weight, (blocks, 1)), ctx=ctx))
    net[0].bias.set_data(mx.nd.zeros(NUM_CLASSES * blocks, ctx=ctx))
    return net


def block_params(net, index: int) -> dict[str, np.ndarray]:
    """Trial `index`'s parameters, named as a lone chapter model saves them."""
    rows = slice(NUM_CLASSES * index, NUM_CLASSES * (index + 1))
    return {"0.weight": net[0].weight.data().asnumpy()[rows].copy(),
            "0.bias": net[0].bias.data().asnumpy()[rows].copy()}


def save_params(path: Path, params: dict[str, np.ndarray]) -> None:
    """Write in MXNet's format (loadable by `net.load_parameters`), atomically."""
    import mxnet as mx

    from .fileio import atomic_path

    with atomic_path(path) as tmp:
        mx.nd.save(str(tmp), {k: mx.nd.array(v) for k, v in params.items()})


def load_net(path: Path, ctx):
    """A lone chapter model with the parameters saved at `path`."""
    from mxnet.gluon import nn

    net = nn.HybridSequential()
    net.add(nn.Dense(NUM_CLASSES, in_units=NUM_INPUTS))
    net.load_parameters(str(path), ctx=ctx)
    return net
