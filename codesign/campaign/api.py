"""Campaigns on a design: the exhaustive single-bit oracle and multi-bit / BER campaigns (Python API of the CLI).

Layout: ``<out>/<design>/oracle/{oracle.csv, summary.json, store.sqlite, *.png}`` and
``<out>/<design>/campaigns/<tag>/{campaign.csv, summary.json, store.sqlite}``. While a campaign runs, its store lives
in ``<out>/<design>/.work/``; the result directory appears (atomically) only when every fault is stored.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import sqlite3
from pathlib import Path

import numpy as np

from codesign.campaign import runner
from codesign.campaign.evaluate import Evaluator
from codesign.campaign.faults import FaultModel, FaultSpace
from codesign.campaign.store import Store
from codesign.errors import CodesignError
from codesign.metrics.cost import Cost
from codesign.outdir import atomic_dir

log = logging.getLogger(__name__)


def sampled_cost(design, sample: int | None = None) -> Cost:
    """The design's cost on all its rows, or on ``sample`` rows drawn without replacement (seeded by the design
    seed, kept in data order)."""
    cost = Cost.for_design(design)
    if sample is not None and sample < len(cost.data.x):
        from dataclasses import replace

        if sample <= 0:
            raise CodesignError(f"a row sample needs at least one row, got {sample}")
        d = cost.data
        idx = np.sort(np.random.default_rng([design.seed, 7]).choice(len(d.x), sample, replace=False))
        pick = lambda a: None if a is None else np.asarray(a)[idx]  # noqa: E731
        cost.data = replace(d, x=pick(d.x), y=pick(d.y), x48=pick(d.x48))
    return cost


def evaluator_for(design, sample: int | None = None) -> Evaluator:
    """The design's evaluator on all its rows or on a row sample (:func:`sampled_cost`)."""
    return Evaluator(design.qnet(), sampled_cost(design, sample))


def campaign_key(design, evaluator: Evaluator, model: FaultModel, protected: np.ndarray | None) -> dict:
    data = design.dataset()
    h = hashlib.sha256(np.ascontiguousarray(data.x).tobytes())
    h.update(np.asarray(evaluator.rows).tobytes())
    return {"design": design.name, "design_hash": evaluator.qnet.fingerprint(), "metric": design.metric,
            "data_sha256": h.hexdigest(), "rows": int(evaluator.n_rows), "fault_model": model.to_dict(),
            "protected_sha256": hashlib.sha256(np.sort(np.asarray(protected if protected is not None else [],
                                                                  dtype=np.int64)).tobytes()).hexdigest()}


def run_campaign(design, out, model, tag, protected, workers=1, scheduler=None, evaluator=None):
    """Run (or resume) the campaign stored in ``<out>/<design>/.work/<tag>.sqlite``; (evaluator, space, table, store)."""
    evaluator = evaluator or evaluator_for(design)
    space = FaultSpace(model, evaluator.qnet.bitspace, protected)
    work = Path(out) / design.name / ".work" / f"{tag}.sqlite"
    store = Store(work, campaign_key(design, evaluator, model, protected))
    try:
        runner.run(evaluator, space, store, workers=workers, scheduler=scheduler)
        table = store.table()
    finally:
        store.close()
    return evaluator, space, table, work


