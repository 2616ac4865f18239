"""The report's figures as plotly figure specs (plain dicts, drawn by plotly.js).

Traces are built as dicts rather than `plotly.graph_objects`: a 100-trial sweep has
hundreds of traces, and validating each one would cost more than the whole report.
Every string that comes from a sweep file or a config (settings, names) goes through
`label()`, which escapes it: plotly.js reads a few HTML tags in text, and ours must
show as typed.
"""

from __future__ import annotations

import html
import math
from typing import Any, Optional

from ..labels import setting_value_text
from ..metrics import is_finite_number as is_number  # numpy scalars included
from . import thinning
from .sources import Source

METRICS = ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc")
END_SYMBOL = {
    "pruned": "triangle-down",
    "diverged": "x",
    "failed": "x-thin",
    "interrupted": "x-thin",
}
STATUS_COLOR = {
    "completed": "#1f77b4",
    "pruned": "#ff7f0e",
    "diverged": "#d62728",
    "failed": "#7f7f7f",
    "interrupted": "#7f7f7f",
}
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#2e91e5",
    "#e15f99",
    "#1ca71c",
    "#fb0d0d",
    "#da16ff",
    "#222a2a",
    "#b68100",
    "#750d86",
    "#eb663b",
    "#511cfb",
    "#00a08b",
    "#fb00d1",
    "#fc0080",
    "#b2828d",
)  # plotly's D3, then its Dark24
REST_COLOR = "#555555"  # the trials summarized as a band: grey, apart from every palette colour
REST_FILL = "rgba(85,85,85,0.18)"
LONE_POINT = 7  # a one-point curve's marker, as a line of one point draws nothing
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
CLEAN = {"displaylogo": False, "responsive": True}
_STEPS = [m * 10.0**e for e in range(-3, 4) for m in (1, 2, 5)]
LOG_TICKS = {"log": {"tickvals": _STEPS, "ticktext": [f"{v:g}" for v in _STEPS]}}  # 1 2 5 10


def label(text: Any) -> str:
    """A value as text plotly.js shows literally."""
    return html.escape(text if isinstance(text, str) else value_text(text), quote=False)


def value_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def numbers(values) -> list:
    """A column as JSON numbers; NaN and infinities become gaps."""
    return [float(v) if is_number(v) else None for v in values]


def figure(data: list, layout: dict, height: int = 420) -> dict:
    base = {
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "hovermode": "closest",
        "legend": {"font": {"size": 10}},
    }
    return {"data": data, "layout": {**base, **layout}, "config": CLEAN}


def subplot_layout(
    rows: int,
    cols: int,
    titles: list[str],
    shared_xaxes: bool = False,
    shared_yaxes: bool = False,
    horizontal_spacing: float = 0.08,
    vertical_spacing: float = 0.1,
    column_widths: Optional[list] = None,
) -> dict:
    """Axes for a rows x cols grid of panels, as plotly's `make_subplots` lays them out
    (panel n is xaxis{n}/yaxis{n}, row by row), without building a plotly Figure: that
    costs a third of a second of imports, a tenth of the whole report."""
    widths = column_widths or [1.0] * cols
    usable = 1.0 - horizontal_spacing * (cols - 1)
    starts, x = [], 0.0
    for width in widths:
        starts.append((x, x + usable * width / sum(widths)))
        x += usable * width / sum(widths) + horizontal_spacing
    height = (1.0 - vertical_spacing * (rows - 1)) / rows
    layout: dict[str, Any] = {"annotations": []}
    for row in range(rows):
        top = 1.0 - row * (height + vertical_spacing)
        for col in range(cols):
            n = row * cols + col + 1
            suffix = "" if n == 1 else str(n)
            xaxis: dict[str, Any] = {"anchor": f"y{suffix}", "domain": list(starts[col])}
            yaxis: dict[str, Any] = {"anchor": f"x{suffix}", "domain": [top - height, top]}
            if shared_xaxes and n > 1:
                xaxis["matches"] = "x"
            if shared_xaxes and row < rows - 1:
                xaxis["showticklabels"] = False
            if shared_yaxes and n > 1:
                yaxis.update({"matches": "y", "showticklabels": col == 0})
            layout[f"xaxis{suffix}"], layout[f"yaxis{suffix}"] = xaxis, yaxis
            if n <= len(titles):
                layout["annotations"].append(
                    {
                        "text": label(titles[n - 1]),
                        "showarrow": False,
                        "font": {"size": 16},
                        "x": sum(starts[col]) / 2,
                        "y": top,
                        "xref": "paper",
                        "yref": "paper",
                        "xanchor": "center",
                        "yanchor": "bottom",
                    }
                )
    return layout


