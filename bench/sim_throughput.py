"""Simulator forward throughput vs QKeras `predict` on the same ECON-T-M rows, in one run (ratio is what counts).

Usage: CODESIGN_DATA=... python bench/sim_throughput.py [--rows 20000] [--repeat 3]
Without a data directory it falls back to the digits-M design on all 1 797 images.
"""

import argparse
import os
import time

import numpy as np


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from codesign import spec
    from codesign.prepare import Prepared
    from codesign.sim.forward import predict

    data_dir = os.environ.get("CODESIGN_DATA")
    if data_dir:
        raw = {"name": "econt_m", "model": {"zoo": "econt_m"}, "metric": "emd",
               "data": {"dataset": "hgcal", "file": "ttbar_0PU"}, "samples": args.rows}
    else:
        print("CODESIGN_DATA not set: using digits_m (all images) instead of ECON-T-M")
        raw = {"name": "digits_m", "model": {"zoo": "digits_m"}, "metric": "mispredict",
               "data": {"dataset": "digits", "split": "all"}}
    design = Prepared(spec.from_dict(raw), data_dir)
    qnet, model, x = design.qnet, design.model.onchip, design.data.x
    predict(qnet, x[:10])
    model.predict(x[:10], verbose=0)  # warm-up: graph tracing is not throughput
    t_sim, y_sim = best_of(lambda: predict(qnet, x), args.repeat)
    t_keras, y_keras = best_of(lambda: model.predict(x, batch_size=1024, verbose=0), args.repeat)
    same = np.array_equal(y_sim.reshape(len(x), -1), np.asarray(y_keras, np.float64).reshape(len(x), -1))
    print(f"design {design.name}: {len(x)} rows, outputs identical: {same}")
    print(f"  simulator   {t_sim:8.3f} s  {len(x) / t_sim:12.0f} rows/s")
    print(f"  QKeras      {t_keras:8.3f} s  {len(x) / t_keras:12.0f} rows/s")
    print(f"  ratio simulator/QKeras throughput: {t_keras / t_sim:.2f}x")


if __name__ == "__main__":
    main()
