"""HLS C-sim fault injection: register-file project driven through ctypes vs recompiling hls4ml per fault.

    python bench/hls_inject.py [--design digits_s] [--rows 300] [--faults 500] [--recompile 3]

Both paths evaluate the same single-bit faults on the same rows (the design's first ``--rows`` evaluation rows):
- ctypes: one build of the register-file project; per fault flip the register bits, predict all rows, rewrite the
  touched words through the load port;
- recompile: hls4ml's plain project (weights as constants); per fault set the faulty weight in the ModelGraph, then
  ``write()`` + the g++ build of ``compile()`` (at -O1 as our C-sim builds, -O3 being slower still) + ``predict``.
The recompile outputs are checked against the ctypes outputs for the faults both ran. Goal: ratio >= 500.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", default="digits_s", help="a digits zoo model (no data directory needed)")
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--faults", type=int, default=500)
    ap.add_argument("--recompile", type=int, default=3)
    args = ap.parse_args()

    from codesign import spec
    from codesign.hls.hls4ml_csim import _lower_optimization
    from codesign.hls.injection import HlsLevel
    from codesign.hls.multithreshold import install
    from codesign.ir.bitspace import apply_flips
    from codesign.ir.from_keras import onchip_part, quiet_stdout, strip_fkeras, to_hls4ml
    from codesign.level import Target
    from codesign.prepare import Prepared

    prepared = Prepared(spec.from_dict({"name": args.design, "model": {"zoo": args.design}, "metric": "mispredict",
                                        "data": {"dataset": "digits", "split": "all"}, "samples": args.rows,
                                        "seed": 0}))
    ev = prepared.evaluator()
    qnet = ev.qnet
    rng = np.random.default_rng(0)
    bits = rng.choice(len(qnet.bitspace), args.faults, replace=False)
    print(f"{args.design}: {len(qnet.bitspace)} weight bits, {ev.n_rows} evaluation rows")

    with tempfile.TemporaryDirectory(prefix="codesign-bench-hls-") as tmp:
        t0 = time.perf_counter()
        level = HlsLevel(Target(qnet, ev.acts[0], keras_model=prepared.model.onchip,
                                workdir=Path(tmp) / "regfile"))
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        outs = level.outputs([np.array([b]) for b in bits])
        fast = (time.perf_counter() - t0) / len(bits)
        print(f"ctypes register file: build {build:.1f} s once; {fast * 1e3:.2f} ms/fault "
              f"({1 / fast:.1f} injections/s over {len(bits)} faults, {ev.n_rows} rows)")
        # A C-sim inference costs the same per row on both paths (hls4ml's layer code); the per-fault recompile
        # does not depend on the rows, so the ratio falls with the rows evaluated per fault.
        fewer = {}
        for rows in sorted({r for r in (50, 100, 150) if r < ev.n_rows}):
            csim, x_rows = level.csim, ev.acts[0][:rows]
            t0 = time.perf_counter()
            for b in bits:
                touched = csim.flip([b])
                csim.predict_codes(x_rows)
                csim.restore(touched)
            fewer[rows] = (time.perf_counter() - t0) / len(bits)
        level.close()

        model = strip_fkeras(onchip_part(prepared.model.onchip))
        graph = to_hls4ml(model, qnet.input_type, output_dir=os.path.join(tmp, "plain"))
        install(graph, qnet)
        x = np.ascontiguousarray(qnet.input_type.to_float(ev.acts[0]).astype(np.float64))
        slow = []
        for k, b in enumerate(bits[: args.recompile]):
            (li, tensors), = apply_flips(qnet, [b]).items()
            (tensor, codes), = tensors.items()
            layer = qnet.layers[li]
            var = graph.graph[layer.name].weights["weight" if tensor == "kernel" else "bias"]
            clean = var.data.copy()
            ty = layer.params()[tensor][1]
            var.data = ty.to_float(codes).reshape(clean.shape).astype(clean.dtype)
            t0 = time.perf_counter()
            with quiet_stdout():
                graph.write()
                _lower_optimization(graph.config.get_output_dir(), "-O1")
                graph._compile()
                y = np.asarray(graph.predict(x), dtype=np.float64).reshape(len(x), -1)
            slow.append(time.perf_counter() - t0)
            var.data = clean
            same = np.array_equal(qnet.output_type.to_float(outs[k]).reshape(len(x), -1), y)
            print(f"  recompile fault {k} (bit {b}): {slow[-1]:.1f} s, outputs == ctypes: {same}")
        per = float(np.mean(slow))
        print(f"recompile per fault: {per:.1f} s/fault ({1 / per:.4f} injections/s over {len(slow)} faults)")
        print(f"ratio (ctypes / recompile injections per second): {per / fast:.0f}x at {ev.n_rows} rows "
              f"(goal >= 500x)")
        for rows, t in fewer.items():
            print(f"  at {rows} rows per fault: ctypes {t * 1e3:.2f} ms/fault, ratio {per / t:.0f}x")


if __name__ == "__main__":
    main()
