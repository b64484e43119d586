"""Campaigns as values: run (or resume) a fault campaign of an evaluator into its durable store, and summarize it.

The store lives where the caller says (the workspace's ``.work/<tag>.sqlite``) while the campaign runs; writing the
result directories is the command layer's job (:mod:`codesign.flow.campaigns`).
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import sqlite3
from pathlib import Path

import numpy as np

from codesign.campaign import runner
from codesign.campaign.faults import FaultModel, FaultSpace
from codesign.campaign.store import Store
from codesign.protect.plan import bits_sha256

CAMPAIGN_COLUMNS = ["trial", "n_drawn", "n_flipped", "delta_cost", "faulty_cost", "changed_rows", "error", "bits"]


def campaign_key(name: str, evaluator, model: FaultModel, protected) -> dict:
    """What a store is bound to: a store of another campaign is refused instead of mixed."""
    h = hashlib.sha256(np.ascontiguousarray(evaluator.cost.data.x).tobytes())
    h.update(np.asarray(evaluator.rows).tobytes())
    return {"design": name, "design_hash": evaluator.qnet.fingerprint(), "metric": evaluator.cost.metric,
            "data_sha256": h.hexdigest(), "rows": int(evaluator.n_rows), "fault_model": model.to_dict(),
            "protected_sha256": bits_sha256(protected)}


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
        tag += "-plan" + bits_sha256(protected)[:8]
    return tag


def run_campaign(name: str, evaluator, model: FaultModel, store_path: Path, protected=None, workers: int = 1,
                 scheduler: str | None = None, seed_store: Path | None = None) -> dict:
    """Run (or resume) the campaign kept in ``store_path``; returns the store's table. ``seed_store``: a finished
    copy of the same campaign (a result directory's ``store.sqlite``) to start from when ``store_path`` is absent."""
    runner.check_options(workers, scheduler)
    space = FaultSpace(model, evaluator.qnet.bitspace, protected)  # checks the model against the network
    key = campaign_key(name, evaluator, model, protected)
    client = runner.connect(scheduler) if scheduler else None
    try:
        store_path = Path(store_path)
        if seed_store is not None and Path(seed_store).is_file() and not store_path.exists():
            _seed(Path(seed_store), store_path, key)
        fresh = not store_path.exists()
        store = Store(store_path, key)
        try:
            runner.run(evaluator, space, store, workers=workers, client=client)
            return store.table()
        except BaseException:
            if fresh and len(store) == 0:  # nothing to resume: leave nothing behind
                store.close()
                remove_store(store_path)
            raise
        finally:
            store.close()
    finally:
        if client is not None:
            client.close()


def _seed(src: Path, dst: Path, key: dict) -> None:
    """Start from a finished store of the same campaign (another run's result), when its key matches."""
    try:
        store = Store(src, key, readonly=True)
        store.close()
    except Exception:  # another campaign's or an unreadable store: start from nothing
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = dst.with_name(f".{dst.name}.seed")
    shutil.copyfile(src, part)
    part.replace(dst)


def copy_store(src: Path, dst: Path) -> None:
    """A consistent copy of a WAL database (the backup API folds the WAL in)."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


def remove_store(path: Path) -> None:
    """A finished campaign's working store (its copy lives in the result directory)."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def summarize(name: str, evaluator, model: FaultModel, table: dict, protected) -> dict:
    errors = table["delta_cost"] > 0
    n = len(errors)
    return {
        "design": name, "metric": evaluator.cost.metric, "rows": int(evaluator.n_rows),
        "cost_fault_free": evaluator.base_mean, "fault_model": model.to_dict(),
        "protected_bits": int(0 if protected is None else len(protected)), "trials": int(len(table["fault_id"])),
        "mean_delta_cost": float(np.mean(table["delta_cost"])) if n else 0.0,
        "error_rate": float(np.mean(errors)) if n else 0.0,
        "mean_flips_drawn": float(np.mean(table["n_drawn"])) if n else 0.0,
        "mean_flips_applied": float(np.mean([len(b.split()) for b in table["bits"]])) if n else 0.0,
    }


def write_trials(path: Path, table: dict) -> None:
    """``campaign.csv``: one row per trial with its bit list."""
    errors = table["delta_cost"] > 0
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CAMPAIGN_COLUMNS)
        for i in range(len(table["fault_id"])):
            bits = table["bits"][i]
            w.writerow([int(table["fault_id"][i]), int(table["n_drawn"][i]), len(bits.split()),
                        repr(float(table["delta_cost"][i])), repr(float(table["faulty_cost"][i])),
                        int(table["changed_rows"][i]), int(errors[i]), bits])
