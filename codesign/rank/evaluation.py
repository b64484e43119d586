"""Rankings judged against the exhaustive oracle (PrioriFI Fig. 2/7/9, Tables 3–5; FKeras Fig. 6/9/10).

``delta`` is the oracle's ΔC per BitSpace index (NaN where the oracle did not evaluate a bit; such bits are left out
of every measure). A ranking's curve is the cumulative oracle ΔC found after x injections (x = 1 … n).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import spearmanr

from codesign.rank.base import Ranking, bit_columns

TOP_K_PCT = (1, 5, 10, 25, 50)
DELTA_PCT = (25, 50, 75, 100)


def restrict(r: Ranking, evaluated: np.ndarray) -> Ranking:
    """The ranking on the oracle's bits only; injection counts renumbered over the kept entries."""
    keep = evaluated[r.order]
    injected = np.diff(np.concatenate([[0], r.flips])) > 0
    flips = np.cumsum(injected[keep])
    # an implied bit whose implying injection was dropped keeps the count of the last kept injection
    return Ranking(r.method, r.order[keep], np.maximum(flips, 1) if len(flips) else flips, r.predicted, r.info)


def curve(r: Ranking, delta: np.ndarray, n: int) -> np.ndarray:
    """Cumulative ΔC after x = 1..n injections."""
    per_flip = np.zeros(n + 1)
    np.add.at(per_flip, np.minimum(r.flips, n), delta[r.order])
    return np.cumsum(per_flip)[1:]


def oracle_curve(delta_eval: np.ndarray) -> np.ndarray:
    return np.cumsum(np.sort(delta_eval)[::-1])


def evaluate_ranking(r: Ranking, delta: np.ndarray, bitspace) -> dict:
    evaluated = ~np.isnan(delta)
    n = int(evaluated.sum())
    d = np.where(evaluated, delta, 0.0)
    r = restrict(r, evaluated)
    c = curve(r, d, n)
    oc = oracle_curve(d[evaluated])
    total = float(oc[-1]) if n else 0.0
    sens = (d > 0) & evaluated
    row = {"ranker": r.method, "bits_ranked": int(len(r.order)), "flips": int(r.flips[-1]) if len(r.flips) else 0,
           "auc_vs_oracle": float(c.sum() / oc.sum()) if total > 0 else 1.0}
    # Spearman: rank position vs ΔC; bits a ranking never reaches share the last place
    pos = np.full(bitspace.size, float(len(r.order)))
    pos[r.order] = np.arange(len(r.order))
    row["spearman"] = _spearman(-pos[evaluated], d[evaluated])
    cols = bit_columns(bitspace)
    for p in np.unique(cols["position"][evaluated]):
        sel = evaluated & (cols["position"] == p)
        row[f"spearman_pos{int(p)}"] = _spearman(-pos[sel], d[sel])
    predicted = _predicted(r, d, bitspace.size)
    row["false_positives"] = int(np.sum(predicted & ~sens & evaluated))
    row["false_negatives"] = int(np.sum(~predicted & sens))
    flips_of = np.full(bitspace.size, np.inf)
    flips_of[r.order] = r.flips
    ranked_sens = np.argsort(-d[sens], kind="stable")
    sens_idx = np.flatnonzero(sens)[ranked_sens]
    for k in TOP_K_PCT:
        top = sens_idx[: max(1, math.ceil(k / 100 * len(sens_idx)))] if len(sens_idx) else sens_idx
        need = float(flips_of[top].max()) if len(top) else 0.0
        row[f"flips_for_top{k}pct"] = need if math.isfinite(need) else None
    for q in DELTA_PCT:
        hit = np.flatnonzero(c >= (q / 100) * total * (1 - 1e-12)) if total > 0 else np.array([0])
        row[f"flips_to_{q}pct_delta"] = int(hit[0] + 1) if len(hit) else None
    return row


def _predicted(r: Ranking, d: np.ndarray, size: int) -> np.ndarray:
    """The sensitive/insensitive claim of a ranking: its own prediction, else the measured ΔC of every bit it
    injects (unreached bits are claimed insensitive)."""
    if r.predicted is not None:
        return np.asarray(r.predicted, dtype=bool)
    out = np.zeros(size, dtype=bool)
    out[r.order] = d[r.order] > 0
    return out


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return None
    return float(spearmanr(a, b).statistic)


# --- properties of the oracle itself --------------------------------------------------------------------------------


def monoscores(delta: np.ndarray, bitspace) -> np.ndarray:
    """PrioriFI Def. 3 for every evaluated bit (NaN elsewhere), in O(n log n): per significance level, the ΔC of the
    other bits sorted once and counted with binary search. Significance = bit position from the MSB."""
    evaluated = ~np.isnan(delta)
    pos = bit_columns(bitspace)["position"]
    n = int(evaluated.sum())
    out = np.full(bitspace.size, np.nan)
    levels = np.unique(pos[evaluated])
    sorted_by = {p: np.sort(delta[evaluated & (pos == p)]) for p in levels}
    for p in levels:
        idx = np.flatnonzero(evaluated & (pos == p))
        v = delta[idx]
        total = np.zeros(len(idx))
        for q in levels:
            if q == p:
                continue
            other = sorted_by[q]
            if p < q:  # b more significant: monotonic when ΔC_b >= ΔC_d
                total += 2 * np.searchsorted(other, v, side="right") - len(other)
            else:  # b less significant: monotonic when ΔC_b <= ΔC_d
                total += len(other) - 2 * np.searchsorted(other, v, side="left")
        out[idx] = total / n
    return out


def monotonicity_exceptions(delta: np.ndarray, bitspace) -> dict:
    """Fractions of evaluated bits less sensitive than some lower-order bit of the same parameter (intra) or of
    another parameter (inter) — PrioriFI Fig. 2."""
    evaluated = ~np.isnan(delta)
    d = np.where(evaluated, delta, -np.inf)
    cols = bit_columns(bitspace)
    pos, param = cols["position"], cols["param"]
    intra = np.zeros(bitspace.size, dtype=bool)
    for s in bitspace.segments:
        w = s.type.width
        block = d[s.offset: s.offset + s.nbits].reshape(s.size, w)
        # max over strictly less significant positions of the same element
        lower = np.full_like(block, -np.inf)
        lower[:, :-1] = np.maximum.accumulate(block[:, ::-1], axis=1)[:, ::-1][:, 1:]
        intra[s.offset: s.offset + s.nbits] = (block < lower).reshape(-1)
    levels = np.arange(int(pos.max()) + 1 if bitspace.size else 0)
    best = np.full(len(levels), -np.inf)
    best_param = np.full(len(levels), -1)
    second = np.full(len(levels), -np.inf)
    for p in levels:
        sel = np.flatnonzero(pos == p)
        if len(sel) == 0:
            continue
        order = sel[np.argsort(-d[sel], kind="stable")]
        best[p], best_param[p] = d[order[0]], param[order[0]]
        others = order[param[order] != param[order[0]]]
        second[p] = d[others[0]] if len(others) else -np.inf
    inter = np.zeros(bitspace.size, dtype=bool)
    for p in levels:
        sel = np.flatnonzero(pos == p)
        lower_max = np.full(len(sel), -np.inf)
        for q in levels[levels > p]:
            cand = np.where(param[sel] == best_param[q], second[q], best[q])
            lower_max = np.maximum(lower_max, cand)
        inter[sel] = d[sel] < lower_max
    n = max(int(evaluated.sum()), 1)
    return {"intra_exception_rate": float(np.sum(intra & evaluated) / n),
            "inter_exception_rate": float(np.sum(inter & evaluated) / n)}