def trial_labels(source: Source, prefix: str = "", ids: Optional[list] = None) -> dict[str, str]:
    """'lr=0.1 batch_size=256' for each trial (those of `ids` only, when given): its swept
    settings (and seed)."""
    swept = source.swept()
    if source.trials["seed"].astype(str).nunique() > 1:
        swept = [*swept, "seed"]
    labels = {}
    trials = source.trials if ids is None else source.trials[source.trials["trial_id"].isin(ids)]
    for row in trials.to_dict("records"):
        text = " ".join(f"{k}={setting_value_text(k, row[k])}" for k in swept) or str(
            row["trial_id"]
        )
        labels[row["trial_id"]] = label(prefix + text)
    return labels


def learning_curves(sources: list[tuple[Source, str]]) -> dict:
    """Every metric against epoch, one line per trial; a legend entry toggles a trial
    in every panel; pruned and diverged trials end in a marker where they stopped. Past
    `thinning.CURVES_ALL_UP_TO` trials, the best `CURVES_BEST` are drawn and the rest is
    one band per panel (`rest_traces`)."""
    titles = [m.replace("_", " ") for m in METRICS]
    layout = subplot_layout(
        2, 3, titles, shared_xaxes=True, horizontal_spacing=0.06, vertical_spacing=0.1
    )
    data: list[dict] = []
    bands: list[dict] = []  # drawn first: under the trials' lines
    split = [(source, prefix, *thinning.curves_split(source)) for source, prefix in sources]
    drawn = [drawn_curves(source, shown, rest) for source, _, shown, rest in split]
    count = sum(len(curves) for curves in drawn)
    index = 0
    for (source, prefix, shown, rest), curves in zip(split, drawn):
        labels = trial_labels(source, prefix, shown)
        for trial_id, rows in curves:
            status = str(rows["status"].iloc[0])
            color, dash = trial_style(index, count)
            index += 1
            group = f"{prefix}{trial_id}"
            first = len(data)
            for panel, metric in enumerate(METRICS):
                y = numbers(rows[metric])
                if not any(v is not None for v in y):
                    continue
                data.append(
                    _curve(
                        rows["epoch"].tolist(),
                        y,
                        labels.get(trial_id, trial_id),
                        status,
                        (color, dash),
                        group,
                        panel,
                        metric,
                    )
                )
            if first < len(data):  # the legend entry on its first panel: a loss may be NaN
                data[first]["showlegend"] = True
        if rest:
            others = rest_epochs(source, rest)
            for panel, metric in enumerate(METRICS):
                axes = _axes(panel)
                bands += rest_traces(others, metric, rest_name(prefix, rest), panel == 0, axes)
    for axis in range(1, 7):
        suffix = "" if axis == 1 else str(axis)
        layout[f"xaxis{suffix}"]["title"] = {"text": "epoch"} if axis > 3 else None
        if axis <= 3:
            kind = spread_axis(source.epochs[METRICS[axis - 1]] for source, _ in sources)
            layout[f"yaxis{suffix}"].update({"type": kind, **LOG_TICKS.get(kind, {})})
    layout["legend"] = {"font": {"size": 10}, "title": {"text": "trial (click to hide)"}}
    return figure(bands + data, layout, height=640)


def _axes(panel: int) -> dict[str, str]:
    suffix = "" if panel == 0 else str(panel + 1)
    return {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}


def drawn_curves(source: Source, shown: list, rest: list) -> list[tuple[Any, Any]]:
    """(trial id, its rows of epochs.csv) for the trials drawn one by one: in epochs.csv's
    order when every trial is, else best first."""
    epochs = source.epochs
    if rest:
        epochs = epochs[epochs["trial_id"].isin(shown)]
    curves = dict(list(epochs.groupby("trial_id", sort=False)))
    order = [t for t in shown if t in curves] if rest else list(curves)
    return [(t, curves[t]) for t in order]


def rest_epochs(source: Source, rest: list):
    return source.epochs[source.epochs["trial_id"].isin(rest)]


def rest_name(prefix: str, rest: list) -> str:
    low, high = (round(100 * q) for q in (thinning.BAND[0], thinning.BAND[-1]))
    return label(f"{prefix}other {len(rest):,} trials: median, {low}-{high} % range")


