"""Fault engine: incremental ΔC == brute force bit for bit, fault models, the durable result store.

The incremental evaluator (cached upstream activations, one recomputed accumulator column, only changed rows
re-costed) must give exactly the numbers of one plain faulty forward pass + full cost evaluation, for every bit of
small models of every layer kind and for every metric; anything less would make the oracle depend on the path.
"""

import dataclasses
import math

import numpy as np
import pytest

from codesign.campaign import runner
from codesign.campaign.evaluate import Evaluator
from codesign.campaign.faults import FaultModel, FaultSpace
from codesign.campaign.store import COLUMNS, Store
from codesign.data.load import Data
from codesign.errors import CodesignError
from codesign.ir.bitspace import apply_flips
from codesign.ir.fixed import FixedType
from codesign.ir.qnet import QNet
from codesign.metrics.cost import Cost
from codesign.sim.forward import predict, predict_codes
from models_for_tests import tiny_cnn, tiny_mlp

# --- models and data -------------------------------------------------------------------------------------------------

N_ROWS = 120


def _saturating_accumulator(qnet: QNet) -> QNet:
    """The MLP with a narrow saturating accumulator in d2: the single-column shortcut must step aside (generic path)."""
    layers = list(qnet.layers)
    i = next(i for i, l in enumerate(layers) if l.name == "d2")
    acc = layers[i].accum_type
    layers[i] = dataclasses.replace(layers[i], accum_type=FixedType(acc.frac + 4, 4, True, "TRN", "SAT"))
    return QNet(qnet.name + "_sat", qnet.input_shape, qnet.input_type, layers)


BUILDERS = {
    "mlp": lambda: tiny_mlp(bn=False),
    "mlp_bn": lambda: tiny_mlp(bn=True),  # BatchNorm + quantized relu folded to a threshold layer
    "mlp_nobias": lambda: tiny_mlp(bn=False, use_bias=False),
    "mlp_satacc": lambda: tiny_mlp(bn=False),
    "cnn_s1_same": lambda: tiny_cnn(1, "same"),
    "cnn_s1_valid": lambda: tiny_cnn(1, "valid"),
    "cnn_s2_same": lambda: tiny_cnn(2, "same"),
    "cnn_s2_valid": lambda: tiny_cnn(2, "valid"),
    "cnn_bn": lambda: tiny_cnn(1, "valid", bn=True),
}


@pytest.fixture(scope="module")
def qnets():
    """Model name -> (qnet, inputs); built lazily, once per module (hls4ml conversion costs ~0.5 s each)."""
    from codesign.ir.from_keras import from_keras

    cache = {}

    def get(name):
        if name not in cache:
            model = BUILDERS[name]()
            qnet = from_keras(model)
            if name == "mlp_satacc":
                qnet = _saturating_accumulator(qnet)
            rng = np.random.default_rng(len(cache) + 1)
            x = rng.uniform(-1.5, 1.5, (N_ROWS,) + tuple(model.input_shape[1:])).astype(np.float32)
            cache[name] = (qnet, x)
        return cache[name]

    return get


def make_cost(qnet, x, metric, seed=0):
    rng = np.random.default_rng(seed)
    out = predict(qnet, x).reshape(len(x), -1)
    if metric == "mispredict":
        # labels = the fault-free decision with every third row wrong: the correct subset is non-trivial
        y = np.argmax(out, axis=1)
        y[::3] = (y[::3] + 1 + rng.integers(0, out.shape[1] - 1, len(y[::3]))) % out.shape[1]
        return Cost("mispredict", Data(x, y))
    if metric == "mse":
        return Cost("mse", Data(x, rng.normal(0, 1, out.shape)))
    if metric == "mse_ref":
        return Cost("mse", Data(x, None), reference=out.copy())
    raise AssertionError(metric)


def same(a: float, b: float) -> bool:
    """Bit-identical floats (0.0 and -0.0 differ, NaN never equal)."""
    return float(a).hex() == float(b).hex()


def compare_all(ev: Evaluator, bit_sets) -> list:
    """(bits, fast, brute) for every fault whose fast and brute-force outcomes differ in any field."""
    bad = []
    for bits in bit_sets:
        fast, brute = ev.evaluate(bits), ev.brute_force(bits)
        if not (same(fast.delta_cost, brute.delta_cost) and same(fast.faulty_cost, brute.faulty_cost)
                and fast.changed_rows == brute.changed_rows):
            bad.append((list(bits), fast, brute))
    return bad


