"""A large sweep's report (issue 28): the best trials one by one, the rest as a band, a
sample or a count; small sweeps as before. On fake sweeps, without training."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import leaderboard_rows, write_fake_sweep
from softmax_exp.report import figures, thinning, write_report
from softmax_exp.report.sources import Source, read_source

STATUSES = ("completed", "pruned", "completed", "diverged", "failed")


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> Path:
    return write_fake_sweep(
        tmp_path_factory.mktemp("large") / "sweep", trials=300, epochs=4, statuses=STATUSES
    )


def best_ids(sweep: Path, count: int) -> list[str]:
    """The best `count` trials on val_acc, ranked here from trials.csv as the leaderboard
    would: highest first, ties in file order, no value last."""
    trials = pd.read_csv(sweep / "trials.csv")
    ranked = trials.sort_values("best_val_acc", ascending=False, kind="stable", na_position="last")
    return list(ranked["trial_id"][:count])


def drawn_groups(figure: dict) -> list[str]:
    """The legend groups of the trials drawn one by one, in legend order."""
    return [
        t["legendgroup"]
        for t in figure["data"]
        if t.get("showlegend") and "rest " not in t["legendgroup"]
    ]


def rest_traces(figure: dict) -> list[dict]:
    return [t for t in figure["data"] if t["legendgroup"].startswith("rest ")]


def test_a_small_sweep_draws_every_trial_with_a_legend_entry_each(tmp_path):
    sweep = write_fake_sweep(tmp_path / "s", trials=12, epochs=6, statuses=STATUSES)
    source = read_source(sweep)
    with_epochs = set(pd.read_csv(sweep / "epochs.csv")["trial_id"])
    for figure in (
        figures.learning_curves([(source, "")]),
        figures.test_curves([(source, "")]),
    ):
        assert sorted(drawn_groups(figure)) == sorted(with_epochs)  # failed trials: no epochs
        assert {t["legendgroup"] for t in figure["data"]} == with_epochs
        assert rest_traces(figure) == []


def test_a_large_sweep_draws_the_best_trials_and_one_band_for_the_rest(large):
    source = read_source(large)
    figure = figures.learning_curves([(source, "")])
    assert drawn_groups(figure) == best_ids(large, thinning.CURVES_BEST)
    bands = rest_traces(figure)
    legend = [t["name"] for t in bands if t["showlegend"]]
    assert legend == ["other 290 trials: median, 10-90 % range"]
    assert len([t for t in figure["data"] if t["showlegend"]]) == thinning.CURVES_BEST + 1
    assert len(bands) == 2 * len(figures.METRICS)  # a band and a median line per panel


@pytest.mark.parametrize("metric, epoch", [("val_acc", 2), ("train_loss", 4), ("test_acc", 1)])
def test_the_band_holds_the_quantiles_of_the_other_trials_finite_values(large, metric, epoch):
    """At the last epoch the diverged trials' losses are NaN and the pruned ones have
    stopped: the band counts only the values there are."""
    epochs = pd.read_csv(large / "epochs.csv")
    others = epochs[~epochs["trial_id"].isin(best_ids(large, thinning.CURVES_BEST))]
    values = others.loc[others["epoch"] == epoch, metric].to_numpy(float)
    values = values[np.isfinite(values)]
    low, median, high = np.quantile(values, [0.1, 0.5, 0.9])

    panel = figures.METRICS.index(metric)
    axis = "y" if panel == 0 else f"y{panel + 1}"
    figure = figures.learning_curves([(read_source(large), "")])
    band, line = [t for t in rest_traces(figure) if t["yaxis"] == axis]
    at = line["x"].index(epoch)
    assert line["y"][at] == pytest.approx(median)
    assert line["customdata"][at] == [len(values), pytest.approx(low), pytest.approx(high)]
    assert band["fill"] == "toself"
    top = dict(zip(band["x"][: len(line["x"])], band["y"][: len(line["x"])]))
    bottom = dict(zip(band["x"][len(line["x"]) :], band["y"][len(line["x"]) :]))
    assert top[epoch] == pytest.approx(high) and bottom[epoch] == pytest.approx(low)
    if metric == "train_loss":  # diverged trials left out at their last epoch
        assert len(values) < (others["epoch"] == epoch).sum()


def test_the_test_curves_thin_alike(large):
    figure = figures.test_curves([(read_source(large), "")])
    assert drawn_groups(figure) == best_ids(large, thinning.CURVES_BEST)
    assert len(rest_traces(figure)) == 4  # band and median, test loss and test accuracy


def is_visible_point(trace: dict) -> bool:
    sizes = trace["marker"]["size"] if "marker" in trace else [0]
    return "markers" in trace["mode"] and all(s > 0 for s in np.atleast_1d(sizes))


@pytest.mark.parametrize("trials", [6, 60])
def test_one_epoch_trials_show_as_markers(tmp_path, trials):
    """plotly draws nothing for a line of one point."""
    sweep = write_fake_sweep(tmp_path / "s", trials=trials, epochs=1)
    source = read_source(sweep)
    for figure in (
        figures.learning_curves([(source, "")]),
        figures.test_curves([(source, "")]),
    ):
        lines = [t for t in figure["data"] if t.get("line", {}).get("width", 1) > 0]
        assert lines and all(len(t["x"]) == 1 for t in lines)
        assert all(is_visible_point(t) for t in lines if "star" not in str(t.get("marker")))
        for rest in rest_traces(figure):  # a median with an error bar for its range
            assert rest["mode"] == "markers" and rest["error_y"]["arrayminus"][0] >= 0


def test_a_point_between_gaps_is_a_marker_and_a_line_is_not():
    assert figures.point_sizes([1.0, 2.0, None, 3.0, None]) == [0, 0, 0, figures.LONE_POINT, 0]
    assert figures.point_sizes([None, 0.5]) == [0, figures.LONE_POINT]


def test_leaderboard_and_cards_list_the_best_and_say_where_the_others_are(large):
    page = write_report([large], evaluate=False).read_text()
    rows = leaderboard_rows(page)
    assert len(rows) == thinning.ROWS_SHOWN
    assert [r[1] for r in rows] == best_ids(large, thinning.ROWS_SHOWN)
    more = "100 more trials are not listed here: this page lists the best 200 of 300 on val_acc"
    assert page.count(more) == 2  # under the leaderboard and above the cards
    assert f"trials.csv and epochs.csv in {large} hold all of them" in page
    cards = re.findall(r'<div class="trial" id="(trial-\d+)"><h3>(\w+)', page)
    assert len(cards) == thinning.ROWS_SHOWN
    links = re.findall(r'<a href="#(trial-\d+)">(\w+)</a>', page)
    assert sorted(links) == sorted(cards)  # every listed trial's link has its card


def sections(page: str) -> dict[str, str]:
    parts = re.split(r'<h2 id="([\w-]+)">', page)
    return dict(zip(parts[1::2], parts[2::2]))


def test_the_page_grows_sub_linearly_and_says_what_each_section_leaves_out(tmp_path):
    sizes = {}
    for trials in (1000, 2000):
        sweep = write_fake_sweep(tmp_path / str(trials), trials=trials, epochs=2, statuses=STATUSES)
        page = write_report([sweep], evaluate=False)
        sizes[trials] = page.stat().st_size
    assert sizes[2000] < 1.2 * sizes[1000]
    shown = sections(page.read_text())
    for name in ("leaderboard", "curves", "parallel", "slices", "test-curves", "trials"):
        assert '<p class="note' in shown[name], name
    assert "1,000 of 2,000 trials: the best 200 on val_acc" in shown["parallel"]
    trials = pd.read_csv(sweep / "trials.csv")
    others = trials[~trials["trial_id"].isin(best_ids(sweep, thinning.CURVES_BEST))]
    counts = others["status"].value_counts()
    for status in ("pruned", "diverged", "failed"):
        assert f"{counts[status]:,} {status}" in shown["curves"]
    assert "the other 1,990 (" in shown["curves"]
    assert "<td>2000: 800 completed, " in shown["what-ran"]  # what ran counts every trial


def fake_source(scores: list[float], statuses: list[str] | None = None) -> Source:
    trials = pd.DataFrame(
        {
            "trial_id": [f"t{i:05d}" for i in range(len(scores))],
            "status": statuses or ["completed"] * len(scores),
            "score": scores,
        }
    )
    return Source(Path("."), "sweep", trials, pd.DataFrame(), "val_acc", "max")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2500), st.integers(0, 2**32 - 1), st.floats(0, 1))
def test_points_keep_the_best_and_a_fixed_sample(count, seed, missing):
    rng = np.random.default_rng(seed)
    scores = [math.nan if rng.random() < missing else round(rng.random(), 2) for _ in range(count)]
    source = fake_source(scores)
    shown = thinning.points(source)
    assert shown.equals(thinning.points(source))  # the same tables, the same page
    if len(scores) <= thinning.POINTS_SHOWN:
        assert shown is source.trials
        return
    finite = [i for i, s in enumerate(scores) if not math.isnan(s)]
    ranked = sorted(finite, key=lambda i: -scores[i])  # stable: ties in file order
    assert len(shown) == min(len(finite), thinning.POINTS_SHOWN)
    assert set(ranked[: thinning.ROWS_SHOWN]) <= set(shown.index)
    assert not finite or ranked[-1] in shown.index  # the worst too: the sample spans all
    assert list(shown.index) == sorted(shown.index)  # in trials.csv's order


@given(st.integers(0, 5000), st.integers(0, 3000))
def test_spaced_positions_are_distinct_and_span_the_range(total, count):
    positions = thinning.spaced(total, count)
    assert len(positions) == min(total, count)
    assert positions == sorted(set(positions)) and all(0 <= p < total for p in positions)
    if 2 <= count <= total:
        assert positions[0] == 0 and positions[-1] == total - 1


@pytest.mark.parametrize("completed", [10, 2000, 2001, 5000])
def test_importance_weighs_every_completed_trial_or_an_even_sample(completed):
    scores = [float(i % 97) for i in range(completed)] + [math.nan, 0.5, 0.9]
    statuses = ["completed"] * completed + ["completed", "pruned", "failed"]
    source = fake_source(scores, statuses)
    rows = thinning.importance_rows(source)
    assert rows.equals(thinning.importance_rows(source))
    assert len(rows) == min(completed, thinning.IMPORTANCE_TRIALS)
    assert set(rows["status"]) == {"completed"} and rows["score"].notna().all()
    assert rows["score"].max() == max(scores[:completed])
    assert rows["score"].min() == min(scores[:completed])


def test_side_by_side_each_sweep_thins_on_its_own(tmp_path):
    one = write_fake_sweep(tmp_path / "one", trials=250, epochs=2, name="one")
    two = write_fake_sweep(tmp_path / "two", trials=30, epochs=2, name="two", seed=1)
    page = write_report([one, two], tmp_path / "both.html", evaluate=False).read_text()
    rows = leaderboard_rows(page)
    assert len(rows) == thinning.ROWS_SHOWN + 30
    assert page.count("one: 50 more trials are not listed here") == 2  # board and cards
    assert page.count("more trials are not listed here") == 2  # none for two's 30
    sources = [(read_source(one), "one: "), (read_source(two), "two: ")]
    figure = figures.learning_curves(sources)
    legend = [t["name"] for t in figure["data"] if t["showlegend"]]
    assert len(legend) == 2 * (thinning.CURVES_BEST + 1)
    assert "one: other 240 trials: median, 10-90 % range" in legend
    assert "two: other 20 trials: median, 10-90 % range" in legend
