"""Yosys on every generated design: generic ``synth`` (cells, flops, ``stat -tech cmos`` transistors, ``ltp`` depth)
and ``synth_xilinx -family xc7`` (LUTs, FFs, DSP48E1), unprotected and with a TMR plan.

Usage: CODESIGN_DATA=... nice python bench/yosys_all.py [--designs digits_s,econt_m] [--plan 0.1] [--json out.json]
       [--use-cache]

Per design: the unprotected RTL with an empty Yosys cache (the datapath is synthesized: cold), then the same network
with a random plan protecting ``--plan`` of its bits (the datapath comes from the cache: only the register part is
synthesized, which is what every further design point of an exploration costs). ``--use-cache`` keeps the regular
cache (``$CODESIGN_CACHE/yosys``) instead of a fresh temporary one.
"""

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DESIGNS = ["digits_s", "digits_m", "digits_l", "smartpixel_s", "smartpixel_m", "smartpixel_l", "econt_s", "econt_m",
           "econt_l"]
ROOT = Path(__file__).resolve().parents[1]


def _row(name, point, r, bits):
    g, x = r["generic"], r.get("xilinx", {})
    dp = r["parts"]["datapath"]
    return {"design": name, "point": point, "protected_bits": bits, "cells": g["cells"], "flops": g["flops"],
            "luts": x.get("luts"), "ffs": x.get("ffs"), "carry4": x.get("carry4"), "dsp48e1": x.get("dsp48e1"),
            "transistors": r.get("cmos_transistors"), "depth": r.get("logic_depth"),
            "generic_s": r["seconds"], "xc7_s": x.get("seconds"), "datapath_cached": dp["cached"],
            "datapath_generic_s": dp["seconds"], "datapath_xc7_s": dp.get("xilinx", {}).get("seconds"),
            "registers_generic_s": r["parts"]["registers"]["seconds"],
            "registers_xc7_s": r["parts"]["registers"].get("xilinx", {}).get("seconds")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--designs", default=",".join(DESIGNS))
    ap.add_argument("--plan", type=float, default=0.1, help="fraction of bits in the TMR design point (0: none)")
    ap.add_argument("--json", default="")
    ap.add_argument("--use-cache", action="store_true")
    ap.add_argument("--timeout", type=float, default=4 * 3600)
    ap.add_argument("--generic-only", action="store_true", help="skip synth_xilinx (the slow part on L designs)")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.disable(logging.WARNING)
    tmp_cache = None if args.use_cache else tempfile.TemporaryDirectory(prefix="codesign-yosys-cache-")
    from codesign import spec
    from codesign.prepare import Prepared
    from codesign.protect.plan import Plan
    from codesign.rtl import yosys as ys
    from codesign.rtl.generate import write_rtl

    if tmp_cache is not None:
        ys.cache_root = lambda: Path(tmp_cache.name)  # cold datapath synthesis; zoo models keep the real cache
    rows = []
    header = ("| design | point | cells | flops | LUTs | FFs | CARRY4 | DSP48E1 | transistors | depth | generic s | "
              "xc7 s | of which datapath s (generic / xc7) |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name in args.designs.split(","):
        design = Prepared(spec.load(ROOT / "designs" / f"{name}.yaml"), os.environ.get("CODESIGN_DATA"))
        q = design.qnet
        points = [("none", None)]
        if args.plan > 0:
            rng = np.random.default_rng(0)
            bits = np.sort(rng.choice(q.bitspace.size, int(round(args.plan * q.bitspace.size)), replace=False))
            points.append((f"TMR {args.plan:g}", Plan.of(design.name, q, bits)))
        for label, plan in points:
            with tempfile.TemporaryDirectory(prefix="codesign-yosys-all-") as tmp:
                t = time.time()
                s = write_rtl(q, Path(tmp) / "rtl", plan)
                try:
                    r = ys.yosys_stats(s, xilinx=not args.generic_only, cmos=True, ltp=True, timeout=args.timeout)
                except Exception as exc:  # report and go on with the next design
                    print(f"| {name} | {label} | failed after {time.time() - t:.0f} s: {exc} |", flush=True)
                    rows.append({"design": name, "point": label, "error": str(exc)})
                    continue
            row = _row(name, label, r, s.protected_bits)
            row["units"] = len(s.datapath["units"])
            row["unit_instances"] = s.datapath["unit_instances"]
            row["unit_depths"] = r["parts"]["datapath"]["unit_depths"]
            rows.append(row)
            dp = r["parts"]["datapath"]
            dps = ("cached" if dp["cached"] else
                   f"{dp['seconds']:.0f} / " + (f"{dp['xilinx']['seconds']:.0f}" if "xilinx" in dp else "-"))

            def f(v, spec=","):
                return "-" if v is None else format(v, spec)

            print(f"| {name} | {label} | {f(row['cells'])} | {f(row['flops'])} | {f(row['luts'])} | {f(row['ffs'])} | "
                  f"{f(row['carry4'])} | {f(row['dsp48e1'])} | {f(row['transistors'])} | {row['depth']} | "
                  f"{row['generic_s']:.0f} | {f(row['xc7_s'], '.0f')} | {dps} |".replace(",", " "), flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1))
    if tmp_cache is not None:
        tmp_cache.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
