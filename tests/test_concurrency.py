"""Two runs of the same oracle or campaign on one --out at the same time (issue #20): no crash, no run touches the
other's temporaries, and the results are byte for byte those of a single run. `bench/concurrent_runs.py` runs the
same check with more pairs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import files, write_design  # noqa: F401  (session fixture: tiny models and data)

PAIRS = 2
CAMPAIGN = ["--fault-model", "multibit", "--flips", "3", "--trials", "40"]


def start(args, cwd, cache):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CODESIGN_CACHE=str(cache))
    return subprocess.Popen([sys.executable, "-m", "codesign.cli", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def results(out: Path, kind: str) -> bytes:
    if kind == "oracle":
        return (out / "net" / "oracle" / "oracle.csv").read_bytes()
    (tag,) = [p for p in (out / "net" / "campaigns").iterdir()]
    return (tag / "campaign.csv").read_bytes()


def pair(design, out, kind, cwd, cache):
    args = [kind, design, "--out", out] + (CAMPAIGN if kind == "campaign" else [])
    procs = [start(args, cwd, cache) for _ in range(2)]
    done = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    return [(rc, err) for rc, _, err in done]


@pytest.mark.parametrize("kind", ["oracle", "campaign"])
def test_concurrent_pairs_equal_a_single_run(files, tmp_path, kind):  # noqa: F811
    d = files["dir"]
    design = write_design(tmp_path / "net.yaml", model=d / "mlp.h5", data=d / "data.npz")
    cache = tmp_path / "cache"
    single = tmp_path / "single"
    [(rc, err)] = [(p.wait(timeout=600), p.communicate()[1]) for p in [start(
        [kind, design, "--out", single] + (CAMPAIGN if kind == "campaign" else []), tmp_path, cache)]]
    assert rc == 0, err
    want = results(single, kind)
    for i in range(PAIRS):
        out = tmp_path / f"pair{i}"
        for rc, err in pair(design, out, kind, tmp_path, cache):
            assert rc == 0 and "Traceback" not in err, err
        assert results(out, kind) == want
        leftovers = [p.name for p in out.rglob(".*tmp-*")]
        assert leftovers == []
