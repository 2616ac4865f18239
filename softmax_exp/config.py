"""The one validated description of a training run.

Defaults, then a YAML file, then command-line overrides; the result is saved as
`config.yaml` next to every run's results and hashed into its stable id.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import yamlio
from .errors import ConfigError

CTX_PATTERN = re.compile(r"^(cpu|gpu(:\d+)?)$")


class TrainConfig(BaseModel):
    """Every setting of one training run. Defaults are the d2l chapter's."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    lr: float = Field(0.1, gt=0, allow_inf_nan=False, description="SGD learning rate")
    batch_size: int = Field(256, ge=1, description="minibatch size")
    epochs: int = Field(10, ge=1, le=100_000, description="passes over the training set")
    seed: int = Field(
        0,
        ge=0,
        lt=2**31,
        description="seeds initialisation and shuffling; same config and seed, same metrics on CPU",
    )
    ctx: str = Field("cpu", description="MXNet context: cpu, gpu or gpu:N")
    init_sigma: float = Field(
        0.01, gt=0, allow_inf_nan=False, description="std of the Normal weight initialiser"
    )
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD momentum (0 = plain SGD)")
    weight_decay: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="L2 penalty on the weights (not the bias)"
    )
    val_fraction: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="share of the 60,000 training images held out for validation, "
        "stratified by class",
    )
    val_seed: int = Field(0, ge=0, lt=2**31, description="seeds the validation split")
    train_subset: Optional[int] = Field(
        None, ge=1, description="train on only this many images (after the validation split)"
    )
    subset_seed: Optional[int] = Field(
        None,
        ge=0,
        lt=2**31,
        description="sample the subset with this seed (unset: the first N images)",
    )
    patience: Optional[int] = Field(
        None,
        ge=1,
        description="early stopping: stop after this many epochs without a val_acc gain "
        "(needs val_fraction)",
    )
    min_delta: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="early stopping: smallest val_acc gain that counts",
    )
    lr_schedule: Literal["constant", "step", "cosine"] = Field(
        "constant", description="learning-rate schedule: constant, step or cosine"
    )
    lr_step_epochs: int = Field(
        10, ge=1, le=100_000, description="step schedule: epochs between decays"
    )
    lr_step_factor: float = Field(
        0.1,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="step schedule: factor applied at each decay",
    )
    lr_min: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="cosine schedule: the rate it reaches at the last epoch (below lr)",
    )
    warmup_epochs: int = Field(
        0,
        ge=0,
        le=100_000,
        description="epochs of linear warm-up from 0 to lr, before any schedule "
        "(fewer than epochs)",
    )

    @field_validator("ctx")
    @classmethod
    def _check_ctx(cls, value: str) -> str:
        if not CTX_PATTERN.match(value):
            raise ValueError("must be cpu, gpu or gpu:N (N = device number)")
        return value

    @model_validator(mode="after")
    def _check_combination(self) -> TrainConfig:
        if self.patience is not None and self.val_fraction == 0:
            raise ValueError(
                "patience needs a validation split: set val_fraction (for example 0.1)"
            )
        if self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"warmup_epochs ({self.warmup_epochs}) must be below epochs ({self.epochs})"
            )
        if self.lr_schedule == "cosine" and self.lr_min >= self.lr:
            raise ValueError(
                f"lr_min ({self.lr_min}) must be below lr ({self.lr}) for the cosine schedule"
            )
        return self


SETTINGS = tuple(TrainConfig.model_fields)
# Settings added after the first release enter a config's id only when they differ from
# their default, so that the trials of sweeps written before them keep their ids.
LATER_SETTINGS = ("lr_schedule", "lr_step_epochs", "lr_step_factor", "lr_min", "warmup_epochs")


