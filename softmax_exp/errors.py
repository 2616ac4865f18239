"""Domain errors: what a user can fix. The CLI prints them as one line, exit code 2.

Anything else escaping the library is a bug and is allowed to crash loudly.
"""

from __future__ import annotations

import sys


class SoftmaxExpError(Exception):
    """Root of every error meant for the user, not the developer."""


class ConfigError(SoftmaxExpError):
    """A config file, sweep file or command-line override is wrong."""


class DataError(SoftmaxExpError):
    """The dataset is missing, truncated, corrupt or cannot be downloaded."""


class DeviceError(SoftmaxExpError):
    """The requested MXNet context (cpu/gpu) cannot be used on this machine."""


class RunError(SoftmaxExpError):
    """A run or sweep directory is unusable (missing, unreadable, locked, disk full)."""


def show_warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A `warnings.showwarning` for warnings meant for the user (a fallback, say): one
    plain line on stderr, like the errors. The CLI and sweep workers install it."""
    print(f"warning: {message}", file=sys.stderr, flush=True)
