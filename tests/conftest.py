"""Shared fixtures: tiny IDX datasets made in the test, an isolated cache, the real data.
Shared helpers (no fixtures) are in helpers.py: tests import that, never each other."""

from __future__ import annotations

import os

import pytest

from helpers import make_tiny
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


@pytest.fixture
def tiny(tmp_path):
    spec, arrays = make_tiny(tmp_path / "tiny")
    return tmp_path / "tiny", spec, arrays


@pytest.fixture(scope="session")
def real_dataset():
    """The real Fashion-MNIST. Missing data fails the test: CI installs it."""
    return data.load_dataset(allow_download=False)
