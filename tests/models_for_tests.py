"""Small QKeras models built by the tests (no data directory needed)."""

import numpy as np


def tiny_cnn(stride=2, padding="same", bn=False, seed=0, input_bits=(9, 1)):
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(seed)
    wq = lambda: quantized_bits(6, 0, alpha=1)  # noqa: E731
    inp = tf.keras.Input((6, 6, 2), name="inp")
    x = QActivation(quantized_bits(*input_bits, alpha=1), name="in_q")(inp)
    x = QConv2D(3, 3, strides=stride, padding=padding, kernel_quantizer=wq(), bias_quantizer=wq(), name="conv")(x)
    if bn:
        x = tf.keras.layers.BatchNormalization(name="bn")(x)
    x = QActivation(quantized_relu(8, 3), name="relu1")(x)
    x = tf.keras.layers.Flatten(name="flat")(x)
    x = QDense(4, kernel_quantizer=wq(), bias_quantizer=wq(), name="dense")(x)
    model = tf.keras.Model(inp, x, name="tiny")
    _randomize(model, seed)
    return model


def tiny_mlp(seed=0, bn=True, use_bias=True):
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input((5,), name="x")
    x = QDense(7, kernel_quantizer=quantized_bits(4, 0, alpha=1), bias_quantizer=quantized_bits(4, 0, alpha=1),
               use_bias=use_bias, name="d1")(inp)
    if bn:
        x = tf.keras.layers.BatchNormalization(name="bn1")(x)
    x = QActivation(quantized_relu(6, 2), name="a1")(x)
    x = QDense(3, kernel_quantizer=quantized_bits(5, 1, alpha=1), bias_quantizer=quantized_bits(5, 1, alpha=1),
               name="d2")(x)
    model = tf.keras.Model(inp, x, name="mlp")
    _randomize(model, seed)
    return model


def _randomize(model, seed):
    """Non-trivial weights, BN statistics included, so that every code path does something."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        if type(layer).__name__ == "BatchNormalization":
            g, b, m, v = ws
            layer.set_weights([np.where(np.arange(g.size) % 2, -1.0, 1.0) * rng.uniform(0.5, 2, g.shape),  # negative slopes too
                                rng.normal(0, 0.3, b.shape),
                               rng.normal(0, 0.3, m.shape), rng.uniform(0.5, 2, v.shape)])
        else:
            layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in ws])


HOSTILE_LAYER_NAMES = ("a-b", "1abc", "a/b", "x\\", "module", "myproject")


def hostile_mlp(seed=0):
    """An MLP whose layer names Keras accepts but C++, Verilog or a path would not (issue #20)."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(seed)
    q = lambda: quantized_bits(5, 1, alpha=1)  # noqa: E731
    n = HOSTILE_LAYER_NAMES
    inp = tf.keras.Input((5,), name="1in")
    x = QDense(6, kernel_quantizer=q(), bias_quantizer=q(), name=n[0])(inp)
    x = QActivation(quantized_relu(6, 2), name=n[1])(x)
    x = QDense(5, kernel_quantizer=q(), bias_quantizer=q(), name=n[2])(x)
    x = QActivation(quantized_relu(6, 2), name=n[3])(x)
    x = QDense(4, kernel_quantizer=q(), bias_quantizer=q(), name=n[4])(x)
    x = QActivation(quantized_relu(6, 2), name=n[5])(x)
    x = QDense(3, kernel_quantizer=q(), bias_quantizer=q(), name="d_out")(x)
    model = tf.keras.Model(inp, x, name="hostile")
    _randomize(model, seed)
    return model
