"""Files are complete or absent: every whole-file write goes to a temporary
file in the same directory and is renamed into place."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from .errors import RunError

_UMASK = os.umask(0)
os.umask(_UMASK)


def disk_error(path: Path, exc: OSError) -> RunError:
    return RunError(
        f"cannot write {path}: {exc.strerror or exc}; free some disk space, "
        "check permissions, or choose another output directory"
    )


@contextlib.contextmanager
def atomic_path(path: Path, check: Optional[Callable[[Path], None]] = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; if the block succeeds, and `check(temporary)`
    does not raise, it is renamed onto `path`. A writer that does not report a failed
    write (MXNet's, on a full disk) needs `check`: it would leave a torn file.

    Whatever the block raises propagates unchanged, and the temporary file is removed.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are for sharing
    except OSError as exc:
        raise disk_error(path, exc) from exc
    try:
        yield Path(tmp)
        if check is not None:
            check(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_writer(path: Path, mode: str = "w") -> Iterator[Any]:
    """Yield a file handle; on success the file replaces `path` in one rename."""
    encoding = None if "b" in mode else "utf-8"
    try:
        with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
    except RunError:
        raise
    except OSError as exc:
        raise disk_error(path, exc) from exc


def write_text(path: Path, text: str) -> None:
    with atomic_writer(path) as handle:
        handle.write(text)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def append_line(path: Path, line: str) -> None:
    """Append one complete line and force it to disk, so a killed process keeps it.

    One write() of the whole line: a reader can only ever see a torn *last* line,
    which the loaders drop.
    """
    append_lines(path, [line])


def append_lines(path: Path, lines: list[str]) -> None:
    """Append complete lines in one write() and force them to disk (see append_line).
    A write that fails (a full disk) is undone: the file is cut back to its old end."""
    if not lines:
        return
    data = "".join(line.rstrip("\n") + "\n" for line in lines).encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError as exc:
        raise disk_error(path, exc) from exc
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)
            raise
    except OSError as exc:
        raise disk_error(path, exc) from exc
    finally:
        os.close(fd)
