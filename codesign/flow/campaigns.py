"""Campaign use cases: the exhaustive single-bit oracle and multi-bit / BER campaigns of one design.

Layout: ``<out>/<design>/oracle/{oracle.csv, summary.json, store.sqlite, *.png}`` and
``<out>/<design>/campaigns/<tag>/{campaign.csv, summary.json, store.sqlite}``. A campaign's store lives in
``<out>/<design>/.work/`` (resumed by the next run); the result directory appears (atomically) only when every fault
is stored, with a copy of the store, from which a run starts when the working store was deleted.
"""

from __future__ import annotations

import json

import numpy as np

from codesign.campaign import api
from codesign.campaign.faults import FaultModel
from codesign.campaign.oracle import CSV, Oracle


def oracle(prepared, ws, workers: int = 1, scheduler: str | None = None, weights_only: bool = False) -> dict:
    """Exhaustive single-bit oracle: ΔC of every BitSpace index (or every kernel bit with ``weights_only``)."""
    from codesign.report.plots import oracle_plots

    model = FaultModel("single", weights_only=weights_only, seed=prepared.seed)
    evaluator = prepared.evaluator()
    final = ws.stage("oracle")
    store = ws.store("oracle")
    table = api.run_campaign(prepared.name, evaluator, model, store, None, workers, scheduler,
                             seed_store=final / "store.sqlite")
    bs = evaluator.qnet.bitspace
    result = Oracle.from_table(table, bs.size, evaluator.qnet.fingerprint())
    summary = result.summary(bs, prepared.name, prepared.metric, evaluator.n_rows, evaluator.base_mean)
    with ws.writing("oracle") as tmp:
        result.write_csv(tmp / CSV, bs)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1))
        api.copy_store(store, tmp / "store.sqlite")
        oracle_plots(bs.table(), result.delta, result.evaluated, tmp, title=prepared.name)
    return {**summary, "out": str(final)}


def read_oracle(prepared, ws) -> Oracle:
    """The stored oracle of the design's network (a one-line error naming the command that makes it)."""
    return Oracle.read(ws.stage("oracle"), prepared.qnet,
                       hint=f" (`codesign oracle <design.yaml> --out {ws.out}`)")


def campaign(prepared, ws, model: FaultModel, plan=None, workers: int = 1, scheduler: str | None = None) -> dict:
    """A multi-bit or BER campaign (``model.trials`` trials), optionally under a protection plan."""
    protected = None if plan is None else plan.bits_for(prepared.qnet)
    tag = api.campaign_tag(model, protected)
    evaluator = prepared.evaluator()
    final, store = ws.campaign(tag), ws.store(tag)
    table = api.run_campaign(prepared.name, evaluator, model, store, protected, workers, scheduler,
                             seed_store=final / "store.sqlite")
    summary = api.summarize(prepared.name, evaluator, model, table, protected)
    with ws.writing("campaigns", final.name) as tmp:
        api.write_trials(tmp / "campaign.csv", table)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1))
        api.copy_store(store, tmp / "store.sqlite")
    return {**summary, "out": str(final)}


def multibit_deltas(name: str, evaluator, model: FaultModel, ws, protected, workers: int, suffix: str = "") -> dict:
    """A campaign kept only in its working store (the design-space exploration's multi-bit and BER runs: the same
    draws for every protection plan, so their stores are reused across points and runs)."""
    protected = None if protected is None or len(protected) == 0 else np.asarray(protected, dtype=np.int64)
    tag = api.campaign_tag(model, protected) + suffix
    return api.run_campaign(name, evaluator, model, ws.store(tag), protected, workers=workers) | {"tag": tag}
