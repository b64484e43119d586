"""RTL (Icarus + cocotb) benchmarks: faults per simulator start vs one start per fault, RTL-vs-simulator ΔC on
sampled bits, sim-vs-RTL verification counts, RTL size and speed of the larger designs, optional Yosys area.

Usage: CODESIGN_DATA=... python bench/rtl.py [--faults 1000] [--bits 200] [--multi 20] [--verify 1000]
       [--skip delta,verify,large,speed] [--speed econt_m,smartpixel_m] [--yosys econt_s,digits_s]
Needs the data directory (ECON-T, smart-pixel); digits needs none.
"""

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

DATA = {"econt_s": {"dataset": "hgcal", "file": "ttbar_0PU"}, "econt_m": {"dataset": "hgcal", "file": "ttbar_0PU"},
        "econt_l": {"dataset": "hgcal", "file": "ttbar_0PU"},
        "smartpixel_s": {"dataset": "smartpixel", "split": "test"},
        "smartpixel_m": {"dataset": "smartpixel", "split": "test"}, "digits_s": {"dataset": "digits", "split": "test"}}
METRIC = {"econt": "emd", "smartpixel": "mispredict", "digits": "mispredict"}


def design(name, samples, **data):
    from codesign import spec
    from codesign.prepare import Prepared

    return Prepared(spec.from_dict({"name": name, "model": {"zoo": name}, "data": {**DATA[name], **data},
                                    "metric": METRIC[name.split("_")[0]], "samples": samples, "seed": 0}),
                    os.environ.get("CODESIGN_DATA"))


