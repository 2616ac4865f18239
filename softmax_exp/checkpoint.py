"""A trial's checkpoint: what it needs to go on after its last finished epoch as if it
had never stopped (`softmax train --resume RUN_DIR`, and sweeps), in whatever group.

A checkpoint holds one trial's block alone, in the layout a lone chapter model has
(weight (10, 784), rows = classes; bias (10,)), its momentum likewise, and the state the
group shared (the shuffling RNG, the update count): trials checkpointed at the same epoch
can go on together however they are grouped (`train_group(..., start=...)`).

Two files in the trial's directory, each complete or absent, written after every
finished epoch: `checkpoint-<epoch>.params` (weight, bias, momentum when there is any)
and, last, `checkpoint.json` (epoch, updates, the shuffling RNG, early stopping, which
backend, and the name of the arrays' file). The JSON is written last and the arrays of
the epoch before are removed only after it, so a kill at any point leaves a JSON that
names complete arrays of its own epoch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .errors import RunError
from .fileio import write_json
from .layout import CHECKPOINT_PARAMS as PARAMS_FILE
from .layout import CHECKPOINT_STATE as STATE_FILE
from .layout import CHECKPOINT_STATES as STATES_FILE
from .model import NUM_CLASSES, NUM_INPUTS

FORMAT = 3  # 2: arrays in checkpoint.params; 1 (no "format"): a one-trial group's
# stacked layer, padded, with pickled optimizer states
ARRAYS = ("weight", "bias", "weight_momentum", "bias_momentum")


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


def save(path: Path, checkpoint: Checkpoint) -> None:
    """Write the arrays, then the JSON that names them, then remove older arrays."""
    from .model import save_params

    path = Path(path)
    arrays = {
        name: getattr(checkpoint, name) for name in ARRAYS if getattr(checkpoint, name) is not None
    }
    params = f"checkpoint-{checkpoint.epoch}.params"
    save_params(path / params, {**arrays, "epoch": np.array([checkpoint.epoch])})
    state = {
        k: v for k, v in asdict(checkpoint).items() if k not in (*ARRAYS, "history", "best_params")
    }
    write_json(path / STATE_FILE, {"format": FORMAT, "params": params, **state})
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


def saved_epoch(path: Path) -> int:
    """The epoch of a run directory's checkpoint, from its JSON alone (0: none)."""
    try:
        epoch = json.loads((Path(path) / STATE_FILE).read_text(encoding="utf-8"))["epoch"]
    except (OSError, ValueError, KeyError, TypeError):
        return 0
    return epoch if isinstance(epoch, int) and epoch > 0 else 0


def load(path: Path) -> Checkpoint:
    """The trial's checkpoint, or a RunError saying why it cannot be resumed."""
    import mxnet as mx

    path = Path(path)
    try:
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        params = path / state.pop("params", PARAMS_FILE)
        arrays = {name: a.asnumpy() for name, a in mx.nd.load(str(params)).items()}
        if state.pop("format", 1) == 1:
            arrays = _stacked_to_block(arrays, (path / STATES_FILE).read_bytes())
    except (OSError, ValueError, KeyError, TypeError, mx.base.MXNetError):
        raise RunError(
            f"{path}: no usable checkpoint (checkpoint.json and the arrays it "
            "names); it was written by an older softmax-exp or never finished an "
            "epoch: train it again"
        ) from None
    if int(arrays["epoch"][0]) != state["epoch"]:
        raise RunError(
            f"{path}: checkpoint files disagree (epoch {state['epoch']} against "
            f"{int(arrays['epoch'][0])}); train it again"
        )
    named: dict[str, Any] = {name: arrays.get(name) for name in ARRAYS}
    return Checkpoint(**state, **named)


def _stacked_to_block(arrays: dict, states: bytes) -> dict:
    """Format 1, as `softmax train` wrote it before checkpoints were per trial: the
    one-trial group's padded layer (rows = classes) and the optimizer's states as MXNet
    pickles them ({weight's index: momentum or None, bias's index: ...}), each in the
    layout its backend stores (the native one's weight transposed, (784, 16))."""
    import pickle

    block = {
        "epoch": arrays["epoch"],
        "weight": arrays["weight"][:NUM_CLASSES],
        "bias": arrays["bias"][:NUM_CLASSES],
    }
    for state in pickle.loads(states).values():
        if state is None:
            continue
        momentum = state.asnumpy()
        if momentum.ndim == 1:
            block["bias_momentum"] = momentum[:NUM_CLASSES]
        else:
            rows = momentum.T if momentum.shape[0] == NUM_INPUTS else momentum
            block["weight_momentum"] = np.ascontiguousarray(rows[:NUM_CLASSES])
    return block


def rng_state(rng: np.random.Generator) -> dict:
    return json.loads(json.dumps(rng.bit_generator.state))
