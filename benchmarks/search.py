"""Grid vs random vs TPE, without and with pruning: best validation accuracy against
epochs spent, on one space with many poor learning rates; then fused TPE against
one-at-a-time TPE and fused random search, over several sampler seeds.

    .venv/bin/python benchmarks/search.py            # both tables, about 6 minutes
    .venv/bin/python benchmarks/search.py --seeds 5  # only the fused-TPE table

Every sweep gets the same base (10 epochs on 20,000 training images, 10 %
validation) and a budget of 18 trials; the grid is 6 learning rates x 3 batch sizes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

BASE = "base: {epochs: 10, train_subset: 20000}\n"
SPACE = (
    "  space:\n    lr: {loguniform: [0.00001, 10.0]}\n    batch_size: {choice: [64, 256, 1024]}\n"
)
PRUNE = "prune: {method: median, warmup_epochs: 2, min_trials: 3}\n"
SWEEPS = {
    "grid": BASE + "grid:\n  lr: [0.00001, 0.0001, 0.001, 0.01, 0.1, 1.0]\n"
    "  batch_size: [64, 256, 1024]\n",
    "random": BASE + "random:\n  trials: 18\n  seed: 0\n" + SPACE,
    "random + median pruning": BASE + "random:\n  trials: 18\n  seed: 0\n" + SPACE + PRUNE,
    "tpe": BASE + "tpe:\n  trials: 18\n  seed: 0\n" + SPACE,
    "tpe + median pruning": BASE + "tpe:\n  trials: 18\n  seed: 0\n" + SPACE + PRUNE,
}
# Same budget, one sampler seed each: fused random, fused TPE, one-at-a-time TPE.
BY_SEED = {
    "random (fused)": BASE + "random:\n  trials: 18\n  seed: {seed}\n" + SPACE,
    "tpe (fused rounds)": BASE + "tpe:\n  trials: 18\n  seed: {seed}\n" + SPACE,
    "tpe (one at a time)": BASE + "tpe:\n  trials: 18\n  seed: {seed}\n  per_round: 1\n" + SPACE,
}


def run(text: str, tmp: Path, number: int):
    """One sweep in this process: its trials.csv and its wall time."""
    import pandas as pd

    from softmax_exp.sweep import run_sweep

    spec = tmp / f"s{number}.yaml"
    spec.write_text(text)
    started = time.perf_counter()
    run_sweep(spec, tmp / f"out{number}", argv=["bench"])
    seconds = time.perf_counter() - started
    return pd.read_csv(tmp / f"out{number}" / "trials.csv"), seconds


def searches(tmp: Path) -> None:
    rows = []
    for number, (name, text) in enumerate(SWEEPS.items()):
        trials, seconds = run(text, tmp, number)
        best = trials.loc[trials.best_val_acc.idxmax()]
        rows.append(
            (
                name,
                len(trials),
                int(trials.epochs_run.sum()),
                int((trials.status == "pruned").sum()),
                best.best_val_acc,
                best.test_acc_at_best,
                f"lr={best.lr:g} batch={best.batch_size}",
                seconds,
            )
        )
    print("search | trials | epochs | pruned | best val acc | its test acc | best point | seconds")
    for name, trials, epochs, pruned, val, test, point, seconds in rows:
        print(
            f"{name} | {trials} | {epochs} | {pruned} | {val:.4f} | {test:.4f} | {point} "
            f"| {seconds:.0f}"
        )


def by_seed(tmp: Path, seeds: int) -> None:
    """Each kind once per sampler seed, interleaved, so that load drifts hit all alike."""
    found: dict[str, list[tuple[float, float]]] = {name: [] for name in BY_SEED}
    number = 100
    for seed in range(seeds):
        for name, text in BY_SEED.items():
            number += 1
            trials, seconds = run(text.replace("{seed}", str(seed)), tmp, number)
            found[name].append((trials.best_val_acc.max(), seconds))
    print(
        f"\nsearch (18 trials, {seeds} sampler seeds) | best val acc per seed | mean | "
        "mean seconds | x fused random"
    )
    random_seconds = statistics.fmean(s for _, s in found["random (fused)"])
    for name, results in found.items():
        accs = " ".join(f"{a:.4f}" for a, _ in results)
        seconds = statistics.fmean(s for _, s in results)
        print(
            f"{name} | {accs} | {statistics.fmean(a for a, _ in results):.4f} | "
            f"{seconds:.1f} | {seconds / random_seconds:.2f}"
        )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds",
        type=int,
        default=0,
        help="only the fused-TPE table, over this many sampler seeds",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.seeds:
            searches(Path(tmp))
        by_seed(Path(tmp), args.seeds or 5)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
