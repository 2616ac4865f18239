"""Shared fixtures: tiny IDX datasets made in the test, an isolated cache, the real data."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from softmax_exp import data

# Ray clusters started by the tests live on 127.0.0.1 alone (Ray's single-machine mode,
# read when ray is imported) and report nothing home.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"


@pytest.fixture(scope="session")
def kernel_builds(tmp_path_factory):
    """One directory of fused-kernel builds for the whole session (a build takes ~10 s)."""
    return tmp_path_factory.mktemp("kernels")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch, kernel_builds):
    """Each test gets its own cache dir; the real data is never downloaded by accident.
    Kernel builds are shared: they depend on the machine, not on the test."""
    cache = tmp_path_factory.mktemp("cache")
    (cache / "kernels").symlink_to(kernel_builds, target_is_directory=True)
    monkeypatch.setenv("SOFTMAX_CACHE_DIR", str(cache))
    monkeypatch.delenv("SOFTMAX_DATA_DIR", raising=False)
    monkeypatch.setenv("SOFTMAX_DATA_URL", "http://127.0.0.1:9/")  # refused at once
    return cache


@pytest.fixture(params=["native", "mxnet"])
def both_kernels(request, monkeypatch):
    """Run the test with the fused CPU kernels, then with MXNet's own operators."""
    monkeypatch.setenv("SOFTMAX_EXP_KERNELS", request.param)
    return request.param


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def make_tiny(
    directory: Path,
    n_train: int = 60,
    n_test: int = 20,
    seed: int = 0,
    rows: int = 28,
    cols: int = 28,
):
    """Write four gzipped IDX files of random images; return (spec, arrays)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, rows, cols)),
        "train_labels": np.arange(n_train) % 10,
        "test_images": rng.integers(0, 256, (n_test, rows, cols)),
        "test_labels": np.arange(n_test) % 10,
    }
    files = []
    for spec in data.FASHION_MNIST.files:
        array = arrays[spec.role]
        raw = idx_bytes(array, data.IMAGES_MAGIC if array.ndim == 3 else data.LABELS_MAGIC)
        (directory / f"{spec.name}.gz").write_bytes(gzip.compress(raw))
        files.append(
            data.FileSpec(spec.role, spec.name, hashlib.sha256(raw).hexdigest(), len(array))
        )
    spec = data.DatasetSpec("tiny", tuple(files), rows=rows, cols=cols)
    return spec, arrays


@pytest.fixture
def tiny(tmp_path):
    spec, arrays = make_tiny(tmp_path / "tiny")
    return tmp_path / "tiny", spec, arrays


@pytest.fixture(scope="session")
def real_dataset():
    """The real Fashion-MNIST. Missing data fails the test: CI installs it."""
    return data.load_dataset(allow_download=False)
