"""The hardware-facing commands end to end on a small design: plan -> rtl / hls with the plan, and their user errors."""

import json
import re

import numpy as np
import pytest

from cli_checks import assert_user_error
from models_for_tests import tiny_mlp
from test_cli import cli, write_design


@pytest.fixture(scope="module")
def designs(tmp_path_factory):
    d = tmp_path_factory.mktemp("hw")
    tiny_mlp(bn=False, seed=0).save(d / "a.h5")
    tiny_mlp(bn=False, seed=1).save(d / "b.h5")
    rng = np.random.default_rng(0)
    np.savez(d / "data.npz", x=rng.normal(0, 1, (60, 5)).astype(np.float32), y=rng.integers(0, 3, 60))
    return (write_design(d / "a.yaml", name="a", model=d / "a.h5", data=d / "data.npz"),
            write_design(d / "b.yaml", name="b", model=d / "b.h5", data=d / "data.npz"))


def run(tmp_path, *args):
    return cli(*args, cwd=tmp_path, cache=tmp_path / "cache")


def test_plan_then_protected_rtl_and_hls(designs, tmp_path):
    a, _ = designs
    proc = run(tmp_path, "plan", a, "--ranker", "msb", "--budget", "0.1", "--plan", tmp_path / "p.json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads((tmp_path / "p.json").read_text())
    assert plan["scheme"] == "tmr" and plan["design"] == "a"
    bits = plan["bits"]
    proc = run(tmp_path, "rtl", a, "--out", tmp_path / "rtl", "--protect", tmp_path / "p.json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "rtl" / "rtl.json").read_text())
    assert summary["weight_flops"] == summary["weight_bits"] + 2 * len(bits)  # two extra replicas per protected bit
    verilog = (tmp_path / "rtl" / f"{summary['top']}.v").read_text()
    assert verilog.count("tmr_ff #(") == 3 * verilog.count("tmr_vote #(")  # three replicas per protected word
    # one split-word module per (width, protected bits); each protected word instantiates one
    replica_bits = sum(bin(int(m, 16)).count("1") for m in re.findall(r"_tmrword_w\d+_p([0-9a-f]+) w_\w+_tmr ", verilog))
    assert replica_bits == len(bits)
    proc = run(tmp_path, "rtl", a, "--out", tmp_path / "rtl")  # a codesign RTL directory may be replaced
    assert proc.returncode == 0, proc.stderr
    assert "tmr_ff " not in (tmp_path / "rtl" / f"{summary['top']}.v").read_text()
    proc = run(tmp_path, "hls", a, "--out", tmp_path / "prj", "--protect", tmp_path / "p.json")
    assert proc.returncode == 0, proc.stderr
    assert f"TMR on {len(bits)} bits" in proc.stdout
    assert (tmp_path / "prj" / "build_prj.tcl").is_file()


@pytest.mark.parametrize("argv, fragments", [
    (["plan", "{a}", "--budget", "1.5", "--ranker", "msb", "--plan", "{t}/x.json"], ["budget", "[0, 1]"]),
    (["plan", "{a}", "--budget", "-0.1", "--ranker", "msb", "--plan", "{t}/x.json"], ["budget"]),
    (["plan", "{a}", "--budget", "0.1", "--ranker", "nope", "--plan", "{t}/x.json"], ["unknown ranker"]),
    (["plan", "{a}", "--budget", "sensitive", "--plan", "{t}/x.json", "--out", "{t}/none"], ["no oracle"]),
    (["rtl", "{a}", "--out", "{t}/x", "--protect", "{t}/b.json"], ["another design"]),
    (["hls", "{a}", "--out", "{t}/x", "--protect", "{t}/b.json"], ["another design"]),
    (["hls", "{a}", "--out", "{t}/x", "--backend", "Quartus"], ["backend"]),
    (["inject", "{a}", "--level", "rtl", "--bits", "1", "--protect", "{t}/b.json", "--out", "{t}/x.csv"],
     ["another design"]),
])
def test_user_errors_leave_nothing(designs, tmp_path, argv, fragments):
    a, b = designs
    proc = run(tmp_path, "plan", b, "--ranker", "msb", "--budget", "0.2", "--plan", tmp_path / "b.json")
    assert proc.returncode == 0, proc.stderr
    argv = [x.replace("{a}", str(a)).replace("{t}", str(tmp_path)) for x in argv]
    proc = run(tmp_path, *argv)
    assert_user_error(proc, *fragments)
    assert not any(p.name.startswith("x") for p in tmp_path.iterdir())


def test_output_dirs_that_are_not_projects_are_refused(designs, tmp_path):
    a, _ = designs
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    for cmd in ("rtl", "hls"):
        proc = run(tmp_path, cmd, a, "--out", tmp_path / "mine")
        assert_user_error(proc, "not a codesign")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
