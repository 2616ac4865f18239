"""How settings and result columns read in every table: one table of short names, and
one way to write a setting's value (a float stays a float: `lr=1.0`, never `lr=1`)."""

from __future__ import annotations

import math
from typing import Any

# settings and trials.csv columns, in the words an 80-column table has room for
SHORT_NAMES = {
    "weight_decay": "wd",
    "batch_size": "batch",
    "train_subset": "subset",
    "momentum": "mom",
    "val_fraction": "val",
    "init_sigma": "sigma",
    "lr_schedule": "sched",
    "warmup_epochs": "warmup",
    "lr_step_epochs": "step_every",
    "lr_step_factor": "step_factor",
    "trial_id": "trial",
    "best_epoch": "best ep",
    "best_val_acc": "val acc",
    "best_val_loss": "val loss",
    "test_acc_at_best": "test@best",
    "final_test_acc": "final test",
    "best_val_acc_mean": "val acc",
    "best_val_acc_std": "sd",
    "test_acc_at_best_mean": "test@best",
    "test_acc_at_best_std": "sd",
    "final_test_acc_mean": "final test",
    "final_test_acc_std": "sd",
    "epochs_run": "ep run",
}


def short_name(name: str) -> str:
    return SHORT_NAMES.get(name, name)


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def setting_text(value: Any, digits: int = 0) -> str:
    """A setting's value as written: ints and words as they are, a float in the fewest
    digits that give it back exactly (`1.0`, `0.1`, `1e-05`), or rounded to `digits`
    significant digits when that is given and the exact form needs more."""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    if value.is_integer() and abs(value) < 1e7:
        return f"{value:.1f}"
    if digits:
        for shown in range(1, digits + 1):
            if float(f"{value:.{shown}g}") == value:
                return f"{value:.{shown}g}"
        return f"{value:.{digits}g}"
    return repr(value)
