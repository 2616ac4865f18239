"""Tables that fit the terminal: columns are chosen by priority, never cut.

A number is never shortened to fit: a column that does not fit is left out whole, and
the caller says which were left out. Numbers get as many digits as it takes to tell a
column's values apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from rich import box
from rich.console import Console, JustifyMethod
from rich.measure import Measurement
from rich.table import Table

from softmax_exp.labels import is_missing, setting_text

EMPTY = "-"  # the one marker for "no value", in every table


@dataclass(frozen=True)
class Column:
    header: str
    priority: int = 0  # 0: always shown; then lower is kept first when the width runs out
    justify: JustifyMethod = "right"
    wrap: bool = False  # text that may wrap at spaces when the must-have columns are wide


def decimals(values: Sequence[Any], least: int = 4, most: int = 6) -> list[str]:
    """Fixed decimals (metrics): `least`, more while two different values look the same."""
    numbers = [float(v) for v in values if not is_missing(v)]
    digits = least
    while digits < most and _collide(numbers, lambda v, d=digits: f"{v:.{d}f}"):
        digits += 1
    return [EMPTY if is_missing(v) else f"{float(v):.{digits}f}" for v in values]


def shortest(values: Sequence[Any], most: int = 4) -> list[str]:
    """Settings: each value exactly when `most` significant digits can (0.01, 0.3, 1.0,
    256), else rounded to `most`; more while two different values look the same. A float
    stays a float (1.0), as the leaderboards write it (`setting_text`)."""
    numbers = [float(v) for v in values if not is_missing(v)]
    digits = most
    while digits < 10 and _collide(numbers, lambda v, d=digits: setting_text(v, d)):
        digits += 1
    return [EMPTY if is_missing(v) else setting_text(v, digits) for v in values]


def _collide(numbers: list[float], show) -> bool:
    shown: dict[str, float] = {}
    for number in numbers:
        text = show(number)
        if text in shown and shown[text] != number:
            return True
        shown[text] = number
    return False


def fit(
    console: Console,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    title: Optional[str] = None,
    width: Optional[int] = None,
) -> tuple[Table, list[Column]]:
    """A table of the columns that fit `width` (the console's by default), chosen by
    priority and shown in their given order; returns it and the columns left out."""
    width = console.width if width is None else width
    kept = [i for i, c in enumerate(columns) if c.priority == 0]
    for index in sorted(range(len(columns)), key=lambda i: columns[i].priority):
        if (
            index not in kept
            and _measure(console, _table(columns, rows, sorted(kept + [index]), title)) <= width
        ):
            kept = sorted(kept + [index])
    left_out = [columns[i] for i in range(len(columns)) if i not in kept]
    return _table(columns, rows, kept, title), left_out


def _table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], keep: list[int], title: Optional[str]
) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        show_edge=False,
    )
    for i in keep:
        column = columns[i]
        table.add_column(
            column.header,
            justify=column.justify,
            no_wrap=not column.wrap,
            overflow="fold" if column.wrap else "ellipsis",
        )
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    return table


def _measure(console: Console, table: Table) -> int:
    wide = console.options.update(width=10_000)
    return Measurement.get(console, wide, table).maximum


def left_out_note(left_out: Sequence[Column], how: str) -> Optional[str]:
    if not left_out:
        return None
    return f"left out to fit: {', '.join(c.header for c in left_out)} ({how})"


def more_note(shown: int, total: int, how: str) -> Optional[str]:
    return f"{total - shown} more ({how})" if total > shown else None


def show(console: Console, renderable: Any) -> None:
    """Print a table; piped to a file or another program, without the spaces that pad
    its lines to the table's width."""
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as capture:
        console.print(renderable)
    text = "\n".join(line.rstrip() for line in capture.get().splitlines())
    console.out(text, highlight=False)
