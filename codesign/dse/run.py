"""Design-space exploration of selective TMR on one design: orders -> plans -> RTL -> Yosys area and equivalence ->
RTL masking -> multi-bit campaign -> ``design_points.csv``, plots and ``report.html`` in ``<out>/<design>/dse/``.

Activation clipping (``dse.clip``) and saturated weight transforms (``dse.saf``) add points on a mitigated network:
alone (``clip-actmax``, ``saf-tanh``) and combined with TMR (``clip-actmax+bitwise-0.2``); each has its own
unprotected reference for the equivalence proof, its own RTL and campaigns. ``dse.ber`` runs a bit-error-rate sweep
of every point (``ber_sweep.csv``, ``plots/ber_sweep.png``).

Each design point's measurements are kept in ``<out>/<design>/.work/dse/<point>-<plan hash>/`` (result.json, its RTL
and simulation build) and the multi-bit campaigns in their resumable stores, so a killed run picks up where it
stopped; ``dse/`` itself appears whole, at the end, or not at all.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError
from codesign.outdir import atomic_dir
from codesign.campaign.evaluate import Evaluator
from codesign.protect.budget import Budget, make_plan, ranking_order, select_bits

log = logging.getLogger(__name__)

COLUMNS = ["design", "ranker", "budget", "protected_bits", "area_cells", "luts", "ffs", "latency_cycles",
           "cost_fault_free", "multibit_mean_delta_cost", "errors_prevented_pct", "equivalence", "masking_verified",
           "multibit_error_rate", "single_bit_expected_delta_cost", "single_bit_sum_delta_cost", "cmos_transistors",
           "logic_depth", "area_overhead_pct", "multibit_flips", "multibit_trials", "metric", "point", "mitigation",
           "variant", "clip_thresholds", "saf_function", "ber_mean_expected_cost"]
BER_COLUMNS = ["design", "point", "mitigation", "protected_bits", "area_cells", "ber", "trials", "mean_flips_drawn",
               "expected_cost", "mean_delta_cost", "error_rate"]
RESULT_VERSION = 6


@dataclass
class Point:
    ranker: str  # a ranker, 'oracle', or '-' for the references
    budget: str  # as in design_points.csv
    kind: Budget
    variant: str = ""  # the mitigated network: '' (the design's own), 'clip-<method>' or 'saf-<label>'

    @property
    def id(self) -> str:
        r = "ref" if self.ranker == "-" else self.ranker
        base = f"{r}-{self.budget}".replace(":", "").replace("/", "_")
        if not self.variant:
            return base
        return self.variant + ("" if self.kind.kind == "none" else f"+{base}")

    @property
    def mitigation(self) -> str:
        tmr = "tmr" if self.kind.kind != "none" else ""
        return "+".join(m for m in (self.variant.split("-")[0], tmr) if m) or "none"


def points_of(spec) -> list[Point]:
    from codesign.dse.spec import ORACLE_BUDGETS

    pts = [Point("-", "none", Budget("none")), Point("-", "full", Budget("full"))]
    for text, b in spec.budgets:
        if b.kind in ORACLE_BUDGETS:
            pts.append(Point("oracle", text, b))
    for r in spec.rankers:
        for text, b in spec.budgets:
            if b.kind not in ORACLE_BUDGETS:
                pts.append(Point(r, text, b))
    for v in [f"clip-{c}" for c in spec.clips] + [f"saf-{s.label}" for s in spec.safs]:
        pts.append(Point("-", "none", Budget("none"), v))
        for text, b in spec.combine:
            pts.append(Point("-", "full", b, v) if b.kind == "full" else Point(spec.rankers[0], text, b, v))
    return pts


def _variants(design, spec, progress) -> dict:
    """The networks of the points: '' = the design's own, then one per clipping method and per weight transform,
    each on the model's unmitigated network."""
    from codesign.mitigate import clip, saf

    nets = {"": design.qnet()}
    for c in spec.clips:
        if c == "actmax":
            codes = clip.actmax(design.base_qnet(), design.dataset().x)
        else:
            codes = clip.clipact_cached(design, progress=progress)["codes"]
        nets[f"clip-{c}"] = clip.with_clips(design.base_qnet(), codes)
        progress(f"  clip {c}: thresholds {clip.thresholds_of(nets[f'clip-{c}'])}")
    for s in spec.safs:
        v = f"saf-{s.label}"
        if s.train is None:
            nets[v] = saf.with_spec(design.base_qnet(), s)
            progress(f"  saf {s.label}: operand codes changed {saf.operand_error(design.base_qnet(), nets[v])}")
        else:
            from codesign.mitigate.saf_train import finetuned_net

            nets[v], info = finetuned_net(design, s)
            progress(f"  saf {s.label}: fine-tuned, test accuracy {info['test_accuracy_original']:.4f} (original), "
                     f"{info['test_accuracy_table_untrained']:.4f} (tables), {info['test_accuracy_finetuned']:.4f} "
                     "(tables, fine-tuned)")
    return nets


