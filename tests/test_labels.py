"""One way to write a setting's value, in every table and in the report (issue 26)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from softmax_exp.labels import as_setting, setting_text, setting_value_text, settings_that_apply


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_reads_back_exactly_and_stays_a_float(value):
    text = setting_text(value)
    assert float(text) == value
    assert any(c in text for c in ".en"), text  # never '1' for 1.0


@given(st.floats(min_value=1e-9, max_value=1e9), st.integers(1, 8))
def test_rounded_to_digits_when_the_exact_form_needs_more(value, digits):
    text = setting_text(value, digits)
    assert math.isclose(float(text), value, rel_tol=10 ** (1 - digits))


def test_table_values_take_the_configs_types():
    assert setting_value_text("lr", 1) == "1.0"
    assert setting_value_text("train_subset", 1000.0) == "1000"
    assert setting_value_text("patience", float("nan")) == "off"
    assert as_setting("lr_schedule", "step") == "step"


def test_only_settings_that_apply_are_listed():
    constant = {"lr_schedule": "constant", "lr_step_epochs": 10, "lr_min": 0.0}
    assert settings_that_apply(constant) == ["lr_schedule"]
    step = {"lr_schedule": "step", "lr_step_epochs": 10, "lr_min": 0.0, "patience": None}
    assert settings_that_apply({**step, "min_delta": 0.0}) == [
        "lr_schedule",
        "lr_step_epochs",
        "patience",
    ]
    assert "val_seed" not in settings_that_apply({"val_fraction": 0.0, "val_seed": 0})
    assert "subset_seed" in settings_that_apply({"train_subset": 500, "subset_seed": None})
