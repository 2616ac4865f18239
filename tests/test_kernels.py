"""The fused CPU kernels (softmax_exp/kernels.cc) against MXNet's own operators and
numpy, and their build: cached, and a clear fallback or error when it cannot work."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from softmax_exp import kernels
from softmax_exp.model import width
from softmax_exp.mxnet_compat import load_mxnet

mx = load_mxnet()
autograd, nd = mx.autograd, mx.nd

pytestmark = pytest.mark.usefixtures("loaded")


@pytest.fixture
def loaded():
    kernels.load()


def random_batch(rng, batch: int, blocks: int):
    scores = rng.normal(0, 3, (batch, width(blocks))).astype(np.float32) * 255
    labels = rng.integers(0, 10, batch).astype(np.uint8)
    rates = rng.uniform(0.01, 1.0, blocks).astype(np.float32)
    return scores, labels, rates


def native_xent(scores, labels, rates, blocks, scale=1 / 255):
    x = nd.array(scores)
    x.attach_grad()
    with autograd.record():
        objective, metrics = nd.stacked_xent(
            x, nd.array(labels, dtype="uint8"), nd.array(rates), blocks=blocks, scale=scale
        )
    objective.backward()
    return objective.asscalar(), metrics.asnumpy(), x.grad.asnumpy()


def mxnet_xent(scores, labels, rates, blocks, scale=1 / 255):
    """The same quantities from MXNet's operators, block by block."""
    x = nd.array(scores)
    x.attach_grad()
    with autograd.record():
        z = x * scale
        losses, hits = [], []
        for k in range(blocks):
            block = z[:, 10 * k : 10 * k + 10]
            nll = -nd.pick(nd.log_softmax(block), nd.array(labels))
            losses.append(nll.sum())
            hits.append((nd.argmax(block, axis=1) == nd.array(labels)).sum())
        objective = nd.add_n(*[loss * float(rate) for loss, rate in zip(losses, rates)])
    objective.backward()
    metrics = np.concatenate([[v.asscalar() for v in losses], [v.asscalar() for v in hits]])
    return objective.asscalar(), metrics, x.grad.asnumpy()


@pytest.mark.parametrize("batch,blocks", [(1, 1), (37, 3), (256, 12), (100, 25)])
def test_xent_matches_mxnet_operators(batch, blocks):
    scores, labels, rates = random_batch(np.random.default_rng(batch), batch, blocks)
    objective, metrics, grad = native_xent(scores, labels, rates, blocks)
    ref_objective, ref_metrics, ref_grad = mxnet_xent(scores, labels, rates, blocks)
    np.testing.assert_allclose(objective, ref_objective, rtol=1e-5)
    np.testing.assert_allclose(metrics[:blocks], ref_metrics[:blocks], rtol=1e-5)
    np.testing.assert_array_equal(metrics[blocks:], ref_metrics[blocks:])  # hits
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-7)
    assert not grad[:, 10 * blocks :].any()  # padding columns are never trained


def test_each_block_computes_the_same_bits_alone_and_stacked():
    scores, labels, rates = random_batch(np.random.default_rng(5), 45, 7)
    _, metrics, grad = native_xent(scores, labels, rates, 7)
    for k in range(7):
        alone = np.zeros((45, width(1)), np.float32)
        alone[:, :10] = scores[:, 10 * k : 10 * k + 10]
        _, one_metrics, one_grad = native_xent(alone, labels, rates[k : k + 1], 1)
        assert metrics[k] == one_metrics[0] and metrics[7 + k] == one_metrics[1]
        np.testing.assert_array_equal(grad[:, 10 * k : 10 * k + 10], one_grad[:, :10])


def test_xent_handles_extreme_scores():
    """Huge, tiny and infinite scores: losses stay finite where they are mathematically
    finite, and a non-finite score makes its block's loss non-finite (divergence)."""
    scores = np.zeros((3, width(2)), np.float32)
    scores[0, :10] = [1e30, -1e30] + [0] * 8  # certain, right
    scores[1, :10] = [-1e30, 1e30] + [0] * 8  # certain, wrong
    scores[2, 10] = np.inf
    labels = np.array([0, 0, 0], np.uint8)
    _, metrics, _ = native_xent(scores, labels, np.ones(2, np.float32), 2, scale=1.0)
    assert metrics[0] == pytest.approx(2e30, rel=1e-6)  # rows: 0, 2e30 and log(10)
    assert metrics[2] == 2  # block 0: rows 0 and 2 (all zero: the first class wins)
    assert not np.isfinite(metrics[1])


