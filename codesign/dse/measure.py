"""What one design point costs and what it buys: Yosys area, formal equivalence with the unprotected design, TMR
masking at RTL (cocotb), and the multi-bit / BER campaigns with the plan as protection mask."""

from __future__ import annotations

import numpy as np

from codesign import level as levels
from codesign.campaign.evaluate import Evaluator
from codesign.campaign.faults import FaultModel
from codesign.data.load import Data
from codesign.flow.campaigns import multibit_deltas
from codesign.metrics.cost import Cost


def yosys_area(build, spec) -> dict:
    """Yosys area and logic depth of an :class:`codesign.rtl.build.RtlBuild`."""
    from codesign.rtl.yosys import yosys_stats

    return yosys_stats(build, xilinx=spec.xilinx, cmos=spec.cmos, ltp=True)


def equivalent(gold, build) -> dict:
    """Yosys formal equivalence of ``build`` with the unprotected design ``gold`` (both RtlBuilds)."""
    from codesign.rtl.equiv import equivalence

    return equivalence(gold, build)


def masking_evaluator(qnet, x: np.ndarray, rows: int) -> Evaluator:
    """An evaluator on the first ``rows`` inputs whose cost is the deviation from the fault-free outputs (every row
    counts, unlike `mispredict`, which keeps only correctly classified rows)."""
    from codesign.sim.forward import predict

    x = x[:rows]
    return Evaluator(qnet, Cost("mse", Data(x), reference=predict(qnet, x)))


def _masking_faults(protected: np.ndarray, sampled: np.ndarray, group: int) -> tuple[list, list, int]:
    """One replica of every protected bit (replica ``bit % 3``, so all three are exercised), ``group`` bits of the
    same replica index per fault; then each sampled unprotected bit alone."""
    faults, replicas = [], []
    for r in range(3):
        bits = protected[protected % 3 == r]
        chunks = [bits[i:i + group] for i in range(0, len(bits), group)]
        faults += chunks
        replicas += [r] * len(chunks)
    n_masked = len(faults)
    return faults + [np.array([b]) for b in sampled], replicas + [None] * len(sampled), n_masked


def masking(qnet, x: np.ndarray, seed: int, plan, spec, workdir, level: str = "rtl", options=None) -> dict:
    """Flip one replica of every protected bit at ``level`` and count output deviations (must be 0); flip sampled
    unprotected bits and compare that level's outputs with the simulator's.

    ``spec.masking_group`` bits (of the same replica index) are upset together per fault: a group without output
    deviation means each of its bits is outvoted, unless two or more of them escape their voters and their effects
    cancel exactly on every input. ``masking_group: 1`` flips every bit alone (exhaustive single upsets), which costs
    one input stream per protected bit. The RTL simulator is ``options['simulator']``, else ``spec.simulator``."""
    from codesign.ir.bitspace import apply_flips
    from codesign.sim.forward import forward

    ev = masking_evaluator(qnet, x, spec.masking_rows)
    protected = np.asarray(plan.bits, dtype=np.int64)
    rest = np.setdiff1d(np.arange(qnet.bitspace.size), protected)
    rng = np.random.default_rng([seed, 3])
    sampled = np.sort(rng.choice(rest, size=min(spec.unprotected_samples, len(rest)), replace=False))
    faults, replicas, n_masked = _masking_faults(protected, sampled, spec.masking_group)
    opts = {**({"simulator": spec.simulator} if getattr(spec, "simulator", None) else {}), **(options or {})}
    target = levels.Target(qnet, ev.acts[0], plan=plan, workdir=workdir, options=opts)
    with levels.open_level(level, target) as lvl:  # every fault in one simulator start
        outs = lvl.outputs([np.zeros(0, dtype=np.int64)] + faults, [None] + replicas)
        starts, simulator = getattr(lvl, "runs", 1), getattr(lvl, "simulator", None)
    golden, masked, unprot = outs[0], outs[1:1 + n_masked], outs[1 + n_masked:]
    deviations = sum(int(not np.array_equal(o, golden)) for o in masked)
    mismatched = deviating = 0
    for b, o in zip(sampled, unprot):
        sim = forward(qnet, ev.acts[0], overrides=apply_flips(qnet, np.array([b])))
        mismatched += int(not np.array_equal(o, sim))
        deviating += int(not np.array_equal(o, golden))
    golden_ok = bool(np.array_equal(golden, ev.acts[-1]))
    return {"verified": bool(golden_ok and deviations == 0 and mismatched == 0), "fault_free_matches_sim": golden_ok,
            "protected_bits_flipped": int(len(protected)), "group": int(spec.masking_group),
            "deviations": int(deviations),
            "unprotected_sampled": int(len(sampled)), "unprotected_mismatches_vs_sim": int(mismatched),
            "unprotected_deviating": int(deviating), "inputs": int(ev.n_rows), "simulator_starts": int(starts),
            "simulator": simulator}


def variant_tag(qnet, base_qnet) -> str:
    """Store-name suffix of a campaign on a mitigated network (its stores must not share a path with the plain one)."""
    fp = qnet.fingerprint()
    return "" if fp == base_qnet.fingerprint() else f"-net{fp[:8]}"


def multibit(name: str, ws, evaluator, spec, seed: int, protected, workers: int, suffix: str = "") -> dict:
    """The multi-bit campaign (same draws for every plan: fault id -> bits from the design seed) under ``protected``."""
    import hashlib

    model = FaultModel("multibit", flips=spec.flips, trials=spec.trials, seed=seed)
    table = multibit_deltas(name, evaluator, model, ws, protected, workers, suffix)
    order = np.argsort(table["fault_id"])
    d = np.asarray(table["delta_cost"], dtype=float)[order]
    return {"trials": int(len(d)), "flips": spec.flips, "delta_cost": d.tolist(),
            "mean_delta_cost": float(d.mean()) if len(d) else 0.0,
            "error_rate": float(np.mean(d > 0)) if len(d) else 0.0,
            "mean_flips_applied": float(np.mean([len(b.split()) for b in table["bits"]])) if len(d) else 0.0,
            "tag": table["tag"], "store_sha256": hashlib.sha256(d.tobytes()).hexdigest()[:16]}


def ber_sweep(name: str, ws, evaluator, spec, seed: int, protected, workers: int, suffix: str = "") -> list:
    """One BER campaign per rate of ``spec.ber_rates`` (same draws for every point) under ``protected``.

    ``expected_cost`` is the mean cost over every data row at that rate (:func:`codesign.mitigate.clip.expected_cost`),
    comparable across mitigations whose fault-free cost differs (clipping can cost accuracy without faults)."""
    from codesign.mitigate.clip import expected_cost

    rows = []
    for rate in spec.ber_rates:
        model = FaultModel("ber", rate=rate, trials=spec.ber_trials, seed=seed)
        table = multibit_deltas(name, evaluator, model, ws, protected, workers, suffix)
        raw = np.asarray(table["faulty_cost"], dtype=float) - evaluator.base_mean
        rows.append({"rate": rate, "trials": int(len(raw)),
                     "mean_delta_cost": float(np.mean(np.asarray(table["delta_cost"], dtype=float))),
                     "error_rate": float(np.mean(np.asarray(table["delta_cost"]) > 0)),
                     "expected_cost": expected_cost(evaluator, float(np.mean(raw))),
                     "mean_flips_drawn": float(np.mean(table["n_drawn"]))})
    return rows
