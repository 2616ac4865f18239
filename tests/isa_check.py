"""Run by tests/test_isa.py in a fresh process (oneDNN reads DNNL_MAX_CPU_ISA once, at
start-up; the kernels are built for SOFTMAX_EXP_KERNELS_ARCH): train three trials fused
and each alone, on both backends, and print what was found as one JSON line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402

from helpers import MXNET_CALM_LR, synthetic_dataset, without_timing  # noqa: E402
from softmax_exp.config import TrainConfig  # noqa: E402
from softmax_exp.mxnet_compat import load_mxnet  # noqa: E402
from softmax_exp.split import split_dataset  # noqa: E402
from softmax_exp.training import train_group  # noqa: E402

mx = load_mxnet()

CONFIGS = [
    TrainConfig(epochs=3, batch_size=32, lr=0.3, val_fraction=0.2),
    TrainConfig(epochs=2, batch_size=32, lr=0.05, weight_decay=0.01, val_fraction=0.2),
    TrainConfig(epochs=3, batch_size=32, lr=1.0, weight_decay=0.001, val_fraction=0.2),
]


def histories(configs):
    dataset = synthetic_dataset(n_train=400)
    outcomes = train_group(configs, split_dataset(dataset, configs[0]), mx.cpu())
    return [np.array(without_timing(o.history), dtype=float) for o in outcomes]


def check(kernels: str) -> dict:
    """Fused against alone: on the kernels every trial; on MXNet's operators the trials
    at learning rates it makes a promise for (tests/helpers.py, MXNET_CALM_LR)."""
    os.environ["SOFTMAX_EXP_KERNELS"] = kernels
    fused = histories(CONFIGS)
    compared = [k for k, c in enumerate(CONFIGS) if kernels == "native" or c.lr <= MXNET_CALM_LR]
    alone = {k: histories([CONFIGS[k]])[0] for k in compared}
    return {
        "equal": all(np.array_equal(fused[k], alone[k]) for k in compared),
        "max_difference": max(float(np.nanmax(np.abs(fused[k] - alone[k]))) for k in compared),
        "fused": [f.tolist() for f in fused],
    }


if __name__ == "__main__":
    print(json.dumps({kind: check(kind) for kind in sys.argv[1:]}))
