"""Sweep TMR budgets on a design and pick the smallest design whose multi-bit ΔC stays under a limit.

    python examples/dse_sweep.py designs/digits_s.yaml --limit 0.01 --budgets 0.02,0.05,0.1,0.2 --out out

Prints one line per design point and the chosen one; exits 1 when no point meets the limit.
"""

from __future__ import annotations

import argparse
import sys

from codesign.dse import explore
from codesign.errors import CodesignError


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("design")
    ap.add_argument("--limit", type=float, required=True, help="largest acceptable mean multi-bit ΔC")
    ap.add_argument("--budgets", default="0.02,0.05,0.1,0.2", help="fractions of the bits to protect")
    ap.add_argument("--ranker", default="bitwise")
    ap.add_argument("--trials", type=int, help="multi-bit trials per point (default: the design file's)")
    ap.add_argument("--out", default="out")
    args = ap.parse_args(argv)
    try:
        budgets = [float(b) for b in args.budgets.split(",")]
        result = explore(args.design, out=args.out, rankers=[args.ranker], budgets=budgets, trials=args.trials)
    except (CodesignError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for r in result["rows"]:
        print(f"{r['point']:>20}: {r['protected_bits']:>6} bits, {r['area_cells']:>9} cells, "
              f"multi-bit ΔC {r['multibit_mean_delta_cost']:.4g}")
    ok = [r for r in result["rows"] if r["multibit_mean_delta_cost"] <= args.limit
          and r["equivalence"] and r["masking_verified"]]
    if not ok:
        print(f"no design point keeps the multi-bit ΔC <= {args.limit}")
        return 1
    best = min(ok, key=lambda r: (r["area_cells"], r["protected_bits"]))
    print(f"chosen: {best['point']} ({best['protected_bits']} bits, {best['area_cells']} cells, "
          f"ΔC {best['multibit_mean_delta_cost']:.4g}); report: {result['dir']}/report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
