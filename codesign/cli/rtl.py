"""``codesign rtl``: Verilog-2001 of the network with weight register files (and TMR)."""

from __future__ import annotations

import json
from pathlib import Path

from codesign.cli.common import load_plan, prepared
from codesign.errors import CodesignError


def add(sub) -> None:
    s = sub.add_parser("rtl", help="Verilog-2001 of the network with weight register files (and TMR)")
    s.add_argument("design")
    s.add_argument("--out", required=True, help="directory to write")
    s.add_argument("--protect", help="protection plan: protected bits as three replica flops and a voter")
    s.add_argument("--yosys", action="store_true", help="also synthesize with Yosys and report area (slow)")
    s.set_defaults(func=run)


def run(args) -> int:
    from codesign.rtl.build import RtlBuild
    from codesign.rtl.generate import write_rtl
    from codesign.workspace import atomic_dir

    out = Path(args.out)
    if out.exists() and not (out.is_dir() and (RtlBuild.exists(out) or not any(out.iterdir()))):
        raise CodesignError(f"output directory {out} exists and is not a codesign RTL directory; choose another "
                            "--out or remove it")
    p = prepared(args)
    plan = load_plan(args.protect, p.qnet)
    build = write_rtl(p.qnet, out, plan)
    s = build.summary
    print(f"{p.name}: Verilog-2001 top {s['top']} in {out} ({len(s['sources'])} files), latency "
          f"{s['latency_cycles']} cycles, {s.get('weight_flops', '?')} weight flops")
    if args.yosys:
        from codesign.rtl.yosys import yosys_stats

        stats = yosys_stats(build, xilinx=True, cmos=True, ltp=True)
        with atomic_dir(out.with_name(out.name + "-yosys")) as tmp:
            (tmp / "yosys.json").write_text(json.dumps(stats, indent=1))
        g, x = stats["generic"], stats.get("xilinx", {})
        print(f"  Yosys: {g['cells']} cells, {g['flops']} flops; xc7 {x.get('luts')} LUTs, {x.get('ffs')} FFs; "
              f"{stats.get('cmos_transistors')} transistors; logic depth {stats.get('logic_depth')}; "
              f"written to {out.name}-yosys/yosys.json")
    return 0
