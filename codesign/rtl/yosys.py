"""Area and logic depth of a generated design with Yosys (``synth``, ``synth_xilinx -family xc7``, ``stat -tech cmos``,
``ltp -noff``), synthesized in two parts and added:

- the **datapath** (``<top>_datapath.v``, the same text for every protection plan): synthesized once as a hierarchy
  (each distinct unit module once; ``stat -top`` multiplies by the instance counts) and cached as JSON under
  ``$CODESIGN_CACHE/yosys/`` keyed by the sha256 of its text, the Yosys version and the script;
- the **registers** (``<top>.v``: weight registers, TMR replicas and voters, load logic) with the datapath as a
  black box: the only part synthesized again for each protection plan.

Totals are the sums of the two parts (the black-box cell itself not counted). ``cmos_transistors`` is ``stat -tech
cmos`` after ``dfflegalize`` to plain D flip-flops (Yosys has no transistor count for enable/reset flops, which it
would otherwise leave out). ``logic_depth`` is an upper bound of the longest combinational path (``ltp -noff``, in
cells): every unit module of the datapath registers its outputs and reads registers (or ``in_data``), so the
datapath's register-to-register depth is the deepest unit module; a weight read through a TMR voter adds the voter's
depth; the load path (address decode to register enables) is the registers part's own depth. So
``logic_depth = max(registers, deepest unit + (voter depth if any bit is triplicated))``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from codesign.errors import CodesignError
from codesign.rtl.build import RtlBuild

INSTALL_HINT = "apt-get install -y yosys"
CACHE_VERSION = 2  # bump when the scripts or the stored fields change

# {dp}: the datapath module; {top}: the top module. Scripts run in a temporary directory holding dp.v / stub.v.
_DP_GENERIC = ("read_verilog dp.v; synth -top {dp}; tee -q -o stat.json stat -json -top {dp}; "
               "tee -q -o ltp.txt ltp -noff; dfflegalize -cell $_DFF_P_ x; "
               "tee -q -o cmos.txt stat -tech cmos -top {dp}")
_DP_XILINX = ("read_verilog dp.v; synth_xilinx -family xc7 -noiopad -noclkbuf -top {dp}; "
              "tee -q -o stat.json stat -json -top {dp}")
_TOP_READ = "read_verilog stub.v; read_verilog {sources}"
# Split-word modules are synthesized once each by ``synth`` and inlined after it (``_INLINE``): Yosys 0.23's ``stat
# -json -top`` writes invalid JSON for a hierarchy deeper than one level (top -> word -> tmr_ff).
_INLINE = "setattr -mod -set keep_hierarchy 1 *tmr_vote*; flatten"
_TOP_GENERIC = ("synth -top {top}; tee -q -o ltp.txt ltp -noff; " + _INLINE + "; "
                "tee -q -o stat.json stat -json -top {top}; "
                "design -save synthesized; delete {top}/t:{dp} {top}/t:*tmr_ff* {top}/t:*tmr_vote*; "
                "tee -q -o ltp_top.txt ltp -noff {top}; design -load synthesized; dfflegalize -cell $_DFF_P_ x; "
                "tee -q -o cmos.txt stat -tech cmos -top {top}")
_TOP_XILINX = ("synth_xilinx -family xc7 -noiopad -noclkbuf -top {top}; " + _INLINE + "; "
               "tee -q -o stat.json stat -json -top {top}")


def _run(script: str, cwd: Path, timeout: float) -> str:
    if shutil.which("yosys") is None:
        raise CodesignError(f"yosys is not installed; install it with: {INSTALL_HINT}")
    try:
        proc = subprocess.run(["yosys", "-q", "-p", script], cwd=cwd, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CodesignError(f"yosys did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        err = [l for l in (proc.stderr + proc.stdout).splitlines() if l.strip()]
        if proc.returncode < 0:  # killed: no output to quote (the kernel's OOM killer sends SIGKILL)
            import signal

            why = f"killed by {signal.Signals(-proc.returncode).name} (out of memory?)"
        else:
            why = f"exit {proc.returncode}"
        raise CodesignError(f"yosys failed ({why}): {' | '.join(err[-3:])[-400:] or 'no output'}")
    return proc.stdout


@functools.lru_cache(maxsize=1)
def yosys_version() -> str:
    if shutil.which("yosys") is None:
        raise CodesignError(f"yosys is not installed; install it with: {INSTALL_HINT}")
    return subprocess.run(["yosys", "-V"], capture_output=True, text=True).stdout.strip()


def _cells(stat: dict, drop: tuple = ()) -> dict:
    """Totals of ``stat -json -top``'s ``design`` (the hierarchy below the top, instance counts multiplied), without
    the cells of the types in ``drop`` (black boxes)."""
    mod = stat["design"]
    by_type = {k.lstrip("\\$"): v for k, v in mod.get("num_cells_by_type", {}).items()}
    dropped = sum(by_type.pop(d, 0) for d in drop)
    flops = sum(v for k, v in by_type.items() if "DFF" in k.upper() or re.fullmatch(r"FD[A-Z]*", k))
    return {"cells": mod["num_cells"] - dropped, "flops": flops, "cells_by_type": by_type,
            "wire_bits": mod["num_wire_bits"]}


def _xilinx(cells: dict) -> dict:
    by = cells["cells_by_type"]
    return {"luts": sum(v for k, v in by.items() if re.fullmatch(r"LUT\d", k)),
            "ffs": sum(v for k, v in by.items() if re.fullmatch(r"FD[A-Z]*", k)),
            "carry4": by.get("CARRY4", 0), "dsp48e1": by.get("DSP48E1", 0), "cells_by_type": by}


def _transistors(text: str) -> int | None:
    """The hierarchy total of ``stat -tech cmos -top`` (the last estimate printed)."""
    found = re.findall(r"Estimated number of transistors:\s*(\d+)", text)
    return int(found[-1]) if found else None


def _depths(text: str) -> dict[str, int]:
    return {m.lstrip("\\"): int(n) for m, n in re.findall(r"Longest topological path in (\S+) \(length=(\d+)\)", text)}


def _add(a: dict, b: dict) -> dict:
    by = dict(a["cells_by_type"])
    for k, v in b["cells_by_type"].items():
        by[k] = by.get(k, 0) + v
    out = {k: a[k] + b[k] for k in a if k != "cells_by_type"}
    out["cells_by_type"] = dict(sorted(by.items()))
    return out


def _blackbox_stub(dp_text: str, module: str) -> str:
    """The datapath's port list as an empty black-box module (the generator writes the wrapper header as
    ``module <name> (`` ... ``);``)."""
    start = dp_text.rindex(f"\nmodule {module} (") + 1
    end = dp_text.index("\n);", start) + 3
    return "(* blackbox *)\n" + dp_text[start:end] + "\nendmodule\n"


def cache_root() -> Path:
    from codesign.paths import cache_dir

    path = cache_dir() / "yosys"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cached(kind: str, dp_text: str, module: str, template: str, compute, use_cache: bool) -> tuple[dict, bool]:
    key = hashlib.sha256("\n".join([str(CACHE_VERSION), kind, yosys_version(), template, module,
                                    hashlib.sha256(dp_text.encode()).hexdigest()]).encode()).hexdigest()
    path = cache_root() / f"{kind}-{key[:32]}.json"
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(str(path), threading.Lock())
    with lock:  # design points synthesized side by side wait for one datapath synthesis instead of repeating it
        if use_cache and path.is_file():
            try:
                return json.loads(path.read_text()), True
            except ValueError:
                pass  # a damaged entry: compute again
        value = compute()
        if use_cache:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
            tmp.write_text(json.dumps(value))
            os.replace(tmp, path)
        return value, False


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _modules(dp_text: str, wrapper: str) -> tuple[str, dict[str, str]]:
    """The datapath file split into the wrapper with every unit module as a black-box stub, and the unit modules'
    own texts by name (the generator writes each as ``module <name> (`` ... ``endmodule``)."""
    units, stubs = {}, []
    for m in re.finditer(r"^module (\S+) \(", dp_text, flags=re.M):
        name = m.group(1)
        if name == wrapper:
            continue
        end = dp_text.index("\nendmodule", m.start()) + len("\nendmodule")
        units[name] = dp_text[m.start():end] + "\n"
        stubs.append(_blackbox_stub("\n" + units[name], name))
    start = dp_text.index(f"\nmodule {wrapper} (") + 1
    end = dp_text.index("\nendmodule", start) + len("\nendmodule")
    return "".join(stubs) + dp_text[start:end] + "\n", units


def _parallel(fn, items: list) -> list:
    """``fn`` over ``items`` in threads (each call waits on its own Yosys process), one per CPU."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(len(items), os.cpu_count() or 1))) as pool:
        return list(pool.map(fn, items))


def _scaled(parts: list[tuple[dict, int]]) -> dict:
    """Cell totals of modules each used ``n`` times (what ``stat -top`` does for a hierarchy)."""
    total = {"cells": 0, "flops": 0, "wire_bits": 0, "cells_by_type": {}}
    for cells, n in parts:
        total = _add(total, {"cells": n * cells["cells"], "flops": n * cells["flops"],
                             "wire_bits": n * cells["wire_bits"],
                             "cells_by_type": {k: n * v for k, v in cells["cells_by_type"].items()}})
    return total


def _datapath(dp_text: str, module: str, timeout: float, script: str, read) -> dict:
    """Synthesize the datapath one module at a time with ``script``: each distinct unit module in its own Yosys run
    (in parallel; ``read`` turns the files of one run into its results), then the wrapper with the units as black
    boxes, whose black-box cell counts are the instance counts. One run over the whole hierarchy grows with the
    wrapper's thousands of instances (digits-L: > 20 GB); per module it stays at the largest unit's size."""
    wrapper_text, units = _modules(dp_text, module)

    def one(item):
        name, text = item
        with tempfile.TemporaryDirectory(prefix="codesign-yosys-") as tmp:
            tmp = Path(tmp)
            (tmp / "dp.v").write_text(text)
            t0 = time.time()
            _run(script.format(dp=name), tmp, timeout)
            return {**read(tmp), "seconds": round(time.time() - t0, 1)}

    t0 = time.time()
    done = dict(zip(units, _parallel(one, list(units.items()))))
    wrap = one((module, wrapper_text))
    by_type = wrap["cells"]["cells_by_type"]
    counts = {u: by_type.get(u, 0) for u in units}
    own = _cells({"design": {"num_cells": wrap["cells"]["cells"], "num_wire_bits": wrap["cells"]["wire_bits"],
                             "num_cells_by_type": by_type}}, drop=tuple(units))
    return {"wrapper": wrap, "units": done, "counts": counts,
            "cells": _scaled([(own, 1)] + [(done[u]["cells"], n) for u, n in counts.items()]),
            "seconds": round(time.time() - t0, 1), "unit_seconds": {u: done[u]["seconds"] for u in units}}


def _read_generic(tmp: Path) -> dict:
    return {"cells": _cells(json.loads((tmp / "stat.json").read_text())),
            "cmos_transistors": _transistors((tmp / "cmos.txt").read_text()),
            "depth": max(_depths((tmp / "ltp.txt").read_text()).values(), default=0)}


def _datapath_generic(dp_text: str, module: str, timeout: float) -> dict:
    r = _datapath(dp_text, module, timeout, _DP_GENERIC, _read_generic)
    parts = [(r["wrapper"], 1)] + [(r["units"][u], n) for u, n in r["counts"].items()]
    cmos = None if any(p["cmos_transistors"] is None for p, _ in parts) else \
        sum(n * p["cmos_transistors"] for p, n in parts)
    depths = {u: r["units"][u]["depth"] for u in r["counts"]}
    return {"generic": r["cells"], "cmos_transistors": cmos,
            "logic_depth": max(depths.values(), default=r["wrapper"]["depth"]), "unit_depths": depths,
            "seconds": r["seconds"], "unit_seconds": r["unit_seconds"]}


def _datapath_xilinx(dp_text: str, module: str, timeout: float) -> dict:
    r = _datapath(dp_text, module, timeout, _DP_XILINX,
                  lambda tmp: {"cells": _cells(json.loads((tmp / "stat.json").read_text()))})
    return {**_xilinx(r["cells"]), "seconds": r["seconds"], "unit_seconds": r["unit_seconds"]}


def yosys_stats(build, xilinx: bool = False, cmos: bool = False, ltp: bool = False,
                timeout: float = 3600.0, cache: bool = True) -> dict:
    """Synthesize the design of ``build`` (an :class:`RtlBuild`, or its directory) and return
    ``{"generic": {cells, flops, cells_by_type, wire_bits}, "seconds": ...}`` plus ``"xilinx"`` (LUTs, FFs, CARRY4,
    DSP48E1), ``"cmos_transistors"`` and ``"logic_depth"`` when asked, and ``"parts"``: the same numbers for
    ``"datapath"`` (cached across protection plans unless ``cache=False``; ``"cached"`` says whether it was) and
    ``"registers"`` (see the module docstring)."""
    build = RtlBuild.of(build)
    rtl_dir, dpinfo, top = build.dir, build.datapath, build.top
    try:
        dp_text = (rtl_dir / dpinfo["file"]).read_text()
    except OSError as exc:
        raise CodesignError(f"cannot read {rtl_dir / dpinfo['file']}: {exc.strerror or exc}") from None
    dp = dpinfo["module"]
    if hashlib.sha256(dp_text.encode()).hexdigest() != dpinfo["sha256"]:
        raise CodesignError(f"{rtl_dir / dpinfo['file']} was modified after generation (its sha256 differs from "
                            "the RTL summary)")
    t0 = time.time()
    dp_gen, hit = _cached("generic", dp_text, dp, _DP_GENERIC, lambda: _datapath_generic(dp_text, dp, timeout), cache)
    dp_part: dict = {"generic": dp_gen["generic"], "cmos_transistors": dp_gen["cmos_transistors"],
                     "logic_depth": dp_gen["logic_depth"], "unit_depths": dp_gen["unit_depths"],
                     "seconds": dp_gen["seconds"], "cached": hit}
    top_sources = " ".join(str(rtl_dir / s) for s in build.sources if s != dpinfo["file"])
    read = _TOP_READ.format(sources=top_sources)
    reg_part: dict = {}
    with tempfile.TemporaryDirectory(prefix="codesign-yosys-") as tmp:
        tmp = Path(tmp)
        (tmp / "stub.v").write_text(_blackbox_stub(dp_text, dp))
        script = read + "; " + _TOP_GENERIC.format(top=top, dp=dp)
        if xilinx:  # one Yosys run for both flows: the front end (parsing, proc) once
            dp_x, hit_x = _cached("xc7", dp_text, dp, _DP_XILINX, lambda: _datapath_xilinx(dp_text, dp, timeout),
                                  cache)
            dp_part["xilinx"] = dict(dp_x, cached=hit_x)
            script = (f"{read}; hierarchy -top {top}; proc; design -save parsed; "
                      + _TOP_GENERIC.format(top=top, dp=dp) + "; design -load parsed; "
                      + _TOP_XILINX.format(top=top).replace("stat.json", "xstat.json"))
        t1 = time.time()
        _run(script, tmp, timeout)
        reg_part["generic"] = _cells(json.loads((tmp / "stat.json").read_text()), drop=(dp,))
        reg_part["cmos_transistors"] = _transistors((tmp / "cmos.txt").read_text())
        voter = max((d for m, d in _depths((tmp / "ltp.txt").read_text()).items() if "tmr_vote" in m), default=0)
        reg_part["voter_depth"] = voter if build.protected_bits else 0
        reg_part["logic_depth"] = max(_depths((tmp / "ltp_top.txt").read_text()).get(top, 0), reg_part["voter_depth"])
        reg_part["seconds"] = round(time.time() - t1, 1)  # both flows when xilinx
        if xilinx:
            reg_part["xilinx"] = _xilinx(_cells(json.loads((tmp / "xstat.json").read_text()), drop=(dp,)))
            reg_part["xilinx"]["seconds"] = None  # in reg_part["seconds"]
        generic_seconds = time.time() - t0
    out: dict = {"top": top, "generic": _add(dp_part["generic"], reg_part["generic"])}
    if cmos:
        a, b = dp_part["cmos_transistors"], reg_part["cmos_transistors"]
        out["cmos_transistors"] = None if a is None or b is None else a + b
    if ltp:
        out["logic_depth"] = max(reg_part["logic_depth"], dp_part["logic_depth"] + reg_part["voter_depth"])
    if xilinx:
        x = {k: dp_part["xilinx"][k] + reg_part["xilinx"][k] for k in ("luts", "ffs", "carry4", "dsp48e1")}
        x["cells_by_type"] = _add({"cells_by_type": dp_part["xilinx"]["cells_by_type"]},
                                  {"cells_by_type": reg_part["xilinx"]["cells_by_type"]})["cells_by_type"]
        x["seconds"] = dp_part["xilinx"]["seconds"] if not dp_part["xilinx"]["cached"] else 0.0  # datapath only
        out["xilinx"] = x
    out["parts"] = {"datapath": dp_part, "registers": reg_part}
    out["seconds"] = round(generic_seconds, 1)  # this whole call (a cached datapath costs nothing)
    return out
