"""Two ways to compute K stacked trials, behind one interface, chosen once per trainer.

`NativeBackend` (the CPU default): the fused kernels of kernels.cc do everything a
batch needs: gather, the stacked matrix products, the loss with its metrics and
gradient, and the SGD step. Every number a trial produces is computed by the same
operations in the same order whether it trains alone or stacked with others, on any
instruction set, any thread count: fused trials equal separate runs bit for bit.

`MxnetBackend` (a GPU, or `SOFTMAX_EXP_KERNELS=mxnet`, or no C++ compiler): MXNet's
own operators, the matrix products in oneDNN (CPU) or cuBLAS (GPU). Those pick their
kernels and reduction order by instruction set and by the shape of the whole product,
so a fused trial agrees with its separate run to float32 rounding, not bit for bit
(README, "Fusion"). The layer is padded to a multiple of 16 rows, which makes them
equal on AVX2 CPUs but not on AVX-512 ones.

Both hold the trials' weights in one stacked layer; trial k owns classes 10k..10k+9.
Saved parameters are always a lone chapter model's (`0.weight` (10, 784), `0.bias`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cache
from typing import Any, Optional

import numpy as np

from .kernels import stacked_sgd_class, use_native
from .model import NUM_CLASSES, NUM_INPUTS, PIXEL_SCALE, chapter_weights, width
from .mxnet_compat import load_mxnet


def choose_backend(ctx):
    """The native kernels on the CPU when they can be had, else MXNet's operators."""
    return NativeBackend(ctx) if use_native(ctx) else MxnetBackend(ctx)


class _Backend(ABC):
    """One way to compute a stacked net: `build` (or `load`), then `trainer` and
    `objective`; `set_rates` before each update; arrays in and out in `param_arrays`'
    layout (rows = classes)."""

    name = ""

    def __init__(self, ctx):
        mx = load_mxnet()

        self.mx, self.ctx = mx, ctx
        self.net: Any = None  # a Gluon HybridSequential, once built or loaded

    @abstractmethod
    def _net(self, blocks: int, weight: np.ndarray, bias: np.ndarray) -> Any:
        """A net of `blocks` trials holding `weight` (rows = classes, unpadded) and
        `bias`; also kept as `self.net`."""

    def build(self, blocks: int, init_sigma: float, seed: int):
        """A stacked net of `blocks` trials, each starting from the weights a lone chapter
        model gets from `seed`."""
        stacked = np.tile(chapter_weights(init_sigma, seed), (blocks, 1))
        self.net = self._net(blocks, stacked, np.zeros(NUM_CLASSES * blocks, np.float32))
        return self.net

    def load(self, params: dict):
        """A one-trial net holding saved parameters (for exact re-evaluation)."""
        self.net = self._net(1, params["0.weight"], params["0.bias"])
        return self.net

    @abstractmethod
    def param_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The stacked weight (rows = classes, padded: width(K), 784) and bias, one copy
        off the device."""

    @abstractmethod
    def set_arrays(self, weight: np.ndarray, bias: np.ndarray) -> None:
        """Put `param_arrays`' layout (padded rows) into the net, as this backend stores
        it."""

    def momentum_arrays(self, trainer) -> Optional[tuple[np.ndarray, np.ndarray]]:
        """The optimizer's momentum for the weight and the bias, in `param_arrays`'
        layout; None without momentum."""
        states = trainer._updaters[0].states
        found = [states.get(index) for index in _weight_and_bias(trainer)]
        if any(state is None for state in found):
            return None
        weight, bias = (state.asnumpy() for state in found)
        return self._rows(weight), bias

    def set_momentum_arrays(self, trainer, weight: np.ndarray, bias: np.ndarray) -> None:
        """Put momentum in `param_arrays`' layout into the optimizer, before its first
        step."""
        updater = trainer._updaters[0]
        for index, array in zip(_weight_and_bias(trainer), (self._rows(weight), bias)):
            updater.states[index] = self.mx.nd.array(array, ctx=self.ctx)
            updater.states_synced[index] = True

    def _rows(self, weight: np.ndarray) -> np.ndarray:
        """A weight-shaped array between `param_arrays`' layout (rows = classes) and the
        one this backend stores (each way: the map is its own inverse)."""
        return weight

    @abstractmethod
    def set_rates(self, lrs: np.ndarray, decays: np.ndarray) -> None:
        """Per-trial learning rate and lr * weight decay (0 for a frozen trial)."""

    def before_step(self, count: int) -> None:
        """Work between backward() and the optimizer's step (weight decay, for MXNet)."""

    @abstractmethod
    def trainer(self, momentum: float, batch_sizes: set):
        """A Gluon trainer for the net; `batch_sizes`: those an epoch has (the last
        batch may be short)."""

    @abstractmethod
    def objective(self, blocks: int, predictions: bool = False):
        """A hybrid block: (all uint8 images, all labels, this batch's row indexes,
        per-trial lr) -> (objective, metrics[, predicted classes]); metrics holds each
        trial's loss sum, then its hit count; the objective is the sum of each trial's
        loss sum scaled by its learning rate."""

    def _padded(self, blocks: int, weight: np.ndarray, bias: np.ndarray):
        rows = width(blocks)
        padded_weight = np.zeros((rows, NUM_INPUTS), np.float32)
        padded_bias = np.zeros(rows, np.float32)
        padded_weight[: len(weight)], padded_bias[: len(bias)] = weight, bias
        return padded_weight, padded_bias


