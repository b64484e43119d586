"""Generated Verilog vs the simulator (cocotb + Icarus through cocotb_tools.runner), fault sites, TMR, RTL level.

Synthetic QNets (codesign.rtl.examples) cover every datapath rule; the QKeras-built tiny models cover what the
converter produces. Every RTL run here goes through the cocotb bench in rtl_sim/ (pytest collects it this way).
"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from codesign.campaign.evaluate import Evaluator
from codesign.data.load import Data
from codesign.errors import CodesignError
from codesign.ir.bitspace import apply_flips
from codesign.ir.fixed import FixedType as F
from codesign.ir.qnet import Dense, QNet
from codesign.level import Target
from codesign.metrics.cost import Cost
from codesign.protect.plan import Plan
from codesign.rtl import sim as rtl_sim
from codesign.rtl.examples import conv_net, mlp_net, random_inputs
from codesign.rtl.generate import write_rtl
from codesign.rtl.level import RtlLevel
from codesign.rtl.names import flop_bits, layer_idents, module_name, sanitize, words
from codesign.rtl.sim import RtlSim, rtl_predict
from codesign.rtl.sites import site_map, weight_flops
from codesign.sim.forward import forward

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) not installed")


def _rows_differ(a, b) -> int:
    return int(np.sum(np.any(a.reshape(len(a), -1) != b.reshape(len(b), -1), axis=1)))


def _evaluator(qnet, n=40, seed=0) -> Evaluator:
    codes = random_inputs(qnet, n, seed)
    x = qnet.input_type.to_float(codes).astype(np.float32)
    ref = qnet.output_type.to_float(forward(qnet, codes))
    return Evaluator(qnet, Cost("mse", Data(x), reference=ref))


def _plan(qnet, bits) -> Plan:
    return Plan(qnet.name, qnet.fingerprint(), np.asarray(bits, dtype=np.int64))


# --- generated RTL ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [conv_net, mlp_net])
def test_generated_verilog_is_clean_and_parses(make, tmp_path):
    q = make(0)
    prot = np.arange(0, q.bitspace.size, 7)
    datapaths = []
    for plan in (None, _plan(q, prot)):
        out = tmp_path / ("tmr" if plan else "plain")
        summary = write_rtl(q, out, plan).summary
        sources = [str(out / s) for s in summary["sources"]]
        r = subprocess.run(["iverilog", "-Wall", "-g2001", "-o", str(tmp_path / "a.vvp"), *sources],
                           capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr
        assert summary["latency_cycles"] == sum(l.kind != "reshape" for l in q.layers)
        assert summary["weight_flops"] == q.bitspace.size + 2 * (len(prot) if plan else 0)
        assert len(weight_flops(out / sources[0])) == summary["weight_flops"]
        dp = out / summary["datapath"]["file"]
        assert weight_flops(dp) == []  # pyverilog parses the datapath too; it holds no weight register
        datapaths.append((dp.read_bytes(), summary["datapath"]["sha256"]))
    # the datapath is the same text whatever the plan (cached synthesis, compositional equivalence)
    assert datapaths[0] == datapaths[1]


def test_neurons_of_equal_structure_share_one_module(tmp_path):
    q = conv_net(0)  # conv 5x6x2 -> 3x6x3, kernel 3x2, strides 2x1, pads (1,1,0,1); dense 54 -> 5; dense 5 -> 4
    summary = write_rtl(q, tmp_path / "rtl").summary
    units = summary["datapath"]["units"]
    top = summary["top"]
    # conv: the window clipped by the top pad, the right pad, both, or neither: 4 shapes for 54 neurons
    assert sorted(u for u in units if "_L0_" in u) == [f"{top}_L0_conv2d_n{k}" for k in range(4)]
    assert [u for u in units if "_L3_" in u] == [f"{top}_L3_dense_n0"]  # 5 neurons, one module
    assert [u for u in units if "_L6_" in u] == [f"{top}_L6_dense_n0"]
    assert summary["datapath"]["unit_instances"] == 54 + 1 + 5 + 1 + 1 + 4


def test_thresholds_by_binary_search_and_unsorted_rows(tmp_path):
    """Sorted rows: an unrolled binary search (one comparison per output bit); an unsorted row falls back to the
    sum of comparators, which is the layer's definition #{k : direction * x >= thresholds[c, k]}."""
    from codesign.ir.qnet import Threshold

    rng = np.random.default_rng(4)
    x_t = F(9, 5, True, "TRN", "SAT")
    levels = 15
    thr = np.sort(rng.integers(-300, 300, size=(4, levels)), axis=1)
    thr[1, 3:6] = thr[1, 4]  # repeated thresholds
    thr[2] = rng.permutation(thr[2])  # unsorted: comparator sum
    thr[3, :5] = -400  # below every input code: always counted
    th = Threshold("thr", F(5, 3, False, "TRN", "SAT"), (4,), thresholds=thr,
                   direction=np.array([1, -1, 1, -1]), bn="bn")
    q = QNet("thr_net", (4,), x_t, [th])
    summary = write_rtl(q, tmp_path / "rtl").summary
    text = (tmp_path / "rtl" / summary["datapath"]["file"]).read_text()
    assert text.count("case (") == 3 * 3  # 3 sorted rows, 4 count bits: 3 levels select a constant
    codes = np.concatenate([random_inputs(q, 300, 1), np.arange(x_t.min_code, x_t.max_code + 1)[:, None]
                            .repeat(4, axis=1)])
    ref = np.stack([np.sum(th.direction[c] * codes[:, c, None] >= thr[c][None, :], axis=1) for c in range(4)], axis=1)
    ref = ref + th.out_type.min_code
    out = rtl_predict(q, codes)
    assert _rows_differ(out, ref) == 0
    sorted_cols = [0, 1, 3]
    assert _rows_differ(out[:, sorted_cols], forward(q, codes)[:, sorted_cols]) == 0


