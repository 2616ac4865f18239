"""Fused trials equal separate runs on every instruction set, proven on one machine.

oneDNN picks its kernels by the CPU's instruction set, and DNNL_MAX_CPU_ISA makes it
take a lesser CPU's path (never a greater one's); the fused kernels are built for a
lesser CPU with SOFTMAX_EXP_KERNELS_ARCH. Each level this CPU can take runs in a fresh
process (tests/isa_check.py); levels above it are reported as skipped, never failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import FUSED_ATOL

pytestmark = pytest.mark.slow  # a fresh MXNet process per instruction-set level
CHECK = Path(__file__).with_name("isa_check.py")
AVX512_CORE = {"avx512f", "avx512bw", "avx512vl", "avx512dq"}
# oneDNN 2.4's names (MXNet 1.9.1), and the CPU flags each needs.
ONEDNN_LEVELS = {
    "SSE41": {"sse4_1"},
    "AVX": {"avx"},
    "AVX2": {"avx2"},
    "AVX512_CORE": AVX512_CORE,
    "AVX512_CORE_VNNI": AVX512_CORE | {"avx512_vnni"},
    "unset": set(),
}
# GCC's x86-64 levels, for the kernels' own build.
ARCH_LEVELS = {
    "x86-64-v2": {"sse4_2", "ssse3", "popcnt"},
    "x86-64-v3": {"avx2", "fma", "bmi2", "f16c", "movbe"},
    "x86-64-v4": AVX512_CORE | {"avx512cd"},
    "native": set(),
}


def cpu_flags() -> set:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def reachable(levels: dict) -> list:
    flags = cpu_flags()
    return [
        pytest.param(
            name,
            marks=()
            if needs <= flags
            else pytest.mark.skip(reason=f"this CPU lacks {', '.join(sorted(needs - flags))}"),
        )
        for name, needs in levels.items()
    ]


def run_check(env_changes: dict, *kinds: str) -> dict:
    """tests/isa_check.py in a fresh process; a change to "unset" removes the variable."""
    env = dict(os.environ)
    for name, value in env_changes.items():
        if value == "unset":
            env.pop(name, None)
        else:
            env[name] = value
    done = subprocess.run(
        [sys.executable, str(CHECK), *kinds], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The fused kernels' metrics on this CPU's own path, to compare every level with."""
    return run_check({"DNNL_MAX_CPU_ISA": "unset"}, "native")["native"]["fused"]


@pytest.mark.parametrize("level", reachable(ONEDNN_LEVELS))
def test_every_onednn_level(level, reference):
    """On the fused kernels, oneDNN's path changes nothing: fused equals separate exactly,
    and the numbers are those of the machine's own path. On MXNet's operators (oneDNN's
    matrix products) fused trials agree with separate runs to float32 rounding."""
    found = run_check({"DNNL_MAX_CPU_ISA": level}, "native", "mxnet")
    assert found["native"]["equal"], found["native"]["max_difference"]
    assert found["native"]["fused"] == reference
    assert found["mxnet"]["max_difference"] <= FUSED_ATOL["mxnet"]


@pytest.mark.parametrize("arch", reachable(ARCH_LEVELS))
def test_kernels_built_for_every_x86_level(arch, reference):
    """The kernels built for a lesser CPU: fused equals separate exactly at every level;
    with FMA (x86-64-v3 and up) the numbers are the same on every level, since each
    lane of a vector runs the same operations whatever the vector width."""
    found = run_check({"SOFTMAX_EXP_KERNELS_ARCH": arch}, "native")["native"]
    assert found["equal"], found["max_difference"]
    if arch != "x86-64-v2" and "fma" in cpu_flags():
        assert found["fused"] == reference


@pytest.mark.parametrize("threads", ["1", "3"])
def test_thread_count_changes_nothing(threads, reference):
    """Tiles go to threads, but every number is computed whole by one of them: a sweep
    worker with one thread (`-j 2`) gives what a two-thread run gives."""
    found = run_check({"OMP_NUM_THREADS": threads}, "native")["native"]
    assert found["equal"] and found["fused"] == reference
