"""`report.html`: one self-contained page for sweeps and runs, with plotly.js inlined,
so it opens from file:// with no network, mails and publishes as one file.

    from softmax_exp.report import write_report
    write_report(["runs/sweep-grid"])              # runs/sweep-grid/report.html

plotly (and pandas) load only here, never with the CLI's help.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, Union

from ..errors import RunError, SoftmaxExpError
from ..fileio import atomic_writer, remove_stale_temporaries
from ..layout import REPORT_FILE, STUDY_FILE
from . import figures
from .page import Page, leaderboard, trial_card, what_ran
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
) -> Path:
    """Build the report of `paths` (sweep or run directories) and write it atomically.

    `evaluate`: compute the selected trial's per-class view from its best.params (loads
    MXNet and the test set); without it that section says how to get it.
    """
    if not paths:
        raise RunError("no directory given; pass a sweep or run directory")
    target = Path(out) if out else default_report_path(paths)
    sources = [read_source(Path(p)) for p in paths]
    remove_stale_temporaries(target)  # those of a writer killed before its rename
    page = build_page(sources, evaluate, data_dir)
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
    sources: list[Source], evaluate: bool = True, data_dir: Optional[Path] = None
) -> Page:
    several = len(sources) > 1
    labelled = [(s, f"{s.name}: " if several else "") for s in sources]
    page = Page("softmax-exp report: " + ", ".join(s.name for s in sources))
    anchors: dict[tuple[int, str], str] = {}
    for source, _ in labelled:
        for row in source.trials.to_dict("records"):
            anchors[(id(source), row["trial_id"])] = f"trial-{len(anchors) + 1}"

    page.section("what-ran", "What ran")
    for source, _ in labelled:
        if several:
            page.add(f"<h3>{figures.label(source.name)}</h3>")
        page.add(what_ran(source))
    page.section("leaderboard", "Leaderboard")
    page.add(leaderboard(labelled, anchors))
    page.section("curves", "Learning curves")
    page.plot(figures.learning_curves(labelled))
    sweeps = [(s, p) for s, p in labelled if s.kind == "sweep"]
    if sweeps:
        _sweep_views(page, sweeps, several)
    page.section("selected", "Selected trial: per class")
    for source, _ in labelled:
        _per_class(page, source, evaluate, data_dir, several)
    page.section("trials", "Trials")
    cards = []
    for source, prefix in labelled:
        labels = figures.trial_labels(source, prefix)
        cards += [
            trial_card(source, row, anchors[(id(source), row["trial_id"])], labels[row["trial_id"]])
            for row in source.trials.to_dict("records")
        ]
    page.add(f'<div class="trials">{"".join(cards)}</div>')
    return page


def _sweep_views(page: Page, sweeps: list[tuple[Source, str]], several: bool) -> None:
    page.section("parallel", "Parallel coordinates")
    for source, _ in sweeps:
        _subtitle(page, source, several)
        page.plot(
            figures.parallel_coordinates(source),
            "nothing swept, or no trial has a value of the selection metric",
        )
    page.section("slices", "Slices: the metric against each setting")
    for source, _ in sweeps:
        _subtitle(page, source, several)
        page.plot(figures.slices(source), "nothing swept")
    page.section("importance", "Parameter importance")
    for source, _ in sweeps:
        _subtitle(page, source, several)
        scores = param_importances(source)
        page.plot(
            figures.importance(scores, source.metric) if scores else None,
            "needs at least two completed trials that differ in a setting",
        )
    page.section("test-curves", "Test loss and accuracy by epoch (exercise 2)")
    page.plot(figures.test_curves(sweeps))


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
    label = figures.trial_labels(source).get(best["trial_id"], name)
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
            write_report([path], evaluate=final, data_dir=self.data_dir)
            self.problem = ""
        except Exception as exc:  # noqa: BLE001 - a report never stops a sweep
            self.problem = f"{type(exc).__name__}: {exc}"
            self.note(
                f"{REPORT_FILE} not refreshed ({self.problem}); "
                f"softmax report {path} writes it later"
            )
        took = time.monotonic() - now
        self.seconds += took
        self.pages += 1
        self.next_at = time.monotonic() + took * (1 / self.SHARE - 1)


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