@pytest.mark.parametrize("make,seed", [(conv_net, 0), (conv_net, 1), (mlp_net, 0), (mlp_net, 1)])
def test_rtl_equals_simulator_on_synthetic_nets(make, seed):
    q = make(seed)
    codes = random_inputs(q, 300, seed)
    out = rtl_predict(q, codes)
    ref = forward(q, codes)
    assert out.shape == ref.shape
    assert _rows_differ(out, ref) == 0


@pytest.fixture(scope="module")
def keras_qnets():
    from codesign.ir.from_keras import from_keras
    from models_for_tests import tiny_cnn, tiny_mlp

    return {"cnn_s1_same": from_keras(tiny_cnn(1, "same")), "cnn_s2_valid": from_keras(tiny_cnn(2, "valid")),
            "cnn_bn": from_keras(tiny_cnn(1, "valid", bn=True)), "mlp_bn": from_keras(tiny_mlp(bn=True)),
            "mlp_nobias": from_keras(tiny_mlp(bn=False, use_bias=False))}


@pytest.mark.parametrize("name", ["cnn_s1_same", "cnn_s2_valid", "cnn_bn", "mlp_bn", "mlp_nobias"])
def test_rtl_equals_simulator_on_keras_models(name, keras_qnets):
    q = keras_qnets[name]
    codes = random_inputs(q, 200, 3)
    assert _rows_differ(rtl_predict(q, codes), forward(q, codes)) == 0


def test_a_flipped_weight_changes_rtl_outputs_like_the_simulator(tmp_path):
    """The comparison is not vacuous: a faulty weight register changes outputs, exactly as the simulator says."""
    q = mlp_net(2)
    ev = _evaluator(q, 60)
    level = RtlLevel(Target(q, ev.acts[0], workdir=tmp_path))
    try:
        # MSB flips of words the simulator says matter (one per tensor kind), so that outputs must move
        cands = [q.bitspace.index(l, t, e, 0) for l, t, e in [("dense", "kernel", 5), ("dense", "kernel", 9),
                                                              ("dense", "bias", 2), ("module", "bias", 1)]]
        bits = [b for b in cands if _rows_differ(forward(q, ev.acts[0], overrides=apply_flips(q, [b])), ev.acts[-1])]
        assert len(bits) >= 2
        outs = level.outputs([np.array([b]) for b in bits])
        for b, out in zip(bits, outs):
            ref = forward(q, ev.acts[0], overrides=apply_flips(q, [b]))
            assert _rows_differ(out, ref) == 0
            assert _rows_differ(out, ev.acts[-1]) > 0
    finally:
        level.close()