# --- 1. fast == brute force --------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["mispredict", "mse", "mse_ref"])
@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_single_bit_fast_equals_brute_force(qnets, name, metric):
    qnet, x = qnets(name)
    ev = Evaluator(qnet, make_cost(qnet, x, metric))
    if metric == "mispredict":
        assert 0 < ev.n_rows < len(x)  # the fault-free-correct subset
        assert ev.base_mean == 0.0
    else:
        assert ev.n_rows == len(x)
    if metric == "mse_ref":
        assert ev.base_mean == 0.0
    size = qnet.bitspace.size
    bad = compare_all(ev, [[b] for b in range(size)])
    assert not bad, f"{len(bad)} of {size} bits differ, first: {bad[:3]}"
    # not vacuous: faults change outputs and cost
    outcomes = [ev.evaluate([b]) for b in range(size)]
    sensitive = sum(o.delta_cost > 0 for o in outcomes)
    assert sensitive > 0
    if metric == "mispredict":
        assert sensitive < size  # and some do not turn any decision
        assert all(o.delta_cost <= o.changed_rows / ev.n_rows for o in outcomes)  # a changed row may stay right
    if metric == "mse_ref":
        # against the fault-free outputs every changed output costs something
        assert all((o.delta_cost > 0) == (o.changed_rows > 0) for o in outcomes)
    if metric == "mse":
        # a fault can also lower the cost: ΔC is clipped at 0 although outputs changed
        assert any(o.changed_rows > 0 and o.delta_cost == 0.0 for o in outcomes)


@pytest.mark.parametrize("name", ["mlp_bn", "mlp_satacc", "cnn_s2_same", "cnn_bn"])
def test_multibit_fault_sets_fast_equals_brute_force(qnets, name):
    qnet, x = qnets(name)
    bs = qnet.bitspace
    rng = np.random.default_rng(3)
    sets = []
    for _ in range(60):
        k = int(rng.integers(2, 6))
        segs = rng.choice(len(bs.segments), size=k, replace=k > len(bs.segments))  # spanning layers and tensors
        bits = sorted({int(bs.segments[s].offset + rng.integers(bs.segments[s].nbits)) for s in segs})
        sets.append(bits)
    assert any(len({bs.locate(b)[0] for b in s}) > 1 for s in sets)
    # a pair on one word and the same bit twice (two upsets of one flop cancel)
    sets += [[0, 1], [5, 5], [bs.size - 2, bs.size - 1]]
    for metric in ("mispredict", "mse"):
        ev = Evaluator(qnet, make_cost(qnet, x, metric, seed=4))
        bad = compare_all(ev, sets)
        assert not bad, f"{len(bad)} of {len(sets)} sets differ, first: {bad[:3]}"
        assert ev.evaluate([5, 5]).changed_rows == 0
        assert sum(ev.evaluate(s).delta_cost > 0 for s in sets) > 5


@pytest.mark.parametrize("name", ["mlp_bn", "cnn_s1_same"])
def test_brute_force_is_an_independent_faulty_prediction(qnets, name):
    """The oracle itself: a faulty predict() of every row, costed from scratch, gives the same mean."""
    qnet, x = qnets(name)
    cost = make_cost(qnet, x, "mse")
    ev = Evaluator(qnet, cost)
    rng = np.random.default_rng(5)
    for bits in [[int(b)] for b in rng.choice(qnet.bitspace.size, 15, replace=False)] + [[3, 40, 77]]:
        out = qnet.output_type.to_float(predict_codes(qnet, x, overrides=apply_flips(qnet, bits)))
        mean = math.fsum(cost.per_sample(out).tolist()) / len(x)
        brute = ev.brute_force(bits)
        assert same(brute.faulty_cost, mean)
        assert same(brute.delta_cost, max(mean - ev.base_mean, 0.0))
        clean = predict(qnet, x)
        assert brute.changed_rows == int(np.sum(np.any((out != clean).reshape(len(x), -1), axis=1)))


def test_empty_fault_and_no_rows(qnets):
    qnet, x = qnets("mlp")
    ev = Evaluator(qnet, make_cost(qnet, x, "mse"))
    o = ev.evaluate([])
    assert (o.delta_cost, o.changed_rows) == (0.0, 0) and same(o.faulty_cost, ev.base_mean)
    # labels nobody gets right: no rows to evaluate, every fault is harmless
    out = predict(qnet, x).reshape(len(x), -1)
    wrong = (np.argmax(out, axis=1) + 1) % out.shape[1]
    ev = Evaluator(qnet, Cost("mispredict", Data(x, wrong)))
    assert ev.n_rows == 0
    assert ev.evaluate([0]).delta_cost == 0.0 and ev.brute_force([0]).delta_cost == 0.0


