"""Where external data and models live: ``--data-dir`` beats ``CODESIGN_DATA``; both hold ``data/`` and ``models/``."""

from __future__ import annotations

import os
from pathlib import Path

from codesign.errors import CodesignError

ENV_VAR = "CODESIGN_DATA"


def data_dir(override: str | os.PathLike | None = None, required: bool = True) -> Path | None:
    """The configured data directory, or a user error naming the variable when none is set."""
    value = override if override is not None else os.environ.get(ENV_VAR)
    if not value:
        if required:
            raise CodesignError(
                f"no data directory: set {ENV_VAR}=/path (holding data/ and models/) or pass --data-dir"
            )
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise CodesignError(f"data directory {path} does not exist (from {'--data-dir' if override else ENV_VAR})")
    return path


def cache_dir() -> Path:
    """Trained zoo models and other derived artefacts that are safe to delete."""
    root = os.environ.get("CODESIGN_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "codesign")
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