class NativeBackend(_Backend):
    """The fused kernels. The weight is stored transposed, (784, 16 n) for n >= 10 K /
    16: a score is a column, computed as one chain over the 784 inputs in order."""

    name = "native"

    def _net(self, blocks: int, weight: np.ndarray, bias: np.ndarray):
        nn = load_mxnet().gluon.nn

        self.net = nn.HybridSequential()
        self.net.add(stacked_dense_class()(width(blocks)))
        self.net.initialize(ctx=self.ctx)
        self.set_arrays(*self._padded(blocks, weight, bias))
        return self.net

    def param_arrays(self):
        weight, bias = self.net[0].weight.data(), self.net[0].bias.data()
        return weight.asnumpy().T, bias.asnumpy()

    def set_arrays(self, weight, bias):
        self.net[0].weight.set_data(self.mx.nd.array(weight.T, ctx=self.ctx))
        self.net[0].bias.set_data(self.mx.nd.array(bias, ctx=self.ctx))

    def _rows(self, weight):
        return weight.T

    def trainer(self, momentum: float, batch_sizes: set):
        self.optimizer = stacked_sgd_class()(momentum)
        return self.mx.gluon.Trainer(self.net.collect_params(), self.optimizer)

    def set_rates(self, lrs, decays):
        columns = np.zeros(self.net[0].weight.shape[1], np.float32)
        columns[: NUM_CLASSES * len(decays)] = np.repeat(decays, NUM_CLASSES)
        self.optimizer.set_decay(columns, self.ctx)

    def objective(self, blocks: int, predictions: bool = False):
        def forward(F, net, loss, all_images, all_labels, index, lr):  # noqa: N803
            x = F.gather_pixels(all_images, index)  # raw pixels, as floats
            return F.stacked_xent(
                net(x),
                F.take(all_labels, index),
                lr,
                blocks=blocks,
                scale=PIXEL_SCALE,
                predictions=int(predictions),
            )

        return objective_class()(self.net, forward)


def _weight_and_bias(trainer) -> tuple[int, int]:
    """The optimizer's indexes (its states' keys) of the layer's weight and bias."""
    ranks = [len(param.shape) for param in trainer._params]
    return ranks.index(2), ranks.index(1)


@cache
def objective_class():
    """The hybrid block both backends train through: `forward(F, net, loss, all uint8
    images, all labels, this batch's row indexes, per-trial lr)` is the backend's."""
    HybridBlock = load_mxnet().gluon.HybridBlock

    class Objective(HybridBlock):  # type: ignore[valid-type,misc]  # MXNet: Any
        def __init__(self, net, forward, loss=None):
            super().__init__()
            self.net, self.loss, self.forward_fn = net, loss, forward

        def hybrid_forward(self, F, all_images, all_labels, index, lr):  # noqa: N803
            return self.forward_fn(F, self.net, self.loss, all_images, all_labels, index, lr)

    return Objective


@cache
def stacked_dense_class():
    """The stacked layer of the native backend: scores = x W + 255 b over raw pixels
    (the loss scales them by 1/255), by the `stacked_dense` kernel."""
    HybridBlock = load_mxnet().gluon.HybridBlock

    class StackedDense(HybridBlock):  # type: ignore[valid-type,misc]  # MXNet: Any
        def __init__(self, columns: int):
            super().__init__()
            with self.name_scope():
                self.weight = self.params.get("weight", shape=(NUM_INPUTS, columns))
                self.bias = self.params.get("bias", shape=(columns,), init="zeros")

        def hybrid_forward(self, F, x, weight, bias):  # noqa: N803
            return F.stacked_dense(x, weight, bias, bias_scale=255.0)

    return StackedDense


@cache
def pixel_dense_class():
    """`nn.Dense` over raw pixel values: scores = W (x / 255) + b, computed as
    (W x + 255 b) / 255 so that the scaling touches the outputs, not the inputs.
    Its parameters mean what a chapter `Dense` (fed `ToTensor` images) means."""
    nn = load_mxnet().gluon.nn

    class PixelDense(nn.Dense):  # type: ignore[name-defined]  # MXNet: Any
        def hybrid_forward(self, F, x, weight, bias):  # noqa: N803
            scores = F.FullyConnected(
                x, weight, bias * 255.0, num_hidden=self._units, flatten=self._flatten, name="fwd"
            )
            return scores * PIXEL_SCALE

    return PixelDense


