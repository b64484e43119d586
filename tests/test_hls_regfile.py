"""Register-file HLS projects: fault-free and faulty C-sim == simulator, TMR replicas, project files, bad input.

Every C-sim here is built once per model (g++ through hls4ml's build_lib.sh) and driven through ctypes.
"""

import re
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

from codesign.campaign.evaluate import Evaluator
from codesign.data.load import Data
from codesign.errors import CodesignError
from codesign.ir.bitspace import apply_flips
from codesign.level import Target
from codesign.metrics.cost import Cost
from codesign.protect.plan import Plan
from codesign.sim.forward import forward, quantize_input
from models_for_tests import tiny_cnn, tiny_mlp

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="the HLS C-sim needs g++")

N_ROWS = 150


def _tiny(name):
    from codesign.ir.from_keras import from_keras

    model = {"mlp_bn": lambda: tiny_mlp(bn=True), "mlp_nobias": lambda: tiny_mlp(bn=False, use_bias=False),
             "cnn": lambda: tiny_cnn(2, "same")}[name]()
    qnet = from_keras(model)
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.5, 1.5, (N_ROWS,) + tuple(model.input_shape[1:])).astype(np.float32)
    data = Data(x, rng.normal(0, 1, (N_ROWS,) + tuple(qnet.output_shape)))
    return SimpleNamespace(name=name, model=model, qnet=qnet, data=data), Evaluator(qnet, Cost("mse", data))


def _level(design, ev, tmp_path, plan=None):
    from codesign.hls.injection import HlsLevel

    return HlsLevel(Target(ev.qnet, ev.acts[0], keras_model=design.model, plan=plan, workdir=tmp_path))


def _write(design, out, **kw):
    from codesign.hls.regfile import TB_ROWS, write_project

    return write_project(design.model, out, qnet=design.qnet, tb_inputs=design.data.x[:TB_ROWS], **kw)


@pytest.fixture(scope="module")
def tiny():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = _tiny(name)
        return cache[name]

    return get


def faulty_outputs(qnet, codes, bits):
    return forward(qnet, codes, overrides=apply_flips(qnet, bits))


def same_outcome(a, b) -> bool:
    return float(a.delta_cost).hex() == float(b.delta_cost).hex() and a.changed_rows == b.changed_rows


# --- fault-free and faulty C-sim == simulator on synthetic models ----------------------------------------------------


@pytest.mark.parametrize("name", ["mlp_bn", "cnn", "mlp_nobias"])
def test_tiny_every_bit_matches_simulator(tiny, name, tmp_path):
    """Dense + MultiThreshold, Conv2D + Dense, and a layer without bias: fault-free outputs and every single-bit
    fault (plus a few multi-bit faults) give the simulator's output codes and its ΔC exactly."""
    design, ev = tiny(name)
    qnet = ev.qnet
    level = _level(design, ev, tmp_path)
    try:
        assert np.array_equal(level.outputs([np.zeros(0, np.int64)])[0], ev.acts[-1])
        rng = np.random.default_rng(1)
        faults = [np.array([b]) for b in range(len(qnet.bitspace))]
        faults += [rng.choice(len(qnet.bitspace), k, replace=False) for k in (2, 3, 5, 8)]
        outs = level.outputs(faults)
        changed = 0
        for bits, out in zip(faults, outs):
            ref = faulty_outputs(qnet, ev.acts[0], bits)
            assert np.array_equal(out, ref), bits
            assert same_outcome(ev.outcome_of_outputs(out), ev.evaluate(bits)), bits
            changed += not np.array_equal(out, ev.acts[-1])
        assert changed > len(faults) // 4  # the faults really change outputs
        # each fault was restored: the registers hold the image again
        assert np.array_equal(level.outputs([np.zeros(0, np.int64)])[0], ev.acts[-1])
        assert [level.csim.peek(a) for a in range(level.csim.layout.n_words)] == level.csim.image.tolist()
    finally:
        level.close()