def band(epochs, metric: str):
    """Per epoch: how many of `epochs`' trials have a finite `metric` (n), and the
    `thinning.BAND` quantiles of those values (low, median, high); None when none has."""
    import numpy as np

    values = epochs[["epoch", metric]].astype(float)
    values = values[np.isfinite(values[metric])]
    if values.empty:
        return None
    grouped = values.groupby("epoch")[metric]
    table = grouped.quantile(list(thinning.BAND)).unstack()
    table.columns = ["low", "median", "high"]
    table["n"] = grouped.size()
    return table.reset_index()


def rest_traces(epochs, metric: str, name: str, legend: bool, axes: dict) -> list[dict]:
    """The trials not drawn one by one, as their median per epoch (one legend entry)
    over a filled band from the low to the high quantile; at a single epoch, a marker
    with an error bar instead, as a band of one epoch has no width."""
    stats = band(epochs, metric)
    if stats is None:
        return []
    x = [int(e) for e in stats["epoch"]]
    low, median, high = (numbers(stats[c]) for c in ("low", "median", "high"))
    common = {"type": "scatter", "name": name, "legendgroup": f"rest {name}", **axes}
    traces = []
    if len(x) > 1:
        traces.append(
            {
                **common,
                "mode": "lines",
                "x": x + x[::-1],
                "y": high + low[::-1],
                "fill": "toself",
                "fillcolor": REST_FILL,
                "line": {"width": 0, "color": REST_COLOR},
                "hoverinfo": "skip",
                "showlegend": False,
            }
        )
    line = {
        **common,
        "mode": "lines" if len(x) > 1 else "markers",
        "x": x,
        "y": median,
        "line": {"color": REST_COLOR, "width": 2.5},
        "marker": {"color": REST_COLOR, "size": 9, "symbol": "diamond"},
        "showlegend": legend,
        "legendrank": 2000,  # below the trials drawn one by one
        "customdata": [[int(n), lo, hi] for n, lo, hi in zip(stats["n"], low, high)],
        "hovertemplate": f"%{{fullData.name}}<br>epoch %{{x}}<br>{metric}: median "
        "%{y:.4f}, range %{customdata[1]:.4f} to %{customdata[2]:.4f}<br>"
        "%{customdata[0]} trials with a value<extra></extra>",
    }
    if len(x) == 1:
        line["error_y"] = {
            "type": "data",
            "symmetric": False,
            "array": [high[0] - median[0]],
            "arrayminus": [median[0] - low[0]],
            "color": REST_COLOR,
            "thickness": 2,
            "width": 8,
        }
    return [*traces, line]


