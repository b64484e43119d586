"""The measurement of design points, scheduled: each point's Yosys synthesis, equivalence proof and masking run are
tasks of one thread pool, queued in point order, so both cores stay busy across points; each point's multi-bit
campaign and result file follow in order as its tasks finish (a killed run keeps the points written so far).

Points whose plans protect the same bits share one measurement (the same hardware), e.g. ``observable`` and
``full`` when every bit is observable.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign.campaign.evaluate import Evaluator
from codesign.dse import measure
from codesign.dse.point import RESULT_VERSION, Point, PointResult
from codesign.errors import CodesignError
from codesign.protect.budget import Budget, select_bits
from codesign.protect.plan import Plan
from codesign.rtl.generate import ensure_rtl, write_rtl

# a worker pool pays for spawning and shipping the evaluator: worth it only for heavy campaigns
POOL_WORK = 200_000  # evaluated rows x trials


@dataclass
class _Pending:
    point: Point
    sha: str  # of the plan's bits (and the variant's network)
    pdir: Path
    bits: np.ndarray
    twin: str | None = None  # an earlier point with the same plan
    stored: PointResult | None = None
    tasks: tuple | None = None  # futures of (yosys, equivalence, masking)


class PointRunner:
    def __init__(self, run, pool):
        self.run, self.pool = run, pool
        self.plans: dict[str, Plan] = {}
        self.results: dict[str, PointResult] = {}
        self.rtl_dirs: dict[str, Path] = {}
        self.pending: dict[str, _Pending] = {}
        self.golds: dict = {}
        self.evaluators: dict = {}
        self.costs: dict = {}

    @property
    def work(self) -> Path:
        return self.run.ws.work("dse")

    def prepare_golds(self) -> None:
        """Each network's unprotected RTL (the gold of its equivalence proofs), evaluator and fault-free cost."""
        from codesign.sim.forward import predict

        p = self.run.prepared
        evaluator = p.evaluator()
        for v, q in self.run.nets.items():
            self.golds[v] = ensure_rtl(q, self.work / ("gold" if not v else f"gold-{v}") / "rtl", None)
            self.evaluators[v] = evaluator if not v else Evaluator(q, evaluator.cost)
            self.costs[v] = float(np.mean(p.cost().per_sample(predict(q, p.data.x))))
        self.mb_workers = self.run.workers if evaluator.n_rows * self.run.spec.trials >= POOL_WORK else 1

    def bits(self, p: Point) -> np.ndarray:
        size = self.run.prepared.qnet.bitspace.size
        oracle = self.run.oracle
        return select_bits(p.kind, self.run.orders.get(p.ranker, np.arange(size)), size,
                           None if oracle is None else oracle.delta, changed=None if oracle is None else oracle.changed)

    def launch(self, p: Point, bits: np.ndarray | None = None) -> None:
        bits = self.bits(p) if bits is None else bits
        q = self.run.nets[p.variant]
        self.plans[p.id] = Plan.of(self.run.prepared.name, q, bits)
        h = hashlib.sha256(np.sort(bits).tobytes())
        if p.variant:
            h.update(q.fingerprint().encode())
        sha = h.hexdigest()[:12]
        twin = next((pid for pid, other in self.pending.items() if other.sha == sha), None)
        job = _Pending(p, sha, self.work / f"{p.id}-{sha}", bits, twin)
        if twin is None:
            job.stored = PointResult.stored(job.pdir / "result.json", q.fingerprint())
        if twin is None and job.stored is None:
            build = ensure_rtl(q, job.pdir / "sim" / "rtl", self.plans[p.id] if len(bits) else None)
            spec, seed, x = self.run.spec, self.run.prepared.seed, self.run.prepared.data.x
            job.tasks = (self.pool.submit(_timed, measure.yosys_area, build, spec),
                         self.pool.submit(_timed, measure.equivalent, self.golds[p.variant], build),
                         self.pool.submit(_timed, measure.masking, q, x, seed, self.plans[p.id], spec,
                                          (job.pdir / "sim").resolve()))
        self.pending[p.id] = job

    def launch_area(self, p: Point) -> None:
        for ref in ("ref-none", "ref-full"):
            self.finish(self.pending[ref].point)
        cells = [self.results[r].yosys["generic"]["cells"] for r in ("ref-none", "ref-full")]
        self.launch(p, area_bits(p, self.run.nets[p.variant], self.run.orders[p.ranker], *cells, self.work))

    def finish(self, p: Point) -> None:
        if p.id in self.results:
            return
        job = self.pending[p.id]
        if job.twin is not None:  # the same bits as another point: the same hardware
            self.finish(self.pending[job.twin].point)
            res, self.rtl_dirs[p.id] = self.results[job.twin].for_point(p, job.twin), self.rtl_dirs[job.twin]
        else:
            res = job.stored or self._measure(job)
            self.rtl_dirs[p.id] = job.pdir / "sim" / "rtl"
        self.results[p.id] = res
        mb = res.multibit
        self.run.progress(f"  {p.id}: {res.protected_bits} bits protected, {res.yosys['generic']['cells']} cells, "
                          f"multi-bit ΔC {mb['mean_delta_cost']:.4g} (error rate {mb['error_rate']:.3f}), "
                          f"equivalence {res.equivalence['equivalent']}, masking {res.masking['verified']}")

    def _measure(self, job: _Pending) -> PointResult:
        from codesign.dse.rows import clip_thresholds, saf_function
        from codesign.rtl.build import RtlBuild

        p, run = job.point, self.run
        q, ev = run.nets[p.variant], self.evaluators[p.variant]
        (yosys, t1), (equiv, t2), (mask, t3) = [t.result() for t in job.tasks]
        for name, t in (("yosys area", t1), ("yosys equivalence", t2), ("masking (RTL simulation)", t3)):
            run.timed(name, t)
        res = PointResult(p.id, p.ranker, p.budget, int(len(job.bits)), p.variant, q.fingerprint(),
                          clip_thresholds(q), saf_function(q), yosys, equiv, mask,
                          RtlBuild.read(job.pdir / "sim" / "rtl").latency_cycles, version=RESULT_VERSION)
        suffix = measure.variant_tag(q, run.prepared.qnet)
        name, seed = run.prepared.name, run.prepared.seed
        t0 = time.perf_counter()
        res.multibit = measure.multibit(name, run.ws, ev, run.spec, seed, job.bits, self.mb_workers, suffix)
        run.timed("multi-bit campaigns", time.perf_counter() - t0)
        t0 = time.perf_counter()
        res.ber = measure.ber_sweep(name, run.ws, ev, run.spec, seed, job.bits, self.mb_workers, suffix)
        run.timed("BER sweeps", time.perf_counter() - t0)
        res.save(job.pdir / "result.json")
        return res

    def in_order(self, pts: list[Point]) -> dict[str, tuple[Point, PointResult]]:
        return {p.id: (p, self.results[p.id]) for p in pts}


