"""`report.html`: one self-contained page for sweeps and runs, with plotly.js inlined,
so it opens from file:// with no network, mails and publishes as one file.

    from softmax_exp.report import write_report
    write_report(["runs/sweep-grid"])              # runs/sweep-grid/report.html

plotly (and pandas) load only here, never with the CLI's help.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, Union

from ..errors import RunError, SoftmaxExpError
from ..fileio import atomic_writer, remove_stale_temporaries
from ..layout import REPORT_FILE, STUDY_FILE
from . import figures, thinning
from .page import Page, leaderboard, more_trials, trial_card, what_ran
from .sources import Source, read_source
from .study import export_study, param_importances

PathLike = Union[str, Path]


def default_report_path(paths: Sequence[PathLike]) -> Path:
    """Beside the results for one directory; in the working directory for several."""
    return Path(paths[0]) / REPORT_FILE if len(paths) == 1 else Path(REPORT_FILE)


def write_report(
    paths: Sequence[PathLike],
    out: Optional[PathLike] = None,
    evaluate: bool = True,
    data_dir: Optional[Path] = None,
    importance: bool = True,
) -> Path:
    """Build the report of `paths` (sweep or run directories) and write it atomically.

    `evaluate`: compute the selected trial's per-class view from its best.params (loads
    MXNet and the test set); `importance`: the settings' importance (loads Optuna's
    evaluators, 20 MB); without them their sections say how to get them.
    """
    if not paths:
        raise RunError("no directory given; pass a sweep or run directory")
    target = Path(out) if out else default_report_path(paths)
    sources = [read_source(Path(p)) for p in paths]
    remove_stale_temporaries(target)  # those of a writer killed before its rename
    page = build_page(sources, evaluate, data_dir, importance)
    with atomic_writer(target) as handle:
        for chunk in page.chunks(_plotly_js()):
            handle.write(chunk)
    return target


def build_report(
    sources: list[Source], evaluate: bool = True, data_dir: Optional[Path] = None
) -> str:
    """The page as one string (write_report streams it to its file instead)."""
    from plotly.offline import get_plotlyjs

    return build_page(sources, evaluate, data_dir).html(get_plotlyjs())


def _plotly_js(chunk: int = 1 << 20) -> Iterator[str]:
    """plotly.min.js (4.8 MB) from the plotly package, a piece at a time."""
    from importlib.resources import files

    with (files("plotly") / "package_data" / "plotly.min.js").open(encoding="utf-8") as js:
        while piece := js.read(chunk):
            yield piece


def build_page(
    sources: list[Source],
    evaluate: bool = True,
    data_dir: Optional[Path] = None,
    importance: bool = True,
) -> Page:
    several = len(sources) > 1
    labelled = [(s, f"{s.name}: " if several else "") for s in sources]
    page = Page("softmax-exp report: " + ", ".join(s.name for s in sources))
    anchors: dict[tuple[int, str], str] = {}  # the listed trials' cards
    for source, _ in labelled:
        for trial_id in thinning.listed(source)["trial_id"]:
            anchors[(id(source), trial_id)] = f"trial-{len(anchors) + 1}"

    page.section("what-ran", "What ran")
    for source, _ in labelled:
        if several:
            page.add(f"<h3>{figures.label(source.name)}</h3>")
        page.add(what_ran(source))
    page.section("leaderboard", "Leaderboard")
    page.add(leaderboard(labelled, anchors))
    page.section("curves", "Learning curves")
    _curves_notes(page, labelled)
    page.plot(figures.learning_curves(labelled))
    sweeps = [(s, p) for s, p in labelled if s.kind == "sweep"]
    if sweeps:
        _sweep_views(page, sweeps, several, importance)
    page.section("selected", "Selected trial: per class")
    for source, _ in labelled:
        _per_class(page, source, evaluate, data_dir, several)
    page.section("trials", "Trials")
    if more := more_trials(labelled):
        page.add(more)
    page.add(f'<div class="trials">{trial_cards(labelled, anchors)}</div>')
    return page


def trial_cards(labelled: list[tuple[Source, str]], anchors: dict) -> str:
    cards = []
    for source, prefix in labelled:
        listed = thinning.listed(source)
        labels = figures.trial_labels(source, prefix, list(listed["trial_id"]))
        cards += [
            trial_card(source, row, anchors[(id(source), row["trial_id"])], labels[row["trial_id"]])
            for row in listed.to_dict("records")
        ]
    return "".join(cards)


def _curves_notes(page: Page, labelled: list[tuple[Source, str]]) -> None:
    """What the curves show of a source with too many trials to draw each."""
    for source, prefix in labelled:
        shown, rest = thinning.curves_split(source)
        if not rest:
            continue
        statuses = Counter(str(s) for s in _statuses(source, rest))
        stopped = ", ".join(f"{n:,} {s}" for s, n in statuses.most_common() if s != "completed")
        low, high = (round(100 * q) for q in (thinning.BAND[0], thinning.BAND[-1]))
        page.note(
            f"{prefix}{len(source.trials):,} trials: the best {len(shown)} on {source.metric} "
            f"are drawn one by one; the other {len(rest):,}"
            f"{f' ({stopped})' if stopped else ''} as one grey band per panel: their median "
            f"and {low}-{high} % range at each epoch, of those with a finite value there "
            "(a pruned trial counts until it stopped; a single epoch shows as a marker with an "
            "error bar). One legend entry toggles it."
        )


def _statuses(source: Source, rest: list) -> list:
    trials = source.trials
    return list(trials.loc[trials["trial_id"].isin(rest), "status"])


def _sweep_views(
    page: Page, sweeps: list[tuple[Source, str]], several: bool, importance: bool
) -> None:
    points = [(source, replace(source, trials=thinning.points(source))) for source, _ in sweeps]
    page.section("parallel", "Parallel coordinates")
    for source, shown in points:
        _subtitle(page, source, several)
        _points_note(page, source, shown)
        page.plot(
            figures.parallel_coordinates(shown),
            "nothing swept, or no trial has a value of the selection metric",
        )
    page.section("slices", "Slices: the metric against each setting")
    for source, shown in points:
        _subtitle(page, source, several)
        _points_note(page, source, shown)
        page.plot(figures.slices(shown), "nothing swept")
    page.section("importance", "Parameter importance")
    for source, _ in sweeps:
        _subtitle(page, source, several)
        if not importance:
            page.note("computed when the sweep ends, or by: softmax report " + str(source.path))
            continue
        _importance_note(page, source)
        scores = param_importances(source)
        page.plot(
            figures.importance(scores, source.metric) if scores else None,
            "needs at least two completed trials that differ in a setting",
        )
    page.section("test-curves", "Test loss and accuracy by epoch (exercise 2)")
    _curves_notes(page, sweeps)
    page.plot(figures.test_curves(sweeps))


def _points_note(page: Page, source: Source, shown: Source) -> None:
    if len(shown.trials) < len(source.trials):
        page.note(
            f"{len(shown.trials):,} of {len(source.trials):,} trials: the best "
            f"{thinning.ROWS_SHOWN} on {source.metric} and an evenly spaced sample of the "
            "others by rank, best to worst (trials without a value of the metric left out)."
        )


def _importance_note(page: Page, source: Source) -> None:
    weighed, done = len(thinning.importance_rows(source)), len(thinning.completed(source))
    if weighed < done:
        page.note(
            f"Computed on {weighed:,} of the {done:,} trials that completed with a value of "
            f"{source.metric}: an evenly spaced sample of them by rank, best to worst."
        )


def _subtitle(page: Page, source: Source, several: bool) -> None:
    if several:
        page.add(f"<h3>{figures.label(source.name)}</h3>")


def _per_class(
    page: Page, source: Source, evaluate: bool, data_dir: Optional[Path], several: bool
) -> None:
    best = source.best()
    _subtitle(page, source, several)
    if best is None:
        page.note("no trial has a value of the selection metric yet")
        return
    run = source.path / str(best["path"]) if source.kind == "sweep" else source.path
    name = figures.label(best["trial_id"])
    label = figures.trial_labels(source, ids=[best["trial_id"]]).get(best["trial_id"], name)
    page.add(
        f"<p>{name}{'' if label == name else f' ({label})'}: best {source.metric} "
        f"{best['score']:.4f} at epoch {figures.value_text(best['best_epoch'])}; "
        f"evaluated from {figures.label(str(run / 'best.params'))}</p>"
    )
    if not evaluate:
        page.note("computed when the sweep ends, or by: softmax report " + str(source.path))
        return
    from ..evaluation import evaluate_run

    try:
        evaluation = evaluate_run(run, "best", data_dir)
    except SoftmaxExpError as exc:
        page.note(f"not available: {exc}")
        return
    page.add(
        f"<p>test accuracy {evaluation.test_acc:.4f}, test loss {evaluation.test_loss:.4f}</p>"
    )
    page.plot(figures.per_class(evaluation))


class ReportRefresher:
    """Rewrites a sweep's report.html while it runs, in at most a twentieth of the time:
    after a refresh that took t seconds, the next waits at least 19 t, so pages come less
    often as the sweep (and its page) grows. The first waits `first_after` seconds, so a
    short sweep pays for one page, at its end. The last page, with the selected trial's
    per-class view, has the rest of a tenth (docs/performance.md#the-report).

    A sweep calls it as its tables gain rows: `run_sweep(..., on_tables=ReportRefresher())`.
    """

    FIRST_AFTER = 10.0
    SHARE = 0.05  # of the sweep's wall time, for the pages written while it runs

    def __init__(
        self,
        data_dir: Optional[Path] = None,
        note: Callable[[str], None] = lambda message: None,
        first_after: Optional[float] = None,
    ):
        self.data_dir, self.note = data_dir, note
        wait = self.FIRST_AFTER if first_after is None else first_after
        self.next_at = time.monotonic() + wait
        self.problem = "not written yet"  # why the last refresh failed ("": it did not)
        self.seconds = 0.0  # spent on pages so far
        self.pages = 0

    def __call__(self, path: Path, final: bool = False) -> None:
        """Rewrite `path`/report.html, unless too soon; `final` (the sweep ended): now,
        with the selected trial's per-class view evaluated."""
        now = time.monotonic()
        if not final and now < self.next_at:
            return
        try:
            write_report([path], evaluate=final, data_dir=self.data_dir, importance=final)
            self.problem = ""
        except Exception as exc:  # noqa: BLE001 - a report never stops a sweep
            self.problem = f"{type(exc).__name__}: {exc}"
            self.note(
                f"{REPORT_FILE} not refreshed ({self.problem}); "
                f"softmax report {path} writes it later"
            )
        _give_back_memory()
        took = time.monotonic() - now
        self.seconds += took
        self.pages += 1
        self.next_at = time.monotonic() + took * (1 / self.SHARE - 1)


def _give_back_memory() -> None:
    """Hand the heap a page was built in back to the system (glibc keeps freed memory
    for reuse, so a sweep's driver would hold on to the high-water mark of its pages)."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: not glibc
        ctypes.CDLL(None).malloc_trim(0)


__all__ = [
    "REPORT_FILE",
    "STUDY_FILE",
    "ReportRefresher",
    "build_report",
    "default_report_path",
    "export_study",
    "param_importances",
    "write_report",
]
