"""Smart-pixel MLP classifiers (S/M/L) with the architectures of the FKeras/PrioriFI smart-pixel models.

The upstream models (``models/smartpixel_*/*.h5``, KastnerRG/edge-nns) are, in this exact layer order::

    input1 (13,) -> FQDense(w) -> BatchNormalization -> QActivation quantized_relu(a) -> ... -> FQDense(3 logits)

with kernel and bias ``quantized_bits(bits, 0, alpha=1)`` (HeNormal QInitializer), no input quantizer, trained with
``SparseCategoricalCrossentropy(from_logits=True)`` and Adam(1e-3) on the CMS 3-class data (not available). Here the
same architectures are built with plain QKeras ``QDense`` (FKeras ``FQDense`` with ber = 0 is ``QDense``) and trained
on the public muon-collider beam-induced-background data (``data/smartpixel_muc``), a binary task: 2 output logits.

Input scaling. ``y_profile`` holds non-negative charge-profile values (the data's minimum is -0.1375, max ~213, 99.9 %
below 58, many non-dyadic values such as log2(3)). The model input is ``x * INPUT_SCALE`` with ``INPUT_SCALE = 2**-5``
(a shift: exact in fixed point), rounded/saturated to ``INPUT_PRECISION = ap_fixed<14,4,AP_RND_CONV,AP_SAT>``
(range [-8, 8), step 2**-10, i.e. 1/32 of a raw unit; the raw maximum 213/32 = 6.65 fits). :func:`prepare_inputs`
does exactly this and the trainer trains on its output, so the fault-free chip sees the inputs the model was trained
on. The model has no input quantizer layer: feed ``prepare_inputs(x)`` (or ``x * INPUT_SCALE`` quantized to the
input type) as-is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from codesign.errors import CodesignError
from codesign.models.training import accuracy, fit_classifier  # noqa: F401 (accuracy re-exported)

log = logging.getLogger(__name__)

SIZES = ("s", "m", "l")
N_FEATURES = 13
N_CLASSES = 2
INPUT_SCALE = 2.0**-5
INPUT_BITS = (14, 4)  # ap_fixed<W, I>, I includes the sign bit
INPUT_PRECISION = f"ap_fixed<{INPUT_BITS[0]},{INPUT_BITS[1]},AP_RND_CONV,AP_SAT>"
DEFAULT_EPOCHS = 12
BATCH_SIZE = 256
LEARNING_RATE = 3e-3


@dataclass(frozen=True)
class SmartPixelSpec:
    size: str
    widths: tuple[int, ...]  # hidden QDense widths (each followed by BN + quantized_relu)
    weight_bits: tuple[int, int]  # quantized_bits(total, integer, alpha=1) for kernel and bias
    act_bits: tuple[int, int]  # quantized_relu(total, integer)
    upstream: str  # the upstream model of the same architecture (3 outputs instead of 2)


SPECS: dict[str, SmartPixelSpec] = {
    "s": SmartPixelSpec("s", (16,), (3, 0), (6, 2), "smartpixel_small"),
    "m": SmartPixelSpec("m", (58,), (4, 0), (8, 0), "smartpixel_medium"),
    "l": SmartPixelSpec("l", (32, 32, 32), (8, 0), (10, 2), "smartpixel_large"),
}


def spec(size: str) -> SmartPixelSpec:
    key = str(size).lower()
    if key not in SPECS:
        raise CodesignError(f"unknown smart-pixel size {size!r}: choose one of {', '.join(SIZES)}")
    return SPECS[key]


def prepare_inputs(x) -> np.ndarray:
    """Raw ``y_profile`` (N, 13) -> model input: scaled by 2**-5 and rounded to ap_fixed<14,4,AP_RND_CONV,AP_SAT>.

    np.rint rounds half to even, which is AP_RND_CONV; the clip is AP_SAT.
    """
    x = np.asarray(x, dtype=np.float64) * INPUT_SCALE
    frac = INPUT_BITS[0] - INPUT_BITS[1]
    lo, hi = -(2 ** (INPUT_BITS[0] - 1)), 2 ** (INPUT_BITS[0] - 1) - 1
    return (np.clip(np.rint(x * 2.0**frac), lo, hi) / 2.0**frac).astype(np.float32)


def build_smartpixel(size: str, n_outputs: int = N_CLASSES):
    """Untrained QKeras MLP: ``input1`` (13,) -> [q_dense_i -> batch_normalization_i -> q_activation_i]* -> logits.

    Layer names follow the upstream files with ``fq_`` replaced by ``q_`` (QKeras' own automatic names).
    """
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow.keras import layers

    sp = spec(size)

    def suffix(i: int) -> str:
        return "" if i == 0 else f"_{i}"

    def wq():
        return quantized_bits(sp.weight_bits[0], sp.weight_bits[1], alpha=1)

    inputs = layers.Input(shape=(N_FEATURES,), name="input1")
    x = inputs
    for i, width in enumerate(sp.widths):
        x = QDense(width, kernel_quantizer=wq(), bias_quantizer=wq(), name=f"q_dense{suffix(i)}")(x)
        x = layers.BatchNormalization(name=f"batch_normalization{suffix(i)}")(x)
        x = QActivation(quantized_relu(*sp.act_bits), name=f"q_activation{suffix(i)}")(x)
    x = QDense(n_outputs, kernel_quantizer=wq(), bias_quantizer=wq(), name=f"q_dense{suffix(len(sp.widths))}")(x)
    return tf.keras.Model(inputs, x, name=f"smartpixel_{sp.size}")


def load_split(split: str, data_dir=None, seed: int = 0):
    """``(prepare_inputs(x), y)`` of one split of the muon-collider smart-pixel data."""
    from codesign.data import smartpixel as data

    x, y = data.dataset(split, data_dir=data_dir, seed=seed)
    return prepare_inputs(x), np.asarray(y).astype(np.int64).reshape(-1)


def recipe(size: str, epochs: int | None = None) -> dict:
    """Everything that determines the trained weights besides the seed and the data (hashed into cache names)."""
    sp = spec(size)
    return {
        "model": "smartpixel", "size": sp.size, "widths": sp.widths, "weight_bits": sp.weight_bits,
        "act_bits": sp.act_bits, "epochs": DEFAULT_EPOCHS if epochs is None else int(epochs),
        "batch": BATCH_SIZE, "lr": LEARNING_RATE, "input_scale": INPUT_SCALE, "input_bits": INPUT_BITS,
    }


def train_smartpixel(size: str, data_dir=None, seed: int = 0, epochs: int | None = None, data=None):
    """Train the ``size`` MLP on the binary smart-pixel task, deterministically for a given seed.

    Adam(3e-3, cosine decay to 0), batch 256, ``epochs`` passes over the train split (default 12, ~10-30 s on one
    core), sparse categorical cross-entropy on the 2 logits. ``data`` = ``(x_train, y_train, x_test, y_test)`` already
    passed through :func:`prepare_inputs` bypasses the data loader (tests). Logs and stores the test accuracy in
    ``model.codesign_test_accuracy``.
    """
    from codesign.models.loading import tf_setup

    rec = recipe(size, epochs)
    tf_setup(seed)
    if data is None:
        x_train, y_train = load_split("train", data_dir, seed)
        x_test, y_test = load_split("test", data_dir, seed)
    else:
        x_train, y_train, x_test, y_test = data
    model = build_smartpixel(size)
    return fit_classifier(model, x_train, y_train, x_test, y_test, rec["epochs"], LEARNING_RATE, BATCH_SIZE,
                          f"smartpixel_{rec['size']} seed {seed}")