def trial_style(index: int, count: int) -> tuple[str, str]:
    """A colour and a dash per trial that no other shares, as `softmax plot` gives: ten
    colours with one dash, then again with the next; past that, every colour."""
    if count <= 10 * len(DASHES):
        return PALETTE[index % 10], DASHES[index // 10]
    return PALETTE[index % len(PALETTE)], DASHES[(index // len(PALETTE)) % len(DASHES)]


def _curve(
    x: list,
    y: list,
    name: str,
    status: str,
    style: tuple[str, str],
    group: str,
    panel: int,
    metric: str,
) -> dict:
    last = max(i for i, v in enumerate(y) if v is not None)
    stopped = status in END_SYMBOL
    sizes = point_sizes(y)
    symbols = ["circle"] * len(y)
    if stopped:
        sizes[last], symbols[last] = 11, END_SYMBOL[status]
    return {
        "type": "scatter",
        "mode": "lines+markers" if any(sizes) else "lines",
        "x": x,
        "y": y,
        "name": name if status == "completed" else f"{name} [{label(status)}]",
        "legendgroup": group,
        "showlegend": False,
        # the trial's own dash: its status shows in its name and its end marker
        "line": {"color": style[0], "width": 1.5, "dash": style[1]},
        "marker": {"size": sizes, "symbol": symbols, "color": style[0]},
        **_axes(panel),
        "hovertemplate": f"%{{fullData.name}}<br>epoch %{{x}}<br>{metric}: %{{y:.4f}}"
        "<extra></extra>",
    }


def point_sizes(y: list) -> list[int]:
    """A marker's size for each point: 0 where a line shows it, LONE_POINT where no
    line can (a one-epoch curve, or a value between two gaps)."""
    sizes = [0] * len(y)
    for i, v in enumerate(y):
        before = i > 0 and y[i - 1] is not None
        after = i + 1 < len(y) and y[i + 1] is not None
        if v is not None and not before and not after:
            sizes[i] = LONE_POINT
    return sizes


def axis_kind(source: Source, setting: str) -> str:
    """How a setting's axis reads: 'log' for log-spaced values, 'category' for discrete
    ones (a grid or a choice), else 'linear'."""
    dist = source.distribution(setting)
    values = source.trials[setting]
    numeric = [float(v) for v in values if is_number(v)]
    positive = numeric and min(numeric) > 0 and len(numeric) == len(values)
    spread = positive and max(numeric) / min(numeric) >= 10
    if dist is not None and dist.kind in ("loguniform", "uniform", "int"):
        return "log" if dist.kind == "loguniform" else "linear"
    if spread:
        return "log"
    if dist is not None or values.nunique(dropna=False) <= 12 or not numeric:
        return "category"
    return "linear"


def _discrete(source: Source, setting: str) -> bool:
    """A grid or a choice: few values, each worth a tick of its own."""
    dist = source.distribution(setting)
    if dist is not None:
        return dist.kind == "choice"
    return source.trials[setting].nunique() <= 12


def _axis_values(values, kind: str, setting: str) -> list:
    if kind == "category":
        return [label(setting_value_text(setting, v)) for v in values]
    return numbers(values)


def slices(source: Source) -> Optional[dict]:
    """The selection metric against each swept setting, one panel per setting."""
    swept = source.swept()
    if not swept:
        return None
    layout = subplot_layout(
        1, len(swept), [], shared_yaxes=True, horizontal_spacing=0.04 if len(swept) > 2 else 0.08
    )
    data = []
    labels = trial_labels(source)
    trials = source.trials
    for panel, setting in enumerate(swept):
        suffix = "" if panel == 0 else str(panel + 1)
        kind = axis_kind(source, setting)
        axis = layout[f"xaxis{suffix}"]
        axis.update({"type": kind, "title": {"text": label(setting)}, "exponentformat": "power"})
        if kind == "category":
            order = sorted(trials[setting].unique(), key=_sort_key)
            axis.update(
                {
                    "categoryorder": "array",
                    "categoryarray": _axis_values(order, kind, setting),
                }
            )
        elif _discrete(source, setting):
            ticks = sorted(float(v) for v in trials[setting].unique() if is_number(v))
            axis.update(
                {"tickvals": ticks, "ticktext": [setting_value_text(setting, v) for v in ticks]}
            )
        for status, rows in trials.groupby("status", sort=False):
            status = str(status)
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": label(status),
                    "legendgroup": status,
                    "showlegend": panel == 0,
                    "x": _axis_values(rows[setting], kind, setting),
                    "y": numbers(rows["score"]),
                    "text": [labels[t] for t in rows["trial_id"]],
                    "marker": {
                        "size": 9 if len(trials) <= thinning.ROWS_SHOWN else 5,  # less overlap
                        "color": STATUS_COLOR.get(status, "#333"),
                        "symbol": "circle" if status == "completed" else "x",
                        "opacity": 0.8,
                    },
                    "xaxis": f"x{suffix}",
                    "yaxis": f"y{suffix}",
                    "hovertemplate": f"%{{text}}<br>{label(status)}<br>{source.metric}: %{{y:.4f}}"
                    "<extra></extra>",
                }
            )
    layout["yaxis"]["title"] = {"text": f"best {source.metric}"}
    return figure(data, layout, height=380)


def _sort_key(value: Any) -> tuple:
    if is_number(value):
        return (0, float(value), "")
    return (1, 0.0, value_text(value))


def parallel_coordinates(source: Source) -> Optional[dict]:
    """Swept settings against the selection metric; lines coloured by the metric."""
    swept = source.swept()
    trials = source.trials.dropna(subset=["score"])
    if not swept or trials.empty:
        return None
    dimensions = []
    for setting in swept:
        kind = axis_kind(source, setting)
        values = trials[setting]
        if kind == "category":
            order = sorted(values.unique(), key=_sort_key)
            codes = {value_text(v): i for i, v in enumerate(order)}
            dimensions.append(
                {
                    "label": label(setting),
                    "values": [codes[value_text(v)] for v in values],
                    "tickvals": list(range(len(order))),
                    "ticktext": _axis_values(order, kind, setting),
                }
            )
        elif kind == "log":
            logs = [math.log10(v) for v in values.astype(float)]
            if _discrete(source, setting):  # the values themselves, as settings read
                shown = sorted(set(values.astype(float)))
                texts = [setting_value_text(setting, v) for v in shown]
            else:  # decades
                shown = [10.0**t for t in range(math.floor(min(logs)), math.ceil(max(logs)) + 1)]
                texts = [f"{v:g}" for v in shown]
            dimensions.append(
                {
                    "label": f"{label(setting)} (log)",
                    "values": logs,
                    "tickvals": [math.log10(v) for v in shown],
                    "ticktext": texts,
                }
            )
        else:
            dimensions.append({"label": label(setting), "values": numbers(values)})
    scores = numbers(trials["score"])
    # every number on the metric's axis, its range's ends too, in the leaderboard's 4 decimals
    dimensions.append({"label": f"best {source.metric}", "values": scores, "tickformat": ".4f"})
    line = {
        "color": scores,
        "colorscale": "Viridis",
        "showscale": True,
        "reversescale": source.mode == "min",
    }
    return figure(
        [{"type": "parcoords", "dimensions": dimensions, "line": line}],
        {"margin": {"l": 70, "r": 70, "t": 60, "b": 30}},
        height=380,
    )


def importance(importances: dict[str, float], metric: str) -> dict:
    names = list(importances)[::-1]  # most important on top
    return figure(
        [
            {
                "type": "bar",
                "orientation": "h",
                "x": [importances[n] for n in names],
                "y": [label(n) for n in names],
                "marker": {"color": "#1f77b4"},
                "hovertemplate": "%{y}: %{x:.3f}<extra></extra>",
            }
        ],
        {
            "xaxis": {"title": {"text": f"importance for {metric} (PED-ANOVA)"}},
            # a gap between the names and the bars, which would otherwise cut a short one
            "yaxis": {"ticklabelstandoff": 8, "automargin": True},
            "margin": {"l": 120, "r": 20, "t": 20, "b": 50},
        },
        height=max(200, 60 + 40 * len(names)),
    )


def test_curves(sources: list[tuple[Source, str]]) -> dict:
    """Exercise 2: test loss and accuracy against epoch for every trial, with the epoch
    that validation selected marked (its parameters are best.params). Past
    `thinning.CURVES_ALL_UP_TO` trials, as in `learning_curves`: the best and a band."""
    layout = subplot_layout(1, 2, ["test loss", "test acc"], horizontal_spacing=0.08)
    data: list[dict] = []
    bands: list[dict] = []  # drawn first: under the trials' lines
    split = [(source, prefix, *thinning.curves_split(source)) for source, prefix in sources]
    drawn = [drawn_curves(source, shown, rest) for source, _, shown, rest in split]
    count = sum(len(curves) for curves in drawn)
    color_index = 0
    for (source, prefix, shown, rest), curves in zip(split, drawn):
        labels = trial_labels(source, prefix, shown)
        best = dict(zip(source.trials["trial_id"], source.trials["best_epoch"]))
        styles = _styles_by_setting(source)
        for trial_id, rows in curves:
            style = styles.get(trial_id) or trial_style(color_index, count)
            color_index += 1
            name, group = labels.get(trial_id, trial_id), f"{prefix}{trial_id}"
            data += _test_traces(rows, best.get(trial_id), name, group, style, source.metric)
        if rest:
            others = rest_epochs(source, rest)
            for panel, metric in enumerate(("test_loss", "test_acc")):
                bands += rest_traces(
                    others, metric, rest_name(prefix, rest), panel == 0, _axes(panel)
                )
    layout["xaxis"]["title"] = layout["xaxis2"]["title"] = {"text": "epoch"}
    kind = spread_axis(source.epochs["test_loss"] for source, _ in sources)
    layout["yaxis"].update({"type": kind, **LOG_TICKS.get(kind, {})})
    layout["legend"] = {"font": {"size": 10}, "title": {"text": "star: epoch chosen on validation"}}
    return figure(bands + data, layout, height=420)


def _test_traces(rows, at: Any, name: str, group: str, style: tuple, chosen_on: str) -> list:
    """One trial's test loss and accuracy, each with a star at the epoch `at`."""
    color, dash = style
    picked = rows[rows["epoch"] == at] if is_number(at) else rows.iloc[:0]
    traces = []
    for panel, metric in enumerate(("test_loss", "test_acc")):
        y = numbers(rows[metric])
        sizes = point_sizes(y)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers" if any(sizes) else "lines",
                "name": name,
                "legendgroup": group,
                "showlegend": panel == 0,
                "x": rows["epoch"].tolist(),
                "y": y,
                "line": {"color": color, "width": 1.5, "dash": dash},
                **({"marker": {"size": sizes, "color": color}} if any(sizes) else {}),
                **_axes(panel),
                "hovertemplate": f"%{{fullData.name}}<br>epoch %{{x}}<br>"
                f"{metric}: %{{y:.4f}}<extra></extra>",
            }
        )
        if len(picked):
            traces.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": name,
                    "legendgroup": group,
                    "showlegend": False,
                    "x": picked["epoch"].tolist(),
                    "y": numbers(picked[metric]),
                    "marker": {
                        "symbol": "star",
                        "size": 13,
                        "color": color,
                        "line": {"width": 1, "color": "#000"},
                    },
                    **_axes(panel),
                    "hovertemplate": f"%{{fullData.name}}<br>best "
                    f"{chosen_on} at epoch %{{x}}<br>"
                    f"{metric}: %{{y:.4f}}<extra></extra>",
                }
            )
    return traces