# --- EMD: a synthetic autoencoder -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def autoencoder():
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

    from codesign.data.hgcal import Geometry, prepare
    from codesign.ir.from_keras import from_keras
    from codesign.metrics.decoder import FloatDecoder

    rng = np.random.default_rng(11)
    # geometry: 48 of the 64 positions hold the cells (in a random order), 16 are masked duplicates
    mask = np.zeros(64, np.int64)
    kept = np.sort(rng.choice(64, 48, replace=False))
    mask[kept] = 1
    arrange = rng.integers(0, 48, 64)
    arrange[kept] = rng.permutation(48)
    geometry = Geometry(arrange, mask, rng.uniform(0, 6, (48, 2)))

    tf.keras.utils.set_random_seed(11)
    inp = tf.keras.Input((8, 8, 1), name="cells")
    h = QActivation(quantized_bits(9, 1, alpha=1), name="in_q")(inp)
    h = QConv2D(1, 3, strides=2, padding="same", kernel_quantizer=quantized_bits(4, 0, alpha=1),
                bias_quantizer=quantized_bits(4, 0, alpha=1), name="enc_conv")(h)
    h = QActivation(quantized_relu(6, 2), name="enc_relu")(h)
    h = tf.keras.layers.Flatten(name="flat")(h)
    h = QDense(16, kernel_quantizer=quantized_bits(4, 0, alpha=1), bias_quantizer=quantized_bits(4, 0, alpha=1),
               name="latent")(h)
    encoder = tf.keras.Model(inp, h, name="enc")
    for layer in encoder.layers:
        if layer.get_weights():
            layer.set_weights([rng.normal(0, 0.6, w.shape).astype(np.float32) for w in layer.get_weights()])

    z = tf.keras.Input((16,), name="latent_in")
    d = tf.keras.layers.Dense(64, activation="relu", name="dec_dense")(z)
    d = tf.keras.layers.Reshape((8, 8, 1), name="dec_reshape")(d)
    d = tf.keras.layers.Conv2DTranspose(1, 3, strides=1, padding="same", name="dec_convT")(d)
    d = tf.keras.layers.Activation("sigmoid", name="dec_sigmoid")(d)
    decoder = tf.keras.Model(z, d, name="dec")
    for layer in decoder.layers:
        if layer.get_weights():
            layer.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32) for w in layer.get_weights()])

    charges = rng.integers(0, 40, (60, 48)).astype(np.float64) * (rng.random((60, 48)) < 0.4)
    charges[:, 0] += 1  # no all-zero rows
    x8, x48 = prepare(charges, geometry)
    assert (x8 >= 0).all()
    qnet = from_keras(encoder)
    float_decoder = FloatDecoder.from_keras(decoder)
    # the numpy decoder is the Keras decoder (float64 vs float32)
    z = rng.normal(0, 1, (5, 16)).astype(np.float32)
    assert np.allclose(float_decoder(z), decoder.predict(z, verbose=0), atol=1e-5)
    return qnet, Cost("emd", Data(x8, None, x48), float_decoder, geometry)


def test_emd_every_single_bit_fast_equals_brute_force(autoencoder):
    qnet, cost = autoencoder
    ev = Evaluator(qnet, cost)
    assert ev.n_rows == 60 and ev.base_mean > 0
    size = qnet.bitspace.size
    bad = compare_all(ev, [[b] for b in range(size)])
    assert not bad, f"{len(bad)} of {size} bits differ, first: {bad[:3]}"
    outcomes = [ev.evaluate([b]) for b in range(size)]
    assert 0 < sum(o.delta_cost > 0 for o in outcomes) < size
    # a row's EMD does not depend on its batch: costs of a subset equal the full evaluation's
    out = predict(qnet, cost.data.x)
    full = cost.per_sample(out)
    rows = np.array([7, 3, 41])
    assert np.array_equal(cost.per_sample(out[rows], rows), full[rows])
    alone = np.concatenate([cost.per_sample(out[k:k + 1], np.array([k])) for k in range(len(out))])
    assert np.array_equal(alone, full)  # a batch of one row once summed its decoded cells in another order