def test_predictions_are_each_blocks_argmax():
    scores, labels, rates = random_batch(np.random.default_rng(2), 20, 3)
    _, _, guesses = nd.stacked_xent(
        nd.array(scores), nd.array(labels, dtype="uint8"), nd.array(rates), blocks=3, predictions=1
    )
    expected = scores[:, :30].reshape(20, 3, 10).argmax(axis=2)
    np.testing.assert_array_equal(guesses.asnumpy(), expected)


def test_gather_pixels_equals_take_and_cast():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 28, 28)).astype(np.uint8)
    index = nd.array([3, 49, 0, 3], dtype="int32")
    out = nd.gather_pixels(nd.array(images, dtype="uint8"), index).asnumpy()
    np.testing.assert_array_equal(out, images[[3, 49, 0, 3]].reshape(4, 784).astype(np.float32))
    outside = nd.array([50], dtype="int32")
    with pytest.raises(mx.base.MXNetError, match="index 50 outside 0..49"):
        nd.gather_pixels(nd.array(images, dtype="uint8"), outside).wait_to_read()


def dense(x, weight, bias, head):
    """stacked_dense forward and backward: scores, d weight, d bias."""
    w, b = nd.array(weight), nd.array(bias)
    w.attach_grad()
    b.attach_grad()
    with autograd.record():
        scores = nd.stacked_dense(nd.array(x), w, b, bias_scale=255.0)
    scores.backward(nd.array(head))
    return scores.asnumpy(), w.grad.asnumpy(), b.grad.asnumpy()


def stacked_inputs(rng, batch: int, blocks: int):
    x = rng.integers(0, 256, (batch, 784)).astype(np.float32)
    weight = np.zeros((784, width(blocks)), np.float32)
    weight[:, : 10 * blocks] = rng.normal(0, 0.05, (784, 10 * blocks))
    bias = np.zeros(width(blocks), np.float32)
    bias[: 10 * blocks] = rng.normal(0, 0.01, 10 * blocks)
    head = np.zeros((batch, width(blocks)), np.float32)
    head[:, : 10 * blocks] = rng.normal(0, 1, (batch, 10 * blocks))
    return x, weight, bias, head


@pytest.mark.parametrize("batch,blocks", [(1, 1), (37, 3), (256, 12), (100, 25)])
def test_dense_matches_float64_products(batch, blocks):
    x, weight, bias, head = stacked_inputs(np.random.default_rng(batch), batch, blocks)
    scores, d_weight, d_bias = dense(x, weight, bias, head)
    x64, weight64, head64 = (a.astype(np.float64) for a in (x, weight, head))

    def close(got, exact, magnitude):  # float32 sums: within a few eps of the terms' size
        assert np.all(np.abs(got - exact) <= 1e-6 * magnitude + 1e-30)

    close(scores, x64 @ weight64 + 255.0 * bias, np.abs(x64) @ np.abs(weight64) + 255)
    close(d_weight, x64.T @ head64, np.abs(x64.T) @ np.abs(head64))
    close(d_bias, 255.0 * head64.sum(axis=0), 255.0 * np.abs(head64).sum(axis=0))


@pytest.mark.parametrize("batch", [1, 17, 64, 256, 1000])
def test_dense_computes_each_trial_the_same_alone_and_stacked(batch):
    """What fusion rests on: a trial's columns of the stacked products (scores, weight
    and bias gradients) are bit for bit those of the trial alone, for any group size
    and batch size (tiles and vector lanes never mix two trials' sums)."""
    rng = np.random.default_rng(batch)
    x, weight, bias, head = stacked_inputs(rng, batch, 13)
    for total in (2, 5, 13):
        used = slice(0, width(total))
        together = dense(x, weight[:, used], bias[used], head[:, used])
        for k in range(total):
            cols = slice(10 * k, 10 * k + 10)
            alone_inputs = (
                np.zeros((784, 16), np.float32),
                np.zeros(16, np.float32),
                np.zeros((batch, 16), np.float32),
            )
            alone_inputs[0][:, :10], alone_inputs[1][:10] = weight[:, cols], bias[cols]
            alone_inputs[2][:, :10] = head[:, cols]
            alone = dense(x, alone_inputs[0], alone_inputs[1], alone_inputs[2])
            np.testing.assert_array_equal(together[0][:, cols], alone[0][:, :10])
            np.testing.assert_array_equal(together[1][:, cols], alone[1][:, :10])
            np.testing.assert_array_equal(together[2][cols], alone[2][:10])


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_step_decays_columns_and_keeps_momentum(momentum):
    rng = np.random.default_rng(1)
    w0, g = (rng.normal(0, 1, (6, 32)).astype(np.float32) for _ in range(2))
    decay = np.zeros(32, np.float32)
    decay[:20] = rng.uniform(0, 0.1, 20)
    m0 = rng.normal(0, 1, (6, 32)).astype(np.float32)
    weight, state = nd.array(w0), nd.array(m0)
    extra = [state] if momentum else []
    for _ in range(2):
        nd.stacked_sgd(
            weight,
            nd.array(g),
            nd.array(decay),
            *extra,
            rescale=0.25,
            momentum=momentum,
            out=weight,
        )
    w, m = w0.astype(np.float64), m0.astype(np.float64)
    for _ in range(2):
        if momentum:
            m = momentum * m - (0.25 * g + decay * w)
            w = w + m
        else:
            w = (1 - decay) * w - 0.25 * g
    np.testing.assert_allclose(weight.asnumpy(), w, rtol=1e-5, atol=1e-6)
    if momentum:
        np.testing.assert_allclose(state.asnumpy(), m, rtol=1e-5, atol=1e-6)


