"""Does a fused sweep give what separate runs give? Checked as a user would, by commands.

    .venv/bin/python benchmarks/fusion_check.py [SWEEP_FILE] [--levels SSE41,AVX2,...]

Runs `softmax sweep SWEEP_FILE` (default configs/grid.yaml), then `softmax train -c
trials/<id>/config.yaml` for every trial (the same resolved config: same split, same
seed), and compares every trial's per-epoch metrics in the sweep's epochs.csv with its
separate run's metrics.csv. With --levels, does so once per DNNL_MAX_CPU_ISA level
(oneDNN's instruction-set cap; `unset` for the CPU's own). Prints the largest
difference per level and whether the tables are equal to the last digit. About 1.5
minutes a level for configs/grid.yaml on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
METRICS = ["train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"]


def softmax(*args: str, env: dict) -> None:
    subprocess.run(
        [sys.executable, "-m", "softmax_exp_cli", *args],
        check=True,
        capture_output=True,
        env=env,
        cwd=ROOT,
    )


def compare(sweep_file: Path, out: Path, env: dict) -> pd.DataFrame:
    """Per trial: its learning rate and the largest absolute difference of its per-epoch
    accuracies and of its losses between the sweep and its separate run."""
    softmax("sweep", str(sweep_file), "--out", str(out / "sweep"), "--quiet", env=env)
    epochs = pd.read_csv(out / "sweep" / "epochs.csv")
    rows = []
    for trial_dir in sorted((out / "sweep" / "trials").iterdir()):
        alone_out = out / "alone" / trial_dir.name
        softmax(
            "train",
            "-c",
            str(trial_dir / "config.yaml"),
            "--out",
            str(alone_out),
            "--quiet",
            env=env,
        )
        (run_dir,) = alone_out.iterdir()
        alone = pd.read_csv(run_dir / "metrics.csv")[METRICS].reset_index(drop=True)
        trial = epochs[epochs.trial_id == trial_dir.name].sort_values("epoch")
        difference = (trial[METRICS].reset_index(drop=True) - alone).abs().max()
        rows.append(
            {
                "trial": trial_dir.name,
                "lr": trial.lr.iloc[0],
                "acc": difference.filter(like="acc").max(),
                "loss": difference.filter(like="loss").max(),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_file", nargs="?", type=Path, default=ROOT / "configs/grid.yaml")
    parser.add_argument(
        "--levels",
        default="unset",
        help="DNNL_MAX_CPU_ISA values, comma-separated (unset: the CPU's own)",
    )
    args = parser.parse_args()
    for level in args.levels.split(","):
        env = dict(os.environ)
        env.pop("DNNL_MAX_CPU_ISA", None)
        if level != "unset":
            env["DNNL_MAX_CPU_ISA"] = level
        with tempfile.TemporaryDirectory() as tmp:
            found = compare(args.sweep_file.resolve(), Path(tmp), env)
        kernels = env.get("SOFTMAX_EXP_KERNELS", "auto")
        equal = not found[["acc", "loss"]].to_numpy().any()
        verdict = "equal to the last digit" if equal else "differ"
        print(
            f"DNNL_MAX_CPU_ISA={level:<12} kernels={kernels:<6} {len(found)} trials: "
            f"sweep and separate runs {verdict}",
            flush=True,
        )
        if not equal:
            print(
                "  largest difference by learning rate (accuracies, losses):",
                "; ".join(
                    f"lr {lr:g}: {group.acc.max():.2g}, {group.loss.max():.2g}"
                    for lr, group in found.groupby("lr")
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
