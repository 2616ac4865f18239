"""Grid vs random vs TPE, without and with pruning: best validation accuracy against
epochs spent, on one space with many poor learning rates.

    .venv/bin/python benchmarks/search.py        # about 2 minutes on 2 cores

Every sweep gets the same base (10 epochs on 20,000 training images, 10 %
validation) and a budget of 18 trials; the grid is 6 learning rates x 3 batch sizes.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

BASE = "base: {epochs: 10, train_subset: 20000}\n"
SPACE = ("  space:\n    lr: {loguniform: [0.00001, 10.0]}\n"
         "    batch_size: {choice: [64, 256, 1024]}\n")
PRUNE = "prune: {method: median, warmup_epochs: 2, min_trials: 3}\n"
SWEEPS = {
    "grid": BASE + "grid:\n  lr: [0.00001, 0.0001, 0.001, 0.01, 0.1, 1.0]\n"
                   "  batch_size: [64, 256, 1024]\n",
    "random": BASE + "random:\n  trials: 18\n  seed: 0\n" + SPACE,
    "random + median pruning": BASE + "random:\n  trials: 18\n  seed: 0\n" + SPACE + PRUNE,
    "tpe": BASE + "tpe:\n  trials: 18\n  seed: 0\n" + SPACE,
    "tpe + median pruning": BASE + "tpe:\n  trials: 18\n  seed: 0\n" + SPACE + PRUNE,
}


def main() -> None:
    import pandas as pd

    from softmax_exp.sweep import run_sweep

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for number, (name, text) in enumerate(SWEEPS.items()):
            spec = Path(tmp) / f"s{number}.yaml"
            spec.write_text(text)
            started = time.perf_counter()
            run_sweep(spec, Path(tmp) / f"out{number}", argv=["bench"])
            seconds = time.perf_counter() - started
            trials = pd.read_csv(Path(tmp) / f"out{number}" / "trials.csv")
            best = trials.loc[trials.best_val_acc.idxmax()]
            rows.append((name, len(trials), int(trials.epochs_run.sum()),
                         int((trials.status == "pruned").sum()), best.best_val_acc,
                         best.test_acc_at_best, f"lr={best.lr:g} batch={best.batch_size}",
                         seconds))
    header = ("search", "trials", "epochs", "pruned", "best val acc", "its test acc",
              "best point", "seconds")
    print(" | ".join(header))
    for row in rows:
        name, trials, epochs, pruned, val, test, point, seconds = row
        print(f"{name} | {trials} | {epochs} | {pruned} | {val:.4f} | {test:.4f} | {point} "
              f"| {seconds:.0f}")


if __name__ == "__main__":
    sys.exit(main())
