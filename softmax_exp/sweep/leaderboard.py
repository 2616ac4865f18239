"""The sweep's ranking: points (seeds pooled) by the selection metric on validation data."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any

from ..summary import best_row
from .runner import SweepRun


def point_label(point: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in point.items() if k != "seed") or "base"


def leaderboard(sweep: SweepRun, top: int = 10) -> list[dict[str, Any]]:
    metric, mode = sweep.spec.metric, sweep.spec.mode
    groups: dict[str, list] = {}
    for record in sorted(sweep.records.values(), key=lambda r: r.trial.index):
        if record.info:
            groups.setdefault(point_label(record.trial.point), []).append(record)
    rows = []
    for label, records in groups.items():
        bests = [best_row(r.rows, metric, mode) for r in records]
        scores = [b[metric] for b in bests if b]
        tests = [b["test_acc"] for b in bests if b]
        statuses = Counter(r.status for r in records)
        rows.append({
            "point": label, "trials": len(records),
            "score": statistics.fmean(scores) if scores else math.nan,
            "spread": statistics.stdev(scores) if len(scores) > 1 else 0.0,
            "test_acc": statistics.fmean(tests) if tests else math.nan,
            "status": ", ".join(f"{n} {s}" if len(records) > 1 else s
                                for s, n in statuses.items()),
        })
    sign = -1 if mode == "max" else 1
    rows.sort(key=lambda r: (math.isnan(r["score"]), sign * (0 if math.isnan(r["score"])
                                                             else r["score"])))
    return rows[:top]
