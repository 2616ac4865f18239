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


def sweep_of(tmp_path, text: str, epochs: list[int], planned: int):
    from softmax_exp.config import TrainConfig
    from softmax_exp.sweep.expand import Trial
    from softmax_exp.sweep.runner import SweepRun, TrialRecord
    from softmax_exp.sweep.spec import load_sweep_spec

    (tmp_path / "s.yaml").write_text(text)
    spec = load_sweep_spec(tmp_path / "s.yaml")
    trials = [
        Trial(f"t{i}", i, TrainConfig(epochs=n, lr=0.1 * (i + 1)), {"lr": 0.1 * (i + 1)})
        for i, n in enumerate(epochs)
    ]
    records = {t.id: TrialRecord(t, tmp_path / t.id) for t in trials}
    return SweepRun(spec, tmp_path, trials, records, planned=planned)


def epochs_left(display) -> tuple[int, int]:
    task = display.progress.tasks[0]
    return int(task.total), int(task.completed)


def test_the_sweep_eta_counts_the_epochs_left_in_unfinished_trials(tmp_path):
    """Issue 26: '4/12 ETA 0:00:01' with 12 s to go; progress is in epochs now."""
    from softmax_exp_cli.sweep_display import SweepDisplay

    sweep = sweep_of(tmp_path, "grid: {lr: [0.1, 0.2, 0.3]}\n", [10, 10, 10], planned=3)
    finished, resumed, fresh = sweep.records.values()
    finished.info = {"status": "completed"}
    resumed.resume_epoch = 4
    sweep.skipped = 1
    console = Console(file=io.StringIO(), width=80)
    display = SweepDisplay(console)
    display.sweep_started(sweep)
    assert epochs_left(display) == (6 + 10, 0)  # the finished trial counts for nothing
    resumed.rows = [{"val_acc": 0.5}] * 4  # cut to its checkpoint as it starts again
    display.trial_started(resumed)
    display.trial_started(fresh)
    for _ in range(3):
        for record in (resumed, fresh):
            record.rows.append({"val_acc": 0.6})
            display.trial_epoch(record)
    assert epochs_left(display) == (16, 6)
    fresh.info = {"status": "pruned"}  # its last 7 epochs will never run
    display.trial_finished(fresh)
    assert epochs_left(display) == (16, 13)
    assert display.progress.tasks[0].fields["trials"] == "1/2"


def test_a_tpe_sweep_eta_counts_the_trials_not_asked_for_yet(tmp_path):
    from softmax_exp_cli.sweep_display import SweepDisplay

    text = "base: {epochs: 6}\ntpe:\n  trials: 5\n  space: {lr: {loguniform: [0.01, 1.0]}}\n"
    sweep = sweep_of(tmp_path, text, [], planned=5)
    display = SweepDisplay(Console(file=io.StringIO(), width=80))
    display.sweep_started(sweep)
    assert epochs_left(display) == (30, 0)
    asked = sweep_of(tmp_path, text, [6, 6], planned=5).records
    for record in asked.values():
        display.trial_started(record)
    assert epochs_left(display) == (30, 0)


def test_the_final_leaderboard_counts_the_statuses(tmp_path):
    """A TPE sweep's final board says its statuses as a grid's does (issue 26)."""
    from softmax_exp_cli.sweep_display import leaderboard_table

    sweep = sweep_of(tmp_path, "grid: {lr: [0.1, 0.2, 0.3]}\n", [2, 2, 2], planned=3)
    for record, status in zip(sweep.records.values(), ("completed", "pruned", "pruned")):
        record.info = {"status": status}
        record.rows = [{"epoch": 1, "val_acc": 0.8, "test_acc": 0.79}]
    console = Console(file=io.StringIO(), width=80)
    console.print(leaderboard_table(console, sweep, final=True))
    assert "status: 2 pruned, 1 completed" in console.file.getvalue()


def test_a_live_board_never_says_all_while_trials_are_to_run(tmp_path):
    """On resume, the finished trials were all completed, but 8 were still to run: the
    live board said 'status: all completed' (a new user's second trial)."""
    from softmax_exp_cli.sweep_display import status_counts

    sweep = sweep_of(tmp_path, "grid: {lr: [0.1, 0.2, 0.3]}\n", [2, 2, 2], planned=3)
    first = next(iter(sweep.records.values()))
    first.info = {"status": "completed"}
    assert status_counts(sweep, final=False) == "1 completed"
    assert status_counts(sweep, final=True) == "all completed"