def test_the_build_is_cached_by_source_and_compiler(monkeypatch, tmp_path):
    path = kernels.library_path()
    assert path.exists() and path == kernels.library_path()
    fake = tmp_path / "g++"
    fake.write_text('#!/bin/sh\nexec g++ "$@"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", str(fake))
    assert kernels.library_path() != path  # another compiler: another build


def test_a_failed_build_says_why_and_leaves_nothing(monkeypatch, tmp_path):
    broken = tmp_path / "cc"
    broken.write_text("#!/bin/sh\necho 'fatal: out of ideas' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("CXX", str(broken))
    target = tmp_path / "out" / kernels.LIBRARY
    with pytest.raises(kernels.KernelError, match="fatal: out of ideas"):
        kernels.build(target)
    assert list(target.parent.iterdir()) == []
    monkeypatch.setenv("CXX", "no-such-compiler")
    with pytest.raises(kernels.KernelError, match="no C\\+\\+ compiler: no-such-compiler"):
        kernels.build(target)


def test_an_unusable_cache_is_a_build_error_not_a_crash(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    with pytest.raises(kernels.KernelError, match="cannot build the fused kernels into"):
        kernels.build(blocker / "kernels" / kernels.LIBRARY)


def test_a_failed_load_is_remembered_not_retried(monkeypatch):
    calls = []

    def fail():
        calls.append(1)
        raise kernels.KernelError("building the fused kernels failed (g++: boom)")

    monkeypatch.setattr(kernels, "_build_and_load", fail)
    kernels._load_once.cache_clear()
    try:
        for _ in range(3):
            with pytest.raises(kernels.KernelError, match="boom"):
                kernels.load()
        assert len(calls) == 1
    finally:
        kernels._load_once.cache_clear()
        monkeypatch.undo()
        kernels.load()  # this process goes on with the real kernels


def test_without_kernels_training_falls_back_with_one_warning(monkeypatch):
    def fail():
        raise kernels.KernelError("no C++ compiler: g++ not found on PATH")

    monkeypatch.setattr(kernels, "load", fail)
    kernels._warn_once.cache_clear()
    with pytest.warns(kernels.KernelWarning, match="g\\+\\+ not found.*MXNet's own operators"):
        assert kernels.use_native(mx.cpu()) is False
    monkeypatch.setenv(kernels.CHOICE_ENV, "native")
    with pytest.raises(kernels.KernelError, match="g\\+\\+ not found"):
        kernels.use_native(mx.cpu())
    monkeypatch.setenv(kernels.CHOICE_ENV, "mxnet")
    assert kernels.use_native(mx.cpu()) is False


def test_an_unknown_choice_is_an_error(monkeypatch):
    monkeypatch.setenv(kernels.CHOICE_ENV, "fast")
    with pytest.raises(kernels.KernelError, match="SOFTMAX_EXP_KERNELS=fast: not a choice"):
        kernels.use_native(mx.cpu())


@pytest.mark.e2e
def test_train_without_a_compiler_warns_in_one_line_and_records_mxnet(real_dataset, tmp_path):
    """A fresh process and cache, no compiler: the run works on MXNet's operators."""
    env = dict(os.environ, CXX="no-such-compiler", SOFTMAX_CACHE_DIR=str(tmp_path / "cache"))
    env.pop(kernels.CHOICE_ENV, None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "softmax_exp_cli",
            "train",
            "--epochs",
            "1",
            "--set",
            "train_subset=2000",
            "--out",
            str(tmp_path / "runs"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    warning = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(warning) == 1 and warning[0].startswith("warning: no C++ compiler"), done.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "run.json").read_text())["kernels"] == "mxnet"
