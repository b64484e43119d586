"""Design-space exploration of selective TMR (``codesign run``); :func:`explore` is the Python entry point."""

from __future__ import annotations


def explore(design, out="out", rankers=None, budgets=None, flips=None, trials=None, workers: int = 1,
            progress=lambda msg: None) -> dict:
    """Measure the design points of ``design`` (a path or a :class:`codesign.design.Design`), with the design file's
    ``dse:`` settings overridden by the arguments given. Returns the dse.json summary plus ``rows`` (the
    design_points.csv rows as dicts) and ``dir`` (the run's dse directory)."""
    from codesign.design import Design
    from codesign.dse.run import run_dse
    from codesign.dse.spec import parse_spec

    if not isinstance(design, Design):
        design = Design.load(design)
    raw = dict(design.raw)
    dse = dict(raw.get("dse") or {})
    if rankers is not None:
        dse["rankers"] = list(rankers)
    if budgets is not None:
        dse["budgets"] = list(budgets)
    if flips is not None or trials is not None:
        mb = dict(dse.get("multibit") or {})
        mb.update({k: v for k, v in (("flips", flips), ("trials", trials)) if v is not None})
        dse["multibit"] = mb
    raw["dse"] = dse
    spec = parse_spec(raw, design.qnet().bitspace.size, origin=design.name)
    return run_dse(design, spec, out, workers=workers, progress=progress)
