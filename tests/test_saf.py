"""Saturated weight transforms (a table per weight word between register and multiplier): the tables, incremental
evaluation through them, bit-exact RTL and HLS C-sim, and the design option."""

import copy
import shutil

import numpy as np
import pytest
from cli_checks import assert_user_error
from models_for_tests import tiny_cnn
from test_cli import cli, files  # noqa: F401  (session fixture: tiny models and data)

from codesign.campaign.evaluate import Evaluator
from codesign.data.load import Data
from codesign.errors import CodesignError
from codesign.ir.bitspace import apply_flips
from codesign.ir.qnet import Dense, QNet
from codesign.level import Target
from codesign.metrics.cost import Cost
from codesign.mitigate import saf
from codesign.sim.forward import forward, quantize_input


def _headroom(q: QNet) -> QNet:
    """The tiny model with every kernel code divided by 3, so the trained weights leave room in their format (the
    zoo's trained weights reach the format's edge, where a saturating table is the identity)."""
    layers = []
    for l in q.layers:
        if isinstance(l, Dense):
            l = copy.copy(l)
            l.kernel = np.trunc(l.kernel / 3).astype(np.int64)
        layers.append(l)
    return q.with_layers(layers)


@pytest.fixture(scope="module")
def nets():
    from codesign.ir.from_keras import from_keras

    model = tiny_cnn(2, "same")
    base = _headroom(from_keras(model))
    x = np.random.default_rng(4).uniform(-1.5, 1.5, (60, 6, 6, 2)).astype(np.float32)
    return model, base, {f: saf.with_saf(base, f) for f in saf.FUNCTIONS}, x


def test_tables_saturate_where_the_trained_weights_end(nets):
    _, base, by_fn, _ = nets
    for name in ("conv", "dense"):
        layer = base.layer(name)
        m = int(np.abs(layer.kernel).max())
        ty = layer.kernel_type
        assert m < max(-ty.min_code, ty.max_code) // 2  # headroom, so the tables do something
        W = ty.width
        stored = np.arange(ty.min_code, ty.max_code + 1)
        for fn, q in by_fn.items():
            lut = q.layer(name).kernel_lut
            vals = lut[stored & ((1 << W) - 1)]
            assert vals[stored == 0][0] == 0 and np.all(np.diff(vals) >= 0), fn  # odd-ish, monotone
            assert np.abs(vals).max() <= m, fn  # never beyond the largest trained weight
            if fn == "hardtanh":
                assert np.array_equal(vals, np.clip(stored, -m, m))
                assert np.array_equal(q.layer(name).effective_kernel(), layer.kernel)  # lossless
            # a sign-bit upset of a small weight lands at most m away from the table's centre
            small = np.flatnonzero(np.abs(layer.kernel.reshape(-1)) <= 1)
            k = q.layer(name).kernel.reshape(-1)
            for e in small[:5]:
                flipped = k[e] ^ (1 << (W - 1))  # the table is indexed by the W-bit pattern
                assert abs(int(q.layer(name).effective_kernel(np.array([flipped]))[0])) <= m


def test_bad_transform_names_are_user_errors(nets):
    _, base, _, _ = nets
    with pytest.raises(CodesignError, match="sigmoid"):
        saf.with_saf(base, "sigmoid")
    with pytest.raises(CodesignError, match="relu1"):
        saf.with_saf(base, "tanh", ["relu1"])


@pytest.mark.parametrize("fn", ["tanh", "hardtanh"])
def test_incremental_evaluation_through_the_table_equals_brute_force(nets, fn):
    _, _, by_fn, x = nets
    q = by_fn[fn]
    ev = Evaluator(q, Cost("mse", Data(x, np.zeros((len(x), 4)))))
    changed = 0
    for b in range(len(q.bitspace)):
        fast, slow = ev.evaluate([b]), ev.brute_force([b])
        assert fast == slow, b
        changed += fast.changed_rows > 0
    assert changed > len(q.bitspace) // 3
    rng = np.random.default_rng(0)
    for _ in range(5):
        bits = rng.choice(len(q.bitspace), 4, replace=False)
        assert ev.evaluate(bits) == ev.brute_force(bits)


def test_rtl_equals_simulator_through_the_tables(nets, tmp_path):
    from codesign.rtl.generate import write_rtl
    from codesign.rtl.level import RtlLevel
    from codesign.rtl.sim import rtl_predict

    _, _, by_fn, x = nets
    q = by_fn["tanh"]
    codes = quantize_input(q, x)
    assert np.array_equal(rtl_predict(q, codes[:30]), forward(q, codes[:30]))
    write_rtl(q, tmp_path / "rtl")
    dp = "".join(p.read_text() for p in (tmp_path / "rtl").glob("*.v"))
    assert "SAF (tanh)" in dp and "u_saf" in dp
    ev = Evaluator(q, Cost("mse", Data(x[:20], np.zeros((20, 4)))))
    rng = np.random.default_rng(6)
    faults = [np.array([b]) for b in rng.choice(len(q.bitspace), 40, replace=False)]
    with RtlLevel(Target(q, ev.acts[0], workdir=tmp_path / "sim")) as level:
        outs = level.outputs(faults)
    for bits, out in zip(faults, outs):
        assert np.array_equal(out, forward(q, ev.acts[0], overrides=apply_flips(q, bits))), bits


@pytest.mark.skipif(shutil.which("g++") is None, reason="the HLS C-sim needs g++")
def test_hls_csim_equals_simulator_through_the_tables(nets, tmp_path):
    from codesign.hls.injection import HlsLevel

    model, _, by_fn, x = nets
    q = by_fn["softsign"]
    data = Data(x[:40], np.zeros((40, 4)))
    ev = Evaluator(q, Cost("mse", data))
    with HlsLevel(Target(q, ev.acts[0], keras_model=model, workdir=tmp_path)) as level:
        faults = [np.array([b]) for b in range(len(q.bitspace))]
        outs = level.outputs([np.zeros(0, np.int64)] + faults)
    assert np.array_equal(outs[0], ev.acts[-1])
    for bits, out in zip(faults, outs[1:]):
        assert np.array_equal(out, forward(q, ev.acts[0], overrides=apply_flips(q, bits))), bits


def test_design_saf_option(files, tmp_path):  # noqa: F811
    d = files["dir"]
    head = f"name: safnet\nmodel: {{path: {d / 'mlp.h5'}}}\ndata: {{path: {d / 'data.npz'}, x: x, y: y}}\n" \
           "metric: mispredict\n"
    good = tmp_path / "good.yaml"
    good.write_text(head + "saf: {function: hardtanh, layers: [d2]}\n")
    from codesign.prepare import Prepared
    from codesign.spec import load as load_spec

    q = Prepared(load_spec(good)).qnet
    assert q.layer("d2").kernel_lut is not None and q.layer("d1").kernel_lut is None
    proc = cli("verify", "--design", good, "--levels", "qkeras,sim,rtl", cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for bad, frag in (("saf: sigmoid\n", "saf must be"), ("saf: {function: tanh, layers: [a1]}\n", "a1")):
        p = tmp_path / "bad.yaml"
        p.write_text(head + bad)
        assert_user_error(cli("run", p, "--out", tmp_path / "o", cwd=tmp_path, cache=tmp_path / "cache"), frag)
        assert not (tmp_path / "o").exists()
