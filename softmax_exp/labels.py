"""How settings and result columns read in every table: one table of short names, and
one way to write a setting's value (a float stays a float: `lr=1.0`, never `lr=1`)."""

from __future__ import annotations

import math
import typing
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


def setting_value_text(name: str, value: Any) -> str:
    """A setting's value read from a table, as the config holds it: pandas makes an int
    column with gaps floats (train_subset 1000.0 is 1000), and unset reads `off`."""
    if is_missing(value):
        return "off"
    return setting_text(as_setting(name, value))


def as_setting(name: str, value: Any) -> Any:
    """`value` as the type the config gives setting `name` (an unknown name: as it is)."""
    from .config import TrainConfig

    field = TrainConfig.model_fields.get(name)
    if field is None or is_missing(value) or isinstance(value, str):
        return value
    kinds = typing.get_args(field.annotation) or (field.annotation,)
    if float in kinds:
        return float(value)
    if int in kinds and float(value).is_integer():
        return int(value)
    return value


# settings that mean something only beside another: a trial's card leaves them out
# when that other one is not set so (a constant schedule has no step size)
APPLIES_WHEN = {
    "lr_step_epochs": lambda s: s.get("lr_schedule") == "step",
    "lr_step_factor": lambda s: s.get("lr_schedule") == "step",
    "lr_min": lambda s: s.get("lr_schedule") == "cosine",
    "min_delta": lambda s: not is_missing(s.get("patience")),
    "subset_seed": lambda s: not is_missing(s.get("train_subset")),
    "val_seed": lambda s: not is_missing(s.get("val_fraction")) and s.get("val_fraction") > 0,
}


def settings_that_apply(settings: dict[str, Any]) -> list[str]:
    """The names in `settings` that have an effect, given the others."""
    return [name for name in settings if APPLIES_WHEN.get(name, lambda _: True)(settings)]
