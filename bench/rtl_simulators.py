"""Icarus vs Verilator under the same cocotb bench: compile time, faults/s and inputs/s, ratio in one run.

Per design, each simulator gets the same three workloads (and their outputs are checked equal, bit for bit):

- ``masking``: the DSE's masking run of a TMR point (``dse.masking_rows`` inputs, one replica of every protected bit
  in groups of ``masking_group``, plus sampled unprotected bits; :func:`codesign.dse.measure.masking`'s fault list);
- ``inject``: ``--faults`` sampled single bits + ``--multi`` 3-bit faults on ``--rows`` inputs (``codesign inject``);
- ``verify``: the fault-free stream of ``--verify`` inputs, inputs/s from two runs (n and 5n inputs) so that the
  simulator start and the weight load cancel out;

compile time separate: Icarus' build, Verilator's cold build (empty cache) and a cache hit (same Verilog again).

Usage: python bench/rtl_simulators.py [--designs digits_s,econt_m] [--faults 500] [--multi 20] [--rows 100]
       [--verify 1000] [--protect 0.1]
ECON-T-M and smart-pixel need CODESIGN_DATA; digits-S needs nothing.
"""

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

SIMS = ("icarus", "verilator")


def _timed(fn, *a, **k):
    t = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t


def _level(q, codes, plan, workdir, sim):
    from codesign.level import Target
    from codesign.rtl.level import RtlLevel

    return _timed(RtlLevel, Target(q, codes, plan=plan, workdir=workdir, options={"simulator": sim}))


def masking_faults(d, plan, spec):
    """The DSE masking run's evaluator rows and fault list (codesign.dse.measure.masking)."""
    from codesign.dse import measure

    q = d.qnet
    ev = measure.masking_evaluator(q, d.data.x, spec.masking_rows)
    protected = np.asarray(plan.bits, dtype=np.int64)
    rest = np.setdiff1d(np.arange(q.bitspace.size), protected)
    sampled = np.sort(np.random.default_rng([d.seed, 3]).choice(rest, size=min(spec.unprotected_samples, len(rest)),
                                                                replace=False))
    faults, replicas, _ = measure._masking_faults(protected, sampled, spec.masking_group)
    return ev.acts[0], faults, replicas


def bench_compile(q, plan, tmp: Path) -> dict:
    """Build seconds: Icarus, Verilator cold (a fresh cache) and Verilator from the cache."""
    from codesign.rtl.sim import RtlSim

    out = {}
    s, _ = _timed(RtlSim, q, plan, tmp / "c-icarus", simulator="icarus")
    out["icarus"] = s.compiled.seconds
    os.environ["CODESIGN_CACHE"] = str(tmp / "fresh-cache")
    s, _ = _timed(RtlSim, q, plan, tmp / "c-verilator", simulator="verilator")
    assert s.compiled.compiled
    out["verilator"] = s.compiled.seconds
    s, _ = _timed(RtlSim, q, plan, tmp / "c-verilator-again", simulator="verilator")
    assert not s.compiled.compiled
    out["verilator_cached"] = s.compiled.seconds
    return out


def bench_faults(q, codes, faults, replicas, plan, tmp: Path, tag: str) -> dict:
    """faults/s and input evaluations/s of one simulator start per simulator (the build is not timed)."""
    res, outs = {}, {}
    for sim in SIMS:
        level, _ = _level(q, codes, plan, tmp / f"{tag}-{sim}", sim)
        with level:
            outs[sim], dt = _timed(level.outputs, faults, replicas)
        res[sim] = {"seconds": dt, "faults_per_s": len(faults) / dt, "inputs_per_s": len(faults) * len(codes) / dt}
    same = all(np.array_equal(a, b) for a, b in zip(outs["icarus"], outs["verilator"]))
    return {**res, "identical": same, "faults": len(faults), "rows": len(codes)}


def bench_verify(q, codes, plan, tmp: Path) -> dict:
    from codesign.rtl.sim import RtlSim

    res, outs = {}, {}
    for sim in SIMS:
        s = RtlSim(q, plan, tmp / f"v-{sim}", simulator=sim)
        one, t1 = _timed(s.golden, codes)
        _, t5 = _timed(s.golden, np.concatenate([codes] * 5))
        outs[sim] = one
        res[sim] = {"inputs_per_s": 4 * len(codes) / (t5 - t1), "start_and_load_s": max(0.0, t1 - (t5 - t1) / 4)}
    return {**res, "identical": bool(np.array_equal(outs["icarus"], outs["verilator"])), "rows": len(codes)}


def _line(name, what, r, unit):
    i, v = r["icarus"][unit], r["verilator"][unit]
    extra = f" ({r['faults']} faults x {r['rows']} inputs)" if "faults" in r else f" ({r['rows']} inputs)"
    print(f"[{what}] {name}{extra}: icarus {i:.1f} {unit.replace('_per_s', '/s')}, verilator {v:.1f}; ratio "
          f"{v / i:.1f}x; identical outputs {r['identical']}", flush=True)


def run(name, args):
    from dataclasses import replace

    from rtl import design  # bench/rtl.py
    from test_rtl_real import sample_faults

    from codesign.protect.plan import Plan
    from codesign.sim.forward import quantize_input

    d = design(name, None, **({"split": "all"} if name.startswith("digits") else {}))  # test split < 1000 rows
    q = d.qnet
    rng = np.random.default_rng(1)
    bits = np.sort(rng.choice(q.bitspace.size, int(args.protect * q.bitspace.size), replace=False))
    plan = Plan.of(d.name, q, bits)
    spec = replace(d.dse(), masking_group=args.group)
    cache = os.environ.get("CODESIGN_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        c = bench_compile(q, plan, tmp)
        if cache:  # the other workloads use the user's cache (a Verilator build per Verilog, then reused)
            os.environ["CODESIGN_CACHE"] = cache
        else:
            os.environ.pop("CODESIGN_CACHE")
        print(f"[compile] {name} ({q.bitspace.size} bits, {len(bits)} under TMR): icarus {c['icarus']:.1f} s, "
              f"verilator {c['verilator']:.1f} s cold, {c['verilator_cached']:.2f} s from the cache", flush=True)
        codes, faults, replicas = masking_faults(d, plan, spec)
        _line(name, "masking", bench_faults(q, codes, faults, replicas, plan, tmp, "m"), "faults_per_s")
        codes = quantize_input(q, d.data.x)
        faults = sample_faults(q, args.faults, args.multi, seed=11)
        r = bench_faults(q, codes[: args.rows], faults, None, None, tmp, "i")
        _line(name, "inject", r, "faults_per_s")
        _line(name, "inject", r, "inputs_per_s")
        v = bench_verify(q, codes[: args.verify], None, tmp)
        _line(name, "verify", v, "inputs_per_s")
        print(f"[start] {name}: simulator start + weight load icarus {v['icarus']['start_and_load_s']:.2f} s, "
              f"verilator {v['verilator']['start_and_load_s']:.2f} s", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--designs", default="digits_s" + (",econt_m" if os.environ.get("CODESIGN_DATA") else ""))
    ap.add_argument("--faults", type=int, default=500)
    ap.add_argument("--multi", type=int, default=20)
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--verify", type=int, default=1000)
    ap.add_argument("--protect", type=float, default=0.1, help="share of bits under TMR in the masking run")
    ap.add_argument("--group", type=int, default=16, help="dse.masking_group of the masking run")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.disable(logging.WARNING)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    for name in args.designs.split(","):
        run(name, args)


if __name__ == "__main__":
    main()