def _orders(design, spec, out, delta) -> dict:

    orders = {}
    for r in spec.rankers:
        if any(b.kind in ("fraction", "bits", "area") for _, b in spec.budgets):
            t0 = time.perf_counter()
            orders[r] = ranking_order(design, r, out, delta)
            log.info("ranking %s: %.1f s", r, time.perf_counter() - t0)
    return orders


def _plan_bits(p: Point, size: int, orders: dict, delta, changed) -> np.ndarray:
    return select_bits(p.kind, orders.get(p.ranker, np.arange(size)), size, delta, changed=changed)


def _area_bits(p: Point, qnet, order, cells_none: int, cells_full: int, spec, workdir: Path) -> np.ndarray:
    """The most top-ranked bits whose design stays within ``F`` x full TMR's extra cells: start from the linear
    estimate and shrink until Yosys agrees (the cost of a bit depends on how its word is split, so it is not uniform;
    only the register part is synthesized again, the datapath comes from the cache)."""
    from codesign.rtl.generate import write_rtl
    from codesign.rtl.yosys import yosys_stats

    size = qnet.bitspace.size
    allowed = p.kind.value * (cells_full - cells_none)
    n = min(size, int(math.floor(p.kind.value * size)))
    for _ in range(12):
        bits = select_bits(Budget("bits", n), order, size)
        if n == 0:
            return bits
        d = workdir / f"area-probe-{n}"
        write_rtl(qnet, d, make_plan("probe", qnet, bits))
        cells = yosys_stats(d, xilinx=False, cmos=False, ltp=False)["generic"]["cells"]
        shutil.rmtree(d, ignore_errors=True)
        over = cells - cells_none
        if over <= allowed:
            return bits
        n = max(0, min(n - 1, int(math.floor(n * allowed / over))))
    raise CodesignError(f"could not fit budget {p.budget} within {allowed:.0f} extra cells")


