"""Domain errors: what a user can fix. The CLI prints them as one line, exit code 2.

Anything else escaping the library is a bug and is allowed to crash loudly.
"""

from __future__ import annotations

import sys


class SoftmaxExpError(Exception):
    """Root of every error meant for the user, not the developer.

    The library speaks its own words: settings, files, runs, never a command-line flag.
    `setting`, when given, names the setting the message starts with ("ctx gpu:1: ..."),
    so that a front end can say which of its options that was ("--ctx gpu:1: ...");
    `subject`: the words naming it there, when they are not the setting's bare name.
    """

    def __init__(self, message: str, setting: str = "", subject: str = ""):
        super().__init__(message)
        self.setting, self.subject = setting, subject or setting


class ConfigError(SoftmaxExpError):
    """A config file, sweep file or command-line override is wrong."""


class DataError(SoftmaxExpError):
    """The dataset is missing, truncated, corrupt or cannot be downloaded."""


class DeviceError(SoftmaxExpError):
    """The requested MXNet context (cpu/gpu) cannot be used on this machine."""


class ClusterError(SoftmaxExpError):
    """The Ray cluster at `address` cannot be reached or joined (None: a local one)."""

    def __init__(self, address, reason: str):
        self.address, self.reason = address, reason
        where = f"Ray cluster address {address}" if address else "local Ray instance"
        super().__init__(f"{where}: {reason}", "address" if address else "", "Ray cluster address")


class RunError(SoftmaxExpError):
    """A run or sweep directory is unusable (missing, unreadable, locked, disk full)."""


def reason(exc: BaseException) -> str:
    """What went wrong, in one line. MXNet's errors carry their C++ stack as text that
    starts with "Traceback (most recent call last):"; the reason is its last line."""
    lines = [
        line.strip()
        for line in str(exc).splitlines()
        if line.strip() and not line.startswith((" ", "\t", "Traceback ", "Stack trace"))
    ]
    if not lines:
        return type(exc).__name__
    text = lines[-1].removeprefix("MXNetError: ")
    if text.startswith("Check failed: "):  # "Check failed: fi->Read(data): <the reason>"
        text = text.rsplit(": ", 1)[-1]
    return text


def show_warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A `warnings.showwarning` for warnings meant for the user (a fallback, say): one
    plain line on stderr, like the errors. The CLI and sweep workers install it."""
    print(f"warning: {message}", file=sys.stderr, flush=True)
