"""One sweep per directory: an flock'd lock file that dies with its holder."""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Optional

from .errors import RunError
from .layout import LOCK_FILE


class DirectoryLock:
    """Held while a sweep writes its directory. The OS drops it when the holder dies,
    so a killed sweep never blocks the next one."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / LOCK_FILE
        self.fd: Optional[int] = None

    def acquire(self, what: str) -> DirectoryLock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = self._holder()
            os.close(self.fd)
            self.fd = None
            raise RunError(
                f"{self.path.parent} is in use by {holder}; wait for it to finish, "
                "stop it, or choose another output directory"
            ) from None
        os.ftruncate(self.fd, 0)
        os.write(
            self.fd,
            json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "what": what}).encode(),
        )
        return self

    def _holder(self) -> str:
        try:
            info = json.loads(self.path.read_text())
            return f"{info.get('what', 'a sweep')} (pid {info['pid']} on {info['host']})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> DirectoryLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
