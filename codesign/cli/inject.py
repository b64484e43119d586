"""``codesign inject``: inject faults at one level and write ΔC per fault."""

from __future__ import annotations

from codesign.cli.common import load_plan, prepared, rtl_options, seed, simulator_option
from codesign.errors import CodesignError


def add(sub) -> None:
    s = sub.add_parser("inject", help="inject faults at one level (sim, hls, rtl) and write ΔC per fault")
    s.add_argument("design")
    s.add_argument("--level", default="sim", help="sim | hls | rtl (default sim)")
    s.add_argument("--bits", help="comma list of BitSpace indices, one single-bit fault each")
    s.add_argument("--sample", type=int, help="N sampled faults")
    s.add_argument("--flips", type=int, default=1, help="bits per sampled fault (default 1)")
    s.add_argument("--seed", type=int, help="default: the design's seed")
    s.add_argument("--samples", type=int, help="evaluate on the first N rows")
    s.add_argument("--protect", help="protection plan: protected bits are triplicated (one replica is hit)")
    s.add_argument("--replica", type=int, default=0, help="replica a protected bit's upset hits (default 0)")
    s.add_argument("--out", required=True, help="CSV file to write")
    simulator_option(s, "--level rtl")
    s.set_defaults(func=run)


def run(args) -> int:
    from codesign import level as levels
    from codesign.campaign import inject

    cls = levels.get(args.level)
    if not cls.injects:
        raise CodesignError(f"level {args.level} cannot inject faults")
    if (args.bits is None) == (args.sample is None):
        raise CodesignError("inject needs exactly one of --bits I,J,... or --sample N")
    if args.replica not in (0, 1, 2):
        raise CodesignError("--replica must be 0, 1 or 2")
    p = prepared(args)
    options = rtl_options(args, p.spec, needed=args.level == "rtl")
    qnet = p.qnet
    plan = load_plan(args.protect, qnet)
    if args.bits is not None:
        faults = inject.parse_bits(args.bits, qnet.bitspace.size)
    else:
        faults = inject.sample_faults(qnet.bitspace.size, args.sample, args.flips, seed(args.seed, p.seed))
    s = inject.inject(p.name, p.evaluator(), args.level, faults, args.out, keras_model=p.model.onchip, plan=plan,
                      replica=args.replica, target_options=options if args.level == "rtl" else None)
    print(f"{s['design']}: {s['faults']} faults at level {s['level']} on {s['rows']} rows; "
          f"{s['sensitive']} with ΔC > 0, mean ΔC {s['mean_delta_cost']:.6g}")
    print(f"  written to {s['out']}")
    return 0
