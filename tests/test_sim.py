"""Simulator bit-exact with QKeras (and hls4ml C-sim) on small models of every layer kind."""

import numpy as np
import pytest

from codesign.errors import CodesignError
from codesign.ir.bitspace import apply_flips
from codesign.ir.from_keras import from_keras
from codesign.ir.qnet import QNet
from codesign.sim.forward import predict, quantize_input
from codesign.verify import verify
from models_for_tests import tiny_cnn, tiny_mlp


def _inputs(model, n=400, seed=1, low=-1.5, high=1.5):
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, (n,) + tuple(model.input_shape[1:])).astype(np.float32)


@pytest.mark.parametrize("stride,padding", [(1, "valid"), (1, "same"), (2, "same"), (2, "valid")])
def test_conv_dense_bit_exact_with_qkeras(stride, padding):
    model = tiny_cnn(stride, padding)
    qnet = from_keras(model)
    r = verify(model, qnet, _inputs(model), levels=["sim"])
    assert r["mismatches"]["sim"] == 0, r
    # the comparison is not vacuous: outputs vary
    assert np.std(predict(qnet, _inputs(model))) > 0


@pytest.mark.parametrize("build", [lambda: tiny_mlp(bn=True), lambda: tiny_cnn(1, "same", bn=True)],
                         ids=["dense-bn", "conv-bn"])
def test_batchnorm_after_quantized_layer_bit_exact(build):
    """BN + quantizer is folded to thresholds: exact with QKeras' float32 BN in the simulator and in C-sim."""
    model = build()
    qnet = from_keras(model)
    th = [l for l in qnet.layers if l.kind == "threshold"]
    assert len(th) == 1 and set(th[0].direction.tolist()) == {-1, 1}  # both slope signs exercised
    r = verify(model, qnet, _inputs(model, n=3000), levels=["qkeras", "sim", "hls"])
    assert r["mismatches"] == {"qkeras": 0, "sim": 0, "hls": 0}, r


def test_no_bias_layer_has_no_bias_bits():
    model = tiny_mlp(bn=False, use_bias=False)
    qnet = from_keras(model)
    bs = qnet.bitspace
    assert [(s.layer, s.tensor) for s in bs.segments] == [("d1", "kernel"), ("d2", "kernel"), ("d2", "bias")]
    assert verify(model, qnet, _inputs(model), levels=["sim"])["mismatches"]["sim"] == 0


def test_hls4ml_csim_matches(tmp_path):
    model = tiny_cnn(2, "same")
    qnet = from_keras(model)
    r = verify(model, qnet, _inputs(model, n=300), levels=["qkeras", "sim", "hls"])
    assert r["mismatches"] == {"qkeras": 0, "sim": 0, "hls": 0}, r


def test_faulty_weights_change_outputs_like_qkeras():
    """A flipped kernel bit in the simulator equals QKeras run with the same flipped weight."""
    model = tiny_cnn(1, "valid")
    qnet = from_keras(model)
    bs = qnet.bitspace
    bit = bs.index("conv", "kernel", 5, 0)  # sign bit of one conv weight
    faulty = apply_flips(qnet, [bit])
    x = _inputs(model)
    y_sim = predict(qnet, x, overrides=faulty)
    layer = model.get_layer("conv")
    k, b = layer.get_weights()
    index = [l.name for l in qnet.layers].index("conv")
    kq = qnet.layer("conv").kernel_type.to_float(faulty[index]["kernel"]).astype(np.float32)
    layer.set_weights([kq, b])
    xq = qnet.input_type.to_float(quantize_input(qnet, x)).astype(np.float32)
    y_keras = model.predict(xq, verbose=0)
    assert np.array_equal(y_sim, y_keras.astype(np.float64))
    assert not np.array_equal(y_sim, predict(qnet, x))


def test_qnet_save_load_round_trip(tmp_path):
    model = tiny_mlp(bn=True)
    qnet = from_keras(model)
    qnet.save(tmp_path / "q.npz")
    back = QNet.load(tmp_path / "q.npz")
    assert back.fingerprint() == qnet.fingerprint()
    x = _inputs(model)
    assert np.array_equal(predict(back, x), predict(qnet, x))


def test_input_shape_mismatch_is_user_error():
    model = tiny_mlp()
    qnet = from_keras(model)
    with pytest.raises(CodesignError, match="input shape"):
        predict(qnet, np.zeros((3, 6), np.float32))


def test_unsupported_layers_are_named():
    import tensorflow as tf

    inp = tf.keras.Input((4,))
    out = tf.keras.layers.Dense(2, name="plain")(inp)
    with pytest.raises(CodesignError, match=r"plain \(Dense\)"):
        from_keras(tf.keras.Model(inp, out))
    out = tf.keras.layers.Activation("tanh", name="th")(inp)
    with pytest.raises(CodesignError, match=r"th \(Activation tanh\)"):
        from_keras(tf.keras.Model(inp, out))


def test_final_softmax_is_left_off_chip():
    import tensorflow as tf

    model = tiny_mlp(bn=False)
    with_softmax = tf.keras.Model(model.input, tf.keras.layers.Softmax(name="sm")(model.output))
    assert [l.name for l in from_keras(with_softmax).layers] == [l.name for l in from_keras(model).layers]