def spread_axis(columns) -> str:
    """'log' for losses spanning more than 10x over `columns` (of epochs.csv: a few large
    learning rates would flatten every other curve), else 'linear' (where a rise, as in
    overfitting, reads best)."""
    import numpy as np
    import pandas as pd

    low, high = math.inf, 0.0
    for column in columns:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        values = values[np.isfinite(values) & (values > 0)]
        if len(values):
            low, high = min(low, float(values.min())), max(high, float(values.max()))
    return "log" if high > 10 * low else "linear"


def _styles_by_setting(source: Source) -> dict[str, tuple[str, str]]:
    """Colour by the first swept setting and dash by the second, so that trials sharing
    a value read as a family (exercise 2: weight decay x early stopping); {} when the
    sweep varies more than that."""
    swept = source.swept()
    if not 1 <= len(swept) <= 2 or not all(_discrete(source, s) for s in swept):
        return {}
    values = [sorted(source.trials[s].unique(), key=_sort_key) for s in swept]
    if len(values[0]) > len(PALETTE) or (len(swept) == 2 and len(values[1]) > len(DASHES)):
        return {}
    colors = {value_text(v): PALETTE[i] for i, v in enumerate(values[0])}
    dashes = {value_text(v): DASHES[i] for i, v in enumerate(values[1])} if len(swept) == 2 else {}
    return {
        row["trial_id"]: (
            colors[value_text(row[swept[0]])],
            dashes.get(value_text(row[swept[-1]]), "solid"),
        )
        for row in source.trials.to_dict("records")
    }


