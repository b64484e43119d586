"""Area and logic depth of a generated design with Yosys: ``synth; stat -json`` (and optionally xc7 LUT/FF,
``stat -tech cmos`` transistors, ``ltp`` logic depth).

Fully parallel datapaths with weight *registers* need generic multipliers, so synthesis takes minutes for the
real designs (measured in bench/rtl.py); tests run it on small ones.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from codesign.errors import CodesignError

INSTALL_HINT = "apt-get install -y yosys"


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


def _cells(stat: dict, top: str) -> dict:
    # "design" sums the hierarchy below the top (TMR replica flops live in kept tmr_ff instances)
    mod = stat["design"]
    by_type = {k.lstrip("\\$"): v for k, v in mod.get("num_cells_by_type", {}).items()}
    flops = sum(v for k, v in by_type.items() if "DFF" in k.upper() or re.fullmatch(r"FD[A-Z]*", k))
    return {"cells": mod["num_cells"], "flops": flops, "cells_by_type": by_type, "wire_bits": mod["num_wire_bits"]}


def yosys_stats(rtl_dir, xilinx: bool = False, cmos: bool = False, ltp: bool = False,
                timeout: float = 3600.0) -> dict:
    """Synthesize the design in ``rtl_dir`` (written by :func:`codesign.rtl.generate.write_rtl`) and return
    ``{"generic": {cells, flops, cells_by_type, wire_bits}, "seconds": ...}`` plus ``"xilinx"`` (LUTs, FFs, CARRY4,
    DSP48E1), ``"cmos_transistors"`` and ``"logic_depth"`` when asked."""
    rtl_dir = Path(rtl_dir).resolve()
    try:
        summary = json.loads((rtl_dir / "rtl.json").read_text())
    except (OSError, ValueError):
        raise CodesignError(f"{rtl_dir} is not a generated RTL directory (no readable rtl.json)") from None
    top = summary["top"]
    read = "read_verilog " + " ".join(str(rtl_dir / s) for s in summary["sources"])
    out: dict = {"top": top}
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="codesign-yosys-") as tmp:
        tmp = Path(tmp)
        steps = [read, f"synth -top {top}", "tee -q -o stat.json stat -json"]
        if cmos:
            steps.append("tee -q -o cmos.txt stat -tech cmos")
        if ltp:
            steps.append("tee -q -o ltp.txt ltp -noff")
        _run("; ".join(steps), tmp, timeout)
        out["generic"] = _cells(json.loads((tmp / "stat.json").read_text()), top)
        if cmos:
            m = re.search(r"Estimated number of transistors:\s*(\d+)", (tmp / "cmos.txt").read_text())
            out["cmos_transistors"] = int(m.group(1)) if m else None
        if ltp:
            m = re.search(r"length=(\d+)", (tmp / "ltp.txt").read_text())
            out["logic_depth"] = int(m.group(1)) if m else None
        out["seconds"] = round(time.time() - t0, 1)
        if xilinx:
            t1 = time.time()
            _run("; ".join([read, f"synth_xilinx -family xc7 -noiopad -noclkbuf -top {top}",
                            "tee -q -o xc7.json stat -json"]), tmp, timeout)
            cells = _cells(json.loads((tmp / "xc7.json").read_text()), top)
            by = cells["cells_by_type"]
            out["xilinx"] = {"luts": sum(v for k, v in by.items() if re.fullmatch(r"LUT\d", k)),
                             "ffs": sum(v for k, v in by.items() if re.fullmatch(r"FD[A-Z]*", k)),
                             "carry4": by.get("CARRY4", 0), "dsp48e1": by.get("DSP48E1", 0),
                             "cells_by_type": by, "seconds": round(time.time() - t1, 1)}
    return out