def run_dse(design, spec, out, workers: int = 2, progress=print) -> dict:
    """Measure every design point of ``spec`` (a :class:`codesign.dse.spec.DseSpec`); returns the dse.json summary."""
    from codesign.campaign import api as campaign_api
    from codesign.dse import measure
    from codesign.rtl.generate import ensure_rtl

    qnet = design.qnet()
    size = qnet.bitspace.size
    root = Path(out) / design.name
    work = root / ".work" / "dse"
    work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    def stage(name):
        timings[name] = timings.get(name, 0.0)
        t0 = time.perf_counter()
        return lambda: timings.__setitem__(name, round(timings[name] + time.perf_counter() - t0, 1))

    delta = changed = None
    if spec.needs_oracle:
        done = stage("oracle")
        from codesign.rank.api import load_oracle

        try:
            delta = load_oracle(design, out)
            progress(f"  oracle: reused {root / 'oracle'}")
        except CodesignError:
            s = campaign_api.oracle(design, out, workers=workers)
            progress(f"  oracle: {s['sensitive']} of {s['bits']} bits sensitive")
            delta = load_oracle(design, out)
        changed = load_oracle(design, out, "changed_rows")
        done()
    done = stage("rankings")
    orders = _orders(design, spec, out, delta)
    if spec.combine and spec.rankers[0] not in orders:
        orders[spec.rankers[0]] = ranking_order(design, spec.rankers[0], out, delta)
    done()
    done = stage("clipping thresholds")
    nets = _variants(design, spec, progress)
    done()
    evaluator = campaign_api.evaluator_for(design)
    evaluators = {v: evaluator if not v else Evaluator(q, evaluator.cost) for v, q in nets.items()}
    costs = {c: _fault_free_cost(design, q) for c, q in nets.items()}
    # a worker pool pays for spawning and shipping the evaluator: worth it only for heavy campaigns
    mb_workers = workers if evaluator.n_rows * spec.trials >= 200_000 else 1

    results, plans, launched = {}, {}, {}
    pts = points_of(spec)
    # Every point's Yosys synthesis, Yosys equivalence proof and cocotb masking run are tasks of one pool, queued
    # in point order, so both cores stay busy across points; each point's multi-bit campaign and result file
    # follow in order as its tasks finish (a killed run keeps the points written so far).
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        golds = {}
        for c, q in nets.items():
            golds[c] = work / ("gold" if not c else f"gold-{c}") / "rtl"
            ensure_rtl(q, golds[c], None)

        def launch(p: Point, bits: np.ndarray) -> None:
            q = nets[p.variant]
            plan = make_plan(design.name, q, bits)
            plans[p.id] = plan
            h = hashlib.sha256(np.sort(bits).tobytes())
            if p.variant:
                h.update(q.fingerprint().encode())
            sha = h.hexdigest()[:12]
            twin = next((q_ for q_, (_, s_, _) in launched.items() if s_ == sha), None)
            pdir = work / f"{p.id}-{sha}"
            res = None if twin else _stored(pdir / "result.json", q)
            tasks = None
            if twin is None and res is None:
                rtl = pdir / "sim" / "rtl"
                ensure_rtl(q, rtl, plan if len(bits) else None)  # the masking bench reuses it
                tasks = (pool.submit(_timed, measure.yosys_area, rtl, spec),
                         pool.submit(_timed, measure.equivalent, golds[p.variant], rtl),
                         pool.submit(_timed, measure.masking, design, q, plan, spec, pdir / "sim"))
            launched[p.id] = (p, sha, (pdir, twin, res, tasks, bits))

        def finish(p: Point) -> None:
            _, _, (pdir, twin, res, tasks, bits) = launched[p.id]
            if twin is not None:  # the same bits as another point (e.g. observable == full): same hardware
                if twin not in results:
                    finish(launched[twin][0])
                _, r, pdir = results[twin]
                res = {**r, "point": p.id, "ranker": p.ranker, "budget": p.budget, "same_plan_as": twin}
            elif res is None:
                q, ev = nets[p.variant], evaluators[p.variant]
                suffix = measure.variant_tag(q, qnet)
                pdir.mkdir(parents=True, exist_ok=True)
                res = {"version": RESULT_VERSION, "design_hash": q.fingerprint(), "point": p.id,
                       "ranker": p.ranker, "budget": p.budget, "protected_bits": int(len(bits)),
                       "variant": p.variant, "clip_thresholds": clip_thresholds(q), "saf_function": saf_function(q)}
                (res["yosys"], t1), (res["equivalence"], t2), (res["masking"], t3) = [t.result() for t in tasks]
                for name, t in (("yosys area", t1), ("yosys equivalence", t2), ("masking (cocotb + Icarus)", t3)):
                    timings[name] = round(timings.get(name, 0.0) + t, 1)
                res["latency_cycles"] = json.loads((pdir / "sim" / "rtl" / "rtl.json").read_text())["latency_cycles"]
                done = stage("multi-bit campaigns")
                res["multibit"] = measure.multibit(design, out, ev, spec, bits, mb_workers, suffix)
                done()
                done = stage("BER sweeps")
                res["ber"] = measure.ber_sweep(design, out, ev, spec, bits, mb_workers, suffix)
                done()
                tmp = pdir / "result.tmp"
                tmp.write_text(json.dumps(res))
                tmp.replace(pdir / "result.json")
            results[p.id] = (p, res, pdir)
            mb = res["multibit"]
            progress(f"  {p.id}: {res['protected_bits']} bits protected, {res['yosys']['generic']['cells']} cells, "
                     f"multi-bit ΔC {mb['mean_delta_cost']:.4g} (error rate {mb['error_rate']:.3f}), "
                     f"equivalence {res['equivalence']['equivalent']}, masking {res['masking']['verified']}")

        for p in pts:
            if p.kind.kind != "area":
                launch(p, _plan_bits(p, size, orders, delta, changed))
        for p in pts:  # area budgets need both references' cells first
            if p.kind.kind == "area":
                for ref in ("ref-none", "ref-full"):
                    if ref not in results:
                        finish(launched[ref][0])
                cells = [results[r][1]["yosys"]["generic"]["cells"] for r in ("ref-none", "ref-full")]
                launch(p, _area_bits(p, qnet, orders[p.ranker], *cells, spec, work))
        for p in pts:
            if p.id not in results:
                finish(p)
    results = {p.id: results[p.id] for p in pts}  # point order
    rows = _rows(design, qnet, spec, results, plans, delta, costs)
    summary = _summary(design, spec, rows, timings)
    _write(root / "dse", rows, summary, results, plans)
    return {**summary, "rows": rows, "dir": str(root / "dse")}