def per_class(evaluation) -> dict:
    """Per-class accuracy and the confusion matrix of one trial's saved parameters."""
    names = [label(n) for n in evaluation.class_names]
    layout = subplot_layout(
        1,
        2,
        ["accuracy per class", "confusion (rows: true, columns: predicted)"],
        column_widths=[0.35, 0.65],
        horizontal_spacing=0.15,
    )
    accuracy = [float(a) for a in evaluation.per_class_accuracy]
    confusion = evaluation.confusion.tolist()
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "x": accuracy,
            "y": names,
            "xaxis": "x",
            "yaxis": "y",
            "marker": {"color": "#1f77b4"},
            "showlegend": False,
            "text": [f"{a:.3f}" for a in accuracy],
            "textposition": "inside",
            "hovertemplate": "%{y}: %{x:.4f}<extra></extra>",
        },
        {
            "type": "heatmap",
            "z": confusion,
            "x": names,
            "y": names,
            "xaxis": "x2",
            "yaxis": "y2",
            "colorscale": "Blues",
            "reversescale": True,
            "showscale": False,
            "texttemplate": "%{z}",
            "textfont": {"size": 9},
            "hovertemplate": "true %{y}<br>predicted %{x}<br>%{z} images<extra></extra>",
        },
    ]
    layout["yaxis"].update({"autorange": "reversed"})
    layout["xaxis"].update({"range": [0, 1]})
    layout["yaxis2"].update({"autorange": "reversed"})
    layout["xaxis2"].update({"tickangle": -45})
    layout["margin"] = {"l": 80, "r": 20, "t": 40, "b": 80}
    return figure(data, layout, height=480)
