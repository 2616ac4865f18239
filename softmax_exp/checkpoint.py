"""A trial's checkpoint: what it needs to go on after its last finished epoch as if it
had never stopped (`softmax train --resume RUN_DIR`, and sweeps), in whatever group.

A checkpoint holds one trial's block alone, in the layout a lone chapter model has
(weight (10, 784), rows = classes; bias (10,)), its momentum likewise, and the state the
group shared (the shuffling RNG, the update count): trials checkpointed at the same epoch
can go on together however they are grouped (`train_group(..., start=...)`).

Two files in the trial's directory, each complete or absent, written after every
finished epoch: `checkpoint-<epoch>.params` (weight, bias, momentum when there is any,
and the best epoch's weight and bias: best.params is written before the JSON, so it may
be of a newer epoch than a checkpoint a kill left) and, last, `checkpoint.json` (epoch,
updates, the shuffling RNG, early stopping, which backend, and the name of the arrays'
file). The JSON is written last and the arrays of
the epoch before are removed only after it, so a kill at any point leaves a JSON that
names complete arrays of its own epoch.

Nothing in them is trusted blindly: the JSON is read with a schema (`_State`), the arrays
are checked for their names and shapes, and the JSON carries the sha256 of the arrays'
file and of its own fields, and a hash of the run's settings (its epochs
aside, which a resume may raise): a flipped byte, a file from another run, or an edited
config.yaml is refused with one line, never trained on. Checkpoints written before these
fields existed (format 3 and older, no `params_sha256`) still load: they are legacy,
unverified, checked for shape and finite values only, their best parameters read from
best.params.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import RunError
from .fileio import read_bytes, write_json
from .layout import CHECKPOINT_PARAMS as PARAMS_FILE
from .layout import CHECKPOINT_STATE as STATE_FILE
from .layout import CHECKPOINT_STATES as STATES_FILE
from .model import NUM_CLASSES, NUM_INPUTS
from .mxnet_compat import load_mxnet

FORMAT = 4  # 3: no checksums, best parameters in best.params only; 2: arrays in
# checkpoint.params; 1 (no "format"): a one-trial group's
# stacked layer, padded, with pickled optimizer states
ARRAYS = ("weight", "bias", "weight_momentum", "bias_momentum")
SHAPES = {"weight": (NUM_CLASSES, NUM_INPUTS), "bias": (NUM_CLASSES,)}
SHAPES.update(weight_momentum=SHAPES["weight"], bias_momentum=SHAPES["bias"])
SHAPES.update(best_weight=SHAPES["weight"], best_bias=SHAPES["bias"])
BEST = {"best_weight": "0.weight", "best_bias": "0.bias"}  # arrays: best_params' names
LIMIT = 1 << 20  # checkpoint.json is a few hundred bytes; the arrays about 60 KB
SHA256 = r"^[0-9a-f]{64}$"


class _Stopper(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    best: Optional[float] = None
    best_epoch: Optional[int] = Field(None, ge=1)
    waited: int = Field(ge=0)


class _State(BaseModel):
    """checkpoint.json, whole: any other key, type or value is not ours."""

    model_config = ConfigDict(extra="forbid", strict=True)
    format: int = Field(1, ge=1, le=FORMAT)  # absent: format 1
    params: str = Field(PARAMS_FILE, pattern=r"^checkpoint(-[0-9]{1,9})?\.params$")
    epoch: int = Field(ge=1)
    updates: int = Field(ge=0)
    rng: dict
    stopper: _Stopper
    best_epoch: Optional[int] = Field(None, ge=1)
    kernels: str = Field(pattern=r"^[a-z]{1,20}$")
    params_sha256: Optional[str] = Field(None, pattern=SHA256)  # absent: legacy, unverified
    settings: Optional[str] = Field(None, pattern=r"^[0-9a-f]{16}$")  # `settings_hash`


def settings_hash(config) -> str:
    """What binds a checkpoint to its run's settings: all of them but `epochs`, which a
    resume may raise (a finished run is extended)."""
    values = config.model_dump()
    values.pop("epochs")
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(read_bytes(path, 64 * LIMIT)).hexdigest()


@dataclass
class Checkpoint:
    epoch: int  # the last finished epoch
    updates: int  # SGD steps so far (what schedules count)
    rng: dict  # the shuffling generator's state (the group's)
    stopper: dict  # early stopping: best, best_epoch, waited
    best_epoch: Optional[int]
    kernels: str  # the backend that computed it
    weight: Any = None  # numpy float32 (10, 784): the trial's layer, rows = classes
    bias: Any = None  # (10,)
    weight_momentum: Any = None  # SGD momentum, shaped as weight and bias; None without
    bias_momentum: Any = None
    # what the run's other files hold (not saved here; filled from them when resuming):
    history: list = field(default_factory=list)  # EpochMetrics of the finished epochs
    best_params: Optional[dict] = None  # the best epoch's, as `block_params` names them


def save(path: Path, checkpoint: Checkpoint, config=None) -> None:
    """Write the arrays, then the JSON that names them (with their checksums, and the
    hash of `config`'s settings when given), then remove older arrays."""
    from .model import save_params

    path = Path(path)
    arrays = {
        name: getattr(checkpoint, name) for name in ARRAYS if getattr(checkpoint, name) is not None
    }
    if checkpoint.best_params is not None:  # beside the rest: best.params may be newer
        arrays.update({name: checkpoint.best_params[key] for name, key in BEST.items()})
    params = f"checkpoint-{checkpoint.epoch}.params"
    save_params(path / params, {**arrays, "epoch": np.array([checkpoint.epoch])})
    kept = (*ARRAYS, "history", "best_params")
    state = {k: v for k, v in asdict(checkpoint).items() if k not in kept}
    sums = {"params_sha256": sha256_of(path / params)}
    if config is not None:
        sums["settings"] = settings_hash(config)
    body = {"format": FORMAT, "params": params, **state, **sums}
    body = json.loads(json.dumps(body, default=str))  # as it will be read back
    write_json(path / STATE_FILE, {**body, "state_sha256": _state_sum(body)})
    remove(path, keep=params)


def remove(path: Path, keep: str = "") -> None:
    """Delete a run directory's checkpoint files (but `keep`)."""
    path = Path(path)
    older = [*path.glob("checkpoint-*.params"), path / PARAMS_FILE, path / STATES_FILE]
    if not keep:
        older.append(path / STATE_FILE)
    for file in older:
        if file.name != keep:
            file.unlink(missing_ok=True)


def load(path: Path, config=None) -> Checkpoint:
    """The trial's checkpoint, or a RunError saying why it cannot be resumed. `config`:
    the settings it must have been taken with (a legacy checkpoint names none)."""
    path = Path(path)
    state = _read_state(path)
    if config is not None and state.settings not in (None, settings_hash(config)):
        raise ConfigChanged(path)
    arrays = _read_arrays(path, state)
    fields = state.model_dump(exclude={"format", "params", "params_sha256"})
    fields.pop("settings")
    fields["stopper"] = state.stopper.model_dump()
    best = {key: arrays[name] for name, key in BEST.items() if name in arrays} or None
    arrays = {name: arrays.get(name) for name in ARRAYS}
    return Checkpoint(**fields, **arrays, best_params=best)


class ConfigChanged(RunError):
    """A run's config.yaml is not the one its checkpoint was trained with."""

    def __init__(self, path: Path):
        self.path = path
        super().__init__(
            f"{path}: config.yaml was edited after its checkpoint was taken (its settings "
            "are not the ones trained so far), so the run cannot go on with them; start a "
            "new run with that file as its config instead"
        )


def _state_sum(data: dict) -> str:
    """The sha256 of checkpoint.json's own fields (all but this one), canonically."""
    body = {k: v for k, v in data.items() if k != "state_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _unusable(path: Path, why: str) -> RunError:
    return RunError(
        f"{path}: no usable checkpoint ({why}); train it again (a sweep starts such a trial over)"
    )


def _read_state(path: Path) -> _State:
    try:
        data = json.loads(read_bytes(path / STATE_FILE, LIMIT))
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise _unusable(path, f"{STATE_FILE}: {why}") from None
    if not isinstance(data, dict):
        raise _unusable(path, f"{STATE_FILE} is not a JSON object")
    try:
        state = _State(**{k: v for k, v in data.items() if k != "state_sha256"})
    except (ValidationError, TypeError) as exc:
        problem: dict = dict(exc.errors()[0]) if isinstance(exc, ValidationError) else {}
        where = ".".join(str(p) for p in problem.get("loc", ())) or "its fields"
        raise _unusable(path, f"{STATE_FILE}: {where}: {problem.get('msg', exc)}") from None
    written = data.get("state_sha256")
    if written is not None and written != _state_sum(data):
        raise _unusable(path, f"{STATE_FILE} does not match its checksum: it was changed")
    try:  # the shuffling generator's state, as numpy's PCG64 takes it
        np.random.default_rng().bit_generator.state = state.rng
    except (ValueError, TypeError, KeyError, OverflowError):
        raise _unusable(path, f"{STATE_FILE}: rng is not a generator's state") from None
    return state


def _read_arrays(path: Path, state: _State) -> dict:
    """The arrays `state` names, checked against its checksum (a legacy one: for finite
    values), their names and their shapes."""
    mx = load_mxnet()

    params = path / state.params
    try:
        raw = read_bytes(params, 64 * LIMIT)
    except OSError as exc:
        raise _unusable(path, f"{state.params}: {exc.strerror or exc}") from None
    if state.params_sha256 is not None and hashlib.sha256(raw).hexdigest() != state.params_sha256:
        raise _unusable(path, f"{state.params} does not match its checksum: it was damaged")
    try:
        arrays = {name: a.asnumpy() for name, a in mx.nd.load_frombuffer(raw).items()}
        if state.format == 1:
            arrays = _stacked_to_block(arrays, read_bytes(path / STATES_FILE, 64 * LIMIT))
    except Exception as exc:  # noqa: BLE001 - whatever a damaged file makes MXNet raise
        from .errors import reason

        raise _unusable(path, f"{state.params}: {reason(exc)}") from None
    expected = {**SHAPES, "epoch": (1,)}
    for name, array in arrays.items():
        if expected.get(name) != array.shape:
            raise _unusable(path, f"{state.params}: unexpected array {name} {array.shape}")
    missing = {"weight", "bias", "epoch"} - set(arrays)
    pairs = (("weight_momentum", "bias_momentum"), tuple(BEST))
    if missing or any((a in arrays) != (b in arrays) for a, b in pairs):
        raise _unusable(path, f"{state.params}: arrays missing ({', '.join(sorted(missing))})")
    if not all(np.isfinite(a).all() for a in arrays.values()):
        raise _unusable(path, f"{state.params}: values that are not finite")
    if int(arrays["epoch"][0]) != state.epoch:
        raise RunError(
            f"{path}: checkpoint files disagree (epoch {state.epoch} against "
            f"{int(arrays['epoch'][0])}); train it again"
        )
    return arrays


def _stacked_to_block(arrays: dict, states: bytes) -> dict:
    """Format 1, as `softmax train` wrote it before checkpoints were per trial: the
    one-trial group's padded layer (rows = classes) and the optimizer's states as MXNet
    pickles them ({weight's index: momentum or None, bias's index: ...}), each in the
    layout its backend stores (the native one's weight transposed, (784, 16))."""
    block = {
        "epoch": arrays["epoch"],
        "weight": arrays["weight"][:NUM_CLASSES],
        "bias": arrays["bias"][:NUM_CLASSES],
    }
    for state in _OptimizerStates(io.BytesIO(states)).load().values():
        if state is None:
            continue
        momentum = state.asnumpy()
        if momentum.ndim == 1:
            block["bias_momentum"] = momentum[:NUM_CLASSES]
        else:
            rows = momentum.T if momentum.shape[0] == NUM_INPUTS else momentum
            block["weight_momentum"] = np.ascontiguousarray(rows[:NUM_CLASSES])
    return block


class _OptimizerStates(pickle.Unpickler):
    """Format 1's pickle, which may hold NDArrays and nothing else: unpickling runs code,
    and a file planted in a run directory must not."""

    ALLOWED = {("mxnet.ndarray.ndarray", "NDArray"), ("builtins", "bytearray")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not an optimizer state")
        return super().find_class(module, name)


def rng_state(rng: np.random.Generator) -> dict:
    return json.loads(json.dumps(rng.bit_generator.state))
