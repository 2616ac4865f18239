"""What tests share besides fixtures (conftest.py): small synthetic data, learnable,
made in the test; tiny IDX files; fake sweep directories; comparisons. Tests import
this module, never each other."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from softmax_exp import data, records
from softmax_exp.config import TrainConfig
from softmax_exp.data import Dataset
from softmax_exp.mxnet_compat import load_mxnet
from softmax_exp.summary import EPOCH_COLUMNS, TRIAL_COLUMNS

# A 2 x 2 sweep on real data that takes seconds: every executor runs it and must agree.
SMALL_GRID = """\
base: {epochs: 2, train_subset: 2000, batch_size: 100}
grid:
  lr: [0.05, 0.5]
  weight_decay: [0.0, 0.001]
"""


def synthetic_dataset(n_train: int = 300, n_test: int = 100, seed: int = 0) -> Dataset:
    """Each class lights up its own band of pixels, plus noise: easy but not trivial."""
    rng = np.random.default_rng(seed)

    def make(n):
        labels = (np.arange(n) % 10).astype(np.uint8)
        rng.shuffle(labels)
        images = rng.integers(0, 120, (n, 784)).astype(np.uint8)
        for i, label in enumerate(labels):
            band = int(label) * 78  # numpy 2 keeps uint8 * int in uint8, which wraps
            images[i, band : band + 78] += 100
        return images, labels

    train_images, train_labels = make(n_train)
    test_images, test_labels = make(n_test)
    return Dataset(train_images, train_labels, test_images, test_labels, source="synthetic")


def without_timing(history):
    return [
        (m.epoch, m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.test_loss, m.test_acc)
        for m in history
    ]


def assert_same_metrics(history_a, history_b, atol=1e-5):
    """Equal epoch by epoch within atol, timing aside (None compares as NaN)."""

    def table(history):
        return np.array(
            [[np.nan if v is None else v for v in row] for row in without_timing(history)],
            dtype=float,
        )

    a, b = table(history_a), table(history_b)
    assert a.shape == b.shape
    if atol == 0:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, atol=atol, rtol=0)


# What fused trials promise about their separate runs (README, "Fusion"): on the fused
# kernels, the same numbers at any learning rate; on MXNet's operators, whose matrix
# products round by the shape of the whole product, float32 rounding carried through
# training, which stays small only while SGD is not chaotic: measured (grid of 13
# learning rates, batch 64) within 1e-4 up to lr 0.2, up to 0.1 accuracy at lr 1.5.
FUSED_ATOL = {"native": 0.0, "mxnet": 1e-4}
MXNET_CALM_LR = 0.2  # on MXNet's operators, the claim covers learning rates up to this


def assert_fused_equals_separate(kernels: str, history_fused, history_alone, lr: float = 0):
    """Fused equals separate as promised; on MXNet's operators only up to MXNET_CALM_LR
    (beyond it the promise is none, and nothing is compared)."""
    if kernels == "mxnet" and lr > MXNET_CALM_LR:
        return
    assert_same_metrics(history_fused, history_alone, atol=FUSED_ATOL[kernels])


def kernels_in_use() -> str:
    """Which backend training on the CPU uses here: `native` where the kernels build."""
    mx = load_mxnet()

    from softmax_exp.kernels import use_native

    return "native" if use_native(mx.cpu()) else "mxnet"


def crashing_worker(job, events, threads):
    """A sweep worker that dies like an OOM-killed process (os._exit) on trials with
    lr == 0.5: always, or only on the first attempt when a marker path is set."""
    import os
    from pathlib import Path

    from softmax_exp.sweep.executors import _worker

    marker = os.environ.get("CRASH_ONCE_MARKER")
    crash = any(t.config.lr == 0.5 for t in job.trials)
    if crash and not (marker and Path(marker).exists()):
        if marker:
            Path(marker).touch()
        os._exit(137)
    _worker(job, events, threads)


def pid_recording_worker(job, events, threads):
    """A sweep worker that notes which process ran each job (in $PID_DIR), then runs it."""
    import os
    from pathlib import Path

    from softmax_exp.sweep.executors import _worker

    (Path(os.environ["PID_DIR"]) / f"job-{job.number}").write_text(str(os.getpid()))
    _worker(job, events, threads)


FAKE_SWEEP = """\
name: {name}
base: {{epochs: {epochs}}}
random:
  trials: {trials}
  space:
    lr: {{loguniform: [0.001, 1.0]}}
    batch_size: {{choice: [64, 256, 1024]}}
    weight_decay: {{choice: [0.0, 0.0001]}}