def _timed(fn, *args):
    t0 = time.perf_counter()
    return fn(*args), time.perf_counter() - t0


def area_bits(p: Point, qnet, order, cells_none: int, cells_full: int, workdir: Path) -> np.ndarray:
    """The most top-ranked bits whose design stays within ``F`` x full TMR's extra cells: start from the linear
    estimate and shrink until Yosys agrees (the cost of a bit depends on how its word is split, so it is not uniform;
    only the register part is synthesized again, the datapath comes from the cache)."""
    from codesign.rtl.yosys import yosys_stats

    size = qnet.bitspace.size
    allowed = p.kind.value * (cells_full - cells_none)
    n = min(size, int(math.floor(p.kind.value * size)))
    for _ in range(12):
        bits = select_bits(Budget("bits", n), order, size)
        if n == 0:
            return bits
        d = workdir / f"area-probe-{n}"
        build = write_rtl(qnet, d, Plan.of("probe", qnet, bits))
        cells = yosys_stats(build, xilinx=False, cmos=False, ltp=False)["generic"]["cells"]
        shutil.rmtree(d, ignore_errors=True)
        over = cells - cells_none
        if over <= allowed:
            return bits
        n = max(0, min(n - 1, int(math.floor(n * allowed / over))))
    raise CodesignError(f"could not fit budget {p.budget} within {allowed:.0f} extra cells")
