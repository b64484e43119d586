"""Ranking use cases: ``codesign rank`` (``<out>/<design>/rank/<method>/``), ``codesign evaluate``
(``<out>/<design>/evaluation/``, plots included) and the order a protection plan takes its bits from.

Dynamic rankers are replayed from the stored oracle when there is one (the oracle is exactly what a live campaign
would measure), else driven live by the simulator with their measurements kept in the oracle's working store.
"""

from __future__ import annotations

from codesign.campaign import api as campaign_api
from codesign.campaign.faults import FaultModel
from codesign.campaign.store import Store
from codesign.errors import CodesignError
from codesign.flow.campaigns import read_oracle
from codesign.rank import api
from codesign.rank.names import DYNAMIC, canonical


def _stored_oracle(prepared, ws):
    try:
        return read_oracle(prepared, ws)
    except CodesignError:
        return None


def rank(prepared, ws, method: str, k: int = 5, k_eigen: int = 8, rows: int | None = None) -> dict:
    method = canonical(method)
    api.check_options(k, k_eigen)
    ctx = prepared.rank_context(rows)
    measure, source, store = None, "static", None
    if method in DYNAMIC:
        oracle = _stored_oracle(prepared, ws)
        if oracle is not None:
            measure, source = api.replay(oracle.delta), "oracle replay"
        else:
            ev = prepared.evaluator()
            model = FaultModel("single", seed=prepared.seed)
            store = Store(ws.store("oracle"), campaign_api.campaign_key(prepared.name, ev, model, None))
            measure, source = api.live_measure(ev, store), "live"
    try:
        r, seconds = api.rank(ctx, method, measure, k=k, k_eigen=k_eigen)
    finally:
        if store is not None:
            store.close()
    info = {k_: v for k_, v in r.info.items() if k_ != "score"}
    summary = {"design": prepared.name, "method": method, "source": source, "bits": int(len(r.order)),
               "flips": int(r.flips[-1]) if len(r.flips) else 0, "seconds": seconds, **info}
    final = ws.ranking(method)
    with ws.writing("rank", final.name) as tmp:
        api.write_ranking(tmp, r, ctx.bitspace, summary)
    return {**summary, "out": str(final)}


def evaluate(prepared, ws, rankers: list[str], k: int = 5, k_eigen: int = 8, rows: int | None = None) -> dict:
    from codesign.report.plots import evaluation_plots

    api.check_options(k, k_eigen)
    oracle = read_oracle(prepared, ws)  # before any work: a missing oracle is a user error
    ctx = prepared.rank_context(rows)
    result = api.evaluate(ctx, rankers, oracle.delta, k=k, k_eigen=k_eigen)
    result["properties"] = {"design": prepared.name, **result["properties"]}
    with ws.writing("evaluation") as tmp:
        api.write_evaluation(tmp, prepared.name, result, oracle.delta, ctx.bitspace)
        evaluation_plots(result["rankings"], oracle.delta, result["rows"], result["monoscores"], ctx.bitspace, tmp,
                         title=prepared.name)
    return {"design": prepared.name, "rankers": result["rows"], "properties": result["properties"],
            "out": str(ws.stage("evaluation"))}


def order(prepared, ws, ranker: str, oracle=None):
    """The order of ``ranker`` (``oracle`` or a ranker name) for a plan; dynamic rankers replay the oracle."""
    if oracle is None and (ranker == "oracle" or canonical(ranker) in DYNAMIC):
        oracle = read_oracle(prepared, ws)
    return api.order(ranker, prepared.rank_context(), oracle)
