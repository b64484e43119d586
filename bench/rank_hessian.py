"""Hessian ranking time (FKeras eq. 3: top-k eigenpairs by power iteration with deflation + per-layer Hutchinson
trace) on a zoo design; goal for ECON-T-L (61 k parameters): ≤ 60 s on 2 cores.

    python bench/rank_hessian.py designs/econt_l.yaml [--k 8] [--rows 1000]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("design")
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--rows", type=int, default=1000)
    a = p.parse_args()
    from codesign import spec
    from codesign.prepare import Prepared
    from codesign.rank.static import hessian_rank

    design = Prepared(spec.load(a.design))
    ctx = design.rank_context(a.rows)
    t0 = time.perf_counter()
    loss = ctx.loss
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = hessian_rank(ctx, k=a.k)
    t_rank = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_hvp = 20
    import numpy as np

    v = np.ones(loss.n)
    for _ in range(n_hvp):
        loss.hvp(v)
    t_hvp = (time.perf_counter() - t0) / n_hvp
    print(f"{design.name}: {loss.n} parameters, {a.rows} rows, k={a.k}")
    print(f"  model + loss set-up {t_build:.1f} s; Hessian ranking {t_rank:.1f} s "
          f"(power iterations per eigenpair {loss.iterations}); one HVP {1000 * t_hvp:.0f} ms")
    print(f"  eigenvalues {[round(x, 5) for x in r.info['eigenvalues']]}")
    print(f"  per-tensor trace {({k: round(v, 5) for k, v in r.info['layer_trace'].items()})}")
    print(f"  total {t_build + t_rank:.1f} s (goal ≤ 60 s)")


if __name__ == "__main__":
    main()
