"""A sweep's tables, trials.csv and epochs.csv: every ended trial's row(s), rewritten
whole when the sweep starts and ends, appended to as groups end in between."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..fileio import append_lines, atomic_writer
from ..layout import EPOCHS_CSV, TRIALS_CSV
from ..runs import csv_line
from ..summary import EPOCH_COLUMNS, TRIAL_COLUMNS, epoch_rows, trial_row
from .spec import SweepSpec
from .state import TrialRecord


class SweepTables:
    def __init__(self, path: Path, spec: SweepSpec):
        self.path, self.spec = path, spec

    def rewrite(self, records: Sequence[TrialRecord]) -> None:
        """Both tables anew (write, then rename), with these trials' rows in this order."""
        with atomic_writer(self.path / TRIALS_CSV) as handle:
            handle.writelines(self._trial_lines(records, header=True))
        with atomic_writer(self.path / EPOCHS_CSV) as handle:
            handle.writelines(self._epoch_lines(records, header=True))

    def append(self, records: Sequence[TrialRecord]) -> None:
        """These trials' rows, appended (one write per table, synced): a group's cost is
        its own rows, not the sweep's so far."""
        append_lines(self.path / TRIALS_CSV, self._trial_lines(records))
        append_lines(self.path / EPOCHS_CSV, self._epoch_lines(records))

    def _trial_lines(self, records: Sequence[TrialRecord], header: bool = False) -> list[str]:
        lines = [csv_line(TRIAL_COLUMNS) + "\n"] if header else []
        return lines + [
            csv_line(
                trial_row(
                    r.trial.id,
                    r.status,
                    r.trial.config.model_dump(),
                    r.rows,
                    r.info,
                    self.spec.metric,
                    self.spec.mode,
                    str(r.path.relative_to(self.path)),
                )
            )
            + "\n"
            for r in records
        ]

    def _epoch_lines(self, records: Sequence[TrialRecord], header: bool = False) -> list[str]:
        lines = [csv_line(EPOCH_COLUMNS) + "\n"] if header else []
        return lines + [
            csv_line(row) + "\n"
            for r in records
            for row in epoch_rows(r.trial.id, r.status, r.trial.config.model_dump(), r.rows)
        ]
