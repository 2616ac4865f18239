"""The report as one HTML page: sections of escaped text and tables, figures as JSON
specs that the inlined plotly.js draws. Every string from a results directory is
escaped here (`esc`) or in `figures.label`; figure specs sit in JSON script blocks
with `<`, `>` and `&` written as \\u escapes, so nothing a sweep file holds can end
a script or open a tag."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime
from typing import Any, Iterable, Iterator, Optional

from ..labels import setting_value_text, settings_that_apply
from ..metrics import rank_key
from . import figures, thinning
from .sources import Source

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
main{max-width:1240px;margin:0 auto;padding:12px 20px 60px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid
#ddd;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
nav a{margin-right:12px}.muted{color:#666}.note{color:#666;font-style:italic}
pre{background:#f0f0f0;padding:8px 10px;overflow:auto;max-height:260px;font-size:12px}
table{border-collapse:collapse;font-size:13px;background:#fff}
th,td{padding:3px 8px;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
th{background:#f2f2f2;position:sticky;top:0}th.sort{cursor:pointer}
th.sort:after{content:" \\2195";color:#aaa}td.text,th.text{text-align:left}
.board{max-height:520px;overflow:auto;border:1px solid #ddd;display:inline-block;max-width:100%}
.facts td{text-align:left;white-space:normal}.facts td:first-child{color:#666}
.status{padding:0 6px;border-radius:3px;font-size:12px}
.status-completed{background:#e3f0e3}.status-pruned{background:#ffe8cc}
.status-diverged{background:#fbd5d5}.status-failed,.status-interrupted{background:#ddd}
.plot{background:#fff;border:1px solid #e4e4e4;margin:6px 0;min-height:200px}
.trials{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:10px}
.trial{background:#fff;border:1px solid #e4e4e4;padding:4px 10px}
.trial:target{outline:2px solid #1f77b4}.trial table td{text-align:left;white-space:normal}
.trial table td:first-child{white-space:nowrap}.trial h3{margin:8px 0 4px}
.pair{display:grid;grid-template-columns:minmax(0,5fr) minmax(0,6fr);gap:16px}
.pair h3:first-child{margin-top:0}
"""

