"""The sweep's ranking: points (seeds pooled) by the selection metric on validation data."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any, Optional

from ..labels import setting_text, short_name
from ..metrics import best_of, rank_key
from ..summary import best_row
from .state import SweepRun


def point_label(point: dict[str, Any]) -> str:
    """'lr=0.1 batch=256': short enough for an 80-column table."""
    return (
        " ".join(
            f"{short_name(k)}={'off' if v is None else setting_text(v)}"
            for k, v in point.items()
            if k != "seed"
        )
        or "base"
    )


def leaderboard(sweep: SweepRun, top: Optional[int] = 10) -> list[dict[str, Any]]:
    """Points ranked on the metric; each names its best trial (the best seed's), whose
    directory is trials/<trial_id>. `top=None`: every point."""
    metric, mode = sweep.spec.metric, sweep.spec.mode
    groups: dict[str, list] = {}
    for record in sorted(sweep.records.values(), key=lambda r: r.trial.index):
        if record.info:
            groups.setdefault(point_label(record.trial.point), []).append(record)
    rows = []
    for label, records in groups.items():
        bests = [best_row(r.rows, metric, mode) for r in records]
        scored = [(b[metric], r.trial.id) for b, r in zip(bests, records) if b]
        scores = [score for score, _ in scored]
        best = best_of(scored, lambda pair: pair[0], mode)
        best_id = best[1] if best else records[0].trial.id
        tests = [b["test_acc"] for b in bests if b]
        finals = [r.rows[-1]["test_acc"] for r in records if r.rows]
        peaks = [max(r.rows, key=lambda row: row["test_acc"]) for r in records if r.rows]
        statuses = Counter(r.status for r in records)
        rows.append(
            {
                "point": label,
                "trials": len(records),
                "trial_id": best_id,
                "score": statistics.fmean(scores) if scores else math.nan,
                "spread": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                "test_acc": statistics.fmean(tests) if tests else math.nan,
                "final_test_acc": statistics.fmean(finals) if finals else math.nan,
                # reported, never used to choose: where test accuracy peaked, and when
                "peak_test_acc": statistics.fmean(p["test_acc"] for p in peaks)
                if peaks
                else math.nan,
                "peak_epoch": peaks[0]["epoch"] if len(peaks) == 1 else None,
                "epochs_run": max((len(r.rows) for r in records), default=0),
                "status": ", ".join(
                    f"{n} {s}" if len(records) > 1 else s for s, n in statuses.items()
                ),
            }
        )
    rows.sort(key=lambda row: rank_key(row["score"], mode))
    return rows if top is None else rows[:top]
