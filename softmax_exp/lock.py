"""One writer per directory: an flock'd `.lock` file that dies with its holder.

Sweeps and runs share it. A sweep's trial resumed by hand (its run directory is
`<sweep>/trials/<id>`) takes its sweep's lock first, then its own (`writer_lock`): every
lock is tried once, never waited for, and always in that order, so two writers refuse
each other instead of waiting on each other."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shlex
import socket
import sys
from pathlib import Path
from typing import Iterator, Optional

from .errors import RunError
from .layout import LOCK_FILE
from .layout import OWNER_FILE as SWEEP_OWNER_FILE  # what marks a sweep directory


class DirectoryLock:
    """Held while a sweep or a run writes its directory. The OS drops it when the holder
    dies (kill -9 included), so a dead writer's lock is simply taken over; the file names
    the holder (pid, host, command) for the message a second writer gets."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / LOCK_FILE
        self.fd: Optional[int] = None

    def acquire(self, what: str) -> DirectoryLock:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            self.fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise self._unusable(exc) from None
        try:
            if not _is_regular(self.fd):
                raise OSError(errno.EISDIR, "not a regular file")
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = self._holder() if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN) else None
            self._close()
            if holder is None:
                raise self._unusable(exc) from None
            raise RunError(
                f"{self.path.parent} is in use by {holder}; wait for it to finish, "
                "stop it, or choose another output directory"
            ) from None
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "what": what,
            "command": shlex.join(sys.argv),
        }
        try:
            os.ftruncate(self.fd, 0)
            data = json.dumps(record).encode()
            if os.pwrite(self.fd, data, 0) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as exc:
            self.release()
            raise self._unusable(exc) from None
        return self

    def _unusable(self, exc: OSError) -> RunError:
        if exc.errno == errno.ELOOP:
            why = "it is a symbolic link; remove it"
        elif exc.errno in (errno.EISDIR, errno.ENXIO):
            why = "it is not a regular file; remove it"
        else:
            why = (
                f"{exc.strerror or exc}; check the permissions and free space, or choose "
                "another output directory"
            )
        return RunError(f"cannot take the lock {self.path}: {why}")

    def _holder(self) -> str:
        """Who holds the lock, from the file (read through our own descriptor)."""
        if self.fd is None:
            return "another process"
        try:
            info = json.loads(os.pread(self.fd, 4096, 0))
            command = f": {info['command']}" if info.get("command") else ""
            what = info.get("what", "another process")
            return f"{what} (pid {info['pid']} on {info['host']}{command})"
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return "another process"

    def _close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            self._close()

    def __enter__(self) -> DirectoryLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _is_regular(fd: int) -> bool:
    import stat

    return stat.S_ISREG(os.fstat(fd).st_mode)


def sweep_of(run: Path) -> Optional[Path]:
    """The sweep directory a run directory is a trial of (`<sweep>/trials/<id>`), if any."""
    run = Path(run)
    sweep = run.parent.parent
    if run.parent.name == "trials" and (sweep / SWEEP_OWNER_FILE).is_file():
        return sweep
    return None


@contextlib.contextmanager
def writer_lock(run: Path, what: str) -> Iterator[None]:
    """Hold a run directory for writing: its sweep's lock first when it is a sweep's
    trial (the sweep writes its trials), then its own. A RunError if either is held."""
    with contextlib.ExitStack() as held:
        sweep = sweep_of(run)
        if sweep is not None:
            held.enter_context(DirectoryLock(sweep).acquire(what))
        held.enter_context(DirectoryLock(run).acquire(what))
        yield
