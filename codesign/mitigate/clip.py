"""Activation clipping (ClipAct's CReLU): thresholds per ReLU layer, ActMax and ClipAct's iterative search.

A threshold is a code of the activation's output type (``Activation.clip``); outputs above it become 0. Thresholds
given in real units are rounded down to a code, so the clipped value set is exactly what the user wrote or less.

ClipAct (SSL fault-tolerance paper §III, after Hoang et al.): start every layer at ActMax — the largest output the
fault-free network produces on the data — then, one layer at a time, split the search interval [lo, hi] into three,
score the four end points, and keep the interval around the best one; ``iterations`` rounds per layer. The score is
the mean cost over a fixed set of bit-error-rate campaigns (same fault draws for every candidate, so candidates are
compared on identical upsets) — the paper's area under the accuracy-vs-fault-rate curve on log-spaced rates, as a
cost to minimise. Faults hit every weight and bias bit of the network (the deployed situation), not one layer's.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from codesign.errors import CodesignError
from codesign.ir.qnet import Activation, QNet

DEFAULT_RATES = (1e-4, 1e-3, 3e-3)
DEFAULT_TRIALS = 20
DEFAULT_ITERATIONS = 3
DEFAULT_ROWS = 2000


def clippable(qnet: QNet) -> list[str]:
    """Names of the layers ClipAct can clip: the ReLU activations."""
    return [l.name for l in qnet.layers if isinstance(l, Activation) and l.function == "relu"]


def with_clips(qnet: QNet, codes: dict[str, int | None]) -> QNet:
    """A copy of ``qnet`` whose named ReLU layers clip at the given output codes (None = no clipping)."""
    names = set(clippable(qnet))
    unknown = sorted(set(codes) - names)
    if unknown:
        raise CodesignError(f"cannot clip {', '.join(unknown)}: clipping applies to ReLU activation layers "
                            f"({', '.join(sorted(names)) or 'this model has none'})")
    layers = []
    for l in qnet.layers:
        if l.name in codes:
            l = copy.copy(l)
            l.clip = None if codes[l.name] is None else int(codes[l.name])
        layers.append(l)
    return qnet.with_layers(layers)


def codes_of(qnet: QNet, thresholds: dict[str, float]) -> dict[str, int]:
    """Real thresholds -> output codes (rounded down; at least 0, at most the type's largest code)."""
    out = {}
    for name, value in thresholds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise CodesignError(f"clip threshold of {name} must be a number >= 0, got {value!r}")
        if name not in clippable(qnet):
            with_clips(qnet, {name: 0})  # raises the one-line error naming the clippable layers
        ty = qnet.layer(name).out_type
        out[name] = int(min(max(math.floor(value * 2.0 ** ty.frac), 0), ty.max_code))
    return out


def thresholds_of(qnet: QNet) -> dict[str, float]:
    """The real-valued thresholds of a clipped QNet's layers."""
    return {l.name: float(l.out_type.to_float(np.array([l.clip]))[0]) for l in qnet.layers
            if isinstance(l, Activation) and l.clip is not None}


def actmax(qnet: QNet, x: np.ndarray) -> dict[str, int]:
    """ActMax: each ReLU layer's largest fault-free output code on inputs ``x`` (floats)."""
    from codesign.sim.forward import forward, quantize_input

    names = clippable(qnet)
    if not names:
        raise CodesignError(f"{qnet.name} has no ReLU activation to clip")
    best = {n: 0 for n in names}
    for i in range(0, len(x), 8192):
        _, outs = forward(qnet, quantize_input(qnet, x[i:i + 8192]), keep=True)
        for l, o in zip(qnet.layers, outs):
            if l.name in best and o.size:
                best[l.name] = max(best[l.name], int(o.max()))
    return best


def expected_cost(ev, mean_raw_delta: float) -> float:
    """Mean cost over every data row of ``ev``'s cost, from a mean faulty-minus-fault-free cost over its evaluated
    rows: comparable across networks whose fault-free cost differs. For ``mispredict`` the evaluated rows are the
    fault-free-correct ones, so a fault that turns a wrong row right is not counted (a wrong row stays wrong)."""
    from codesign.sim.forward import predict

    n_all = len(ev.cost.data.x)
    if n_all == 0:
        return 0.0
    if ev.cost.metric == "mispredict":
        base_all = 1.0 - ev.n_rows / n_all
    else:
        base_all = ev.base_mean if ev.n_rows == n_all else float(np.mean(ev.cost.per_sample(
            predict(ev.qnet, ev.cost.data.x))))
    return base_all + mean_raw_delta * ev.n_rows / n_all


class _Scorer:
    """Mean faulty cost of a clipped variant over fixed BER campaigns (identical draws for every variant)."""

    def __init__(self, qnet: QNet, cost, rates, trials: int, seed: int):
        from codesign.campaign.faults import FaultModel, FaultSpace

        self.qnet, self.cost = qnet, cost
        self.draws = [FaultSpace(FaultModel("ber", rate=r, trials=trials, seed=seed), qnet.bitspace).drawn(t)
                      for r in rates for t in range(trials)]
        self.seen: dict[tuple, float] = {}

    def __call__(self, codes: dict[str, int]) -> float:
        from codesign.campaign.evaluate import Evaluator

        key = tuple(sorted(codes.items()))
        if key not in self.seen:
            ev = Evaluator(with_clips(self.qnet, codes), self.cost)
            raw = [ev.evaluate(bits).faulty_cost - ev.base_mean for bits in self.draws]
            self.seen[key] = expected_cost(ev, math.fsum(raw) / len(raw))
        return self.seen[key]


def clipact(qnet: QNet, cost, rates=DEFAULT_RATES, trials: int = DEFAULT_TRIALS,
            iterations: int = DEFAULT_ITERATIONS, seed: int = 0, progress=None) -> dict:
    """ClipAct's threshold search; returns ``{"codes", "thresholds", "actmax", "score", "score_unclipped",
    "evaluations"}`` (scores: mean faulty cost over the rates' campaigns, lower is better)."""
    if iterations < 1 or trials < 1:
        raise CodesignError("ClipAct needs iterations >= 1 and trials >= 1")
    if not rates or any(not 0.0 < float(r) < 1.0 for r in rates):
        raise CodesignError(f"ClipAct rates must lie in (0, 1), got {list(rates)}")
    start = actmax(qnet, cost.data.x)
    score = _Scorer(qnet, cost, [float(r) for r in rates], trials, seed)
    codes = dict(start)
    for name in clippable(qnet):
        lo, hi = 0, start[name]
        best = (score(codes), codes[name])
        for it in range(iterations):
            cands = sorted({int(round(lo + k * (hi - lo) / 3)) for k in range(4)})
            scores = [score({**codes, name: c}) for c in cands]
            k = int(np.argmin(scores))  # ties: the lower threshold, which clips more
            best = min(best, (scores[k], cands[k]))  # a later, narrower round need not contain the best so far
            codes[name] = best[1]
            lo, hi = cands[max(k - 1, 0)], cands[min(k + 1, len(cands) - 1)]
            if progress:
                progress(f"  clipact {name} round {it + 1}: {dict(zip(cands, (round(s, 6) for s in scores)))}")
            if hi - lo <= 1:
                break
    unclipped = score({n: None for n in clippable(qnet)})
    return {"codes": codes, "thresholds": thresholds_of(with_clips(qnet, codes)), "actmax": start,
            "score": score(codes), "score_unclipped": unclipped, "evaluations": len(score.seen),
            "rates": [float(r) for r in rates], "trials": trials, "iterations": iterations, "seed": seed}


def clipact_cached(base: QNet, cost, seed: int, rates=DEFAULT_RATES, trials: int = DEFAULT_TRIALS,
                   iterations: int = DEFAULT_ITERATIONS, rows: int = DEFAULT_ROWS, progress=None) -> dict:
    """:func:`clipact` of ``base`` with ``cost`` on its ``rows`` sampled rows (the paper's validation subset), cached
    in ``$CODESIGN_CACHE/clipact/`` by network, data, metric and search settings (a search is minutes on big
    models)."""
    import hashlib
    import json

    from codesign.paths import cache_dir
    from codesign.workspace import write_json

    h = hashlib.sha256(json.dumps({"qnet": base.fingerprint(), "metric": cost.metric, "seed": seed,
                                   "rates": [float(r) for r in rates], "trials": trials, "iterations": iterations,
                                   "rows": rows}, sort_keys=True).encode())
    h.update(np.ascontiguousarray(cost.data.x).tobytes())
    path = cache_dir() / "clipact" / f"{h.hexdigest()[:24]}.json"
    if path.is_file():
        return json.loads(path.read_text())
    result = clipact(base, cost, rates, trials, iterations, seed, progress)
    write_json(path, result)
    return result