def _timed(fn, *args):
    t0 = time.perf_counter()
    return fn(*args), time.perf_counter() - t0


def _stored(res_file: Path, qnet) -> dict | None:
    """A point's result from an earlier run of the same version and network, if any."""
    try:
        res = json.loads(res_file.read_text())
    except (OSError, ValueError):
        return None
    if res.get("version") != RESULT_VERSION or res.get("design_hash") != qnet.fingerprint():
        return None
    return res


def _fault_free_cost(design, qnet) -> float:
    """Mean cost over every row (the campaign evaluator keeps only correctly classified rows for `mispredict`)."""
    from codesign.metrics.cost import Cost
    from codesign.sim.forward import predict

    return float(np.mean(Cost.for_design(design).per_sample(predict(qnet, design.dataset().x))))


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(round(v, 10))
    return v


def clip_thresholds(qnet) -> dict:
    from codesign.mitigate.clip import thresholds_of

    return thresholds_of(qnet)


def saf_function(qnet) -> str:
    from codesign.ir.qnet import Dense

    return ",".join(sorted({l.saf for l in qnet.layers if isinstance(l, Dense) and l.kernel_lut is not None}))


def _rows(design, qnet, spec, results, plans, delta, costs) -> list[dict]:
    size = qnet.bitspace.size
    none = results["ref-none"][1]
    c_none = none["yosys"]["generic"]["cells"]
    c_full = results["ref-full"][1]["yosys"]["generic"]["cells"]
    err_none = np.asarray(none["multibit"]["delta_cost"]) > 0
    rows = []
    for pid, (p, res, _) in results.items():
        y, mb = res["yosys"], res["multibit"]
        err = np.asarray(mb["delta_cost"]) > 0
        prevented = None
        if err_none.any():
            prevented = 100.0 * float(np.sum(err_none & ~err)) / float(err_none.sum())
        single_sum = single_mean = None
        if delta is not None and not p.variant:  # the oracle is the unclipped network's
            unprot = np.ones(size, dtype=bool)
            unprot[plans[pid].bits] = False
            single_sum = float(np.nansum(delta[unprot]))
            single_mean = single_sum / size
        xil = y.get("xilinx") or {}
        rows.append({
            "design": design.name, "ranker": p.ranker, "budget": p.budget, "protected_bits": res["protected_bits"],
            "area_cells": y["generic"]["cells"], "luts": xil.get("luts"), "ffs": xil.get("ffs"),
            "latency_cycles": res["latency_cycles"], "cost_fault_free": costs[p.variant],
            "multibit_mean_delta_cost": mb["mean_delta_cost"], "errors_prevented_pct": prevented,
            "equivalence": bool(res["equivalence"]["equivalent"]), "masking_verified": bool(res["masking"]["verified"]),
            "multibit_error_rate": mb["error_rate"], "single_bit_expected_delta_cost": single_mean,
            "single_bit_sum_delta_cost": single_sum, "cmos_transistors": y.get("cmos_transistors"),
            "logic_depth": y.get("logic_depth"),
            "area_overhead_pct": 100.0 * (y["generic"]["cells"] - c_none) / (c_full - c_none) if c_full > c_none
            else None,
            "multibit_flips": spec.flips, "multibit_trials": mb["trials"], "metric": design.metric, "point": pid,
            "mitigation": p.mitigation, "variant": p.variant, "saf_function": res.get("saf_function", ""),
            "clip_thresholds": ";".join(f"{k}={v:g}" for k, v in res.get("clip_thresholds", {}).items()),
            "ber_mean_expected_cost": float(np.mean([b["expected_cost"] for b in res["ber"]])) if res.get("ber")
            else None,
            "_ber": res.get("ber") or [],
        })
    return rows


