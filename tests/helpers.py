"""Small synthetic data for unit tests: learnable, made in the test, no files."""

from __future__ import annotations

import numpy as np

from softmax_exp.data import Dataset

# A 2 x 2 sweep on real data that takes seconds: every executor runs it and must agree.
SMALL_GRID = """\
base: {epochs: 2, train_subset: 2000, batch_size: 100}
grid:
  lr: [0.05, 0.5]
  weight_decay: [0.0, 0.001]
"""


def synthetic_dataset(n_train: int = 300, n_test: int = 100, seed: int = 0) -> Dataset:
    """Each class lights up its own band of pixels, plus noise: easy but not trivial."""
    rng = np.random.default_rng(seed)

    def make(n):
        labels = (np.arange(n) % 10).astype(np.uint8)
        rng.shuffle(labels)
        images = rng.integers(0, 120, (n, 784)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, label * 78:(label + 1) * 78] += 100
        return images, labels

    train_images, train_labels = make(n_train)
    test_images, test_labels = make(n_test)
    return Dataset(train_images, train_labels, test_images, test_labels, source="synthetic")


def without_timing(history):
    return [(m.epoch, m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.test_loss, m.test_acc)
            for m in history]


def assert_same_metrics(history_a, history_b, atol=1e-5):
    """Equal epoch by epoch within atol, timing aside (None compares as NaN)."""
    def table(history):
        return np.array([[np.nan if v is None else v for v in row]
                         for row in without_timing(history)], dtype=float)

    a, b = table(history_a), table(history_b)
    assert a.shape == b.shape
    if atol == 0:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, atol=atol, rtol=0)


# What fused trials promise about their separate runs (README, "Fusion"): on the fused
# kernels, the same numbers; on MXNet's operators, whose matrix products round by the
# shape of the whole product, float32 rounding carried through training: the largest
# difference measured in these tests' trainings was below 1e-5.
FUSED_ATOL = {"native": 0.0, "mxnet": 1e-4}


def assert_fused_equals_separate(kernels: str, history_fused, history_alone):
    assert_same_metrics(history_fused, history_alone, atol=FUSED_ATOL[kernels])


def kernels_in_use() -> str:
    """Which backend training on the CPU uses here: `native` where the kernels build."""
    import mxnet as mx

    from softmax_exp.kernels import use_native

    return "native" if use_native(mx.cpu()) else "mxnet"


def crashing_worker(job, events, threads):
    """A sweep worker that dies like an OOM-killed process (os._exit) on trials with
    lr == 0.5: always, or only on the first attempt when a marker path is set."""
    import os
    from pathlib import Path

    from softmax_exp.sweep.executors import _worker

    marker = os.environ.get("CRASH_ONCE_MARKER")
    crash = any(t.config.lr == 0.5 for t in job.trials)
    if crash and not (marker and Path(marker).exists()):
        if marker:
            Path(marker).touch()
        os._exit(137)
    _worker(job, events, threads)


def pid_recording_worker(job, events, threads):
    """A sweep worker that notes which process ran each job (in $PID_DIR), then runs it."""
    import os
    from pathlib import Path

    from softmax_exp.sweep.executors import _worker

    (Path(os.environ["PID_DIR"]) / f"job-{job.number}").write_text(str(os.getpid()))
    _worker(job, events, threads)
