"""What the live report may cost a sweep: pages written while it runs take at most a
twentieth of its time (a clock the test moves, never a timed run), and a page is
streamed to its file, the same text build_report makes."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

import softmax_exp.report as report
from helpers import write_fake_sweep
from softmax_exp.report import REPORT_FILE, ReportRefresher, build_report
from softmax_exp.report.sources import read_source


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(report.time, "monotonic", clock)
    return clock


def test_pages_come_less_often_as_they_take_longer(clock, monkeypatch, tmp_path):
    written = []

    def slow_write(paths, evaluate=True, data_dir=None, importance=True):  # takes 2 s
        written.append((clock.now, evaluate))
        clock.now += 2.0

    monkeypatch.setattr(report, "write_report", slow_write)
    refresher = ReportRefresher(first_after=10.0)
    for _ in range(200):  # the sweep's tables gain rows every half second
        refresher(tmp_path)
        clock.now += 0.5
    refresher(tmp_path, final=True)
    live = [at for at, evaluate in written if not evaluate]
    assert live[0] >= 1010.0
    assert all(b - a >= 2.0 + 19 * 2.0 for a, b in zip(live, live[1:]))
    spent = 2.0 * len(live)
    assert spent <= ReportRefresher.SHARE * (clock.now - 1000.0) + 2.0  # one page's slack
    assert written[-1][1] is True  # the final page, whatever the budget
    assert refresher.pages == len(written) and refresher.seconds == 2.0 * len(written)


def test_a_streamed_page_is_the_page_build_report_makes(tmp_path):
    sweep = write_fake_sweep(tmp_path / "s", trials=6, epochs=3)
    report.write_report([sweep], evaluate=False)
    written = (sweep / REPORT_FILE).read_text()
    built = build_report([read_source(sweep)], evaluate=False)

    def undated(text):
        return re.sub(r"written \S+ by softmax report", "written", text)

    assert undated(written) == undated(built)
    assert written.count("<script>") == 2 and len(written) > 4_000_000  # plotly.js inlined


def test_a_live_page_leaves_the_importance_to_the_last(tmp_path):
    """Optuna's evaluators cost a sweep's driver 20 MB for good: pages written while
    the sweep runs say where the importance comes from instead."""
    sweep = write_fake_sweep(tmp_path / "s", trials=30, epochs=3)
    report.write_report([sweep], evaluate=False, importance=False)
    live = (sweep / REPORT_FILE).read_text()
    report.write_report([sweep], evaluate=False)
    final = (sweep / REPORT_FILE).read_text()
    section = live[live.index('id="importance"') : live.index('id="test-curves"')]
    assert "computed when the sweep ends" in section and 'class="plot"' not in section
    section = final[final.index('id="importance"') : final.index('id="test-curves"')]
    assert 'class="plot"' in section


def test_what_ran_is_gathered_from_every_run_json_without_keeping_them(tmp_path):
    sweep = write_fake_sweep(tmp_path / "s", trials=4, epochs=2)
    infos = [
        {
            "host": "a",
            "kernels": "native",
            "context": "cpu(0)",
            "versions": {"mxnet": "1.9.1"},
            "started_at": "2026-12-07T10:00:05+00:00",
            "ended_at": "2026-12-07T10:01:00+00:00",
        },
        {
            "host": "b",
            "kernels": "native",
            "started_at": "2026-12-07T11:59:00+02:00",  # 09:59 UTC, the first start
            "ended_at": "yesterday",  # not a time: left out
        },
        {"host": "a", "kernels": "mxnet", "ended_at": "2026-12-07T10:02:00"},  # taken as UTC
        ["not", "a", "mapping"],
    ]
    for relative, info in zip(pd.read_csv(sweep / "trials.csv")["path"], infos):
        (sweep / relative).mkdir(parents=True, exist_ok=True)
        (sweep / relative / "run.json").write_text(json.dumps(info))
    source = read_source(sweep)
    facts = source.facts
    assert source.infos == {}
    assert facts.hosts == {"a", "b"} and facts.contexts == {"cpu(0)"}
    assert facts.kernels == {"native": 2, "mxnet": 1}
    assert facts.versions == {"mxnet": "1.9.1"}
    assert (facts.last_end - facts.first_start).total_seconds() == 180
    assert len(read_source(sweep, with_infos=True).infos) == 4
    page = build_report([source], evaluate=False)
    assert "180 s from the first start to the last end" in page