# Glue, not drawing: hand each figure spec to plotly.js, and sort the leaderboard.
SCRIPT = """
document.querySelectorAll('script.figure').forEach(function (spec) {
  var fig = JSON.parse(spec.textContent);
  Plotly.newPlot(spec.dataset.target, fig.data, fig.layout, fig.config);
});
document.querySelectorAll('table.sortable th.sort').forEach(function (th) {
  th.addEventListener('click', function () {
    var col = th.cellIndex, body = th.closest('table').tBodies[0];
    var up = th.dataset.order !== 'up';
    th.dataset.order = up ? 'up' : 'down';
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      if (x === '' || y === '') { return (x === '') - (y === ''); }
      var nx = Number(x), ny = Number(y);
      var c = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
      return up ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def esc(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else figures.value_text(value))


def spec_json(spec: dict) -> str:
    text = json.dumps(spec, separators=(",", ":"), default=_json_default)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Page:
    """Collects sections in order; `html()` joins them around plotly.js."""

    def __init__(self, title: str):
        self.title = title
        self.parts: list[str] = []
        self.nav: list[tuple[str, str]] = []
        self.figure_count = 0

    def section(self, anchor: str, heading: str) -> None:
        self.nav.append((anchor, heading))
        self.parts.append(f'<h2 id="{anchor}">{esc(heading)}</h2>')

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def note(self, text: str) -> None:
        self.parts.append(f'<p class="note">{esc(text)}</p>')

    def plot(self, spec: Optional[dict], missing: str = "") -> None:
        if spec is None:
            if missing:
                self.note(missing)
            return
        self.figure_count += 1
        target = f"figure-{self.figure_count}"
        self.parts.append(
            f'<div class="plot" id="{target}"></div>'
            f'<script type="application/json" class="figure" '
            f'data-target="{target}">{spec_json(spec)}</script>'
        )

    def html(self, plotly_js: str) -> str:
        return "".join(self.chunks([plotly_js]))

    def chunks(self, plotly_js: Iterable[str]) -> Iterator[str]:
        """The page in pieces, plotly.js as `plotly_js` gives it: a writer streams it
        to its file rather than hold a second copy of the whole page."""
        nav = " ".join(f'<a href="#{a}">{esc(h)}</a>' for a, h in self.nav)
        head = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{esc(self.title)}</title>",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<style>{STYLE}</style>",
        ]
        yield "\n".join(head) + "\n<script>"
        yield from plotly_js
        body = [
            "</script>",
            "</head><body><main>",
            f"<h1>{esc(self.title)}</h1>",
            f'<p class="muted">written {esc(datetime.now().isoformat(timespec="seconds"))} '
            "by softmax report</p>",
            f"<nav>{nav}</nav>",
        ]
        yield "\n".join(body)
        for part in self.parts:
            yield "\n" + part
        yield f"\n</main><script>{SCRIPT}</script></body></html>\n"


def facts_table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(
        f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in rows if v not in (None, "")
    )
    return f'<table class="facts">{body}</table>'


def what_ran(source: Source) -> str:
    facts = source.facts
    counts = source.status_counts()
    rows = [("directory", str(source.path)), ("kind", source.kind)]
    if source.kind == "sweep":
        rows.append(("sweep name", source.name))
        rows.append(
            (
                "trials",
                f"{len(source.trials)}: " + ", ".join(f"{n} {s}" for s, n in counts.most_common()),
            )
        )
        rows.append(("selected on", f"{source.metric} ({source.mode}), on the validation split"))
    else:
        rows.append(("status", ", ".join(counts)))
    rows += [
        ("wall time", _wall_time(source)),
        ("machine", ", ".join(sorted(facts.hosts))),
        ("context", ", ".join(sorted(facts.contexts))),
        ("kernels", ", ".join(f"{k} ({n})" for k, n in facts.kernels.items())),
        ("versions", ", ".join(f"{k} {v}" for k, v in facts.versions.items())),
    ]
    if source.kind == "sweep":
        files = (
            f"<h3>sweep file (sweep.yaml)</h3><pre>{esc(source.spec_text)}</pre>"
            "<h3>commands (commands.log)</h3><pre>"
            f"{esc(chr(10).join(source.commands) or '(none recorded)')}</pre>"
        )
    else:
        files = f"<h3>config (config.yaml)</h3><pre>{esc(source.config_text)}</pre>"
    return f'<div class="pair"><div>{facts_table(rows)}</div><div>{files}</div></div>'


def _wall_time(source: Source) -> str:
    start, end = source.facts.first_start, source.facts.last_end
    total = sum(float(w) for w in source.trials["wall_seconds"] if figures.is_number(w))
    if source.kind == "run":
        return f"{total:.1f} s"
    text = f"{total:.1f} s summed over trials"
    span = (end - start).total_seconds() if start and end else 0
    if span >= 1:  # run.json's times are to the second
        text = f"{span:.0f} s from the first start to the last end; " + text
    return text


def leaderboard(sources: list[tuple[Source, str]], anchors: dict) -> str:
    several = len(sources) > 1
    swept: list[str] = []
    for source, _ in sources:
        swept += [s for s in source.swept() if s not in swept]
    if any(source.trials["seed"].nunique() > 1 for source, _ in sources):
        swept.append("seed")
    metrics = sorted({s.metric for s, _ in sources})
    head = [
        "#",
        "trial",
        *(["source"] if several else []),
        "status",
        *swept,
        *(f"best {m}" for m in metrics),
        "best epoch",
        "test acc at best",
        "epochs run",
        "wall s",
    ]
    rows = []
    for source, _ in sources:
        for row in thinning.listed(source).to_dict("records"):
            rows.append((source, row))
    rows.sort(key=lambda pair: rank_key(pair[1]["score"], pair[0].mode))
    body = []
    for rank, (source, row) in enumerate(rows, 1):
        anchor = anchors[(id(source), row["trial_id"])]
        status = str(row["status"])
        cells = [
            _num(rank),
            f'<td class="text" data-v="{esc(row["trial_id"])}">'
            f'<a href="#{anchor}">{esc(row["trial_id"])}</a></td>',
        ]
        if several:
            cells.append(_text(source.name))
        cells.append(
            f'<td class="text" data-v="{esc(status)}"><span class="status '
            f'status-{_css(status)}">{esc(status)}</span></td>'
        )
        cells += [_setting(s, row.get(s)) for s in swept]
        cells += [_num(row["score"] if m == source.metric else None, 4) for m in metrics]
        cells += [
            _num(row["best_epoch"]),
            _num(row["test_acc_at_best"], 4),
            _num(row["epochs_run"]),
            _num(row["wall_seconds"], 1),
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    header = "".join(
        f'<th class="sort{" text" if h in ("trial", "source", "status") else ""}">{esc(h)}</th>'
        for h in head
    )
    return (
        f'<div class="board"><table class="sortable" id="leaderboard-table">'
        f"<thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        f"{more_trials(sources)}"
        '<p class="muted">Ranked on validation; click a column to sort. "test acc at '
        'best" is the test accuracy at the epoch validation chose (best.params).</p>'
    )


def more_trials(sources: list[tuple[Source, str]]) -> str:
    """A line for each source with more trials than the page lists, saying where they all are."""
    lines = []
    for source, prefix in sources:
        total = len(source.trials)
        if total > thinning.ROWS_SHOWN:
            lines.append(
                f'<p class="note more">{esc(prefix)}{total - thinning.ROWS_SHOWN:,} more trials '
                f"are not listed here: this page lists the best {thinning.ROWS_SHOWN} of "
                f"{total:,} on {esc(source.metric)}; trials.csv and epochs.csv in "
                f"{esc(str(source.path))} hold all of them.</p>"
            )
    return "".join(lines)


def _num(value: Any, digits: Optional[int] = None) -> str:
    if not figures.is_number(value):
        return '<td data-v=""></td>'
    value = float(value)
    shown = f"{value:.{digits}f}" if digits is not None else f"{value:g}"
    return f'<td data-v="{value!r}">{shown}</td>'


def _setting(name: str, value: Any) -> str:
    shown = esc(setting_value_text(name, value))
    if figures.is_number(value):
        return f'<td data-v="{float(value)!r}">{shown}</td>'
    return f'<td data-v="{esc(value)}">{shown}</td>'


def _text(value: Any) -> str:
    return f'<td class="text" data-v="{esc(value)}">{esc(value)}</td>'


def _css(status: str) -> str:
    return re.sub(r"[^a-z]", "", status.lower()) or "unknown"


def trial_card(source: Source, row: dict, anchor: str, label: str) -> str:
    from ..config import SETTINGS

    settings = settings_that_apply({s: row[s] for s in SETTINGS if s in row})
    facts = [
        ("status", row["status"]),
        ("stopped", row.get("stop_reason")),
        (f"best {source.metric}", _fmt(row["score"])),
        ("best epoch", row["best_epoch"]),
        ("test acc at best", _fmt(row["test_acc_at_best"])),
        ("final test acc", _fmt(row["final_test_acc"])),
        ("epochs run", row["epochs_run"]),
        ("wall seconds", row["wall_seconds"]),
        ("settings", " ".join(f"{s}={setting_value_text(s, row[s])}" for s in settings)),
        (
            "directory",
            str(source.path / str(row["path"])) if source.kind == "sweep" else str(source.path),
        ),
        ("error", row.get("error")),
    ]
    facts = [(k, v) for k, v in facts if figures.is_number(v) or (isinstance(v, str) and v)]
    named = "" if label == esc(row["trial_id"]) else f' <span class="muted">{label}</span>'
    return (
        f'<div class="trial" id="{anchor}"><h3>{esc(row["trial_id"])}{named}</h3>'
        f"{facts_table(facts)}</div>"
    )


def _fmt(value: Any) -> Any:
    return f"{value:.4f}" if figures.is_number(value) else None