def _copy_store(src: Path, dst: Path) -> None:
    """A consistent copy of a WAL database (the backup API folds the WAL in)."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def oracle(design, out="out", workers: int = 1, scheduler: str | None = None, weights_only: bool = False) -> dict:
    """Exhaustive single-bit oracle: ΔC of every BitSpace index (or every kernel bit with ``weights_only``)."""
    model = FaultModel("single", weights_only=weights_only, seed=design.seed)
    evaluator, space, table, work = run_campaign(design, out, model, "oracle", None, workers, scheduler)
    bs = evaluator.qnet.bitspace
    addr = bs.table()
    delta = np.full(bs.size, np.nan)
    changed = np.zeros(bs.size, dtype=np.int64)
    delta[table["fault_id"]] = table["delta_cost"]
    changed[table["fault_id"]] = table["changed_rows"]
    evaluated = ~np.isnan(delta)
    summary = oracle_summary(design, evaluator, addr, delta, evaluated)
    final = Path(out) / design.name / "oracle"
    with atomic_dir(final) as tmp:
        with open(tmp / "oracle.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["bit", "layer", "tensor", "index", "bit_position", "delta_cost", "sensitive", "changed_rows"])
            for i in np.flatnonzero(evaluated):
                w.writerow([int(addr["bit"][i]), addr["layer"][i], addr["tensor"][i], int(addr["index"][i]),
                            int(addr["bit_position"][i]), repr(float(delta[i])), int(delta[i] > 0), int(changed[i])])
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1))
        _copy_store(work, tmp / "store.sqlite")
        from codesign.report.plots import oracle_plots

        oracle_plots(addr, delta, evaluated, tmp, title=design.name)
    summary["out"] = str(final)
    return summary


def oracle_summary(design, evaluator, addr, delta, evaluated) -> dict:
    sens = (delta > 0) & evaluated
    pos = addr["bit_position"]
    kernel = (addr["tensor"] == "kernel") & evaluated
    per_pos = {}
    for p in np.unique(pos[evaluated]):
        sel = evaluated & (pos == p)
        per_pos[int(p)] = {"bits": int(sel.sum()), "sensitive": int(sens[sel].sum()),
                           "delta_cost_sum": float(np.nansum(delta[sel])),
                           "weights_delta_cost_sum": float(np.nansum(delta[sel & kernel]))}
    per_layer = {}
    for layer in dict.fromkeys(addr["layer"].tolist()):
        sel = evaluated & (addr["layer"] == layer)
        per_layer[layer] = {"bits": int(sel.sum()), "sensitive": int(sens[sel].sum())}
    total_w = float(np.nansum(delta[kernel]))
    return {
        "design": design.name, "design_hash": evaluator.qnet.fingerprint(), "metric": design.metric,
        "rows": int(evaluator.n_rows), "cost_fault_free": evaluator.base_mean, "bits": int(evaluated.sum()), "sensitive": int(sens.sum()),
        "sensitive_fraction": float(sens.sum() / max(evaluated.sum(), 1)),
        "weight_bits": int(kernel.sum()), "weight_bits_sensitive": int(sens[kernel].sum()),
        "weight_sensitive_fraction": float(sens[kernel].sum() / max(kernel.sum(), 1)),
        "delta_cost_sum": float(np.nansum(delta[evaluated])), "weights_delta_cost_sum": total_w,
        "weights_msb_delta_cost_sum": float(np.nansum(delta[kernel & (pos == 0)])),
        "per_bit_position": per_pos, "per_layer": per_layer,
    }


def campaign(design, model: FaultModel, out="out", protect: str | None = None, workers: int = 1,
             scheduler: str | None = None) -> dict:
    """A multi-bit or BER campaign (``model.trials`` trials), optionally under a protection plan."""
    from codesign.protect.plan import Plan

    qnet = design.qnet()
    protected = Plan.load(protect, qnet).bits if protect else None
    tag = campaign_tag(model, protected)
    evaluator, space, table, work = run_campaign(design, out, model, tag, protected, workers, scheduler)
    errors = table["delta_cost"] > 0
    summary = {
        "design": design.name, "metric": design.metric, "rows": int(evaluator.n_rows),
        "cost_fault_free": evaluator.base_mean, "fault_model": model.to_dict(), "protected_bits":
            int(0 if protected is None else len(protected)), "trials": int(len(table["fault_id"])),
        "mean_delta_cost": float(np.mean(table["delta_cost"])) if len(errors) else 0.0,
        "error_rate": float(np.mean(errors)) if len(errors) else 0.0,
        "mean_flips_drawn": float(np.mean(table["n_drawn"])) if len(errors) else 0.0,
        "mean_flips_applied": float(np.mean([len(b.split()) for b in table["bits"]])) if len(errors) else 0.0,
    }
    final = Path(out) / design.name / "campaigns" / tag
    with atomic_dir(final) as tmp:
        with open(tmp / "campaign.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["trial", "n_drawn", "n_flipped", "delta_cost", "faulty_cost", "changed_rows", "error",
                        "bits"])
            for i in range(len(table["fault_id"])):
                bits = table["bits"][i]
                w.writerow([int(table["fault_id"][i]), int(table["n_drawn"][i]), len(bits.split()),
                            repr(float(table["delta_cost"][i])), repr(float(table["faulty_cost"][i])),
                            int(table["changed_rows"][i]), int(errors[i]), bits])
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1))
        _copy_store(work, tmp / "store.sqlite")
    summary["out"] = str(final)
    return summary


def campaign_tag(model: FaultModel, protected) -> str:
    if model.kind == "multibit":
        tag = f"multibit-k{model.flips}-n{model.trials}-s{model.seed}"
    elif model.kind == "ber":
        tag = f"ber-r{model.rate:g}-n{model.trials}-s{model.seed}"
    else:
        tag = f"single-s{model.seed}"
    if model.weights_only:
        tag += "-weights"
    if protected is not None:
        tag += "-plan" + hashlib.sha256(np.sort(np.asarray(protected, np.int64)).tobytes()).hexdigest()[:8]
    return tag

