"""Output directories appear whole or not at all: write into a hidden sibling, rename when complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from codesign.errors import CodesignError


@contextlib.contextmanager
def atomic_dir(final: str | Path):
    """Yield a temporary directory that replaces ``final`` on success and vanishes on any error."""
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        # leftovers of a run killed while writing (SIGKILL skips the cleanup below)
        for stale in final.parent.glob(f".{final.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it 0700; the result should look like any other directory
    except OSError as exc:
        raise CodesignError(f"cannot create output directory {final}: {exc.strerror or exc}") from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        final.rename(old / final.name)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)