def bench_faults_per_start(n_faults, rows, restarts):
    """Same faults, same inputs: one simulator start for all of them vs one start per fault."""
    from codesign.level import Target
    from codesign.rtl.level import RtlLevel
    from test_rtl_real import sample_faults

    d = design("econt_m", rows)
    ev = d.evaluator()
    faults = sample_faults(ev.qnet, n_faults, 0, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        level = RtlLevel(Target(ev.qnet, ev.acts[0], workdir=Path(tmp)))
        t = time.perf_counter()
        outs = level.outputs(faults)
        many = time.perf_counter() - t
        assert level.runs == 1
        t = time.perf_counter()
        for k in range(restarts):
            # a fresh results file: a real start per fault
            single = RtlLevel(Target(ev.qnet, ev.acts[0], workdir=Path(tmp) / f"r{k}"))
            single.sim = level.sim  # same compiled design (the build is not part of a restart)
            single.results = Path(tmp) / f"restart-{k}.jsonl"
            o = single.outputs([faults[k]])
            assert np.array_equal(o[0], outs[k])
        per_restart = (time.perf_counter() - t) / restarts
        level.close()
    per_fault = many / n_faults
    print(f"[faults per start] ECON-T-M, {n_faults} faults x {ev.n_rows} inputs in ONE Icarus start: {many:.1f} s "
          f"({n_faults / many:.1f} faults/s, {n_faults * ev.n_rows / many:.0f} input evaluations/s)")
    print(f"[faults per start] one start per fault: {per_restart:.2f} s per fault (mean of {restarts}); "
          f"ratio {per_restart / per_fault:.0f}x")


def bench_delta(names, n_bits, n_multi, rows):
    from codesign.level import Target, open_level
    from test_rtl_real import sample_faults

    for name in names:
        d = design(name, rows[name])
        ev = d.evaluator()
        faults = sample_faults(ev.qnet, n_bits, n_multi, seed=11)
        with tempfile.TemporaryDirectory() as tmp:
            with open_level("rtl", Target(ev.qnet, ev.acts[0], workdir=Path(tmp))) as level:
                t = time.perf_counter()
                outs = level.outputs(faults)
                dt = time.perf_counter() - t
        diff = sens = 0
        for bits, out in zip(faults, outs):
            a, b = ev.outcome_of_outputs(out), ev.evaluate(bits)
            diff += (a.delta_cost != b.delta_cost) or (a.changed_rows != b.changed_rows)
            sens += a.delta_cost > 0
        print(f"[delta C] {name}: {n_bits} single bits + {n_multi} x 3-bit trials on {ev.n_rows} rows: "
              f"{diff} RTL/sim differences, {sens} sensitive, {dt:.0f} s ({len(faults) * ev.n_rows / dt:.0f} "
              f"input evaluations/s)")


def bench_verify(names, n):
    from codesign.verify import verify

    for name in names:
        d = design(name, n, **({"split": "all"} if name.startswith("digits") else {}))  # test split < 1000 rows
        x = d.data.x
        t = time.perf_counter()
        r = verify(d.model.onchip, d.qnet, x, levels=["sim", "rtl"])
        dt = time.perf_counter() - t
        print(f"[verify] {name}: {r['n_inputs']} inputs, mismatches {r['mismatches']} ({dt:.1f} s incl. build)")


def bench_large(names, n):
    from codesign.rtl.generate import write_rtl
    from codesign.rtl.sim import RtlSim
    from codesign.sim.forward import forward, quantize_input

    for name in names:
        d = design(name, n)
        q = d.qnet
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            s = write_rtl(q, Path(tmp) / "gen")
            gen = time.perf_counter() - t
            size = sum(f.stat().st_size for f in (Path(tmp) / "gen").iterdir())
            t = time.perf_counter()
            sim = RtlSim(q, workdir=Path(tmp) / "sim")
            build = time.perf_counter() - t
            codes = quantize_input(q, d.data.x)
            t = time.perf_counter()
            out = sim.golden(codes)
            run = time.perf_counter() - t
        bad = int(np.sum(np.any((out != forward(q, codes)).reshape(len(out), -1), axis=1)))
        print(f"[large] {name}: {s.summary['weight_bits']} weight bits, latency {s.latency_cycles}, "
              f"RTL {size / 1e6:.1f} MB generated in {gen:.1f} s, Icarus build {build:.1f} s, {len(codes)} inputs in "
              f"{run:.1f} s incl. load ({len(codes) / run:.0f}/s), mismatches {bad}")


def bench_speed(names, n):
    """Fault-free inputs/s of the cocotb + Icarus bench: the difference of a run of 5n and one of n inputs (same
    simulator build), so that the start and the weight load cancel out."""
    from codesign.rtl.sim import RtlSim
    from codesign.sim.forward import quantize_input

    for name in names:
        d = design(name, n)
        q = d.qnet
        codes = quantize_input(q, d.data.x)[:n]
        with tempfile.TemporaryDirectory() as tmp:
            sim = RtlSim(q, workdir=Path(tmp))
            t = time.perf_counter()
            sim.golden(codes)
            one = time.perf_counter() - t
            t = time.perf_counter()
            sim.golden(np.concatenate([codes] * 5))
            five = time.perf_counter() - t
        print(f"[speed] {name}: {4 * len(codes) / (five - one):.0f} inputs/s ({len(codes)} inputs {one:.1f} s, "
              f"{5 * len(codes)} inputs {five:.1f} s, each incl. start and weight load)")


def bench_yosys(names):
    from codesign.rtl.generate import write_rtl
    from codesign.rtl.yosys import yosys_stats

    for name in names:
        q = design(name, 10).qnet
        with tempfile.TemporaryDirectory() as tmp:
            build = write_rtl(q, Path(tmp) / "rtl")
            r = yosys_stats(build, cmos=True, ltp=True)
        g = r["generic"]
        print(f"[yosys] {name}: {g['cells']} cells, {g['flops']} flops, {r.get('cmos_transistors')} transistors, "
              f"logic depth {r.get('logic_depth')}, {r['seconds']:.0f} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--faults", type=int, default=1000)
    ap.add_argument("--fault-rows", type=int, default=4)
    ap.add_argument("--restarts", type=int, default=5)
    ap.add_argument("--bits", type=int, default=200)
    ap.add_argument("--multi", type=int, default=20)
    ap.add_argument("--verify", type=int, default=1000)
    ap.add_argument("--skip", default="")
    ap.add_argument("--delta", default="econt_m,smartpixel_m,digits_s")
    ap.add_argument("--verify-designs", default="econt_s,econt_m,smartpixel_s,smartpixel_m,digits_s")
    ap.add_argument("--speed", default="econt_m,smartpixel_m")
    ap.add_argument("--yosys", default="")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.disable(logging.WARNING)
    skip = set(args.skip.split(","))
    if "faults" not in skip:
        bench_faults_per_start(args.faults, args.fault_rows, args.restarts)
    if "delta" not in skip:
        bench_delta(args.delta.split(","), args.bits, args.multi,
                    {"econt_m": 200, "smartpixel_m": 300, "digits_s": None})
    if "verify" not in skip:
        bench_verify(args.verify_designs.split(","), args.verify)
    if "large" not in skip:
        bench_large(["econt_m", "econt_l"], 10000 if args.verify >= 1000 else args.verify)
    if "speed" not in skip:
        bench_speed(args.speed.split(","), 1000)
    if args.yosys:
        bench_yosys(args.yosys.split(","))


if __name__ == "__main__":
    main()
