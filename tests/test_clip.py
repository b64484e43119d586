"""Activation clipping (ClipAct's CReLU): QNet semantics, bit-exact HLS C-sim and RTL, ClipAct search, design option."""

import shutil
import textwrap

import numpy as np
import pytest
from cli_checks import assert_user_error
from models_for_tests import tiny_cnn, tiny_mlp
from test_cli import cli, files  # noqa: F401  (session fixture: tiny models and data)

from codesign.campaign.evaluate import Evaluator
from codesign.data.load import Data
from codesign.level import Target
from codesign.prepare import Prepared
from codesign.spec import load as load_spec
from codesign.errors import CodesignError
from codesign.ir.bitspace import apply_flips
from codesign.ir.qnet import QNet
from codesign.metrics.cost import Cost
from codesign.mitigate import clip
from codesign.sim.forward import forward, quantize_input


@pytest.fixture(scope="module")
def cnn():
    from codesign.ir.from_keras import from_keras

    model = tiny_cnn(2, "same")
    base = from_keras(model)
    x = np.random.default_rng(5).uniform(-1.5, 1.5, (120, 6, 6, 2)).astype(np.float32)
    top = clip.actmax(base, x)["relu1"]
    assert top > 8  # the ReLU has a real range to clip in
    clipped = clip.with_clips(base, {"relu1": top // 2})
    return model, base, clipped, x


def test_clipped_relu_zeroes_codes_above_the_threshold(cnn):
    _, base, clipped, x = cnn
    codes = quantize_input(base, x)
    _, plain = forward(base, codes, keep=True)
    _, clipped_acts = forward(clipped, codes, keep=True)
    i = [l.name for l in base.layers].index("relu1")
    t = clipped.layers[i].clip
    assert np.array_equal(clipped_acts[i], np.where(plain[i] > t, 0, plain[i]))
    assert (plain[i] > t).sum() > 20 and ((plain[i] > 0) & (plain[i] <= t)).sum() > 20  # both branches taken
    assert not np.array_equal(clipped_acts[-1], plain[-1])


def test_clip_is_part_of_the_network_identity(cnn, tmp_path):
    _, base, clipped, _ = cnn
    assert clipped.fingerprint() != base.fingerprint()
    assert clip.with_clips(base, {"relu1": None}).fingerprint() == base.fingerprint()  # unclipped nets unchanged
    clipped.save(tmp_path / "q.npz")
    back = QNet.load(tmp_path / "q.npz")
    assert back.fingerprint() == clipped.fingerprint() and back.layer("relu1").clip == clipped.layer("relu1").clip


def test_thresholds_round_down_to_codes_and_bad_names_are_user_errors(cnn):
    _, base, _, _ = cnn
    ty = base.layer("relu1").out_type  # ap_ufixed<8,3>: lsb 1/32
    assert clip.codes_of(base, {"relu1": 1.0}) == {"relu1": 32}
    assert clip.codes_of(base, {"relu1": 1.0 + 1 / 64}) == {"relu1": 32}
    assert clip.codes_of(base, {"relu1": 1e9}) == {"relu1": ty.max_code}
    with pytest.raises(CodesignError, match="relu1"):
        clip.with_clips(base, {"dense": 3})
    with pytest.raises(CodesignError, match=">= 0"):
        clip.codes_of(base, {"relu1": -1.0})


def test_rtl_equals_simulator_with_clipping(cnn, tmp_path):
    """The generated Verilog clips like the simulator, fault-free and under single- and multi-bit weight upsets."""
    from codesign.rtl.generate import write_rtl
    from codesign.rtl.level import RtlLevel
    from codesign.rtl.sim import rtl_predict

    _, _, clipped, x = cnn
    codes = quantize_input(clipped, x)
    assert np.array_equal(rtl_predict(clipped, codes[:40]), forward(clipped, codes[:40]))
    write_rtl(clipped, tmp_path / "rtl")
    t = clipped.layer("relu1").clip
    assert f"'sd{t}) t = " in "".join(p.read_text() for p in (tmp_path / "rtl").glob("*.v"))  # the comparator
    ev = Evaluator(clipped, Cost("mse", Data(x[:30], np.zeros((30, 4)))))
    rng = np.random.default_rng(2)
    faults = [np.array([b]) for b in rng.choice(len(clipped.bitspace), 40, replace=False)]
    faults += [rng.choice(len(clipped.bitspace), 6, replace=False) for _ in range(4)]
    with RtlLevel(Target(clipped, ev.acts[0], workdir=tmp_path / "sim")) as level:
        outs = level.outputs(faults)
    changed = 0
    for bits, out in zip(faults, outs):
        assert np.array_equal(out, forward(clipped, ev.acts[0], overrides=apply_flips(clipped, bits))), bits
        changed += not np.array_equal(out, ev.acts[-1])
    assert changed > 10


@pytest.mark.skipif(shutil.which("g++") is None, reason="the HLS C-sim needs g++")
def test_hls_csim_equals_simulator_with_clipping(cnn, tmp_path):
    """The register-file hls4ml project runs the ClippedReLU layer: every single-bit fault gives the simulator's
    outputs and ΔC; the generated C++ calls nnet::clipped_relu with the threshold code."""
    from codesign.hls.injection import HlsLevel
    from codesign.hls.regfile import write_project

    model, _, clipped, x = cnn
    data = Data(x[:60], np.zeros((60, 4)))
    ev = Evaluator(clipped, Cost("mse", data))
    with HlsLevel(Target(clipped, ev.acts[0], keras_model=model, workdir=tmp_path / "csim")) as level:
        faults = [np.array([b]) for b in range(len(clipped.bitspace))]
        outs = level.outputs([np.zeros(0, np.int64)] + faults)
    assert np.array_equal(outs[0], ev.acts[-1])
    for bits, out in zip(faults, outs[1:]):
        assert np.array_equal(out, forward(clipped, ev.acts[0], overrides=apply_flips(clipped, bits))), bits
        assert ev.outcome_of_outputs(out) == ev.evaluate(bits)
    write_project(model, tmp_path / "prj", qnet=clipped)
    cpp = (tmp_path / "prj" / "firmware" / "myproject.cpp").read_text()
    params = (tmp_path / "prj" / "firmware" / "parameters.h").read_text()
    assert "nnet::clipped_relu<" in cpp and f"clip_code = {clipped.layer('relu1').clip};" in params


def test_clipact_search_never_loses_to_actmax():
    """ClipAct keeps the best threshold it scored; ActMax (its starting point) is scored, so the result is at least
    as good; every evaluated variant is cached and the search is deterministic."""
    from codesign.ir.from_keras import from_keras

    q = from_keras(tiny_mlp(bn=False))
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.5, 1.5, (200, 5)).astype(np.float32)
    ref = forward(q, quantize_input(q, x))
    cost = Cost("mse", Data(x, q.output_type.to_float(ref)))
    r1 = clip.clipact(q, cost, rates=(0.01, 0.05), trials=6, iterations=3, seed=1)
    r2 = clip.clipact(q, cost, rates=(0.01, 0.05), trials=6, iterations=3, seed=1)
    assert r1 == r2
    start = clip.actmax(q, x)["a1"]
    assert 0 <= r1["codes"]["a1"] <= start and r1["actmax"] == {"a1": start}
    s = clip._Scorer(q, cost, [0.01, 0.05], 6, 1)
    assert r1["score"] <= s({"a1": start}) + 1e-15
    assert r1["score"] == pytest.approx(s(r1["codes"]))
    assert r1["evaluations"] >= 4


def _design(tmp_path, files, extra):  # noqa: F811
    d = files["dir"]
    path = tmp_path / "clipnet.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: clipnet
        model: {{path: {d / 'mlp.h5'}}}
        data: {{path: {d / 'data.npz'}, x: x, y: y}}
        metric: mispredict
        seed: 0
        """) + extra)
    return path


def test_design_clip_option_and_its_errors(files, tmp_path):  # noqa: F811
    path = _design(tmp_path, files, "clip: {a1: 0.5}\n")
    proc = cli("verify", "--design", path, "--levels", "qkeras,sim,rtl", cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import json

    v = json.loads(proc.stdout)
    assert v["mismatches"] == {"qkeras": 0, "sim": 0, "rtl": 0} and "mitigated" in v["reference"]
    design = Prepared(load_spec(path))
    assert design.qnet.layer("a1").clip == clip.codes_of(design.base_qnet, {"a1": 0.5})["a1"]
    for bad, frag in (("clip: {d1: 1.0}\n", "d1"), ("clip: {a1: -2}\n", "a1"), ("clip: sometimes\n", "clip"),
                      ("clip: {method: clipact, trials: 0}\n", "trials")):
        p = _design(tmp_path, files, bad)
        out = tmp_path / "bad-out"
        assert_user_error(cli("run", p, "--out", out, cwd=tmp_path, cache=tmp_path / "cache"), frag)
        assert not (out / "clipnet" / "report").exists()


CLIP_DSE = """\
dse:
  rankers: [bitwise]
  budgets: []
  multibit: {flips: 6, trials: 20}
  masking_rows: 2
  masking_group: 4
  unprotected_samples: 4
  yosys: {xilinx: false, cmos: false}
  clip: [actmax, clipact]
  saf: [hardtanh]
  combine: [0.25]
  ber: {rates: [0.01, 0.05], trials: 8}
"""


def test_dse_with_clipping_points_and_a_ber_sweep(files, tmp_path):  # noqa: F811
    """Clipping alone and with TMR are design points like the TMR plans: own RTL, Yosys equivalence with their own
    unprotected network, RTL masking; every point gets a BER sweep (ber_sweep.csv, ber_sweep.png in the report)."""
    import csv

    path = _design(tmp_path, files, CLIP_DSE)
    out = tmp_path / "out"
    proc = cli("run", path, "--out", out, "--workers", "1", cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dse = out / "clipnet" / "dse"
    with open(dse / "design_points.csv", newline="") as f:
        rows = {r["point"]: r for r in csv.DictReader(f)}
    assert {p: r["mitigation"] for p, r in rows.items()} == {
        "ref-none": "none", "ref-full": "tmr", "clip-actmax": "clip",
        "clip-actmax+bitwise-0.25": "clip+tmr", "clip-clipact": "clip", "clip-clipact+bitwise-0.25": "clip+tmr",
        "saf-hardtanh": "saf", "saf-hardtanh+bitwise-0.25": "saf+tmr"}
    assert rows["saf-hardtanh"]["saf_function"] == "hardtanh" and rows["clip-clipact"]["clip_thresholds"]
    assert all(r["equivalence"] == "true" and r["masking_verified"] == "true" for r in rows.values())
    design = Prepared(load_spec(path))
    top = clip.actmax(design.base_qnet, design.data.x)["a1"]
    t = design.base_qnet.layer("a1").out_type.to_float(np.array([top]))[0]
    assert rows["clip-actmax"]["clip_thresholds"] == f"a1={t:g}"
    assert int(rows["clip-actmax+bitwise-0.25"]["protected_bits"]) == round(0.25 * len(design.qnet.bitspace))
    assert int(rows["clip-actmax"]["protected_bits"]) == 0
    with open(dse / "ber_sweep.csv", newline="") as f:
        ber = list(csv.DictReader(f))
    assert len(ber) == 8 * 2 and {r["ber"] for r in ber} == {"0.01", "0.05"}
    full = [r for r in ber if r["point"] == "ref-full"]
    for r in full:  # every bit triplicated: no upset gets through, the cost is the fault-free one
        assert float(r["expected_cost"]) == pytest.approx(float(rows["ref-full"]["cost_fault_free"]))
        assert float(r["error_rate"]) == 0.0
    none = {r["ber"]: float(r["expected_cost"]) for r in ber if r["point"] == "ref-none"}
    assert none["0.05"] > float(rows["ref-none"]["cost_fault_free"])  # faults at 5 % BER do cost something
    html = (dse / "report.html").read_text()
    assert 'alt="ber_sweep"' in html and (dse / "plots" / "ber_sweep.png").stat().st_size > 5000
    assert cli("check", out, cwd=tmp_path, cache=tmp_path / "cache").returncode == 0


def test_dse_clip_settings_errors(files, tmp_path):  # noqa: F811
    for bad, frag in (("dse:\n  clip: [sometimes]\n", "dse.clip"),
                      ("dse:\n  combine: [0.2]\n", "dse.combine needs dse.clip or dse.saf"),
                      ("dse:\n  clip: [actmax]\n  combine: [sensitive]\n", "dse.combine"),
                      ("dse:\n  ber: {rates: [2]}\n", "dse.ber.rates")):
        p = _design(tmp_path, files, bad)
        out = tmp_path / "bad"
        assert_user_error(cli("run", p, "--out", out, cwd=tmp_path, cache=tmp_path / "cache"), frag)
        assert not out.exists()
