"""A sweep directory: where it is, whose it is, one writer at a time, and the record of
the commands that ran it."""

from __future__ import annotations

import contextlib
import json
import shlex
from datetime import datetime
from pathlib import Path
from typing import Iterator, Optional, Sequence

from ..errors import RunError
from ..fileio import append_line, read_text, real_directory, write_json, write_text
from ..layout import COMMANDS_LOG, OWNER_FILE, SPEC_FILE, TRIALS_DIR
from ..lock import DirectoryLock
from .spec import SweepSpec, directory_name


class SweepDirectoryTaken(RunError):
    """The sweep directory belongs to another sweep file. `message` words the ways out;
    the CLI names its own flags there."""

    def __init__(self, path: Path, owner: dict, spec_path: Path):
        self.path, self.owner, self.spec_path = path, owner, spec_path
        super().__init__(self.message())

    def message(
        self, restart: str = "restart the sweep", elsewhere: str = "write to another directory"
    ) -> str:
        return (
            f"{self.path} holds sweep '{self.owner.get('name')}' (from "
            f"{self.owner.get('file')}), not {self.spec_path}: {restart} to start that "
            f"directory over, or {elsewhere}"
        )


def default_sweep_dir(spec: SweepSpec, out: Path = Path("runs")) -> Path:
    return out / f"sweep-{directory_name(spec)}"


def make_sweep_dir(spec: SweepSpec, out: Optional[Path]) -> Path:
    """The sweep directory (`out`, else the default), made with its trials/ folder."""
    path = Path(out) if out else default_sweep_dir(spec)
    try:
        (path / TRIALS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(
            f"cannot create sweep directory {path}: {exc.strerror}; choose another output directory"
        ) from None
    return real_directory(path / TRIALS_DIR, path).parent


@contextlib.contextmanager
def taken(path: Path, spec: SweepSpec, spec_path: Path, restart: bool) -> Iterator[Path]:
    """Hold the directory's lock for the sweep's life, once it is this sweep's (see
    `check_owner`). Another sweep's directory is refused before the lock too, so that
    its holder's .lock stays as it was."""
    refuse_another_owner(path, spec, spec_path, restart)
    with DirectoryLock(path).acquire(f"softmax sweep {spec_path}"):
        check_owner(path, spec, spec_path, restart)
        yield path


def check_owner(path: Path, spec: SweepSpec, spec_path: Path, restart: bool) -> None:
    """A sweep directory belongs to one sweep, known by its name (the file's stem or its
    `name:`), so that an edited grid still resumes while another file is refused."""
    refuse_another_owner(path, spec, spec_path, restart)
    write_json(path / OWNER_FILE, {"name": spec.name, "file": str(spec_path)})


def refuse_another_owner(path: Path, spec: SweepSpec, spec_path: Path, restart: bool) -> None:
    """SweepDirectoryTaken when the directory is another sweep's (and not restarted)."""
    try:
        owner = json.loads(read_text(path / OWNER_FILE, 1 << 20))
    except (OSError, ValueError):
        owner = None  # new, or made before sweeps recorded their owner
    if isinstance(owner, dict) and owner.get("name") != spec.name and not restart:
        raise SweepDirectoryTaken(path, owner, spec_path)


def record_start(path: Path, spec: SweepSpec, argv: Sequence[str]) -> None:
    """The sweep file as read (sweep.yaml), and the command, with its time, appended to
    commands.log."""
    write_text(path / SPEC_FILE, spec.text)
    log = path / COMMANDS_LOG
    if not log.exists():
        write_text(log, "")
    append_line(log, f"{datetime.now().isoformat(timespec='seconds')}  {shlex.join(argv)}")