def test_tmr_project(tiny, tmp_path):
    """All protected bits of a small model: any single replica flipped leaves every output unchanged; two replicas
    of one bit outvote the third; unprotected bits and all-replica flips still match the simulator."""
    design, ev = tiny("mlp_bn")
    qnet = ev.qnet
    n = len(qnet.bitspace)
    rng = np.random.default_rng(3)
    protected = np.sort(np.concatenate([np.arange(0, n, 4), rng.choice(n, 20, replace=False)]))
    protected = np.unique(protected)
    plan = Plan(design.name, qnet.fingerprint(), protected)
    level = _level(design, ev, tmp_path, plan)
    try:
        base = ev.acts[-1]
        sensitive = [b for b in protected if not np.array_equal(faulty_outputs(qnet, ev.acts[0], [b]), base)]
        assert len(sensitive) > 10  # the protection is tested on bits that matter
        for replica in (0, 1, 2):
            outs = level.outputs([np.array([b]) for b in protected], replica=replica)
            assert all(np.array_equal(o, base) for o in outs), replica
        csim = level.csim
        for b in sensitive[:10]:  # a majority of corrupted replicas wins the vote
            touched = csim.flip([b], 0)
            csim.flip([b], 2)
            try:
                assert np.array_equal(csim.predict_codes(ev.acts[0]), faulty_outputs(qnet, ev.acts[0], [b]))
            finally:
                csim.restore(touched)
        unprotected = np.setdiff1d(np.arange(n), protected)
        faults = [np.array([b]) for b in unprotected] + [np.array([b]) for b in sensitive]  # all-replica flips
        for bits, out in zip(faults, level.outputs(faults)):
            assert np.array_equal(out, faulty_outputs(qnet, ev.acts[0], bits)), bits
            assert same_outcome(ev.outcome_of_outputs(out), ev.evaluate(bits))
        a, bit = csim.layout.address([sensitive[0]])
        csim.flip([sensitive[0]], 1)
        word = int(csim.image[a[0]])
        assert [csim.peek(a[0], r) for r in range(3)] == [word, word ^ (1 << int(bit[0])), word]
        with pytest.raises(CodesignError, match="replica"):
            level.outputs([np.array([0])], replica=3)
    finally:
        level.close()


# --- the written project ---------------------------------------------------------------------------------------------

OWN_FIRMWARE = ("myproject.cpp", "myproject.h", "parameters.h", "defines.h", "regfile.h")


@pytest.fixture(scope="module")
def project(tiny, tmp_path_factory):
    """A protected register-file project of the MultiThreshold MLP, with testbench data."""
    design, ev = tiny("mlp_bn")
    qnet = ev.qnet
    plan = Plan(design.name, qnet.fingerprint(), np.arange(0, len(qnet.bitspace), 7))
    out = tmp_path_factory.mktemp("prj") / "hls"
    summary = _write(design, out, plan=plan)
    return SimpleNamespace(dir=out, summary=summary, qnet=qnet, design=design)


def test_project_layout_and_summary(project):
    d, s, qnet = project.dir, project.summary, project.qnet
    for f in ("build_prj.tcl", "build_lib.sh", "myproject_test.cpp", "myproject_bridge.cpp", "regfile_image.h",
              "firmware/myproject.cpp", "firmware/regfile.h", "firmware/nnet_utils/nnet_regfile.h",
              "firmware/nnet_utils/nnet_multithreshold.h", "tb_data/tb_input_features.dat", ".codesign-hls.json"):
        assert (d / f).is_file(), f
    li = s["load_interface"]
    assert li["n_words"] == sum(seg.size for seg in qnet.bitspace.segments)
    assert li["ports"] == {"load_addr": f"ap_uint<{li['addr_width']}>", "load_data": f"ap_uint<{li['data_width']}>",
                           "load_we": "bool"}
    assert (1 << li["addr_width"]) >= li["n_words"] > (1 << (li["addr_width"] - 1))
    base = 0
    for block, seg in zip(li["blocks"], qnet.bitspace.segments):  # BitSpace segment order, end to end
        assert (block["layer"], block["tensor"], block["base"], block["words"], block["bitspace_offset"]) == \
            (seg.layer, seg.tensor, base, seg.size, seg.offset)
        base += seg.size
    assert s["protection"]["protected_bits"] == len(range(0, len(qnet.bitspace), 7))
    header = (d / "firmware/regfile.h").read_text()
    assert "load_addr" in header and "BitSpace" in header and f"RF_N_WORDS = {li['n_words']};" in header
    top = (d / "firmware/myproject.cpp").read_text()
    assert re.search(r"void myproject\(\s*input_t \w+\[\d+\],\s*result_t \w+\[\d+\],\s*rf_addr_t load_addr, "
                     r"rf_data_t load_data, bool load_we\s*\)", top)