# --- names and fault sites --------------------------------------------------------------------------------------------


def test_identifiers_are_sanitized_and_distinct(tmp_path):
    assert sanitize("c 1/conv") == "c_1_conv" and sanitize("") == "_"
    assert module_name("module") == "net_module" and module_name("9net") == "net_9net"
    assert module_name("econt_m") == "econt_m" and module_name("tmr_vote") == "net_tmr_vote"
    q = mlp_net(0)
    q = QNet("my design", q.input_shape, q.input_type,
             [_rename(q.layers[0], "a-b"), q.layers[1], q.layers[2], _rename(q.layers[3], "a_b")])
    assert layer_idents(q)[0] == "a_b" and layer_idents(q)[3] not in layer_idents(q)[:3]
    summary = write_rtl(q, tmp_path / "rtl").summary
    assert summary["top"] == "my_design"
    names = {r for r, _ in weight_flops(tmp_path / "rtl" / "my_design.v")}
    assert "w_a_b_kernel_0" in names and f"w_{layer_idents(q)[3]}_bias_2" in names
    assert _rows_differ(rtl_predict(q, random_inputs(q, 50)), forward(q, random_inputs(q, 50))) == 0


def _rename(layer, name):
    import dataclasses

    return dataclasses.replace(layer, name=name)


@pytest.mark.parametrize("protect", [False, True])
def test_fault_site_map_is_a_bijection_onto_bitspace(protect, tmp_path):
    q = conv_net(0)
    rng = np.random.default_rng(1)
    prot = np.sort(rng.choice(q.bitspace.size, 40, replace=False)) if protect else np.zeros(0, dtype=np.int64)
    write_rtl(q, tmp_path / "rtl", _plan(q, prot) if protect else None)
    sites = site_map(tmp_path / "rtl", q, prot)  # parsed from the Verilog with pyverilog
    values = list(sites.values())
    assert len(set(values)) == len(values)  # injective
    expected = {(b, None) for b in range(q.bitspace.size) if b not in set(prot.tolist())}
    expected |= {(int(b), r) for b in prot for r in range(3)}
    assert set(values) == expected  # onto every (bit, replica)
    # the naming contract: Verilog bit i of w_<layer>_<tensor>_<element> is BitSpace position W-1-i
    layer, tensor, elem, pos = q.bitspace.locate(123)
    if 123 not in set(prot.tolist()):
        wd = next(w for w in words(q, prot) if w.layer_index == q.layers.index(q.layer(layer))
                  and w.tensor == tensor and w.element == elem)
        assert sites[(wd.name, wd.type.width - 1 - pos)] == (123, None)


# --- TMR --------------------------------------------------------------------------------------------------------------


def test_single_replica_upsets_of_protected_bits_are_voted_out(tmp_path):
    q = mlp_net(0)
    rng = np.random.default_rng(0)
    prot = np.sort(rng.choice(q.bitspace.size, 45, replace=False))
    ev = _evaluator(q, 30)
    level = RtlLevel(Target(q, ev.acts[0], plan=_plan(q, prot), workdir=tmp_path))
    try:
        faults = [np.array([b]) for b in prot]
        for r in range(3):
            for out in level.outputs(faults, replica=r):
                assert _rows_differ(out, ev.acts[-1]) == 0
        # the same bits with all three replicas hit: the plan is defeated and the simulator's fault appears
        changed = 0
        for b, out in zip(prot, level.outputs(faults)):
            ref = forward(q, ev.acts[0], overrides=apply_flips(q, [b]))
            assert _rows_differ(out, ref) == 0
            changed += _rows_differ(out, ev.acts[-1]) > 0
        assert changed > 0
        # unprotected bits of a split word are single flops: one flip is a fault whatever the replica argument
        unprot = [b for b in range(q.bitspace.size) if b not in set(prot.tolist())][:5]
        for b, out in zip(unprot, level.outputs([np.array([b]) for b in unprot], replica=1)):
            assert _rows_differ(out, forward(q, ev.acts[0], overrides=apply_flips(q, [b]))) == 0
    finally:
        level.close()


