"""The numpy float decoder: close to TensorFlow, and each row's output independent of its batch."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def keras_decoder():
    import tensorflow as tf

    tf.keras.utils.set_random_seed(3)
    inp = tf.keras.Input((16,), name="decoder_input")
    x = tf.keras.layers.Dense(128, activation="relu")(inp)
    x = tf.keras.layers.Reshape((4, 4, 8))(x)
    x = tf.keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(x)
    x = tf.keras.layers.Conv2DTranspose(1, 5, strides=1, padding="same")(x)
    x = tf.keras.layers.Activation("sigmoid")(x)
    return tf.keras.Model(inp, x)


def test_matches_tensorflow(keras_decoder):
    from codesign.metrics.decoder import FloatDecoder

    x = np.random.default_rng(0).uniform(0, 2, (300, 16)).astype(np.float32)
    ours = FloatDecoder.from_keras(keras_decoder)(x)
    theirs = keras_decoder.predict(x, verbose=0).astype(np.float64)
    assert ours.shape == theirs.shape == (300, 8, 8, 1)
    assert np.max(np.abs(ours - theirs)) < 1e-5


def test_row_results_do_not_depend_on_the_batch(keras_decoder):
    from codesign.metrics.decoder import FloatDecoder

    dec = FloatDecoder.from_keras(keras_decoder)
    x = np.random.default_rng(1).uniform(0, 2, (500, 16))
    full = dec(x)
    rng = np.random.default_rng(2)
    for k in [1, 2, 3, 7, 63, 64, 65, 129]:
        rows = np.sort(rng.choice(len(x), k, replace=False))
        assert np.array_equal(full[rows], dec(x[rows])), k
