"""Small quantized CNNs (S/M/L) on the scikit-learn handwritten digits (8x8x1 in [0, 1], 10 classes).

Real data on any fresh machine (it ships with scikit-learn), so these are the default embedded designs.

Pixels are integers 0..16 divided by 16, so the input quantizer ``quantized_bits(8, 1, keep_negative=1, alpha=1)``
(hls4ml ``ap_fixed<8,2>``, step 2**-6, range [-2, 2)) represents every input exactly; the hls4ml input type
``INPUT_PRECISION`` equals it, so the conversion needs no input rounding at all.

Architectures (kernel and bias ``quantized_bits(6, 0, alpha=1)``, activations ``quantized_relu(8, 3)``, output =
logits of the last QDense, no softmax)::

    S: input_1 -> input_qa -> conv2d_0 4x3x3 valid  -> act_0 -> flatten (144) -> dense_out 10
    M: input_1 -> input_qa -> conv2d_0 8x3x3 valid  -> act_0 -> conv2d_1 8x3x3 stride 2 same -> act_1
                                                    -> flatten (72)  -> dense_out 10
    L: input_1 -> input_qa -> conv2d_0 16x3x3 same  -> act_0 -> conv2d_1 32x3x3 stride 2 same -> act_1
                                                    -> flatten (512) -> dense_0 32 -> act_2 -> dense_out 10
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from codesign.errors import CodesignError
from codesign.models.training import accuracy, fit_classifier  # noqa: F401 (accuracy re-exported)

log = logging.getLogger(__name__)

SIZES = ("s", "m", "l")
N_CLASSES = 10
INPUT_BITS = (8, 1)  # QKeras quantized_bits(total, integer, keep_negative=1)
INPUT_PRECISION = f"ap_fixed<{INPUT_BITS[0]},{INPUT_BITS[1] + 1},AP_RND_CONV,AP_SAT>"
WEIGHT_BITS = (6, 0)
ACT_BITS = (8, 3)
BATCH_SIZE = 32
LEARNING_RATE = 3e-3


@dataclass(frozen=True)
class Conv:
    filters: int
    stride: int
    padding: str
    kernel: int = 3


@dataclass(frozen=True)
class DigitsSpec:
    size: str
    convs: tuple[Conv, ...]
    dense: tuple[int, ...]  # hidden QDense widths before dense_out
    epochs: int  # default training epochs


SPECS: dict[str, DigitsSpec] = {
    "s": DigitsSpec("s", (Conv(4, 1, "valid"),), (), 30),
    "m": DigitsSpec("m", (Conv(8, 1, "valid"), Conv(8, 2, "same")), (), 30),
    "l": DigitsSpec("l", (Conv(16, 1, "same"), Conv(32, 2, "same")), (32,), 20),
}


def spec(size: str) -> DigitsSpec:
    key = str(size).lower()
    if key not in SPECS:
        raise CodesignError(f"unknown digits size {size!r}: choose one of {', '.join(SIZES)}")
    return SPECS[key]


def build_digits(size: str):
    """Untrained QKeras CNN of ``size`` (see the module docstring)."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu
    from tensorflow.keras import layers

    sp = spec(size)

    def wq():
        return quantized_bits(WEIGHT_BITS[0], WEIGHT_BITS[1], keep_negative=1, alpha=1)

    inputs = layers.Input(shape=(8, 8, 1), name="input_1")
    x = QActivation(quantized_bits(INPUT_BITS[0], INPUT_BITS[1], keep_negative=1, alpha=1), name="input_qa")(inputs)
    act = 0
    for i, conv in enumerate(sp.convs):
        x = QConv2D(conv.filters, conv.kernel, strides=conv.stride, padding=conv.padding, kernel_quantizer=wq(),
                    bias_quantizer=wq(), name=f"conv2d_{i}")(x)
        x = QActivation(quantized_relu(*ACT_BITS), name=f"act_{act}")(x)
        act += 1
    x = layers.Flatten(name="flatten")(x)
    for i, width in enumerate(sp.dense):
        x = QDense(width, kernel_quantizer=wq(), bias_quantizer=wq(), name=f"dense_{i}")(x)
        x = QActivation(quantized_relu(*ACT_BITS), name=f"act_{act}")(x)
        act += 1
    x = QDense(N_CLASSES, kernel_quantizer=wq(), bias_quantizer=wq(), name="dense_out")(x)
    return tf.keras.Model(inputs, x, name=f"digits_{sp.size}")


def recipe(size: str, epochs: int | None = None) -> dict:
    """Everything that determines the trained weights besides the seed (hashed into cache names)."""
    sp = spec(size)
    return {
        "model": "digits", "size": sp.size, "convs": [vars(c) for c in sp.convs], "dense": sp.dense,
        "epochs": sp.epochs if epochs is None else int(epochs), "batch": BATCH_SIZE, "lr": LEARNING_RATE,
        "input_bits": INPUT_BITS, "weight_bits": WEIGHT_BITS, "act_bits": ACT_BITS,
    }


def training_arrays(seed: int = 0, data=None) -> tuple:
    """``(x_train, y_train, x_test, y_test)`` as the network trains on them (8x8x1 float32 images, int64 labels):
    the ``seed``'s split of ``codesign.data.digits``, or ``data`` (the same four arrays) shaped alike."""
    if data is None:
        from codesign.data import digits as dataset

        data = dataset.dataset("train", seed=seed) + dataset.dataset("test", seed=seed)
    x_train, y_train, x_test, y_test = data
    images = [np.asarray(x, dtype=np.float32).reshape(-1, 8, 8, 1) for x in (x_train, x_test)]
    labels = [np.asarray(y).astype(np.int64).reshape(-1) for y in (y_train, y_test)]
    return images[0], labels[0], images[1], labels[1]


def train_digits(size: str, seed: int = 0, epochs: int | None = None, data=None):
    """Train the ``size`` CNN deterministically for ``seed``: Adam(3e-3, cosine decay), batch 32, cross-entropy.

    ``data`` = ``(x_train, y_train, x_test, y_test)`` bypasses ``codesign.data.digits``. Logs and stores the test
    accuracy in ``model.codesign_test_accuracy``.
    """
    from codesign.models.loading import tf_setup

    rec = recipe(size, epochs)
    tf_setup(seed)
    x_train, y_train, x_test, y_test = training_arrays(seed, data)
    model = build_digits(size)
    return fit_classifier(model, x_train, y_train, x_test, y_test, rec["epochs"], LEARNING_RATE, BATCH_SIZE,
                          f"digits_{rec['size']} seed {seed}")