# --- RTL campaigns ----------------------------------------------------------------------------------------------------


def test_rtl_level_equals_simulator_single_and_multi_bit(tmp_path):
    q = conv_net(0)
    ev = _evaluator(q, 40)
    rng = np.random.default_rng(5)
    singles = [np.array([b]) for b in rng.choice(q.bitspace.size, 60, replace=False)]
    multis = [rng.choice(q.bitspace.size, 3, replace=False) for _ in range(20)]
    multis.append(np.array([7, 7]))  # two upsets of one flop cancel
    level = RtlLevel(Target(q, ev.acts[0], workdir=tmp_path))
    try:
        outs = level.outputs(singles + multis)
        assert level.runs == 1  # many faults, one simulator start
        sensitive = 0
        for bits, out in zip(singles + multis, outs):
            assert out.shape == ev.acts[-1].shape
            ours, theirs = ev.outcome_of_outputs(out), ev.evaluate(bits)
            assert ours.delta_cost == theirs.delta_cost and ours.changed_rows == theirs.changed_rows, bits
            sensitive += ours.delta_cost > 0
        assert sensitive > 10
        assert _rows_differ(outs[-1], ev.acts[-1]) == 0
        # cached: asking again starts no simulator
        again = level.outputs(singles[:5])
        assert level.runs == 1 and all(np.array_equal(a, b) for a, b in zip(again, outs[:5]))
    finally:
        level.close()


def test_crashed_run_keeps_completed_faults_and_resumes(tmp_path, monkeypatch):
    q = mlp_net(1)
    ev = _evaluator(q, 20)
    level = RtlLevel(Target(q, ev.acts[0], workdir=tmp_path))
    try:
        faults = [np.array([b]) for b in range(0, 60, 3)]
        real = level.sim.flops

        def broken(bits, replica=None):
            return [("w_no_such_register", 0)] if int(bits[0]) == 30 else real(bits, replica)

        monkeypatch.setattr(level.sim, "flops", broken)
        with pytest.raises(CodesignError, match="RTL simulation failed after 10 of 20 faults"):
            level.outputs(faults)
        _, done = level._load()
        assert len(done) == 10
        monkeypatch.setattr(level.sim, "flops", real)
        outs = level.outputs(faults)
        _, done = level._load()
        assert len(done) == 20 and level.runs == 2
        for bits, out in zip(faults, outs):
            assert _rows_differ(out, forward(q, ev.acts[0], overrides=apply_flips(q, bits))) == 0
    finally:
        level.close()


def test_hung_simulator_is_killed_with_a_clear_error(tmp_path):
    q = mlp_net(0)
    sim = RtlSim(q, workdir=tmp_path, stall_timeout=0.01)
    with pytest.raises(CodesignError, match=r"hung \(no progress\)"):
        sim.golden(random_inputs(q, 5))


def test_watchdog_kills_a_silent_command(tmp_path):
    import time

    t = time.time()
    r = subprocess.run([sys.executable, "-m", "codesign.rtl.watchdog", "--stall", "0.5", "--watch",
                        str(tmp_path / "none"), "--", "sleep", "30"], capture_output=True, text=True)
    assert r.returncode == 124 and "no progress" in r.stderr and time.time() - t < 10


def test_bad_input_is_a_one_line_user_error(tmp_path, monkeypatch):
    q = mlp_net(0)
    sim = RtlSim(q, workdir=tmp_path)
    with pytest.raises(CodesignError, match="do not match the model input"):
        sim.golden(np.zeros((3, 8), dtype=np.int64))
    with pytest.raises(CodesignError, match="outside the input type"):
        sim.golden(np.full((3, 7), 999, dtype=np.int64))
    with pytest.raises(CodesignError, match="replica must be"):
        sim.flops([0], replica=3)
    with pytest.raises(CodesignError, match="outside BitSpace"):
        sim.flops([q.bitspace.size])
    monkeypatch.setattr(rtl_sim.shutil, "which", lambda tool: None)
    with pytest.raises(CodesignError, match=r"apt-get install -y iverilog") as exc:
        RtlSim(q, workdir=tmp_path / "x")
    assert "\n" not in str(exc.value)