def config_id(config: TrainConfig) -> str:
    """A short stable id: equal configs give equal ids, on any machine."""
    values = config.model_dump()
    for name in LATER_SETTINGS:
        if values[name] == TrainConfig.model_fields[name].default:
            del values[name]
    text = json.dumps(values, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


TRACKING_KEY = "tracking"  # a config or sweep file's section for trackers, not a setting
TRACKING_SCHEMES = ("sqlite:///", "http://", "https://")


class TrackingConfig(BaseModel):
    """Where a run or sweep also sends its results as they come (`tracking:` in a config
    or sweep file). Not a training setting: it never enters a config's id."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    mlflow: Optional[str] = Field(
        None, description="MLflow tracking URI: sqlite:///path.db or http://host:port"
    )
    tensorboard: Optional[str] = Field(None, description="directory for TensorBoard logs")
    experiment: Optional[str] = Field(
        None, min_length=1, description="MLflow experiment (default: the sweep's name)"
    )

    @field_validator("mlflow")
    @classmethod
    def _check_uri(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not value.startswith(TRACKING_SCHEMES):
            raise ValueError(
                "must be a tracking URI: sqlite:///path.db (a local store) or "
                "http://host:port (an mlflow server)"
            )
        if value is not None and value.startswith("sqlite:///") and len(value) == 10:
            raise ValueError("names no database file: write sqlite:///path.db")
        return value

    @field_validator("tensorboard")
    @classmethod
    def _check_directory(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not value.strip():
            raise ValueError("must name a directory")
        return value

    def merged(self, **given: Optional[str]) -> TrackingConfig:
        """This section with the values given (on the command line) in place of its own."""
        return self.model_copy(update={k: v for k, v in given.items() if v is not None})

    @property
    def active(self) -> bool:
        return bool(self.mlflow or self.tensorboard)


def tracking_config(
    values: Any, where: str = "tracking", lines: Optional[yamlio.KeyLines] = None
) -> TrackingConfig:
    """A `tracking:` section (None: no tracking), validated; errors name `where`."""
    if values is None:
        return TrackingConfig()
    if not isinstance(values, dict):
        raise ConfigError(
            f"{where}: expected a mapping (mlflow: URI, tensorboard: DIR, experiment: "
            f"NAME), got {type(values).__name__}"
        )
    try:
        return TrackingConfig(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else ""
        line = (lines or {}).get((TRACKING_KEY, key))
        at = f"{where}:{line}" if line else where
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key; use mlflow, tensorboard or experiment"
        raise ConfigError(f"{at}: tracking.{key} {message} (got {error.get('input')!r})") from None


def load_tracking_config(path: Optional[Path]) -> TrackingConfig:
    """The `tracking:` section of a config file (an empty one when there is no file)."""
    if path is None:
        return TrackingConfig()
    values, lines = yamlio.read_mapping(Path(path))
    return tracking_config(values.get(TRACKING_KEY), str(path), lines)


def to_yaml(config: TrainConfig) -> str:
    return yamlio.dump(config.model_dump())


def build_config(layers: list[tuple[str, Mapping[str, Any], yamlio.KeyLines]]) -> TrainConfig:
    """Merge layers (later wins) over the defaults and validate.

    Each layer is (where, values, key lines); `where` names it in error messages.
    """
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for where, values, lines in layers:
        block = next((block for block in SWEEP_BLOCKS if block in values), None)
        for key, value in values.items():
            at = f"{where}{_line(lines, key)}"
            if block and key not in SETTINGS:
                raise ConfigError(
                    f"{at}: '{key}' is not a setting: this is a sweep file (it has a "
                    f"'{block}' block), not a train config; run it as a sweep"
                )
            check_setting_name(key, at)
            merged[key] = _coerce(key, value)
            origin[key] = at
    try:
        return TrainConfig(**merged)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, origin)) from None


def load_train_config(
    path: Optional[Path] = None,
    overrides: Optional[Mapping[str, Any]] = None,
    override_where: Union[str, Mapping[str, str]] = "command line",
    explicit: Sequence[str] = (),
) -> TrainConfig:
    """Defaults <- YAML file <- overrides (None values mean 'not given', except for the
    keys in `explicit`, set to null on purpose: `--set patience=null`).

    `override_where` names where overrides came from, for error messages: one
    label for all, or one per key (e.g. {'lr': '--lr'}).
    """
    layers: list[tuple[str, Mapping[str, Any], yamlio.KeyLines]] = []
    if path is not None:
        values, lines = yamlio.read_mapping(Path(path))
        values.pop(TRACKING_KEY, None)  # not a setting: load_tracking_config reads it
        layers.append((str(path), values, lines))
    for key, value in (overrides or {}).items():
        if value is not None or key in explicit:
            where = (
                override_where
                if isinstance(override_where, str)
                else override_where.get(key, "command line")
            )
            layers.append((where, {key: value}, {}))
    return build_config(layers)


def parse_assignment(text: str, where: str = "override") -> tuple[str, Any]:
    """Parse one `key=value` override; the value is read as YAML (0.1, 256, null, gpu:0).
    `where` names where the text came from, for messages."""
    key, sep, raw = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise ConfigError(f"{where} {text!r}: expected KEY=VALUE, for example momentum=0.9")
    check_setting_name(key, f"{where} {text}")
    try:
        value = yamlio.yaml.safe_load(raw) if raw.strip() else None
    except yamlio.yaml.YAMLError:
        value = raw
    if isinstance(value, (dict, list)):
        value = raw  # a lone value is wanted; let validation reject the text
    return key, value


# What makes a file a sweep file, so that one given as a train config says so (not
# imported from sweep.spec, which imports this module).
SWEEP_BLOCKS = ("grid", "random", "tpe")


def check_setting_name(key: Any, where: str) -> None:
    if key in SETTINGS:
        return
    close = difflib.get_close_matches(str(key), SETTINGS, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"known settings: {', '.join(SETTINGS)}"
    shown = f"'{key}'" if str(key).isprintable() else repr(key)
    raise ConfigError(f"{where}: unknown setting {shown}; {hint}")


def describe_validation_error(exc: ValidationError, origin: Mapping[str, str]) -> str:
    """One line for the first problem: where, which key, what is wrong, how to fix."""
    error = exc.errors()[0]
    key = str(error["loc"][0]) if error["loc"] else ""
    where = origin.get(key, "config")
    message = error["msg"].removeprefix("Value error, ")
    if not key:  # a rule over several settings: point at the first one it names
        found = {name: at.start() for name in origin if (at := re.search(rf"\b{name}\b", message))}
        named = sorted(found, key=found.__getitem__)  # the first one named
        return f"{origin[named[0]] if named else 'config'}: {message}"
    got = error.get("input")
    if error["type"] == "literal_error":
        return f"{where}: '{key}' is {got!r}, not a choice; {_choices(error, got)}"
    return (
        f"{where}: '{key}' {_explain(error['type'], message)} (got {got!r}); "
        f"fix '{key}' ({TrainConfig.model_fields[key].description})"
    )


def _choices(error: Mapping[str, Any], got: Any) -> str:
    """'use one of a, b, c' with the closest one first suggested."""
    options = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
    close = difflib.get_close_matches(str(got), options, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}use one of {', '.join(options)}"


def _explain(kind: str, message: str) -> str:
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"has the wrong type: {message[0].lower()}{message[1:]}"
    if kind == "finite_number":
        return "must be a finite number"
    if kind == "value_error":
        return f"is invalid: {message}"
    return f"is out of range: {message[0].lower()}{message[1:]}"


def _coerce(key: str, value: Any) -> Any:
    """YAML has no int/float distinction for users: allow 1 where a float is wanted."""
    expected = TrainConfig.model_fields[key].annotation
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is float and isinstance(value, str):
        # '1e-3' written without a dot is a str to YAML 1.1; users mean a number.
        try:
            return float(value) if re.fullmatch(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+", value) else value
        except ValueError:
            return value
    return value


def _line(lines: yamlio.KeyLines, key: str) -> str:
    line = lines.get((key,))
    return f":{line}" if line else ""
