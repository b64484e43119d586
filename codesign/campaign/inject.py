"""Fault injection at one level of the design — any level of the registry (:mod:`codesign.level`): the numpy
simulator, the HLS C-sim, the RTL — with the same faults, inputs and cost, so the levels can be compared bit for bit
(``codesign inject``).

Every level yields the faulty network outputs on the evaluator's rows; ΔC always comes from
``Evaluator.outcome_of_outputs``. Results go to a resumable
SQLite store next to the CSV (``FILE.csv.sqlite``), a chunk of faults at a time (one simulator start per chunk for
the RTL); the CSV is written atomically when every fault is stored.

With a protection plan, a physical upset hits one replica of a protected bit: the simulator masks protected bits,
HLS and RTL flip replica ``replica`` (default 0) of them, which the majority voter must outvote.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from codesign import level as levels
from codesign.campaign.store import Store
from codesign.errors import CodesignError
from codesign.workspace import atomic_file

CHUNK = {"rtl": 250, "gate": 250}  # faults per simulator start; other levels: 200 per stored chunk
COLUMNS = ["fault", "bit", "n_flipped", "delta_cost", "faulty_cost", "changed_rows", "level"]


def parse_bits(text: str, size: int) -> list[np.ndarray]:
    try:
        bits = [int(t) for t in text.replace(";", ",").split(",") if t.strip()]
    except ValueError:
        raise CodesignError(f"--bits must be a comma list of integers, got {text!r}") from None
    if not bits:
        raise CodesignError("--bits names no bit")
    bad = [b for b in bits if not 0 <= b < size]
    if bad:
        raise CodesignError(f"bit {bad[0]} is outside BitSpace (0 … {size - 1})")
    return [np.array([b], dtype=np.int64) for b in bits]


def sample_faults(size: int, n: int, flips: int, seed: int) -> list[np.ndarray]:
    if n <= 0:
        raise CodesignError("--sample must be a positive integer")
    if flips <= 0:
        raise CodesignError("--flips must be a positive integer")
    pool = np.arange(size, dtype=np.int64)
    if flips > len(pool):
        raise CodesignError(f"--flips {flips} exceeds the {len(pool)} injectable bits")
    rng = np.random.default_rng([seed, flips])
    if flips == 1:
        if n > len(pool):
            raise CodesignError(f"--sample {n} exceeds the {len(pool)} injectable bits")
        return [np.array([b]) for b in np.sort(rng.choice(pool, size=n, replace=False))]
    return [np.sort(rng.choice(pool, size=flips, replace=False)) for _ in range(n)]


def inject(name: str, evaluator, level: str, faults: list[np.ndarray], out_csv, target_options: dict | None = None,
           keras_model=None, plan=None, replica: int = 0, chunk: int | None = None) -> dict:
    """ΔC of every fault at ``level`` on the evaluator's rows, resumable in ``<out_csv>.sqlite``; writes the CSV."""
    levels.get(level)  # an unknown level is refused before anything is written
    out_csv = Path(out_csv)
    if out_csv.is_dir():
        raise CodesignError(f"--out {out_csv} is a directory; give a .csv file name")
    if not out_csv.parent.is_dir():
        raise CodesignError(f"directory of --out does not exist: {out_csv.parent}")
    h = hashlib.sha256()
    for f in faults:
        h.update(np.asarray(f, np.int64).tobytes() + b"|")
    key = {"design": name, "design_hash": evaluator.qnet.fingerprint(), "level": level,
           "rows": int(evaluator.n_rows), "data_sha256": hashlib.sha256(evaluator.acts[0].tobytes()).hexdigest(),
           "faults_sha256": h.hexdigest(), "plan": None if plan is None else sorted(map(int, plan.bits)),
           "replica": replica}
    store = Store(Path(str(out_csv) + ".sqlite"), key)
    try:
        _run(store, evaluator, level, faults, levels.Target(evaluator.qnet, evaluator.acts[0], keras_model, plan,
                                                            options=dict(target_options or {})),
             replica if plan is not None else None, chunk or CHUNK.get(level, 200))
        table = store.table()
    finally:
        store.close()
    with atomic_file(out_csv) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i in range(len(table["fault_id"])):
            w.writerow([int(table["fault_id"][i]), table["bits"][i].replace(" ", ";"), int(table["n_drawn"][i]),
                        repr(float(table["delta_cost"][i])), repr(float(table["faulty_cost"][i])),
                        int(table["changed_rows"][i]), level])
    d = np.asarray(table["delta_cost"], dtype=float)
    return {"design": name, "level": level, "faults": int(len(d)), "rows": int(evaluator.n_rows),
            "sensitive": int(np.sum(d > 0)), "mean_delta_cost": float(d.mean()) if len(d) else 0.0,
            "out": str(out_csv)}


def _run(store: Store, evaluator, level: str, faults, target, replica, step: int) -> None:
    done = store.done_ids()
    todo = [i for i in range(len(faults)) if i not in done]
    if not todo:
        return
    with levels.open_level(level, target) as lvl:
        for start in range(0, len(todo), step):
            ids = todo[start:start + step]
            outs = lvl.outputs([faults[i] for i in ids], replica=replica)
            outcomes = [evaluator.outcome_of_outputs(o) for o in outs]
            store.add([(i, " ".join(map(str, faults[i].tolist())), len(faults[i]), o.delta_cost, o.faulty_cost,
                        o.changed_rows) for i, o in zip(ids, outcomes)])
