"""Design-space exploration of selective TMR on one design, as named, timed steps::

    oracle -> orders -> target -> variants -> references -> points -> rows -> report

- ``oracle``: the single-bit oracle (reused when ``<out>/<design>/oracle`` holds one of this network);
- ``orders``: each ranker's order of the bits (what budgets take their top bits from);
- ``target``: with ``dse.target``, the smallest protection of the first ranker that meets it (a bisection of
  multi-bit campaigns, :mod:`codesign.dse.target`), measured as the point ``<ranker>-target``;
- ``variants``: the mitigated networks (``dse.clip``, ``dse.saf``) next to the design's own;
- ``references``: the unprotected RTL of every network (the equivalence proofs' gold) and the ``none``/``full``
  points; ``points``: every other plan. Each point gets its RTL, Yosys area, equivalence proof and RTL masking run
  (tasks of one thread pool, so both cores stay busy across points), then its multi-bit (and BER) campaigns;
- ``rows``: ``design_points.csv`` rows and the ``dse.json`` summary; ``report``: ``<out>/<design>/dse/`` whole,
  with ``report.html`` and the plots.

Each point's result is kept in ``<out>/<design>/.work/dse/<point>-<plan hash>/result.json`` (with its RTL) and the
campaigns in their stores, so a killed run resumes where it stopped; ``dse/`` appears whole, at the end, or not at
all.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from codesign.dse import rows as table
from codesign.dse.point import points_of
from codesign.errors import CodesignError
from codesign.dse.schedule import PointRunner
from codesign.flow import campaigns
from codesign.rank.api import order

log = logging.getLogger(__name__)

@dataclass
class DseRun:
    """The state the steps hand on."""

    prepared: object
    spec: object  # codesign.spec.dse.DseSpec, resolved for the network
    ws: object  # codesign.workspace.Workspace
    workers: int = 2
    progress: object = print
    timings: dict = field(default_factory=dict)
    oracle: object = None
    orders: dict = field(default_factory=dict)
    target: dict | None = None  # the search's result (dse.target)
    nets: dict = field(default_factory=dict)  # variant ('' = the design's own) -> QNet
    runner: PointRunner | None = None
    rows: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def timed(self, name: str, seconds: float) -> None:
        self.timings[name] = round(self.timings.get(name, 0.0) + seconds, 1)


def step_oracle(run: DseRun) -> None:
    if not run.spec.needs_oracle:
        return
    p, ws = run.prepared, run.ws
    try:
        run.oracle = campaigns.read_oracle(p, ws)
        run.progress(f"  oracle: reused {ws.stage('oracle')}")
    except CodesignError:  # none stored (or another network's): compute it
        s = campaigns.oracle(p, ws, workers=run.workers)
        run.progress(f"  oracle: {s['sensitive']} of {s['bits']} bits sensitive")
        run.oracle = campaigns.read_oracle(p, ws)


def step_orders(run: DseRun) -> None:
    spec = run.spec
    needed = set()
    if any(b.kind in ("fraction", "bits", "area") for _, b in spec.budgets):
        needed |= set(spec.rankers)
    if spec.combine or spec.target is not None:
        needed.add(spec.rankers[0])
    ctx = run.prepared.rank_context() if needed else None
    for r in spec.rankers:
        if r in needed:
            t0 = time.perf_counter()
            run.orders[r] = order(r, ctx, run.oracle)
            log.info("ranking %s: %.1f s", r, time.perf_counter() - t0)


def step_target(run: DseRun) -> None:
    if run.spec.target is not None:
        from codesign.dse.target import search

        run.target = search(run)


def step_variants(run: DseRun) -> None:
    """The networks of the points: '' = the design's own, then one per clipping method and per weight transform,
    each on the model's unmitigated network."""
    from codesign.mitigate import clip, saf

    p, spec = run.prepared, run.spec
    run.nets = {"": p.qnet}
    base = p.base_qnet
    for c in spec.clips:
        codes = clip.actmax(base, p.data.x) if c == "actmax" else p.clipact(progress=run.progress)["codes"]
        run.nets[f"clip-{c}"] = clip.with_clips(base, codes)
        run.progress(f"  clip {c}: thresholds {clip.thresholds_of(run.nets[f'clip-{c}'])}")
    for s in spec.safs:
        v = f"saf-{s.label}"
        if s.train is None:
            run.nets[v] = saf.with_spec(base, s)
            run.progress(f"  saf {s.label}: operand codes changed {saf.operand_error(base, run.nets[v])}")
            continue
        from codesign.mitigate.saf_train import finetuned_net

        run.nets[v], info = finetuned_net(p.model, base, s, p.data_dir, p.seed)
        run.progress(f"  saf {s.label}: fine-tuned, test accuracy {info['test_accuracy_original']:.4f} (original), "
                     f"{info['test_accuracy_table_untrained']:.4f} (tables), {info['test_accuracy_finetuned']:.4f} "
                     "(tables, fine-tuned)")


def step_references(run: DseRun) -> None:
    run.runner.prepare_golds()
    for p in points_of(run.spec)[:2]:
        run.runner.launch(p)


def step_points(run: DseRun) -> None:
    pts = points_of(run.spec)
    for p in pts[2:]:
        if p.kind.kind != "area":
            run.runner.launch(p)
    for p in pts[2:]:  # area budgets need both references' cells first
        if p.kind.kind == "area":
            run.runner.launch_area(p)
    for p in pts:
        run.runner.finish(p)


def step_rows(run: DseRun) -> None:
    results = run.runner.in_order(points_of(run.spec))
    run.rows = table.rows(run.prepared, run.spec, results, run.runner.plans, run.oracle, run.runner.costs)
    run.summary = table.summary(run.prepared, run.spec, run.rows, run.timings, run.target)


def step_report(run: DseRun) -> None:
    results = run.runner.in_order(points_of(run.spec))
    table.write(run.ws, run.rows, run.summary, results, run.runner.plans, run.runner.rtl_dirs)


def run_dse(prepared, ws, workers: int = 2, progress=print) -> dict:
    """Measure every design point of the design's ``dse:`` settings; returns the dse.json summary plus ``rows`` and
    ``dir``."""
    run = DseRun(prepared, prepared.dse(), ws, workers, progress)
    ws.work("dse").mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        run.runner = PointRunner(run, pool)
        for name, step in STEPS.items():
            t0 = time.perf_counter()
            step(run)
            run.timed(name, time.perf_counter() - t0)
    return {**run.summary, "rows": run.rows, "dir": str(ws.stage("dse"))}


STEPS = {"oracle": step_oracle, "orders": step_orders, "target": step_target, "variants": step_variants,
         "references": step_references, "points": step_points, "rows": step_rows, "report": step_report}
