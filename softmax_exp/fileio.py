"""Files are complete or absent: every whole-file write goes to a temporary
file in the same directory and is renamed into place.

Never through a link we did not make: a temporary file is created new (O_EXCL, which
does not follow a link) and renamed over the name, which replaces a planted symbolic
link instead of writing where it points; appends open with O_NOFOLLOW. Readers of the
tool's own files refuse links too (`read_text`), so nothing outside a run or sweep
directory is read back, or shown, as if it were part of it."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
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


def link_error(path: Path) -> RunError:
    return RunError(
        f"{path}: a symbolic link where softmax-exp keeps its own file; it never reads or "
        "writes through links in its directories: remove the link (or replace it with "
        "the real file)"
    )


def refuse_link(path: Path) -> None:
    """A RunError when `path` is a symbolic link (a missing path is fine)."""
    if os.path.islink(path):
        raise link_error(Path(path))


def read_bytes(path: Path, limit: Optional[int] = None) -> bytes:
    """A file's bytes, never through a symbolic link (RunError) and never more than
    `limit` bytes (RunError naming the limit; /dev/zero stops there too). Other OSErrors
    (a missing file) propagate for the caller to word."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise link_error(path) from None
        raise
    try:
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if limit is not None and size > limit:
                raise RunError(
                    f"{path}: larger than {limit // 1024} KiB, the most softmax-exp reads "
                    "from such a file; give the right file"
                )
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_text(path: Path, limit: Optional[int] = None) -> str:
    """`read_bytes` as UTF-8 text (UnicodeDecodeError propagates)."""
    return read_bytes(path, limit).decode("utf-8")


def real_directory(path: Path, inside: Path) -> Path:
    """`path`, checked to be a directory of `inside`'s own: not a symbolic link (nor under
    one below `inside`), so that what is written there stays there. Missing is fine."""
    path, inside = Path(path), Path(inside)
    relative = path.relative_to(inside)  # a ValueError is a bug: callers build `path`
    current = inside
    for part in relative.parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode  # one call, not three: sweeps have 10,000 trials
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISLNK(mode):
            raise RunError(
                f"{current}: a symbolic link inside {inside}; softmax-exp writes only real "
                "directories of its own there: remove the link"
            )
        if not stat.S_ISDIR(mode):
            raise RunError(f"{current}: not a directory; remove it")
    return path


@contextlib.contextmanager
def atomic_path(path: Path, check: Optional[Callable[[Path], None]] = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; if the block succeeds, and `check(temporary)`
    does not raise, it is renamed onto `path`. A writer that does not report a failed
    write (MXNet's, on a full disk) needs `check`: it would leave a torn file.

    Whatever the block raises propagates unchanged, and the temporary file is removed.
    """
    path = Path(path)
    try:
        prefix = f".{path.name}.{os.getpid()}."  # the writer, for remove_stale_temporaries
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
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


def remove_stale_temporaries(path: Path) -> None:
    """Remove what writers of `path` that died before their rename left beside it
    (`.<name>.<pid>.<random>.tmp`, their pid no longer running on this machine)."""
    path = Path(path)
    prefix = f".{path.name}."
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent or "."):
            name = entry.name
            if not (name.startswith(prefix) and name.endswith(".tmp")):
                continue
            pid = name[len(prefix) :].split(".", 1)[0]
            if pid.isdigit() and not _running(int(pid)):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's
        return True
    return True


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


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_writer(path, "wb") as handle:
        handle.write(data)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def append_line(path: Path, line: str, sync: bool = True) -> None:
    """Append one complete line, so a killed process keeps it, and (`sync`) force it to
    disk, so a power cut does too.

    One write() of the whole line: a reader can only ever see a torn *last* line,
    which the loaders drop.
    """
    append_lines(path, [line], sync)


def sync_file(path: Path) -> None:
    """Force what was appended to `path` without `sync` to disk."""
    fd = _open_own(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        raise disk_error(path, exc) from exc
    finally:
        os.close(fd)


def _open_own(path: Path, flags: int) -> int:
    """A file descriptor of `path` itself, never of a link's target (a RunError)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise link_error(path) from None
        raise disk_error(path, exc) from exc


def append_lines(path: Path, lines: list[str], sync: bool = True) -> None:
    """Append complete lines in one write(), and (`sync`) force them to disk (see
    append_line). A write that fails (a full disk) is undone: the file is cut back to
    its old end."""
    if not lines:
        return
    data = "".join(line.rstrip("\n") + "\n" for line in lines).encode("utf-8")
    fd = _open_own(path, os.O_WRONLY | os.O_APPEND)
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            if sync:
                os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)
            raise
    except OSError as exc:
        raise disk_error(path, exc) from exc
    finally:
        os.close(fd)
