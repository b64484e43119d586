"""``codesign run``: the whole flow on a design file — fidelity, then the design-space exploration."""

from __future__ import annotations

from codesign.cli.common import prepared, simulator_option, workspace
from codesign.errors import CodesignError


def add(sub) -> None:
    s = sub.add_parser("run", help="the whole flow on a design file: fidelity, oracle/rankings, protection plans, "
                                   "RTL, Yosys, equivalence, masking, multi-bit campaigns, report")
    s.add_argument("design")
    s.add_argument("--out", default="out")
    s.add_argument("--samples", type=int, help="evaluate on the first N rows")
    s.add_argument("--workers", type=int, default=2, help="processes for the campaigns (default 2)")
    s.add_argument("--until", choices=("verify", "dse"), default="dse",
                   help="stop after the fidelity check (verify) or run the design-space exploration (dse, default)")
    simulator_option(s, "the masking runs (overrides dse.simulator)")
    s.set_defaults(func=run)


def run(args) -> int:
    from codesign.flow import fidelity

    if args.workers < 1:
        raise CodesignError("--workers must be >= 1")
    p = prepared(args, {"dse.simulator": args.simulator})
    ws = workspace(args, p)
    dse = p.dse() if args.until == "dse" else None  # every setting is checked before anything is written
    if dse is not None and dse.simulator:
        from codesign.rtl.simulators import get_simulator

        get_simulator(dse.simulator)  # installed? (one line now, not after the oracle)
    p.data  # noqa: B018  (the data are checked too)
    with ws.lock():
        s = fidelity.run(p, ws)
        _print_fidelity(s)
        if not s["fidelity"]["ok"]:
            return 1
        if dse is None:
            return 0
        from codesign.dse.run import run_dse

        print(f"design-space exploration: rankers {', '.join(dse.rankers)}; budgets "
              f"{', '.join(['none', 'full'] + [t for t, _ in dse.budgets])}; multi-bit {dse.flips} flips x "
              f"{dse.trials} trials", flush=True)
        d = run_dse(p, ws, workers=args.workers, progress=lambda m: print(m, flush=True))
    best = d.get("smallest_point_under_1pct_residual")
    if best:
        print(f"  smallest design with multi-bit ΔC <= 1 % of unprotected: {best['point']} "
              f"({best['area_overhead_pct']:.1f} % of full TMR's area overhead)")
    print(f"  report: {ws.stage('dse') / 'report.html'}")
    return 0


def _print_fidelity(s: dict) -> None:
    fid = s["fidelity"]["mismatches"]
    line = f"{s['design']}: {s['rows']} rows of {s['data']}, metric {s['metric']} fault-free {s['cost_fault_free']:.6g}"
    if "accuracy" in s:
        line += f" (accuracy {s['accuracy']:.4f})"
    print(line)
    print(f"  BitSpace: {s['weight_bits']} weight bits + {s['bias_bits']} bias bits = {s['bitspace_bits']}")
    print("  fidelity vs QKeras: " + ", ".join(f"{k} {v} mismatches" for k, v in fid.items()))
    print(f"  written to {s['out']}")