def test_no_weight_constant_in_synthesis_path(project):
    """Every BitSpace tensor is a register array declared without const or initialiser, partitioned completely;
    no weight header or the weight image is reachable from firmware/ (only the datapath thresholds are)."""
    d = project.dir
    firmware = {p: p.read_text() for p in (d / "firmware").glob("*") if p.is_file() and p.suffix in (".h", ".cpp")}
    firmware.update({p: p.read_text() for p in (d / "firmware/weights").glob("*.h")})
    text = "\n".join(firmware.values())
    arrays = [a for b in project.summary["load_interface"]["blocks"] for a in b["arrays"]]
    assert len(arrays) >= len(project.qnet.bitspace.segments)
    for arr in arrays:
        lines = [ln.strip() for ln in text.splitlines() if re.search(rf"\b{arr}\b", ln)]
        assert len([ln for ln in lines if re.fullmatch(rf"\w+ {arr}\[\d+\];", ln)]) == 1, lines  # one definition
        for ln in lines:  # and nowhere const, static or initialised
            assert not re.search(r"\b(const|static|constexpr)\b", ln), ln
            assert not re.search(rf"\b{arr}\[\d*\]\s*=", ln), ln
        assert f"#pragma HLS ARRAY_PARTITION variable={arr} complete" in lines
    weights = {p.stem for p in (d / "firmware/weights").glob("*.h")}
    register_vars = {a.split("rf_", 1)[1].rsplit("_r", 1)[0] if a.endswith(("_r0", "_r1", "_r2"))
                     else a.split("rf_", 1)[1] for a in arrays}
    assert not weights & register_vars and weights  # thresholds stay constants; no weight header
    assert "regfile_image" not in text
    assert not re.search(r'#include "weights/(w|b)\d+\.h"', text)


def test_generated_sources_compile_with_warnings_as_errors(project, tmp_path):
    """The project's own C++ (hls4ml's headers and ap_types as -isystem) builds with -Wall -Werror.
    -Wno-unknown-pragmas: g++ does not know the `#pragma HLS` directives meant for the HLS tool."""
    d = project.dir
    own = tmp_path / "own"
    (own / "firmware/nnet_utils").mkdir(parents=True)
    shutil.copytree(d / "firmware/weights", own / "firmware/weights")
    for f in OWN_FIRMWARE:
        shutil.copy(d / "firmware" / f, own / "firmware" / f)
    for f in ("nnet_regfile.h", "nnet_multithreshold.h"):
        shutil.copy(d / "firmware/nnet_utils" / f, own / "firmware/nnet_utils" / f)
    for f in ("myproject_test.cpp", "myproject_bridge.cpp", "regfile_image.h"):
        shutil.copy(d / f, own / f)
    system = [f"-isystem{d / p}" for p in ("firmware/ap_types", "firmware/nnet_utils", "firmware", "")]
    for src in ("firmware/myproject.cpp", "myproject_bridge.cpp", "myproject_test.cpp"):
        for std in ("c++11", "c++17"):
            proc = subprocess.run(["g++", f"-std={std}", "-Wall", "-Werror", "-Wno-unknown-pragmas", "-fsyntax-only",
                                   *system, src], cwd=own, capture_output=True, text=True)
            assert proc.returncode == 0, (src, std, proc.stderr[-3000:])


def test_testbench_loads_weights_through_the_port(project, tmp_path):
    """The project's own testbench, built with g++ as the HLS tool's C simulation would, loads the image over the
    load port and prints the simulator's outputs for tb_data/."""
    d = tmp_path / "tb"
    shutil.copytree(project.dir, d)
    exe = d / "tb"
    subprocess.run(["g++", "-O1", "-std=c++11", "-Ifirmware/ap_types", "-Ifirmware", "-DWEIGHTS_DIR=\"firmware/weights\"",
                    "myproject_test.cpp", "firmware/myproject.cpp", "-o", str(exe)], cwd=d, check=True,
                   capture_output=True)
    subprocess.run([str(exe)], cwd=d, check=True, capture_output=True)
    x = project.design.data.x[:100]
    qnet = project.qnet
    want = qnet.output_type.to_float(forward(qnet, quantize_input(qnet, x))).reshape(len(x), -1)
    got = np.array([[float(v) for v in ln.split()] for ln in (d / "tb_data/csim_results.log").read_text().splitlines()
                    if ln.strip()])
    assert len(got) == len(x) == project.summary["testbench_rows"]
    # The testbench prints 6 significant digits (its own decimal rounding): finer than one output LSB here, so
    # this tolerance still tells every output code apart.
    lsb = 2.0 ** -qnet.output_type.frac
    assert 1e-5 * np.abs(want).max() < lsb / 4
    assert np.all(np.abs(got - want) <= 1e-5 * np.abs(want)), np.abs(got - want).max()


