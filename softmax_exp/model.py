"""The chapter's model, stacked so that K trials train as one `Dense(10*K)`.

Trial k owns rows 10k .. 10k+9 of one dense layer's weight and bias. The layer
has a few more rows, zero and never trained, to make its width a multiple of
16: the CPU GEMM kernel (oneDNN) computes output columns in vector-wide groups
and rounds a trailing partial group differently, so without the padding the
last trial of a group (and a lone run) would round differently from the others,
and SGD at a large learning rate amplifies last-bit differences beyond 1e-5
within an epoch (measured on the real data at lr 0.3). Padded, each trial
computes bit for bit what it would alone (checked for K = 1..24 and several
batch sizes), and a group of K costs one matrix product, not K.

The layer takes raw pixels (0..255, as float) and scales its 10*K scores by 1/255
instead of scaling the 784 inputs: the same function as the chapter's `ToTensor`
then `Dense`, at a fraction of the elementwise work per batch (784 multiplies
per image become 16 per trial group row; a scalar multiply runs at about
0.6 G elements/s here, the largest cost of a batch after the matrix products).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

NUM_CLASSES = 10
NUM_INPUTS = 28 * 28
ALIGN = 16  # layer width is a multiple of this: whole 4-, 8- and 16-float vector groups


def width(blocks: int) -> int:
    return -(-NUM_CLASSES * blocks // ALIGN) * ALIGN


def build_net(blocks: int, init_sigma: float, ctx, seed: int, scaled: bool = True):
    """One Dense(10*K, padded); each trial's rows start from the weights a lone chapter
    model (`Dense(10)`, `init.Normal(sigma)`) gets from `seed`. `scaled=False`: the
    scores are left 255 times too large, for a loss that scales them itself."""
    import mxnet as mx
    from mxnet import init
    from mxnet.gluon import nn

    mx.random.seed(seed)
    single = chapter_net()
    single.initialize(init.Normal(sigma=init_sigma), ctx=mx.cpu())
    weight = np.zeros((width(blocks), NUM_INPUTS), dtype=np.float32)
    weight[:NUM_CLASSES * blocks] = np.tile(single[0].weight.data().asnumpy(), (blocks, 1))
    net = nn.HybridSequential()
    net.add(pixel_dense_class()(width(blocks), in_units=NUM_INPUTS, scaled=scaled))
    net.initialize(ctx=ctx)
    net[0].weight.set_data(mx.nd.array(weight, ctx=ctx))
    net[0].bias.set_data(mx.nd.zeros(width(blocks), ctx=ctx))
    return net


PIXEL_SCALE = 1.0 / 255


@cache
def pixel_dense_class():
    """`nn.Dense` over raw pixel values: scores = W (x / 255) + b, computed as
    (W x + 255 b) / 255 so that the scaling touches the outputs, not the inputs.
    Its parameters mean what a chapter `Dense` (fed `ToTensor` images) means."""
    from mxnet.gluon import nn

    class PixelDense(nn.Dense):
        def __init__(self, *args, scaled: bool = True, **kwargs):
            super().__init__(*args, **kwargs)
            self.scaled = scaled

        def hybrid_forward(self, F, x, weight, bias):  # noqa: N803
            scores = F.FullyConnected(x, weight, bias * 255.0, num_hidden=self._units,
                                      flatten=self._flatten, name="fwd")
            return scores * PIXEL_SCALE if self.scaled else scores

    return PixelDense


def chapter_net():
    """The chapter's model: a Sequential holding one Dense(10) (hybridizable form)."""
    from mxnet.gluon import nn

    net = nn.HybridSequential()
    net.add(nn.Dense(NUM_CLASSES, in_units=NUM_INPUTS))
    return net


def block_params(net, index: int, arrays=None) -> dict[str, np.ndarray]:
    """Trial `index`'s parameters, named as a lone chapter model saves them; from
    `arrays` (`param_arrays(net)`, read once for many trials) when given."""
    weight, bias = arrays or param_arrays(net)
    rows = slice(NUM_CLASSES * index, NUM_CLASSES * (index + 1))
    return {"0.weight": weight[rows].copy(), "0.bias": bias[rows].copy()}


def param_arrays(net) -> tuple[np.ndarray, np.ndarray]:
    """The stacked layer's weight and bias as numpy arrays (one copy off the device)."""
    return net[0].weight.data().asnumpy(), net[0].bias.data().asnumpy()


def net_from_params(params: dict[str, np.ndarray], ctx, scaled: bool = True):
    """A one-trial stacked net holding saved parameters (for exact re-evaluation)."""
    import mxnet as mx

    net = build_net(1, 0.01, ctx, seed=0, scaled=scaled)
    weight = np.zeros((width(1), NUM_INPUTS), dtype=np.float32)
    bias = np.zeros(width(1), dtype=np.float32)
    weight[:NUM_CLASSES], bias[:NUM_CLASSES] = params["0.weight"], params["0.bias"]
    net[0].weight.set_data(mx.nd.array(weight, ctx=ctx))
    net[0].bias.set_data(mx.nd.array(bias, ctx=ctx))
    return net


def save_params(path: Path, params: dict[str, np.ndarray]) -> None:
    """Write in MXNet's format (loadable by `chapter_net().load_parameters`), atomically."""
    import mxnet as mx

    from .fileio import atomic_path

    with atomic_path(path) as tmp:
        mx.nd.save(str(tmp), {k: mx.nd.array(v) for k, v in params.items()})
