"""Oracle speed on ECON-T-M (needs CODESIGN_DATA): incremental vs brute force, and the wall time of the full
exhaustive oracle with 2 workers.

Two per-bit comparisons, in the same process: (1) ``--bits`` bits sampled over the whole BitSpace, evaluated one by
one in index order (no two share an output column, so the memo rarely helps); (2) every bit of ``--columns`` output
columns of the dense layer, in the order the oracle's workers evaluate them (one column at a time, the memo holding
that column), against brute force on ``--bits`` of them.

Usage: python bench/oracle.py [--rows 20000] [--bits 500] [--columns 2] [--workers 2] [--skip-full]
"""

import argparse
import os
import shutil
import tempfile
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--bits", type=int, default=500)
    ap.add_argument("--columns", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-full", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from codesign import spec
    from codesign.campaign.evaluate import Evaluator
    from codesign.flow import campaigns
    from codesign.prepare import Prepared
    from codesign.workspace import Workspace

    prepared = Prepared(spec.from_dict({"name": "econt_m", "model": {"zoo": "econt_m"}, "metric": "emd",
                                        "data": {"dataset": "hgcal", "file": "ttbar_0PU"}, "samples": args.rows}))
    qnet = prepared.qnet
    cost = prepared.cost()
    bits = np.sort(np.random.default_rng(0).choice(qnet.bitspace.size, args.bits, replace=False))
    ev = Evaluator(qnet, cost)
    t = time.perf_counter()
    fast = [ev.evaluate([b]) for b in bits]
    t_fast = time.perf_counter() - t
    ev = Evaluator(qnet, cost)
    t = time.perf_counter()
    brute = [ev.brute_force([b]) for b in bits]
    t_brute = time.perf_counter() - t
    same = all(a.delta_cost == b.delta_cost for a, b in zip(fast, brute))
    print(f"ECON-T-M, {ev.n_rows} ttbar rows, {len(bits)} sampled bits: identical ΔC: {same}")
    print(f"  incremental {t_fast:8.1f} s  ({1e3 * t_fast / len(bits):.1f} ms/bit, mean changed rows "
          f"{np.mean([o.changed_rows for o in fast]):.0f})")
    print(f"  brute force {t_brute:8.1f} s  ({1e3 * t_brute / len(bits):.1f} ms/bit)")
    print(f"  ratio brute/incremental: {t_brute / t_fast:.1f}x")
    columns = qnet.bitspace.columns(np.arange(qnet.bitspace.size))
    dense = columns >> 32 == max(columns >> 32)
    picked = np.random.default_rng(1).choice(np.unique(columns[dense]), args.columns, replace=False)
    col_bits = np.flatnonzero(np.isin(columns, picked))
    ev = Evaluator(qnet, cost)
    t = time.perf_counter()
    fast = {}
    for c in picked:  # as a worker gets them: one column per chunk
        fast.update((int(b), ev.evaluate([b])) for b in np.flatnonzero(columns == c))
    t_fast = time.perf_counter() - t
    sample = np.sort(np.random.default_rng(2).choice(col_bits, min(args.bits, len(col_bits)), replace=False))
    ev = Evaluator(qnet, cost)
    t = time.perf_counter()
    brute = {int(b): ev.brute_force([b]) for b in sample}
    t_brute = time.perf_counter() - t
    same = all(fast[b].delta_cost == o.delta_cost for b, o in brute.items())
    per_fast, per_brute = t_fast / len(col_bits), t_brute / len(sample)
    print(f"{args.columns} whole dense columns ({len(col_bits)} bits) in the oracle's order; brute force on "
          f"{len(sample)} of them: identical ΔC: {same}")
    print(f"  incremental {1e3 * per_fast:.1f} ms/bit (mean changed rows "
          f"{np.mean([o.changed_rows for o in fast.values()]):.0f}); brute force {1e3 * per_brute:.1f} ms/bit; "
          f"ratio {per_brute / per_fast:.1f}x")
    if args.skip_full:
        return
    out = tempfile.mkdtemp(prefix="bench-oracle-")
    try:
        t = time.perf_counter()
        s = campaigns.oracle(prepared, Workspace(out, prepared.name), workers=args.workers)
        wall = time.perf_counter() - t
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"full oracle: {s['bits']} bits, {args.workers} workers, wall {wall / 60:.1f} min; "
          f"sensitive {100 * s['sensitive_fraction']:.2f} % (weights {100 * s['weight_sensitive_fraction']:.2f} %); "
          f"weights ΔEMD sum {s['weights_delta_cost_sum']:.3f}, MSB {s['weights_msb_delta_cost_sum']:.3f}")


if __name__ == "__main__":
    main()