def _summary(design, spec, rows, timings) -> dict:
    none = next(r for r in rows if r["point"] == "ref-none")
    target = 0.01 * none["multibit_mean_delta_cost"]
    under = [r for r in rows if r["multibit_mean_delta_cost"] <= target and r["point"] != "ref-full"
             and r["mitigation"] == "tmr"]
    best = min(under, key=lambda r: r["area_cells"], default=None)
    by_id = {r["point"]: r for r in rows}
    return {
        "design": design.name, "metric": design.metric, "limits": spec.limits, "settings": spec.to_dict(),
        "points": [r["point"] for r in rows], "timings_s": timings,
        "smallest_point_under_1pct_residual": None if best is None else {
            "point": best["point"], "area_cells": best["area_cells"], "area_overhead_pct": best["area_overhead_pct"],
            "multibit_mean_delta_cost": best["multibit_mean_delta_cost"], "target": target},
        **{f"{b}_errors_prevented_pct": by_id[f"oracle-{b}"]["errors_prevented_pct"]
           for b in ("sensitive", "observable") if f"oracle-{b}" in by_id},
    }


def _write(final: Path, rows, summary, results, plans) -> None:
    from codesign.report.html import write_report

    with atomic_dir(final) as tmp:
        with open(tmp / "design_points.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            for r in rows:
                w.writerow([_fmt(r[c]) for c in COLUMNS])
        if any(r["_ber"] for r in rows):
            with open(tmp / "ber_sweep.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(BER_COLUMNS)
                for r in rows:
                    for b in r["_ber"]:
                        w.writerow([_fmt(v) for v in (r["design"], r["point"], r["mitigation"], r["protected_bits"],
                                                      r["area_cells"], b["rate"], b["trials"], b["mean_flips_drawn"],
                                                      b["expected_cost"], b["mean_delta_cost"], b["error_rate"])])
        (tmp / "dse.json").write_text(json.dumps(summary, indent=1))
        for pid, (p, res, pdir) in results.items():
            d = tmp / "points" / pid
            d.mkdir(parents=True)
            plans[pid].save(d / "plan.json")
            shutil.copytree(pdir / "sim" / "rtl", d / "rtl")
            (d / "result.json").write_text(json.dumps({k: v for k, v in res.items() if k != "multibit"} |
                                                      {"multibit": {k: v for k, v in res["multibit"].items()
                                                                    if k != "delta_cost"}}, indent=1))
        write_report(tmp)  # draws the plots into plots/
