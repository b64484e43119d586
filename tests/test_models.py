"""codesign.models: loading errors, FKeras shims, ECON-T builders, digits/smart-pixel trainers, the zoo.

Tests that need the real data directory run only when CODESIGN_DATA is set (``real_data`` fixture).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("qkeras")

from codesign.errors import CodesignError  # noqa: E402
from codesign.models import digits, econt, smartpixel, zoo  # noqa: E402
from codesign.models.loading import FQConv2D, FQDense, custom_objects, load_model, tf_setup  # noqa: E402

for _setter in (tf.config.threading.set_inter_op_parallelism_threads,
                tf.config.threading.set_intra_op_parallelism_threads):
    try:
        _setter(1)
    except RuntimeError:  # TF runtime already started by another test module
        pass


def _tiny_qkeras_model(with_fq: bool = False):
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

    conv, dense = (FQConv2D, FQDense) if with_fq else (QConv2D, QDense)
    extra = {"ber": 0.0, "bit_loc": 3, "accum_faults": False} if with_fq else {}
    inputs = tf.keras.Input((6, 6, 1), name="x")
    x = QActivation(quantized_bits(8, 1, 1, alpha=1), name="in_q")(inputs)
    x = conv(2, 3, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1),
             name="conv", **extra)(x)
    x = QActivation(quantized_relu(8, 3), name="relu")(x)
    x = tf.keras.layers.Flatten(name="flat")(x)
    x = dense(3, kernel_quantizer=quantized_bits(4, 0, alpha=1), bias_quantizer=quantized_bits(4, 0, alpha=1),
              name="dense", **extra)(x)
    return tf.keras.Model(inputs, x)


def _inputs(n: int = 16) -> np.ndarray:
    return np.random.default_rng(0).random((n, 6, 6, 1)).astype(np.float32)


@pytest.fixture
def real_data() -> Path:
    value = os.environ.get("CODESIGN_DATA")
    if not value:
        pytest.skip("needs the real data directory: set CODESIGN_DATA=/path (holding data/ and models/)")
    return Path(value)


# ---------------------------------------------------------------- loading

def test_custom_objects_has_qkeras_and_shims():
    objects = custom_objects()
    for name in ("QDense", "QConv2D", "QActivation", "quantized_bits", "quantized_relu", "QInitializer",
                 "QConv2DBatchnorm", "FQDense", "FQConv2D"):
        assert name in objects
    assert issubclass(objects["FQDense"], objects["QDense"])
    assert issubclass(objects["FQConv2D"], objects["QConv2D"])


def test_load_missing_file(tmp_path):
    with pytest.raises(CodesignError, match="does not exist"):
        load_model(tmp_path / "nope.h5")


def test_load_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.h5"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(CodesignError, match=r"cannot read Keras model .*corrupt\.h5.*not an HDF5") as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_load_truncated_hdf5(tmp_path):
    good = tmp_path / "good.h5"
    _tiny_qkeras_model().save(good)
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(CodesignError, match="cannot read Keras model") as info:
        load_model(bad)
    assert "\n" not in str(info.value)


def test_load_weights_only_file(tmp_path):
    path = tmp_path / "weights.h5"
    _tiny_qkeras_model().save_weights(path)
    with pytest.raises(CodesignError, match="weights-only") as info:
        load_model(path)
    assert "econt" in str(info.value) and "\n" not in str(info.value)


def test_load_unknown_layer_class(tmp_path):
    class MyOddLayer(tf.keras.layers.Layer):
        def call(self, x):
            return 2 * x

    inputs = tf.keras.Input((4,))
    model = tf.keras.Model(inputs, MyOddLayer(name="odd")(tf.keras.layers.Dense(2)(inputs)))
    path = tmp_path / "odd.h5"
    model.save(path)
    with pytest.raises(CodesignError, match="unknown layer class MyOddLayer") as info:
        load_model(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("with_fq", [False, True])
def test_save_load_round_trip(tmp_path, with_fq):
    model = _tiny_qkeras_model(with_fq)
    path = tmp_path / "model.h5"
    model.save(path)
    loaded = load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(_inputs(), verbose=0), model.predict(_inputs(), verbose=0))
    if with_fq:
        assert type(loaded.get_layer("dense")).__name__ == "FQDense"
        config = loaded.get_layer("conv").get_config()
        assert (config["ber"], config["bit_loc"], config["accum_faults"]) == (0.0, 3, False)


def test_fq_layers_match_qkeras():
    plain, fq = _tiny_qkeras_model(False), _tiny_qkeras_model(True)
    fq.set_weights(plain.get_weights())
    np.testing.assert_array_equal(fq.predict(_inputs(), verbose=0), plain.predict(_inputs(), verbose=0))


# ---------------------------------------------------------------- ECON-T

ECONT_LAYERS = {
    "s": ["input_1", "input_qa", "flatten", "en_dense_0", "en_dense_act0", "encoded_vector", "encod_qa"],
    "m": ["input_1", "input_qa", "conv2d_0_m", "accum1_qa", "flatten", "encoded_vector", "encod_qa"],
    "l": ["input_1", "input_qa", "conv2d_0_m", "accum1_qa", "flatten", "encoded_vector", "encod_qa"],
}
ECONT_WEIGHTS = {"s": 1280, "m": 2120, "l": 8992}
ECONT_BIASES = {"s": 32, "m": 24, "l": 48}


def _count(model, kind: str) -> int:
    return sum(int(np.prod(w.shape)) for layer in model.layers for w in layer.weights if kind in w.name)


@pytest.mark.parametrize("size", ["s", "m", "l"])
def test_econt_builder(size):
    encoder, decoder, autoencoder = econt.build_econt(size)
    assert encoder.name == "encoder" and decoder.name == "decoder"
    assert [layer.name for layer in encoder.layers] == ECONT_LAYERS[size]
    assert encoder.input_shape == (None, 8, 8, 1) and encoder.output_shape == (None, 16)
    assert decoder.layers[0].name == "decoder_input" and decoder.output_shape == (None, 8, 8, 1)
    assert [layer.name for layer in autoencoder.layers] == ["input_1", "encoder", "decoder"]
    assert _count(encoder, "kernel") == ECONT_WEIGHTS[size]
    assert _count(encoder, "bias") == ECONT_BIASES[size]
    quantizer = encoder.get_layer("encoded_vector").get_quantizers()[0]
    bits = econt.spec(size).dense_bits
    assert (quantizer.bits, quantizer.integer, quantizer.alpha) == (bits[0], bits[1], 1)


def test_econt_input_precision():
    assert econt.input_precision("m") == "ap_fixed<11,4,AP_RND_CONV,AP_SAT>"
    assert econt.input_precision("s") == econt.input_precision("l") == "ap_fixed<10,4,AP_RND_CONV,AP_SAT>"
    with pytest.raises(CodesignError, match="unknown ECON-T size"):
        econt.spec("xl")


def test_econt_missing_checkpoint(tmp_path):
    with pytest.raises(CodesignError, match="missing data file models/econt_medium/"):
        econt.load_econt("m", tmp_path)


# ---------------------------------------------------------------- digits / smart-pixel builders and trainers

def test_digits_builders():
    paddings = {"s": {"valid"}, "m": {"valid", "same"}, "l": {"same"}}
    for size in digits.SIZES:
        model = digits.build_digits(size)
        assert model.input_shape == (None, 8, 8, 1) and model.output_shape == (None, 10)
        assert model.layers[1].name == "input_qa"
        convs = [layer for layer in model.layers if type(layer).__name__ == "QConv2D"]
        assert {c.padding for c in convs} == paddings[size]
    # the input quantizer represents every pixel value k/16 exactly
    pixels = (np.arange(17, dtype=np.float32) / 16).reshape(1, 17, 1, 1)
    quantizer = digits.build_digits("s").get_layer("input_qa").quantizer
    np.testing.assert_array_equal(quantizer(pixels).numpy(), pixels)


@pytest.fixture
def digits_data():
    data = pytest.importorskip("codesign.data.digits", reason="codesign.data.digits (the digits loader) is missing")
    x_train, y_train = data.dataset("train", seed=0)
    x_test, y_test = data.dataset("test", seed=0)
    return x_train, y_train, x_test, y_test


def test_digits_s_trains(digits_data):
    model = digits.train_digits("s", seed=0, epochs=6, data=digits_data)
    assert model.codesign_test_accuracy > 0.80
    assert digits.accuracy(model, digits_data[2], digits_data[3]) == model.codesign_test_accuracy


def test_training_is_deterministic(digits_data):
    a = digits.train_digits("s", seed=3, epochs=1, data=digits_data)
    b = digits.train_digits("s", seed=3, epochs=1, data=digits_data)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_smartpixel_builders():
    expected = {"s": 322, "m": 1162, "l": 3010}  # the upstream 339/1221/3043 minus one output unit
    for size in smartpixel.SIZES:
        model = smartpixel.build_smartpixel(size)
        assert model.input_shape == (None, 13) and model.output_shape == (None, 2)
        assert model.count_params() == expected[size]
        kinds = [type(layer).__name__ for layer in model.layers]
        assert kinds[:4] == ["InputLayer", "QDense", "BatchNormalization", "QActivation"]


def test_smartpixel_prepare_inputs():
    x = np.array([[-0.1375, 0.0, 1.5849625, 212.9, 1000.0, 2**-16, 3 * 2**-6, 2**-6]], dtype=np.float32)
    q = smartpixel.prepare_inputs(x)[0]
    assert q[0] == np.float32(np.round(-0.1375 / 32 * 1024) / 1024)
    assert q[1] == 0 and q[3] == np.float32(np.round(212.9 / 32 * 1024) / 1024)
    assert q[4] == 8 - 2**-10  # saturates
    assert q[5] == 0  # below half a step
    assert q[6] == 2 * 2**-10  # 1.5 steps -> 2 (ties to even)
    assert q[7] == 0  # 0.5 steps -> 0 (ties to even)


# ---------------------------------------------------------------- zoo

def test_zoo_unknown_name():
    with pytest.raises(CodesignError, match="unknown zoo model 'nope'; valid names: econt_s") as info:
        zoo.get("nope")
    for name in ("digits_l", "smartpixel_m", "smartpixel_large2_upstream", "cifar10_tiny2"):
        assert name in str(info.value)
    assert len(zoo.names()) == 15


def test_zoo_trained_model_is_cached(tmp_path, monkeypatch, digits_data):
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path))
    monkeypatch.setitem(digits.SPECS, "s", dataclasses.replace(digits.SPECS["s"], epochs=2))
    first = zoo.get("digits_s", seed=1)
    path = zoo.cache_path("digits_s", seed=1)
    assert path.parent == tmp_path / "zoo" and path.name.startswith("digits_s-seed1-") and path.is_file()
    assert first.metric == "mispredict" and first.dataset == "digits" and first.decoder is None
    assert first.input_precision == "ap_fixed<8,2,AP_RND_CONV,AP_SAT>"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files left
    second = zoo.get("digits_s", seed=1)
    assert second.info["test_accuracy"] == first.info["test_accuracy"]
    x = digits_data[2][:64]
    np.testing.assert_array_equal(second.onchip.predict(x, verbose=0), first.onchip.predict(x, verbose=0))
    monkeypatch.setitem(digits.SPECS, "s", dataclasses.replace(digits.SPECS["s"], epochs=3))
    assert zoo.cache_path("digits_s", seed=1) != path  # recipe change -> new cache entry


def test_zoo_needs_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("CODESIGN_DATA", raising=False)
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path))
    with pytest.raises(CodesignError, match="no data directory"):
        zoo.get("econt_m")
    with pytest.raises(CodesignError, match="no data directory"):
        zoo.get("smartpixel_s")


# ---------------------------------------------------------------- real data (CODESIGN_DATA)

@pytest.mark.parametrize("size", ["s", "m", "l"])
def test_real_econt_checkpoint_loads(real_data, size):
    import h5py

    encoder, decoder = econt.load_econt(size, real_data)
    with h5py.File(real_data / econt.spec(size).checkpoint, "r") as h5:
        for model, group in ((encoder, "encoder"), (decoder, "decoder")):
            for layer in model.layers:
                for w in layer.weights:
                    stored = h5[group][layer.name][w.name.split("/")[-1]][()]
                    np.testing.assert_array_equal(w.numpy(), stored)
    x = np.random.default_rng(0).random((64, 8, 8, 1)).astype(np.float32)
    codes = encoder.predict(x, verbose=0)
    assert codes.shape == (64, 16) and np.count_nonzero(codes) > 0 and len(np.unique(codes)) > 16
    assert decoder.predict(codes, verbose=0).shape == (64, 8, 8, 1)


@pytest.mark.parametrize("label,params,hidden", [("small", 339, 1), ("medium", 1221, 1), ("large", 3043, 3),
                                                 ("large2", 10755, 1)])
def test_real_upstream_smartpixel_loads(real_data, label, params, hidden):
    item = zoo.get(f"smartpixel_{label}_upstream", real_data)
    model = item.onchip
    assert model.count_params() == params and model.output_shape == (None, 3)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("FQDense") == hidden + 1 and kinds.count("BatchNormalization") == hidden
    assert model.get_layer("fq_dense").get_config()["ber"] == 0.0
    assert item.metric == "mispredict" and item.input_precision is None


def test_real_zoo_econt(real_data):
    item = zoo.get("econt_m", real_data)
    assert item.onchip.name == "encoder" and item.decoder.name == "decoder"
    assert (item.metric, item.dataset, item.input_precision) == ("emd", "hgcal", "ap_fixed<11,4,AP_RND_CONV,AP_SAT>")


@pytest.mark.parametrize("name", ["cifar10_tiny", "cifar10_tiny2"])
def test_real_zoo_cifar(real_data, name):
    item = zoo.get(name, real_data)
    assert item.onchip.input_shape == (None, 32, 32, 3) and item.onchip.output_shape == (None, 10)
    assert item.dataset == "synthetic"


def test_real_smartpixel_trains(real_data):
    pytest.importorskip("codesign.data.smartpixel", reason="codesign.data.smartpixel (the data loader) is missing")
    model = smartpixel.train_smartpixel("s", data_dir=real_data, seed=0, epochs=2)
    assert model.output_shape == (None, 2)
    assert model.codesign_test_accuracy > 0.62  # 52 % majority class; 0.66 after 2 epochs, 0.68 after 12