"""


def write_fake_sweep(
    path,
    trials: int = 8,
    epochs: int = 5,
    name: str = "fake",
    statuses=("completed",),
    seed: int = 0,
):
    """A sweep directory as `softmax sweep` leaves it (sweep.yaml, trials.csv, epochs.csv,
    commands.log), with made-up learning curves: reports and exports without training.
    Trials take `statuses` in turn: pruned ones stop at half time, diverged ones end in a
    NaN loss, failed ones have no epochs."""
    from pathlib import Path

    from softmax_exp.config import TrainConfig
    from softmax_exp.runs import csv_line
    from softmax_exp.summary import EPOCH_COLUMNS, TRIAL_COLUMNS, epoch_rows, trial_row

    path = Path(path)
    (path / "trials").mkdir(parents=True, exist_ok=True)
    import json

    (path / "sweep.yaml").write_text(
        FAKE_SWEEP.format(name=json.dumps(name), epochs=epochs, trials=trials)
    )
    (path / "commands.log").write_text("2026-11-30T10:00:00  softmax sweep fake.yaml\n")
    rng = np.random.default_rng(seed)
    trial_lines, epoch_lines = [csv_line(TRIAL_COLUMNS)], [csv_line(EPOCH_COLUMNS)]
    for index in range(trials):
        status = statuses[index % len(statuses)]
        point = {
            "lr": float(f"{10 ** rng.uniform(-3, 0):.6g}"),
            "batch_size": int(rng.choice([64, 256, 1024])),
            "weight_decay": float(rng.choice([0.0, 0.0001])),
        }
        settings = TrainConfig(epochs=epochs, val_fraction=0.1, **point).model_dump()
        ran = {"completed": epochs, "pruned": max(1, epochs // 2), "diverged": epochs, "failed": 0}[
            status
        ]
        ceiling = 0.6 + 0.25 * rng.random()
        rows = []
        for epoch in range(1, ran + 1):
            acc = ceiling * (1 - 0.5**epoch) + 0.01 * rng.standard_normal()
            loss = float("nan") if status == "diverged" and epoch == ran else 1.5 - acc
            rows.append(
                {
                    "epoch": epoch,
                    "train_loss": loss,
                    "train_acc": acc + 0.02,
                    "val_loss": loss + 0.05,
                    "val_acc": acc,
                    "test_loss": loss + 0.06,
                    "test_acc": acc - 0.01,
                    "epoch_seconds": 0.5,
                    "samples_per_second": 100000.0,
                }
            )
        trial_id = f"{index:04d}fake"
        info = {
            "wall_seconds": 0.5 * ran,
            "stop_reason": status,
            "error": "RuntimeError: boom" if status == "failed" else None,
        }
        trial_lines.append(
            csv_line(
                trial_row(
                    trial_id, status, settings, rows, info, "val_acc", "max", f"trials/{trial_id}"
                )
            )
        )
        epoch_lines += [csv_line(r) for r in epoch_rows(trial_id, status, settings, rows)]
    (path / "trials.csv").write_text("\n".join(trial_lines) + "\n")
    (path / "epochs.csv").write_text("\n".join(epoch_lines) + "\n")
    return path


# The report's sections, and a sweep name that would run script if shown as HTML.
SECTIONS = (
    "what-ran",
    "leaderboard",
    "curves",
    "parallel",
    "slices",
    "importance",
    "test-curves",
    "selected",
    "trials",
)
HOSTILE = "a</script><script>document.title='pwned'</script> \"q\" & 'single' <b>"


def leaderboard_rows(page: str) -> list[list[str]]:
    """The report's leaderboard cells as text, row by row."""
    import re

    table = re.search(
        r'<table class="sortable" id="leaderboard-table">(.*?)</table>', page, re.S
    ).group(1)
    body = table.split("<tbody>")[1]
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def make_tiny(
    directory: Path,
    n_train: int = 60,
    n_test: int = 20,
    seed: int = 0,
    rows: int = 28,
    cols: int = 28,
):
    """Write four gzipped IDX files of random images; return (spec, arrays)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, rows, cols)),
        "train_labels": np.arange(n_train) % 10,
        "test_images": rng.integers(0, 256, (n_test, rows, cols)),
        "test_labels": np.arange(n_test) % 10,
    }
    files = []
    for spec in data.FASHION_MNIST.files:
        array = arrays[spec.role]
        raw = idx_bytes(array, data.IMAGES_MAGIC if array.ndim == 3 else data.LABELS_MAGIC)
        (directory / f"{spec.name}.gz").write_bytes(gzip.compress(raw))
        files.append(
            data.FileSpec(spec.role, spec.name, hashlib.sha256(raw).hexdigest(), len(array))
        )
    spec = data.DatasetSpec("tiny", tuple(files), rows=rows, cols=cols)
    return spec, arrays


def write_sweep(path, n=14):
    """A sweep directory's tables, as the driver writes them, with many settings varying."""
    defaults = TrainConfig().model_dump()
    rows = []
    for i in range(n):
        settings = {
            **defaults,
            "lr": 0.01 + 0.001 * i,
            "batch_size": 64 * (1 + i % 3),
            "momentum": 0.1 * (i % 4),
            "weight_decay": 1e-4 * (i % 2),
            "train_subset": 1000 + i,
            "patience": None if i % 2 else 15,
            "val_fraction": 0.1,
        }
        rows.append(
            {
                **settings,
                "trial_id": f"{i:010x}",
                "status": "completed",
                "best_val_acc": 0.8 + i / 1e5,
                "test_acc_at_best": 0.79 + i / 1e4,
                "final_test_acc": 0.78,
                "best_epoch": 3,
                "epochs_run": 10,
                "selected_on": "val_acc",
                "path": f"trials/{i:010x}",
            }
        )
    path.mkdir()
    pd.DataFrame(rows, columns=list(TRIAL_COLUMNS)).to_csv(path / "trials.csv", index=False)
    pd.DataFrame(columns=list(EPOCH_COLUMNS)).to_csv(path / "epochs.csv", index=False)
    return rows


def tables(path):
    """A sweep's trials.csv and epochs.csv without their timing columns (what must match
    to the last digit between runs)."""
    trials = pd.read_csv(path / "trials.csv").drop(columns=["wall_seconds"])
    epochs = pd.read_csv(path / "epochs.csv").drop(columns=list(records.TIMING_COLUMNS))
    return trials, epochs
