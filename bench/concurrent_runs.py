"""Pairs of the same oracle / campaign started together on one --out (issue #20): crashes, and whether every pair's
result equals a single run's, byte for byte. Usage: python bench/concurrent_runs.py [--oracle-pairs 10]
[--campaign-pairs 20] [--design designs/digits_s.yaml]"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CAMPAIGN = ["--fault-model", "multibit", "--flips", "5", "--trials", "200"]


def start(args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-m", "codesign.cli", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(out: Path, name: str, kind: str) -> bytes:
    if kind == "oracle":
        return (out / name / "oracle" / "oracle.csv").read_bytes()
    (tag,) = list((out / name / "campaigns").iterdir())
    return (tag / "campaign.csv").read_bytes()


def run(kind: str, design: str, name: str, pairs: int, tmp: Path) -> dict:
    extra = CAMPAIGN if kind == "campaign" else []
    single = tmp / f"{kind}-single"
    p = start([kind, design, "--out", single, *extra])
    if p.wait() != 0:
        raise SystemExit(p.communicate()[1])
    want = result(single, name, kind)
    crashes = differing = 0
    t0 = time.perf_counter()
    for i in range(pairs):
        out = tmp / f"{kind}-pair{i}"
        procs = [start([kind, design, "--out", out, *extra]) for _ in range(2)]
        codes = [q.wait() for q in procs]
        crashes += sum(c != 0 for c in codes)
        differing += int(all(c == 0 for c in codes) and result(out, name, kind) != want)
    return {"kind": kind, "pairs": pairs, "crashes": crashes, "differing_results": differing,
            "seconds": round(time.perf_counter() - t0, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", default="designs/digits_s.yaml")
    ap.add_argument("--oracle-pairs", type=int, default=10)
    ap.add_argument("--campaign-pairs", type=int, default=20)
    a = ap.parse_args()
    import yaml

    name = yaml.safe_load(Path(a.design).read_text())["name"]
    with tempfile.TemporaryDirectory(prefix="codesign-concurrent-") as tmp:
        for kind, n in (("oracle", a.oracle_pairs), ("campaign", a.campaign_pairs)):
            print(run(kind, a.design, name, n, Path(tmp)), flush=True)


if __name__ == "__main__":
    main()