def test_rewrite_and_vitis(project, tmp_path):
    """An existing codesign project is replaced; the Vitis backend writes its own build script."""
    (project.dir / "stale.txt").write_text("x")
    s = _write(project.design, project.dir)
    assert not (project.dir / "stale.txt").exists() and s["protection"]["protected_bits"] == 0
    v = _write(project.design, tmp_path / "vitis", backend="vitis")
    assert v["backend"] == "Vitis"
    assert "vitis" in (tmp_path / "vitis/project.tcl").read_text()
    assert "rf_addr_t load_addr" in (tmp_path / "vitis/firmware/myproject.h").read_text()


def test_bad_input(project, tmp_path):
    design, qnet = project.design, project.qnet
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(CodesignError, match="not a codesign HLS project"):
        _write(design, other)
    assert [p.name for p in other.iterdir()] == ["keep.txt"]
    (tmp_path / "afile").write_text("")
    with pytest.raises(CodesignError, match="not a directory"):
        _write(design, tmp_path / "afile")
    with pytest.raises(CodesignError, match="unknown HLS backend 'Quartus'"):
        _write(design, tmp_path / "q", backend="Quartus")
    bad = Plan(design.name, qnet.fingerprint(), np.array([3, len(qnet.bitspace)]))
    with pytest.raises(CodesignError, match="outside BitSpace"):
        _write(design, tmp_path / "p", plan=bad)
    foreign = Plan("someone", "0" * 64, np.array([3]))
    with pytest.raises(CodesignError, match="another design"):
        _write(design, tmp_path / "p", plan=foreign)
    plan_file = tmp_path / "plan.json"
    bad.save(plan_file)
    with pytest.raises(CodesignError, match="outside BitSpace"):
        _write(design, tmp_path / "p", plan=Plan.load(plan_file, qnet))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "other", "plan.json"]  # nothing partial


# --- real models: fault-free on all rows, ΔC on sampled bits ---------------------------------------------------------

REAL = {
    "digits_m": ({"dataset": "digits", "split": "all"}, "mispredict"),
    "smartpixel_m": ({"dataset": "smartpixel", "split": "all"}, "mispredict"),
    "econt_m": ({"dataset": "hgcal", "file": "CALQ_output"}, "emd"),
}
# ΔC on the first 300 rows of each data set keeps CI fast (~20 s of injection per design); the comparison is exact,
# so more rows would test the same code paths, not a tolerance.
INJECT_ROWS = 300
N_BITS = 200


@pytest.mark.parametrize("name", list(REAL))
def test_real_model_csim_equals_simulator(name, request, tmp_path):
    """Fault-free: every row of the data set (ECON-T: all HGCal files) bit-exact with the simulator (which
    test_fidelity_real proves bit-exact with QKeras on the same rows). Faults: 200 sampled bits and 10 multi-bit
    faults, C-sim ΔC == simulator ΔC exactly."""
    from codesign.hls.injection import HlsLevel
    from codesign.prepare import Prepared
    from codesign.spec import from_dict

    data, metric = REAL[name]
    data_dir = None if name.startswith("digits") else request.getfixturevalue("data_dir")
    raw = {"name": name, "model": {"zoo": name}, "metric": metric, "data": data, "seed": 0}
    design = Prepared(from_dict({**raw, "samples": INJECT_ROWS}), data_dir)
    qnet = design.qnet
    ev = design.evaluator()
    level = HlsLevel(Target(qnet, ev.acts[0], keras_model=design.model.onchip, workdir=tmp_path))
    try:
        if name == "econt_m":
            from codesign.data import hgcal

            x = np.concatenate([hgcal.load_hgcal(f, data_dir=data_dir)[0] for f in hgcal.DATASETS])
        else:
            x = Prepared(from_dict(raw), data_dir).data.x
        codes = quantize_input(qnet, x)
        assert np.array_equal(level.csim.predict_codes(codes), forward(qnet, codes))
        rng = np.random.default_rng(0)
        n = len(qnet.bitspace)
        faults = [np.array([b]) for b in rng.choice(n, N_BITS, replace=False)]
        faults += [rng.choice(n, k, replace=False) for k in range(2, 12)]
        outcomes = [ev.outcome_of_outputs(o) for o in level.outputs(faults)]
        mismatched = [f.tolist() for f, o in zip(faults, outcomes) if not same_outcome(o, ev.evaluate(f))]
        assert mismatched == []
        assert sum(o.delta_cost > 0 for o in outcomes) >= 10  # sensitive bits are among those compared
    finally:
        level.close()