def test_flop_bits_follow_bitspace_positions():
    q = mlp_net(0)
    wl = words(q, [3])
    b = q.bitspace.index("dense", "kernel", 0, 3)  # == 3: the LSB of a 4-bit word
    assert flop_bits(wl, [b], replica=2) == [("w_dense_kernel_0_tmr.r2.q", 0)]
    assert flop_bits(wl, [b]) == [(f"w_dense_kernel_0_tmr.r{r}.q", 0) for r in range(3)]
    assert flop_bits(wl, [0]) == [("w_dense_kernel_0_tmr.b3", 0)]
    assert flop_bits(wl, [4]) == [("w_dense_kernel_1", 3)]
    wl = words(q, [0, 2, 3])  # three protected bits of one word: replica bits in ascending Verilog order
    assert flop_bits(wl, [0, 2, 3], replica=1) == [("w_dense_kernel_0_tmr.r1.q", 2), ("w_dense_kernel_0_tmr.r1.q", 1),
                                                   ("w_dense_kernel_0_tmr.r1.q", 0)]
    assert flop_bits(wl, [1]) == [("w_dense_kernel_0_tmr.b2", 0)]


# --- Yosys ------------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
def test_yosys_stats_count_every_weight_flop(tmp_path, monkeypatch):
    from codesign.rtl.yosys import yosys_stats

    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "cache"))
    k_t = F(3, 1)
    layer = Dense("d", F(6, 3), (2,), kernel=np.array([[1, -2], [3, 0], [-4, 2]]), bias=np.array([1, -1]),
                  kernel_type=k_t, bias_type=k_t, accum_type=F(8, 4))
    q = QNet("small", (3,), F(3, 1), [layer])
    datapath = 2 * 6 + 1  # output registers + valid
    plain = yosys_stats(write_rtl(q, tmp_path / "a") and tmp_path / "a", cmos=True, ltp=True)
    assert plain["generic"]["flops"] == q.bitspace.size + datapath
    assert plain["generic"]["cells"] > plain["generic"]["flops"]
    assert plain["cmos_transistors"] > 0 and plain["logic_depth"] > 0
    parts = plain["parts"]
    assert parts["datapath"]["generic"]["flops"] == datapath and not parts["datapath"]["cached"]
    assert parts["registers"]["generic"]["flops"] == q.bitspace.size
    assert plain["generic"]["cells"] == parts["datapath"]["generic"]["cells"] + parts["registers"]["generic"]["cells"]
    assert plain["cmos_transistors"] == parts["datapath"]["cmos_transistors"] + parts["registers"]["cmos_transistors"]
    assert "small_datapath" not in plain["generic"]["cells_by_type"]  # the black box is not a cell of the sum
    write_rtl(q, tmp_path / "b", _plan(q, [0, 1, 2, 20]))
    tmr = yosys_stats(tmp_path / "b", xilinx=True, ltp=True)
    assert tmr["parts"]["datapath"]["cached"]  # same datapath text: synthesized once
    assert tmr["parts"]["datapath"]["generic"] == parts["datapath"]["generic"]
    assert tmr["generic"]["flops"] == q.bitspace.size + 2 * 4 + datapath
    assert tmr["parts"]["registers"]["voter_depth"] > 0
    assert tmr["logic_depth"] >= parts["datapath"]["logic_depth"] + tmr["parts"]["registers"]["voter_depth"]
    assert tmr["xilinx"]["ffs"] == tmr["parts"]["datapath"]["xilinx"]["ffs"] + tmr["parts"]["registers"]["xilinx"]["ffs"]
    assert tmr["xilinx"]["luts"] > 0
    json.dumps(plain)  # the numbers go to the report as JSON
