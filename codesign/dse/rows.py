"""From point results to ``<out>/<design>/dse/``: the ``design_points.csv`` rows (columns: :mod:`codesign.points`),
the ``dse.json`` summary, ``ber_sweep.csv``, every point's plan, RTL and result, and ``report.html`` with its plots."""

from __future__ import annotations

import json
import shutil

import numpy as np

from codesign.points import BER_COLUMNS, BER_CSV, COLUMNS, CSV, write_rows


def clip_thresholds(qnet) -> dict:
    from codesign.mitigate.clip import thresholds_of

    return thresholds_of(qnet)


def saf_function(qnet) -> str:
    from codesign.ir.qnet import Dense

    return ",".join(sorted({l.saf for l in qnet.layers if isinstance(l, Dense) and l.kernel_lut is not None}))


def _single_bit(oracle, plan, variant: str, size: int) -> tuple[float | None, float | None]:
    """The oracle's ΔC summed over the unprotected bits, and its mean per random upset (the oracle is the
    unmitigated network's, so mitigated points have none)."""
    if oracle is None or variant:
        return None, None
    unprot = np.ones(size, dtype=bool)
    unprot[plan.bits] = False
    total = float(np.nansum(oracle.delta[unprot]))
    return total, total / size


def rows(prepared, spec, results: dict, plans: dict, oracle, costs: dict) -> list[dict]:
    size = prepared.qnet.bitspace.size
    none = results["ref-none"][1]
    c_none = none.yosys["generic"]["cells"]
    c_full = results["ref-full"][1].yosys["generic"]["cells"]
    err_none = np.asarray(none.multibit["delta_cost"]) > 0
    out = []
    for pid, (p, res) in results.items():
        y, mb = res.yosys, res.multibit
        err = np.asarray(mb["delta_cost"]) > 0
        prevented = 100.0 * float(np.sum(err_none & ~err)) / float(err_none.sum()) if err_none.any() else None
        single_sum, single_mean = _single_bit(oracle, plans[pid], p.variant, size)
        xil = y.get("xilinx") or {}
        cells = y["generic"]["cells"]
        out.append({
            "design": prepared.name, "ranker": p.ranker, "budget": p.budget, "protected_bits": res.protected_bits,
            "area_cells": cells, "luts": xil.get("luts"), "ffs": xil.get("ffs"),
            "latency_cycles": res.latency_cycles, "cost_fault_free": costs[p.variant],
            "multibit_mean_delta_cost": mb["mean_delta_cost"], "errors_prevented_pct": prevented,
            "equivalence": bool(res.equivalence["equivalent"]), "masking_verified": bool(res.masking["verified"]),
            "multibit_error_rate": mb["error_rate"], "single_bit_expected_delta_cost": single_mean,
            "single_bit_sum_delta_cost": single_sum, "cmos_transistors": y.get("cmos_transistors"),
            "logic_depth": y.get("logic_depth"),
            "area_overhead_pct": 100.0 * (cells - c_none) / (c_full - c_none) if c_full > c_none else None,
            "multibit_flips": spec.flips, "multibit_trials": mb["trials"], "metric": prepared.metric, "point": pid,
            "mitigation": p.mitigation, "variant": p.variant, "saf_function": res.saf_function,
            "clip_thresholds": ";".join(f"{k}={v:g}" for k, v in res.clip_thresholds.items()),
            "ber_mean_expected_cost": float(np.mean([b["expected_cost"] for b in res.ber])) if res.ber else None,
            "target_met": None if spec.target_bound is None else mb["mean_delta_cost"] <= spec.target_bound,
            "_ber": res.ber,
        })
    return out


def _meeting_target(rows_: list[dict], target: dict | None) -> dict | None:
    """The smallest (fewest Yosys cells) point that meets ``dse.target``, whichever way it protects."""
    if target is None:
        return None
    best = min((r for r in rows_ if r["target_met"]), key=lambda r: r["area_cells"], default=None)
    return None if best is None else {k: best[k] for k in ("point", "area_cells", "area_overhead_pct",
                                                           "multibit_mean_delta_cost", "protected_bits")}


def summary(prepared, spec, rows_: list[dict], timings: dict, search: dict | None = None) -> dict:
    none = next(r for r in rows_ if r["point"] == "ref-none")
    target = 0.01 * none["multibit_mean_delta_cost"]
    under = [r for r in rows_ if r["multibit_mean_delta_cost"] <= target and r["point"] != "ref-full"
             and r["mitigation"] == "tmr"]
    best = min(under, key=lambda r: r["area_cells"], default=None)
    by_id = {r["point"]: r for r in rows_}
    return {
        "design": prepared.name, "metric": prepared.metric, "limits": spec.limits, "settings": spec.to_dict(),
        "points": [r["point"] for r in rows_], "timings_s": timings,
        "smallest_point_under_1pct_residual": None if best is None else {
            "point": best["point"], "area_cells": best["area_cells"], "area_overhead_pct": best["area_overhead_pct"],
            "multibit_mean_delta_cost": best["multibit_mean_delta_cost"], "target": target},
        "target": search, "smallest_point_meeting_target": _meeting_target(rows_, search),
        **{f"{b}_errors_prevented_pct": by_id[f"oracle-{b}"]["errors_prevented_pct"]
           for b in ("sensitive", "observable") if f"oracle-{b}" in by_id},
    }


def _ber_rows(rows_: list[dict]) -> list[dict]:
    return [{"design": r["design"], "point": r["point"], "mitigation": r["mitigation"],
             "protected_bits": r["protected_bits"], "area_cells": r["area_cells"], "ber": b["rate"],
             "trials": b["trials"], "mean_flips_drawn": b["mean_flips_drawn"], "expected_cost": b["expected_cost"],
             "mean_delta_cost": b["mean_delta_cost"], "error_rate": b["error_rate"]}
            for r in rows_ for b in r["_ber"]]


def write(ws, rows_: list[dict], summary_: dict, results: dict, plans: dict, rtl_dirs: dict) -> None:
    """``<out>/<design>/dse/`` as a whole."""
    from codesign.report.html import write_report

    with ws.writing("dse") as tmp:
        write_rows(tmp / CSV, COLUMNS, rows_)
        ber = _ber_rows(rows_)
        if ber:
            write_rows(tmp / BER_CSV, BER_COLUMNS, ber)
        (tmp / "dse.json").write_text(json.dumps(summary_, indent=1))
        for pid, (p, res) in results.items():
            d = tmp / "points" / pid
            d.mkdir(parents=True)
            (d / "plan.json").write_text(plans[pid].to_json())
            shutil.copytree(rtl_dirs[pid], d / "rtl")
            (d / "result.json").write_text(json.dumps(res.public(), indent=1))
        write_report(tmp)  # draws the plots into plots/
