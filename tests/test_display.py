"""What the live views show, frame by frame, and what they print when piped (issue 26)."""

from __future__ import annotations

import io
import re

from rich.console import Console

from softmax_exp.records import EpochMetrics
from softmax_exp_cli.display import COLUMNS, TrainDisplay


def metrics(epoch: int) -> EpochMetrics:
    return EpochMetrics(epoch, 0.5247, 0.8258, None, None, 0.4651, 0.8196, 0.43, 138961.2)


def right_edges(line: str, words: list[str]) -> list[int]:
    edges, start = [], 0
    for word in words:
        start = line.index(word, start) + len(word)
        edges.append(start)
    return edges


def test_piped_epoch_lines_line_up_under_their_headers():
    console = Console(file=io.StringIO(), width=80)
    with TrainDisplay(console, epochs=12) as display:
        for epoch in (1, 10):
            display.epoch_started(epoch, 5)
            display.epoch_ended(0, metrics(epoch))
    header, *rows = console.file.getvalue().splitlines()
    headers = [h for h, _, _ in COLUMNS]
    for row in rows:
        assert right_edges(header, headers) == right_edges(row, row.split()), (header, row)
    assert rows[0].split()[-2:] == ["0.43", "138,961"]


def frame(display: TrainDisplay) -> str:
    console = Console(file=io.StringIO(), width=80)
    console.print(display.progress)
    return console.file.getvalue()


def test_the_progress_bar_shows_only_the_epoch_being_trained():
    console = Console(file=io.StringIO(), width=80, force_terminal=True)
    with TrainDisplay(console, epochs=5) as display:
        assert frame(display).strip() == ""
        display.epoch_started(1, 469)
        assert re.search(r"epoch 1/5 .* 0/469", frame(display)), frame(display)
        display.batches_done(200)
        assert "200/469" in frame(display) and "evaluating" not in frame(display)
        display.batches_done(469)
        assert re.search(r"epoch 1/5 evaluating .* 469/469", frame(display)), frame(display)
        display.epoch_ended(0, metrics(1))
        assert "epoch" not in frame(display)  # between epochs: no finished epoch's bar
        display.epoch_started(2, 469)
        assert re.search(r"epoch 2/5 .* 0/469", frame(display))
    drawn = console.file.getvalue()
    assert "epoch 0/5" not in drawn and "0/1 " not in drawn  # not even the first frame
