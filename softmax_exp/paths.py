"""Where softmax-exp keeps what it can make again: the decoded dataset, the kernels."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """SOFTMAX_CACHE_DIR, else the platform's user cache directory."""
    if os.environ.get("SOFTMAX_CACHE_DIR"):
        return Path(os.environ["SOFTMAX_CACHE_DIR"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("softmax-exp"))
