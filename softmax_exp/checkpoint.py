"""A run's checkpoint: what it needs to go on after its last finished epoch as if it
had never stopped (`softmax train --resume RUN_DIR`).

Three files beside the run's others, each complete or absent, written after every
finished epoch: `checkpoint.params` (the stacked layer, rows = classes, padded),
`checkpoint.states` (the optimizer's state: momentum) and, last, `checkpoint.json`
(epoch, updates, the shuffling RNG, early stopping, which backend). The JSON names the
epoch the other two belong to; it is written last, so it never points past them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .errors import RunError
from .fileio import atomic_path, write_json

PARAMS_FILE, STATES_FILE, STATE_FILE = "checkpoint.params", "checkpoint.states", \
    "checkpoint.json"


@dataclass
class Checkpoint:
    epoch: int  # the last finished epoch
    updates: int  # SGD steps so far (what schedules count)
    rng: dict  # the shuffling generator's state
    stopper: dict  # early stopping: best, best_epoch, waited
    best_epoch: Optional[int]
    kernels: str  # the backend whose optimizer `states` are
    weight: Any = None  # numpy arrays, the stacked layer (rows = classes, padded)
    bias: Any = None
    states: bytes = b""  # the optimizer updater's states, as MXNet pickles them
    # filled from the run's other files when resuming (not saved here):
    history: list = field(default_factory=list)  # EpochMetrics of the finished epochs
    best_params: Optional[dict] = None


def save(path: Path, checkpoint: Checkpoint) -> None:
    """Write the three files, the JSON last."""
    from .model import save_params

    path = Path(path)
    save_params(path / PARAMS_FILE, {"weight": checkpoint.weight, "bias": checkpoint.bias,
                                     "epoch": np.array([checkpoint.epoch])})
    with atomic_path(path / STATES_FILE) as tmp:
        tmp.write_bytes(checkpoint.states)
    state = {k: v for k, v in asdict(checkpoint).items()
             if k not in ("weight", "bias", "states", "history", "best_params")}
    write_json(path / STATE_FILE, state)


def load(path: Path) -> Checkpoint:
    """The run's checkpoint, or a RunError saying why it cannot be resumed."""
    import mxnet as mx

    path = Path(path)
    try:
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        arrays = mx.nd.load(str(path / PARAMS_FILE))
        states = (path / STATES_FILE).read_bytes()
    except (OSError, ValueError, mx.base.MXNetError):
        raise RunError(f"{path}: no usable checkpoint (checkpoint.json, .params, .states); "
                       "it was written by an older softmax-exp or never finished an "
                       "epoch: train it again") from None
    if int(arrays["epoch"].asnumpy()[0]) != state["epoch"]:
        raise RunError(f"{path}: checkpoint files disagree (epoch {state['epoch']} against "
                       f"{int(arrays['epoch'].asnumpy()[0])}); train it again")
    return Checkpoint(**state, weight=arrays["weight"].asnumpy(),
                      bias=arrays["bias"].asnumpy(), states=states)


def rng_state(rng: np.random.Generator) -> dict:
    return json.loads(json.dumps(rng.bit_generator.state))

