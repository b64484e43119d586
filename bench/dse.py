"""End-to-end design-space exploration timing and the selective-TMR acceptance figures of one design.

    python bench/dse.py designs/econt_m.yaml --out OUT                 # `codesign run` with the design's defaults
    python bench/dse.py designs/econt_m.yaml --out OUT --trials 1000 --budgets sensitive,0.2,0.3,0.4,0.5

Prints the wall time, the time per stage, every design point, the share of multi-bit errors that protecting the
oracle's sensitive bits prevents, and the smallest point whose residual multi-bit ΔC is <= 1 % of the unprotected
design's, with its share of full TMR's area overhead. An existing oracle under OUT is reused (its time is then 0).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("design")
    ap.add_argument("--out", default="out-bench")
    ap.add_argument("--trials", type=int)
    ap.add_argument("--budgets")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    t0 = time.time()
    if args.trials is None and args.budgets is None:
        proc = subprocess.run([sys.executable, "-m", "codesign.cli", "run", args.design, "--out", args.out,
                               "--workers", str(args.workers)], text=True)
        if proc.returncode:
            return proc.returncode
        import yaml

        name = yaml.safe_load(Path(args.design).read_text())["name"]
        summary = json.loads((Path(args.out) / name / "dse" / "dse.json").read_text())
        import csv

        with open(Path(args.out) / name / "dse" / "design_points.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        from codesign.dse import explore

        budgets = None
        if args.budgets:
            budgets = args.budgets.split(",")  # parse_budget reads "0.4", "sensitive", ... as written
        summary = explore(args.design, out=args.out, budgets=budgets, trials=args.trials, workers=args.workers,
                          progress=lambda m: print(m, flush=True))
        rows = summary["rows"]
    wall = time.time() - t0
    print(f"\nwall time {wall / 60:.1f} min; stages (s): {json.dumps(summary['timings_s'])}")
    print("| point | protected bits | cells | LUTs | FFs | overhead % of full TMR | multi-bit ΔC | error rate | "
          "errors prevented % | equivalence | masking |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        f = lambda k, fmt="{:.4g}": "" if r[k] in ("", None) else fmt.format(float(r[k]))  # noqa: E731
        print(f"| {r['point']} | {r['protected_bits']} | {r['area_cells']} | {r['luts']} | {r['ffs']} | "
              f"{f('area_overhead_pct', '{:.1f}')} | {f('multibit_mean_delta_cost')} | {f('multibit_error_rate')} | "
              f"{f('errors_prevented_pct', '{:.2f}')} | {r['equivalence']} | {r['masking_verified']} |")
    print(f"sensitive bits protected: errors prevented {summary.get('sensitive_errors_prevented_pct')} %")
    print(f"smallest point with residual multi-bit ΔC <= 1 % of unprotected: "
          f"{json.dumps(summary.get('smallest_point_under_1pct_residual'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
