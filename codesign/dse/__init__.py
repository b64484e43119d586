"""Design-space exploration of selective TMR (``codesign run``); :func:`explore` is the Python entry point."""

from __future__ import annotations


def explore(design, out="out", rankers=None, budgets=None, flips=None, trials=None, workers: int = 1,
            progress=lambda msg: None, data_dir=None) -> dict:
    """Measure the design points of ``design`` (a design file path or a :class:`codesign.spec.DesignSpec`), with the
    design file's ``dse:`` settings overridden by the arguments given. Returns the dse.json summary plus ``rows``
    (the design_points.csv rows as dicts) and ``dir`` (the run's dse directory)."""
    from dataclasses import replace

    from codesign import spec as specs
    from codesign.dse.run import run_dse
    from codesign.prepare import Prepared
    from codesign.workspace import Workspace

    spec = design if isinstance(design, specs.DesignSpec) else specs.load(design)
    dse = spec.dse.with_options(rankers, budgets, flips, trials, origin=spec.origin)
    prepared = Prepared(replace(spec, dse=dse), data_dir)
    ws = Workspace(out, spec.name)
    with ws.lock():
        return run_dse(prepared, ws, workers=workers, progress=progress)