def test_emd_multibit_fast_equals_brute_force(autoencoder):
    qnet, cost = autoencoder
    ev = Evaluator(qnet, cost)
    rng = np.random.default_rng(12)
    sets = [sorted(rng.choice(qnet.bitspace.size, int(rng.integers(2, 6)), replace=False).tolist())
            for _ in range(40)]
    bad = compare_all(ev, sets)
    assert not bad, bad[:3]
    assert sum(ev.evaluate(s).delta_cost > 0 for s in sets) > 5


# --- 2. fault models -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bitspace(qnets):
    return qnets("cnn_s2_valid")[0].bitspace


def kernel_mask(bs):
    mask = np.zeros(bs.size, bool)
    for s in bs.segments:
        if s.tensor == "kernel":
            mask[s.offset: s.offset + s.nbits] = True
    return mask


def test_multibit_reproducible_from_seed(bitspace):
    model = FaultModel("multibit", flips=4, trials=40, seed=7)
    a, b = FaultSpace(model, bitspace), FaultSpace(FaultModel("multibit", flips=4, trials=40, seed=7), bitspace)
    ids = a.fault_ids()
    assert ids.tolist() == list(range(40))
    forward = {int(f): a.bits(int(f)).tolist() for f in ids}
    backward = {int(f): b.bits(int(f)).tolist() for f in ids[::-1]}  # any order, any process: same faults
    assert forward == backward
    other = FaultSpace(FaultModel("multibit", flips=4, trials=40, seed=8), bitspace)
    assert sum(forward[f] != other.bits(f).tolist() for f in forward) >= 38
    assert len({tuple(v) for v in forward.values()}) == 40  # trials differ from each other too
    for fid, bits in forward.items():
        assert len(bits) == 4 and len(set(bits)) == 4 and bits == sorted(bits)
        assert all(0 <= b < bitspace.size for b in bits)
        assert np.array_equal(a.drawn(fid), a.bits(fid))  # nothing protected


def test_ber_reproducible_and_binomial(bitspace):
    rate, trials = 0.004, 3000
    space = FaultSpace(FaultModel("ber", rate=rate, trials=trials, seed=3), bitspace)
    again = FaultSpace(FaultModel("ber", rate=rate, trials=trials, seed=3), bitspace)
    other = FaultSpace(FaultModel("ber", rate=rate, trials=trials, seed=4), bitspace)
    counts = np.array([len(space.drawn(f)) for f in range(trials)])
    assert all(np.array_equal(space.bits(f), again.bits(f)) for f in range(0, trials, 7))
    assert sum(not np.array_equal(space.bits(f), other.bits(f)) for f in range(100)) > 80
    n = bitspace.size
    mean, sd = rate * n, math.sqrt(n * rate * (1 - rate))
    assert abs(counts.mean() - mean) < 5 * sd / math.sqrt(trials), (counts.mean(), mean)
    assert abs(counts.std() - sd) < 0.2 * sd
    assert counts.min() == 0 or mean > 5  # small rates: some trials flip nothing
    for f in range(50):
        b = space.bits(f)
        assert len(set(b.tolist())) == len(b) and np.all(np.diff(b) > 0)


def test_weights_only_draws_kernel_bits(bitspace):
    kernel = kernel_mask(bitspace)
    assert 0 < kernel.sum() < bitspace.size
    single = FaultSpace(FaultModel("single", weights_only=True), bitspace)
    assert single.fault_ids().tolist() == np.flatnonzero(kernel).tolist()
    multi = FaultSpace(FaultModel("multibit", flips=6, trials=200, weights_only=True, seed=1), bitspace)
    ber = FaultSpace(FaultModel("ber", rate=0.02, trials=200, weights_only=True, seed=1), bitspace)
    for space in (multi, ber):
        drawn = np.concatenate([space.drawn(f) for f in range(200)])
        assert len(drawn) > 200 and kernel[drawn].all()
    # without weights_only the bias bits are drawn as well
    everything = FaultSpace(FaultModel("multibit", flips=6, trials=200, seed=1), bitspace)
    assert not kernel[np.concatenate([everything.drawn(f) for f in range(200)])].all()


