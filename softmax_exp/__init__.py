"""softmax-exp: softmax regression experiments on Fashion-MNIST with MXNet Gluon.

    from softmax_exp import load_train_config, run_train, run_sweep, load
    result = run_train(load_train_config(overrides={"lr": 0.3}))
    sweep = run_sweep("configs/grid.yaml")
    load("runs/sweep-grid").trials      # pandas DataFrames
    write_report(["runs/sweep-grid"])   # runs/sweep-grid/report.html

Importing this package is cheap: MXNet, pandas, matplotlib and plotly load only in the
functions that need them (the names below resolve on first use).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "TrainConfig": "config",
    "load_train_config": "config",
    "config_id": "config",
    "run_train": "experiment",
    "RunResult": "experiment",
    "run_sweep": "sweep.runner",
    "SweepRun": "sweep.state",
    "load": "results",
    "compare": "results",
    "Results": "results",
    "evaluate_run": "evaluation",
    "plot": "plots",
    "write_report": "report",
    "export_study": "report",
    "load_dataset": "data",
    "SoftmaxExpError": "errors",
    "ConfigError": "errors",
    "DataError": "errors",
    "DeviceError": "errors",
    "RunError": "errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'softmax_exp' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
