"""``codesign evaluate``: judge rankers against the stored oracle (``evaluation.csv``, plots)."""

from __future__ import annotations

from codesign.cli.rank import checked_design, rank_options


def add(sub) -> None:
    s = sub.add_parser("evaluate", help="judge rankers against the stored oracle (evaluation.csv, plots)")
    rank_options(s)
    s.add_argument("--rankers", help="comma list (default: all)")
    s.set_defaults(func=run)


def run(args) -> int:
    from codesign.flow.ranking import evaluate
    from codesign.rank.names import parse_rankers

    rankers = parse_rankers(args.rankers)
    p, ws = checked_design(args)
    with ws.lock():
        s = evaluate(p, ws, rankers, k=args.k, k_eigen=args.k_eigen, rows=args.rows)
    props = s["properties"]
    print(f"{s['design']}: {props['bits']} bits, {props['sensitive']} sensitive, model monoscore "
          f"{props['model_monoscore']:.3f}")
    for r in s["rankers"]:
        print(f"  {r['ranker']:<20} AUC/oracle {r['auc_vs_oracle']:.4f}  spearman "
              f"{'—' if r['spearman'] is None else format(r['spearman'], '.4f')}  FP {r['false_positives']}  "
              f"FN {r['false_negatives']}")
    print(f"  written to {s['out']}")
    return 0
