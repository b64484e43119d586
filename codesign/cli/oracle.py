"""``codesign oracle``: the exhaustive single-bit campaign (ΔC of every weight and bias bit)."""

from __future__ import annotations

from codesign.cli.common import campaign_options, check_campaign_options, prepared, workspace


def add(sub) -> None:
    s = sub.add_parser("oracle", help="exhaustive single-bit campaign: ΔC of every weight and bias bit")
    campaign_options(s)
    s.set_defaults(func=run)


def run(args) -> int:
    from codesign.flow.campaigns import oracle

    check_campaign_options(args)
    p = prepared(args)
    ws = workspace(args, p)
    p.evaluator()  # the data and the network are checked before anything is written
    with ws.lock():
        s = oracle(p, ws, workers=args.workers, scheduler=args.scheduler, weights_only=args.weights_only)
    print(f"{s['design']}: {s['bits']} bits on {s['rows']} rows, fault-free {s['metric']} {s['cost_fault_free']:.6g}")
    print(f"  sensitive {s['sensitive']} ({100 * s['sensitive_fraction']:.2f} %); weight bits "
          f"{s['weight_bits_sensitive']}/{s['weight_bits']} ({100 * s['weight_sensitive_fraction']:.2f} %)")
    print(f"  ΔC sum {s['delta_cost_sum']:.6g}; weights {s['weights_delta_cost_sum']:.6g} of which MSB "
          f"{s['weights_msb_delta_cost_sum']:.6g}")
    print(f"  written to {s['out']}")
    return 0
