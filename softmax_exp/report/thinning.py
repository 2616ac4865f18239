"""Which trials a large sweep's page shows one by one. A page that drew every trial of
a 10,000-trial sweep would weigh 80 MB, take minutes to open and show a legend of
10,000 lines; past these sizes each section shows the best trials on the selection
metric, summarizes or samples the rest, and says so. Smaller sweeps show every trial.

Rank is the leaderboard's: best first on the selection metric, ties in trials.csv's
order, trials without a value last (`metrics.rank_key`). Nothing here is random: the
same tables give the same page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..metrics import is_finite_number, rank_key

if TYPE_CHECKING:
    import pandas as pd

    from .sources import Source

CURVES_ALL_UP_TO = 20  # more trials than this: curves of the best CURVES_BEST, a band for the rest
CURVES_BEST = 10
ROWS_SHOWN = 200  # leaderboard rows and trial cards: the best this many
POINTS_SHOWN = 1000  # parallel coordinates and slices: the best ROWS_SHOWN, then a sample
IMPORTANCE_TRIALS = 2000  # PED-ANOVA on the best and a sample of the rest past this many
BAND = (0.1, 0.5, 0.9)  # the rest's curves: these quantiles per epoch
COMPLETE = ("completed", "diverged")  # what Optuna counts as COMPLETE (study.STATES)


def ranked(source: Source) -> pd.DataFrame:
    """`source.trials`, best first."""
    keys = [rank_key(score, source.mode) for score in source.trials["score"]]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return source.trials.iloc[order]


def best_rows(source: Source, count: int = ROWS_SHOWN) -> pd.DataFrame:
    """The best `count` trials, best first."""
    return ranked(source).head(count)


def spaced(total: int, count: int) -> list[int]:
    """`count` positions in range(total), evenly spaced, the first and the last included
    (all of them when count >= total)."""
    if count >= total:
        return list(range(total))
    if count <= 1:
        return [0][:count]
    return [i * (total - 1) // (count - 1) for i in range(count)]


def best_and_sample(trials: pd.DataFrame, limit: int, best: int) -> pd.DataFrame:
    """Of ranked `trials`: all when they are at most `limit`, else the first `best` and an
    evenly spaced sample of the others, `limit` in all, in rank order."""
    if len(trials) <= limit:
        return trials
    sample = spaced(len(trials) - best, limit - best)
    return trials.iloc[[*range(best), *(best + i for i in sample)]]


def points(source: Source) -> pd.DataFrame:
    """The trials that parallel coordinates and slices show: every one while there are
    at most POINTS_SHOWN; past that, those with a value of the selection metric, the best
    ROWS_SHOWN and an evenly spaced sample of the rest by rank, in trials.csv's order."""
    if len(source.trials) <= POINTS_SHOWN:
        return source.trials
    scored = ranked(source)
    scored = scored[[is_finite_number(s) for s in scored["score"]]]
    return best_and_sample(scored, POINTS_SHOWN, ROWS_SHOWN).sort_index()


def completed(source: Source) -> pd.DataFrame:
    """The trials that Optuna counts as COMPLETE: completed or diverged, with a value of
    the selection metric; best first."""
    done = ranked(source)
    keep = [s in COMPLETE and is_finite_number(v) for s, v in zip(done["status"], done["score"])]
    return done[keep]


def importance_rows(source: Source) -> pd.DataFrame:
    """The trials PED-ANOVA weighs, in trials.csv's order: the completed ones; past
    IMPORTANCE_TRIALS, an evenly spaced sample of them by rank, the best and the worst
    included, which keeps the spread of values that PED-ANOVA compares its best quantile
    against (at 10,000 trials the whole set takes 0.8 s, the sample 0.25 s)."""
    done = completed(source)
    return done.iloc[spaced(len(done), IMPORTANCE_TRIALS)].sort_index()


def curves_split(source: Source) -> tuple[list[str], list[str]]:
    """(drawn one by one, summarized): trial ids, drawn ones best first; every trial is
    drawn while there are at most CURVES_ALL_UP_TO."""
    ids = [str(t) for t in source.trials["trial_id"]]
    if len(ids) <= CURVES_ALL_UP_TO:
        return ids, []
    order = [str(t) for t in ranked(source)["trial_id"]]
    return order[:CURVES_BEST], order[CURVES_BEST:]


def listed(source: Source) -> pd.DataFrame:
    """The leaderboard's rows and the trial cards: every trial, in trials.csv's order,
    while there are at most ROWS_SHOWN; past that, the best ROWS_SHOWN, best first."""
    if len(source.trials) <= ROWS_SHOWN:
        return source.trials
    return best_rows(source)