def test_protected_bits_never_flip(bitspace):
    rng = np.random.default_rng(0)
    protected = rng.choice(bitspace.size, bitspace.size // 2, replace=False)
    mask = np.zeros(bitspace.size, bool)
    mask[protected] = True
    single = FaultSpace(FaultModel("single"), bitspace, protected)
    assert single.fault_ids().tolist() == np.flatnonzero(~mask).tolist()
    for model in (FaultModel("multibit", flips=5, trials=100, seed=2), FaultModel("ber", rate=0.01, trials=100)):
        space = FaultSpace(model, bitspace, protected)
        unprotected = FaultSpace(model, bitspace)
        hit_protected = 0
        for f in range(100):
            drawn, bits = space.drawn(f), space.bits(f)
            assert not mask[bits].any()
            assert np.array_equal(bits, drawn[~mask[drawn]])
            assert np.array_equal(drawn, unprotected.drawn(f))  # protection masks upsets, it does not move them
            hit_protected += int(mask[drawn].any())
        assert hit_protected > 10
    with pytest.raises(CodesignError, match="outside BitSpace"):
        FaultSpace(FaultModel("single"), bitspace, [bitspace.size])


@pytest.mark.parametrize("kwargs, match", [
    (dict(kind="triple"), "unknown fault model 'triple'"),
    (dict(kind="ber", rate=0.0, trials=5), "rate"),
    (dict(kind="ber", rate=1.0, trials=5), "rate"),
    (dict(kind="ber", rate=-0.1, trials=5), "rate"),
    (dict(kind="ber", rate=1.5, trials=5), "rate"),
    (dict(kind="ber", trials=5), "rate"),
    (dict(kind="multibit", trials=5), "flips"),
    (dict(kind="multibit", flips=0, trials=5), "flips"),
    (dict(kind="multibit", flips=2, trials=0), "trials"),
    (dict(kind="multibit", flips=2), "trials"),
    (dict(kind="ber", rate=0.1, trials=-3), "trials"),
])
def test_bad_fault_models(kwargs, match):
    with pytest.raises(CodesignError, match=match):
        FaultModel(**kwargs)


def test_flips_beyond_the_fault_space(bitspace):
    n_kernel = int(kernel_mask(bitspace).sum())
    FaultSpace(FaultModel("multibit", flips=bitspace.size, trials=1), bitspace)  # all bits: allowed
    with pytest.raises(CodesignError, match=f"exceeds the {bitspace.size} bits"):
        FaultSpace(FaultModel("multibit", flips=bitspace.size + 1, trials=1), bitspace)
    with pytest.raises(CodesignError, match=f"exceeds the {n_kernel} bits"):
        FaultSpace(FaultModel("multibit", flips=n_kernel + 1, trials=1, weights_only=True), bitspace)


# --- 3. store and runner ---------------------------------------------------------------------------------------------


@pytest.fixture
def small_campaign(qnets):
    qnet, x = qnets("mlp_bn")
    ev = Evaluator(qnet, make_cost(qnet, x, "mse"))
    return ev, FaultSpace(FaultModel("single"), qnet.bitspace)


def key(name="net", design_hash="a" * 64):
    return {"design": name, "design_hash": design_hash, "metric": "mse"}


def test_resume_skips_stored_faults(small_campaign, tmp_path):
    ev, space = small_campaign
    ids = space.fault_ids()
    store = Store(tmp_path / "s.sqlite", key())
    first = runner.evaluate_chunk((ev, space), ids[:50])
    store.add(first)
    store.close()

    calls = []
    real = ev.evaluate
    ev.evaluate = lambda bits: calls.append(list(bits)) or real(bits)  # instance attribute: spies on this one
    try:
        store = Store(tmp_path / "s.sqlite", key())
        assert len(store) == 50 and store.done_ids() == set(ids[:50].tolist())
        assert runner.run(ev, space, store, chunk=7, progress=False) == len(ids) - 50
        assert sorted(b for c in calls for b in c) == ids[50:].tolist()  # single: fault id = bit
        calls.clear()
        assert runner.run(ev, space, store, chunk=7, progress=False) == 0 and calls == []
        table = store.table()
        store.close()
    finally:
        del ev.evaluate
    assert table["fault_id"].tolist() == ids.tolist()
    expected = runner.evaluate_chunk((ev, space), ids)
    for name, col in zip(COLUMNS, zip(*expected)):
        assert table[name].tolist() == list(col), name
    assert table["delta_cost"].dtype == np.float64 and table["changed_rows"].dtype == np.int64


def test_store_keeps_first_result_of_an_id(tmp_path):
    store = Store(tmp_path / "s.sqlite", key())
    store.add([(3, "3", 1, 0.5, 1.5, 2)])
    store.add([(3, "3", 1, 9.0, 9.0, 9), (4, "", 1, 0.0, 1.0, 0)])
    t = store.table()
    assert t["fault_id"].tolist() == [3, 4] and t["delta_cost"].tolist() == [0.5, 0.0]
    store.close()
    empty = Store(tmp_path / "e.sqlite", key()).table()
    assert all(len(v) == 0 for v in empty.values()) and set(empty) == set(COLUMNS)


def test_store_of_another_design_is_refused(tmp_path):
    Store(tmp_path / "s.sqlite", key("othernet", "0123456789abcdef" * 4)).close()
    with pytest.raises(CodesignError, match=r"belongs to another campaign \(design 'othernet', hash 0123456789ab"):
        Store(tmp_path / "s.sqlite", key("othernet", "f" * 64))
    with pytest.raises(CodesignError, match="othernet"):
        Store(tmp_path / "s.sqlite", key("net"))
    Store(tmp_path / "s.sqlite", key("othernet", "0123456789abcdef" * 4)).close()  # the same campaign reopens


@pytest.mark.parametrize("content", ["random", "text"])
def test_corrupt_store_is_unreadable(tmp_path, content):
    path = tmp_path / "s.sqlite"
    path.write_bytes(np.random.default_rng(1).bytes(8192) if content == "random" else b"not a database\n" * 300)
    with pytest.raises(CodesignError, match=f"unreadable result store {path}"):
        Store(path, key())


def test_runner_rejects_zero_workers(small_campaign, tmp_path):
    ev, space = small_campaign
    with pytest.raises(CodesignError, match="--workers"):
        runner.run(ev, space, Store(tmp_path / "s.sqlite", key()), workers=0)


@pytest.mark.parametrize("name, layer, shortcut", [("cnn_s1_same", "conv", True), ("cnn_s1_same", "dense", True),
                                                   ("mlp_bn", "d1", True), ("mlp_satacc", "d2", False)])
def test_single_column_shortcut_coverage(qnets, name, layer, shortcut):
    """The equality tests above cover both paths: the one-column shortcut (conv and dense, kernel and bias) and the
    generic re-computation of the layer (saturating accumulator)."""
    qnet, x = qnets(name)
    ev = Evaluator(qnet, make_cost(qnet, x, "mse"))
    bs = qnet.bitspace
    for tensor in ("kernel", "bias"):
        bit = bs.index(layer, tensor, 1, 0)
        got = ev._single_column(np.array([bit]), apply_flips(qnet, [bit]))
        assert (got is not None) == shortcut, (layer, tensor)


def test_memoizing_campaign_runs_column_by_column(autoencoder, tmp_path):
    """With the EMD memo the runner hands out one output column per chunk (largest first): the memo then sees every
    repeat, so fewer rows are costed than in fault-id order, and the stored results are those of id order."""
    qnet, cost = autoencoder
    space = FaultSpace(FaultModel("single"), qnet.bitspace)
    ids = space.fault_ids()
    columns = qnet.bitspace.columns(ids)
    chunks = runner._column_chunks(ids, columns)
    assert sorted(np.concatenate(chunks).tolist()) == ids.tolist()
    assert all(len(np.unique(columns[c])) == 1 for c in chunks)
    assert [len(c) for c in chunks] == sorted((len(c) for c in chunks), reverse=True)
    assert len(chunks) == len(np.unique(columns))

    def costed_rows(ev):
        rows = []
        real = ev._cost
        ev._cost = lambda out, r: rows.append(len(r)) or real(out, r)
        return rows

    ev = Evaluator(qnet, cost)
    assert ev.memoizes
    in_id_order = costed_rows(ev)
    expected = runner.evaluate_chunk((ev, space), ids)
    ev = Evaluator(qnet, cost)
    by_column = costed_rows(ev)
    store = Store(tmp_path / "s.sqlite", key())
    assert runner.run(ev, space, store, progress=False) == len(ids)
    table = store.table()
    store.close()
    for name, col in zip(COLUMNS, zip(*expected)):
        assert table[name].tolist() == list(col), name
    assert 0 < sum(by_column) < sum(in_id_order)


def test_big_columns_are_split():
    ids = np.arange(3000)
    columns = np.where(ids < 2500, 7, 3)
    assert [len(c) for c in runner._column_chunks(ids, columns)] == [2500, 500]
    chunks = runner._column_chunks(ids, columns, most=1024)
    assert [len(c) for c in chunks] == [834, 833, 833, 500]
    assert np.concatenate(chunks[:3]).tolist() == list(range(2500))

