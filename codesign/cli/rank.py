"""``codesign rank``: order the weight and bias bits by predicted sensitivity (``rank.csv``)."""

from __future__ import annotations

from codesign.cli.common import prepared, workspace


def rank_options(s) -> None:
    s.add_argument("design")
    s.add_argument("--out", default="out")
    s.add_argument("--samples", type=int, help="evaluate faults on the first N rows")
    s.add_argument("--k", type=int, default=5, help="PrioriFI: median of the last k ΔC (default 5)")
    s.add_argument("--k-eigen", type=int, default=8, help="Hessian: top-k eigenpairs (default 8)")
    s.add_argument("--rows", type=int, default=1000, help="rows for gradients and Hessians (default 1000)")


def add(sub) -> None:
    s = sub.add_parser("rank", help="order the weight and bias bits by predicted sensitivity (rank.csv)")
    rank_options(s)
    s.add_argument("--method", required=True, help="random | msb | gradient | taylor | hessian | bitwise | "
                   "bitwise_sampled | priorifi | bitwise_dynamic | binfi_actual | binfi_implied | binfi_serial "
                   "| statfi_data_aware | statfi_data_unaware")
    s.set_defaults(func=run)


def checked_design(args):
    """The design and its workspace, after every option of :func:`rank_options` is checked (rank and evaluate)."""
    from codesign.errors import CodesignError
    from codesign.rank.api import check_options

    check_options(args.k, args.k_eigen)
    if args.rows <= 0:
        raise CodesignError("--rows must be a positive integer")
    p = prepared(args)
    return p, workspace(args, p)


def run(args) -> int:
    from codesign.flow.ranking import rank
    from codesign.rank.names import canonical

    method = canonical(args.method)
    p, ws = checked_design(args)
    p.evaluator()  # the data are checked before anything is written
    with ws.lock():
        s = rank(p, ws, method, k=args.k, k_eigen=args.k_eigen, rows=args.rows)
    print(f"{s['design']}: {s['method']} ranked {s['bits']} bits ({s['source']}) in {s['seconds']:.1f} s")
    if "layer_trace" in s:
        print("  Hessian trace per tensor: " + ", ".join(f"{k} {v:.4g}" for k, v in s["layer_trace"].items()))
    print(f"  written to {s['out']}/rank.csv")
    return 0