class MxnetBackend(_Backend):
    """MXNet's operators: `FullyConnected` over raw pixels (padded to 16 rows), the
    chapter's `SoftmaxCrossEntropyLoss`, MXNet's SGD."""

    name = "mxnet"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.shrink = None
        self.decay_rows: Optional[dict] = None
        self.momentum, self.batch_sizes = 0.0, set()

    def _net(self, blocks: int, weight: np.ndarray, bias: np.ndarray):
        nn = load_mxnet().gluon.nn

        self.net = nn.HybridSequential()
        self.net.add(pixel_dense_class()(width(blocks), in_units=NUM_INPUTS))
        self.net.initialize(ctx=self.ctx)
        self.set_arrays(*self._padded(blocks, weight, bias))
        return self.net

    def param_arrays(self):
        return self.net[0].weight.data().asnumpy(), self.net[0].bias.data().asnumpy()

    def set_arrays(self, weight, bias):
        self.net[0].weight.set_data(self.mx.nd.array(weight, ctx=self.ctx))
        self.net[0].bias.set_data(self.mx.nd.array(bias, ctx=self.ctx))

    def trainer(self, momentum: float, batch_sizes: set):
        """SGD at rate 1: each trial's rate scales its own loss; weight decay is per row.

        MXNet's SGD updates weight and bias in one multi-tensor kernel. Beyond one trial
        that kernel is the slower choice, with equal results: a kernel per tensor then
        (measured in docs/performance.md).
        """
        optimizer = self.mx.optimizer.SGD(learning_rate=1.0, momentum=momentum)
        if self.net[0].weight.shape[0] > width(1):  # more than one trial
            optimizer.aggregate_num = 0
        self.momentum, self.batch_sizes = momentum, batch_sizes
        return self.mx.gluon.Trainer(self.net.collect_params(), optimizer)

    def set_rates(self, lrs, decays):
        # L2 on the weights only (the bias is not decayed), trial by trial. Without
        # momentum, shrink the rows before the step: w - lr (g + wd w) = (1 - lr wd) w
        # - lr g (one pass over the weights). With momentum, L2 enters the gradient that
        # momentum accumulates: add lr * wd * w per row, times the batch size (the
        # trainer divides by it).
        nd = self.mx.nd
        rows = np.zeros((self.net[0].weight.shape[0], 1), dtype=np.float32)
        rows[: NUM_CLASSES * len(decays), 0] = np.repeat(decays, NUM_CLASSES)
        self.shrink = self.decay_rows = None
        if decays.any() and not self.momentum:
            self.shrink = nd.array(1.0 - rows, ctx=self.ctx)
        elif decays.any():
            self.decay_rows = {
                count: nd.array(rows * count, ctx=self.ctx) for count in self.batch_sizes
            }

    def before_step(self, count: int) -> None:
        weight = self.net[0].weight
        if self.shrink is not None:
            data = weight.data(self.ctx)
            self.mx.nd.broadcast_mul(data, self.shrink, out=data)
        elif self.decay_rows is not None:
            grad = weight.grad(self.ctx)
            grad += self.decay_rows[count] * weight.data(self.ctx)

    def objective(self, blocks: int, predictions: bool = False):
        def forward(F, net, loss, all_images, all_labels, index, lr):  # noqa: N803
            images = F.take(all_images, index)  # this batch's rows
            x = F.cast(images, "float32")  # raw pixels: the net scales its scores
            labels = F.cast(F.take(all_labels, index), "float32")
            used = F.slice_axis(net(x), axis=1, begin=0, end=NUM_CLASSES * blocks)
            scores = F.reshape(used, (-1, blocks, NUM_CLASSES))  # padding dropped
            flat = F.reshape(scores, (-1, NUM_CLASSES))
            repeated = F.repeat(labels, repeats=blocks) if blocks > 1 else labels
            nll = F.reshape(loss(flat, repeated), (-1, blocks))
            loss_sums = F.sum(nll, axis=0)
            guesses = F.argmax(scores, axis=2)  # (B, K)
            hits = F.sum(F.broadcast_equal(guesses, F.reshape(labels, (-1, 1))), axis=0)
            metrics = F.BlockGrad(F.concat(loss_sums, hits, dim=0))
            objective = F.sum(loss_sums * lr)
            return (objective, metrics, guesses) if predictions else (objective, metrics)

        gluon = load_mxnet().gluon

        return objective_class()(self.net, forward, gluon.loss.SoftmaxCrossEntropyLoss())
