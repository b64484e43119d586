"""The cheapest protection that meets a multi-bit ΔC target (``dse.target``).

Bisection over the first ranker's order: a probe protects the order's top ``k`` bits and runs the real multi-bit
campaign on the simulator (the same trials as every design point, so probes and points agree); the smallest ``k``
that meets the bound becomes the design point ``<ranker>-target``, measured like every other point (RTL, Yosys,
equivalence, masking). Bisection assumes the residual ΔC falls as protection grows, which a ranking makes likely but
does not guarantee: every probe is kept in ``dse.json`` so the curve can be checked.
"""

from __future__ import annotations

from dataclasses import replace

from codesign.dse import measure
from codesign.dse.schedule import POOL_WORK


def bound(target: dict, unprotected: float) -> float:
    if "relative" in target:
        return target["relative"] * unprotected
    return target["max_multibit_delta_cost"]


def search(run) -> dict:
    """Probe the bits of ``run.spec.rankers[0]`` until the smallest protection meeting the target is found; the
    spec gains ``target_bits`` and ``target_bound``."""
    spec, p = run.spec, run.prepared
    ranker = spec.rankers[0]
    order = run.orders[ranker]
    ev = p.evaluator()
    workers = run.workers if ev.n_rows * spec.trials >= POOL_WORK else 1
    probes: dict[int, float] = {}

    def residual(k: int) -> float:
        if k not in probes:
            mb = measure.multibit(p.name, run.ws, ev, spec, p.seed, order[:k], workers)
            probes[k] = mb["mean_delta_cost"]
        return probes[k]

    limit = bound(spec.target, residual(0))
    lo, hi = 0, len(order)  # residual(len(order)) is 0: every bit protected, no upset gets through
    if residual(0) <= limit:
        hi = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if residual(mid) <= limit else (mid, hi)
    run.spec = replace(spec, target_bits=hi, target_bound=limit)
    run.progress(f"  target: ΔC <= {limit:.4g} with the top {hi} bits of {ranker} ({len(probes)} probes)")
    return {**spec.target, "bound": limit, "ranker": ranker, "bits": hi,
            "probes": [{"bits": k, "multibit_mean_delta_cost": v} for k, v in sorted(probes.items())]}
