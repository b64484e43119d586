"""The output tree of one design, and the rules every output follows: it appears whole or not at all, it stays
under ``--out``, and two runs on one ``--out`` never trip over each other.

Layout of ``Workspace(out, name)`` (``<design>`` = :func:`codesign.names.path_component` of the design name)::

    <out>/<design>/manifest.json                      versions, seed, input hashes (codesign run)
                   model/ verify/ report/             the fidelity check (codesign run)
                   oracle/                            the single-bit oracle
                   campaigns/<tag>/                   multi-bit / BER campaigns
                   rank/<method>/  evaluation/        rankings and their evaluation
                   dse/                               the design-space exploration
                   .work/<tag>.sqlite  .work/dse/     resumable state while something runs
                   .lock                              held by the run writing this design

Atomic writes: :func:`atomic_dir` and :func:`atomic_file` write to a hidden sibling whose name carries the writer's
pid (``.<name>.tmp-<pid>-<random>``) and rename it when complete. A writer removes leftovers only of processes that
no longer run, never another live run's temporary. :meth:`Workspace.lock` serializes runs on one design directory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from codesign.errors import CodesignError
from codesign.names import path_component


def _fail(what: str, path, exc: OSError):
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENAMETOOLONG:
        reason = "path or file name too long"
    raise CodesignError(f"cannot {what} {path}: {reason}") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(parent: Path, name: str) -> None:
    """Temporaries of ``name`` left by writers that were killed (their pid no longer runs)."""
    for kind in ("tmp", "old"):
        for stale in parent.glob(f".{name}.{kind}-*"):
            pid = stale.name[len(name) + len(kind) + 3:].split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                if stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
                else:
                    stale.unlink(missing_ok=True)


def _temp_name(final: Path, kind: str = "tmp") -> str:
    return f".{final.name}.{kind}-{os.getpid()}-"


def make_dirs(path: Path) -> Path:
    """``mkdir -p`` with one-line errors (a file in the way, no permission, a name too long)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CodesignError(f"cannot create directory {path}: a file of that name is in the way") from None
    except OSError as exc:
        _fail("create directory", path, exc)
    return path


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_dir(final: str | Path):
    """Yield a temporary directory that replaces ``final`` on success and vanishes on any error."""
    final = Path(final)
    make_dirs(final.parent)
    if final.exists() and not final.is_dir():
        raise CodesignError(f"cannot write directory {final}: a file of that name is in the way")
    try:
        _remove_stale(final.parent, final.name)
        tmp = Path(tempfile.mkdtemp(prefix=_temp_name(final), dir=final.parent))
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; the result should look like any other directory
    except OSError as exc:
        _fail("create output directory", final, exc)
    try:
        yield tmp
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=_temp_name(final, "old"), dir=final.parent))
            final.rename(old / final.name)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(final: str | Path):
    """Yield a temporary path next to ``final``; it replaces ``final`` on success and is removed on any error."""
    final = Path(final)
    make_dirs(final.parent)
    if final.is_dir():
        raise CodesignError(f"cannot write {final}: it is a directory")
    try:
        _remove_stale(final.parent, final.name)
        fd, name = tempfile.mkstemp(prefix=_temp_name(final), dir=final.parent)
        os.close(fd)
    except OSError as exc:
        _fail("write", final, exc)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; outputs should read like any other file
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(final: str | Path, text: str) -> Path:
    with atomic_file(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(final)


def write_json(final: str | Path, data, **kw) -> Path:
    return write_text(final, json.dumps(data, **({"indent": 1} | kw)))


@contextlib.contextmanager
def file_lock(path: Path, what: str):
    """An exclusive lock on ``path`` for the duration of the block; waits (and says so) while another run holds it."""
    make_dirs(path.parent)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        _fail("lock", path, exc)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another run on {what} to finish", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


class Workspace:
    """The output tree of one design under ``out`` (see the module docstring); every path stays under ``out``."""

    def __init__(self, out: str | Path, design: str):
        self.out = Path(out)
        self.design = design
        self.root = self.out / path_component(design)
        try:
            is_file = self.out.exists() and not self.out.is_dir()
            inside = self.root.resolve().parent == self.out.resolve()
            self.root.exists()  # a path the system refuses (too long, a file on the way) fails here, not mid-run
        except OSError as exc:
            raise CodesignError(f"cannot use output directory {self.out}: {exc.strerror or exc}") from None
        if is_file:
            raise CodesignError(f"output directory {self.out} exists and is not a directory")
        if not inside:  # cannot happen with path_component; a guard for the future
            raise CodesignError(f"design directory {self.root} is not inside {self.out}")

    def path(self, *parts: str) -> Path:
        """A path inside the design directory; ``parts`` are codesign's own names or mangled user names."""
        p = self.root.joinpath(*parts)
        if not p.resolve().is_relative_to(self.root.resolve()):
            raise CodesignError(f"{p} is not inside {self.root}")
        return p

    # the places of the tree
    def manifest(self) -> Path:
        return self.path("manifest.json")

    def stage(self, name: str) -> Path:
        """``model``, ``verify``, ``report``, ``oracle``, ``evaluation`` or ``dse``."""
        return self.path(name)

    def campaign(self, tag: str) -> Path:
        return self.path("campaigns", path_component(tag))

    def ranking(self, method: str) -> Path:
        return self.path("rank", path_component(method))

    def work(self, *parts: str) -> Path:
        """Resumable state under ``.work/`` (created on demand)."""
        return self.path(".work", *parts)

    def store(self, tag: str) -> Path:
        return self.work(f"{path_component(tag)}.sqlite")

    # writing
    def writing(self, *parts: str):
        """``with ws.writing("oracle") as tmp:`` — the directory appears whole when the block succeeds."""
        return atomic_dir(self.path(*parts))

    def make(self) -> Path:
        return make_dirs(self.root)

    def lock(self):
        """Held by a command for as long as it writes into this design's directory."""
        self.make()
        return file_lock(self.path(".lock"), f"{self.root}")
