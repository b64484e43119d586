"""``codesign campaign``: a multi-bit or bit-error-rate fault campaign."""

from __future__ import annotations

from codesign.cli.common import campaign_options, check_campaign_options, load_plan, prepared, seed, workspace


def add(sub) -> None:
    s = sub.add_parser("campaign", help="multi-bit or bit-error-rate fault campaign")
    campaign_options(s)
    s.add_argument("--fault-model", default="multibit", help="multibit | ber | single")
    s.add_argument("--flips", type=int, help="bits flipped per trial (multibit)")
    s.add_argument("--rate", type=float, help="bit error rate in (0, 1) (ber)")
    s.add_argument("--trials", type=int, default=100)
    s.add_argument("--seed", type=int, help="default: the design's seed")
    s.add_argument("--protect", help="protection plan (JSON): protected bits never flip")
    s.set_defaults(func=run)


def run(args) -> int:
    from codesign.campaign.faults import FaultModel, FaultSpace
    from codesign.flow.campaigns import campaign

    check_campaign_options(args)
    p = prepared(args)
    model = FaultModel(args.fault_model, flips=args.flips, rate=args.rate, trials=args.trials,
                       weights_only=args.weights_only, seed=seed(args.seed, p.seed))
    ws = workspace(args, p)
    plan = load_plan(args.protect, p.qnet)
    FaultSpace(model, p.qnet.bitspace, None)  # the fault model fits the network
    p.evaluator()  # the data are checked before anything is written
    with ws.lock():
        s = campaign(p, ws, model, plan=plan, workers=args.workers, scheduler=args.scheduler)
    print(f"{s['design']}: {s['trials']} {args.fault_model} trials on {s['rows']} rows "
          f"(mean {s['mean_flips_applied']:.1f} flips applied of {s['mean_flips_drawn']:.1f} drawn)")
    print(f"  mean ΔC {s['mean_delta_cost']:.6g}, error rate {100 * s['error_rate']:.2f} %")
    print(f"  written to {s['out']}")
    return 0
