"""``codesign plan``: a protection plan (the bits to triplicate) from a ranking and a budget."""

from __future__ import annotations

from pathlib import Path

from codesign.cli.common import prepared, workspace
from codesign.errors import CodesignError


def add(sub) -> None:
    s = sub.add_parser("plan", help="protection plan (TMR bits) from a ranking and a budget")
    s.add_argument("design")
    s.add_argument("--ranker", default="oracle", help="oracle (default) or any ranker name")
    s.add_argument("--budget", required=True, help="fraction in [0,1] (or N%%), 'sensitive', 'observable', "
                   "'none' or 'full'")
    s.add_argument("--out", default="out", help="where the oracle lives (default out)")
    s.add_argument("--samples", type=int, help="evaluate on the first N rows")
    s.add_argument("--plan", required=True, help="JSON file to write")
    s.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from codesign.flow.campaigns import read_oracle
    from codesign.flow.ranking import order
    from codesign.protect.budget import parse_budget, select_bits
    from codesign.protect.plan import Plan
    from codesign.rank.names import canonical

    budget = parse_budget(args.budget)
    if args.ranker != "oracle":
        canonical(args.ranker)
    out_file = Path(args.plan)
    if out_file.is_dir():
        raise CodesignError(f"--plan {out_file} is a directory; give a .json file name")
    if not out_file.parent.is_dir():
        raise CodesignError(f"directory of --plan does not exist: {out_file.parent}")
    p = prepared(args)
    ws, qnet = workspace(args, p), p.qnet
    oracle = None
    if budget.kind in ("sensitive", "observable") or args.ranker == "oracle":
        oracle = read_oracle(p, ws)
    ranked = budget.kind in ("fraction", "bits", "area")  # the others do not depend on an order
    ranking = order(p, ws, args.ranker, oracle) if ranked else np.arange(qnet.bitspace.size)
    bits = select_bits(budget, ranking, qnet.bitspace.size, None if oracle is None else oracle.delta,
                       changed=None if oracle is None else oracle.changed)
    Plan.of(p.name, qnet, bits).save(out_file)
    print(f"{p.name}: plan protects {len(bits)} of {qnet.bitspace.size} bits "
          f"({budget.label} by {args.ranker}); written to {out_file}")
    return 0
