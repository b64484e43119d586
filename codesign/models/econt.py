"""The CMS HGCAL ECON-T autoencoders (S/M/L) of the FKeras/PrioriFI papers, rebuilt to load their weight checkpoints.

The checkpoints are weights-only HDF5 files (``autoencoder.save_weights``) with two groups, ``encoder/`` and
``decoder/``. Keras loads such files layer by layer in order and checks shapes, so the architecture here mirrors the
originals exactly (layer names, order, shapes; see ``models/README.md`` of the data directory). Only the encoder goes
on chip (quantized, fault-injected); the decoder is float and serves the EMD metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from codesign.errors import CodesignError

SIZES = ("s", "m", "l")


@dataclass(frozen=True)
class EcontSpec:
    """Architecture facts of one ECON-T encoder. Bit tuples are QKeras ``(total, integer)`` (sign not in integer)."""

    size: str
    checkpoint: str  # path under the data directory
    sha256: str
    input_bits: tuple[int, int]  # input_qa quantized_bits(total, integer, keep_negative=1, alpha=1)
    dense_nodes: tuple[int, ...]  # QDense layers before encoded_vector (S only)
    dense_act_bits: tuple[int, int] | None  # quantized_relu after en_dense_0 (S only)
    conv_filters: int  # 0 = no conv layer
    conv_kernel: int  # conv kernel; also the decoder's kernel
    conv_bits: tuple[int, int] | None  # kernel/bias quantized_bits of conv2d_0_m
    accum_bits: tuple[int, int] | None  # quantized_relu after the conv (accum1_qa)
    dense_bits: tuple[int, int]  # kernel/bias quantized_bits of en_dense_* and encoded_vector
    encod_bits: tuple[int, int]  # quantized_relu of encod_qa
    encoded_dim: int = 16

    @property
    def input_precision(self) -> str:
        """hls4ml input type that makes the conversion bit-exact (quantized_bits(n, m) is ap_fixed<n, m+1>)."""
        total, integer = self.input_bits
        return f"ap_fixed<{total},{integer + 1},AP_RND_CONV,AP_SAT>"

    @property
    def decoder_shape(self) -> tuple[int, int, int]:
        """Shape before the encoder's flatten (what the decoder reshapes to)."""
        return (4, 4, self.conv_filters) if self.conv_filters else (8, 8, 1)


SPECS: dict[str, EcontSpec] = {
    "s": EcontSpec(
        size="s",
        checkpoint="models/econt_small/run3-row27-small-econ.hdf5",
        sha256="c3307934a1b586fd526e1e8c4b673da3631b88d141c9b5aaf91cbcaed1cf1650",
        input_bits=(10, 3),
        dense_nodes=(16,),
        dense_act_bits=(16, 3),
        conv_filters=0,
        conv_kernel=3,
        conv_bits=None,
        accum_bits=None,
        dense_bits=(8, 1),
        encod_bits=(16, 3),
    ),
    "m": EcontSpec(
        size="m",
        checkpoint="models/econt_medium/8x8_c8_S2_tele_fqK_6bit.hdf5",
        sha256="d7b27359efc73b8ab1d7ae13ebed32b1bca76f3772ab583ddc880654c7936901",
        input_bits=(11, 3),
        dense_nodes=(),
        dense_act_bits=None,
        conv_filters=8,
        conv_kernel=3,
        conv_bits=(6, 1),
        accum_bits=(12, 3),
        dense_bits=(6, 1),
        encod_bits=(9, 1),
    ),
    "l": EcontSpec(
        size="l",
        checkpoint="models/econt_large/run5-row21-big-econ.hdf5",
        sha256="34d11a263a01c635be4037b817fe93d01d11c920f0635c75cc51d315e16f38a5",
        input_bits=(10, 3),
        dense_nodes=(),
        dense_act_bits=None,
        conv_filters=32,
        conv_kernel=5,
        conv_bits=(5, 1),
        accum_bits=(11, 3),
        dense_bits=(7, 1),
        encod_bits=(13, 3),
    ),
}


def spec(size: str) -> EcontSpec:
    key = str(size).lower()
    if key not in SPECS:
        raise CodesignError(f"unknown ECON-T size {size!r}: choose one of {', '.join(SIZES)}")
    return SPECS[key]


def input_precision(size: str) -> str:
    """E.g. ``'ap_fixed<11,4,AP_RND_CONV,AP_SAT>'`` for M."""
    return spec(size).input_precision


def build_econt(size: str):
    """Build ``(encoder, decoder, autoencoder)`` for size ``'s'|'m'|'l'`` with untrained weights.

    encoder: Model ``encoder``, input ``input_1`` (8, 8, 1) -> 16 quantized codes; decoder: float Model ``decoder``,
    input ``decoder_input`` (16,) -> (8, 8, 1) in (0, 1); autoencoder = ``Model(input_1, decoder(encoder(input_1)))``.
    """
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu
    from tensorflow.keras import layers

    sp = spec(size)

    def qbits(bits: tuple[int, int]):
        return quantized_bits(bits[0], bits[1], keep_negative=1, alpha=1)

    inputs = layers.Input(shape=(8, 8, 1), name="input_1")
    x = QActivation(qbits(sp.input_bits), name="input_qa")(inputs)
    if sp.conv_filters:
        x = QConv2D(
            sp.conv_filters,
            sp.conv_kernel,
            strides=(2, 2),
            padding="same",
            kernel_quantizer=qbits(sp.conv_bits),
            bias_quantizer=qbits(sp.conv_bits),
            name="conv2d_0_m",
        )(x)
        x = QActivation(quantized_relu(*sp.accum_bits), name="accum1_qa")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, nodes in enumerate(sp.dense_nodes):
        x = QDense(nodes, kernel_quantizer=qbits(sp.dense_bits), bias_quantizer=qbits(sp.dense_bits),
                   name=f"en_dense_{i}")(x)
        x = QActivation(quantized_relu(*sp.dense_act_bits), name=f"en_dense_act{i}")(x)
    x = QDense(sp.encoded_dim, kernel_quantizer=qbits(sp.dense_bits), bias_quantizer=qbits(sp.dense_bits),
               name="encoded_vector")(x)
    x = QActivation(quantized_relu(*sp.encod_bits), name="encod_qa")(x)
    encoder = tf.keras.Model(inputs, x, name="encoder")

    shape = sp.decoder_shape
    d_in = layers.Input(shape=(sp.encoded_dim,), name="decoder_input")
    y = d_in
    for i, nodes in enumerate(sp.dense_nodes):
        y = layers.Dense(nodes, activation="relu", name=f"de_dense_{i}")(y)
    y = layers.Dense(shape[0] * shape[1] * shape[2], activation="relu", name="de_dense_final")(y)
    y = layers.Reshape(shape, name="de_reshape")(y)
    if sp.conv_filters:
        y = layers.Conv2DTranspose(sp.conv_filters, sp.conv_kernel, strides=(2, 2), padding="same",
                                   activation="relu", name="conv2D_t_0")(y)
    y = layers.Conv2DTranspose(1, sp.conv_kernel, strides=(1, 1), padding="same", name="conv2d_t_final")(y)
    y = layers.Activation("sigmoid", name="decoder_output")(y)
    decoder = tf.keras.Model(d_in, y, name="decoder")

    autoencoder = tf.keras.Model(inputs, decoder(encoder(inputs)), name="autoencoder")
    return encoder, decoder, autoencoder


def checkpoint_path(size: str, data_dir=None) -> Path:
    """The checkpoint under the data directory, sha256-checked by the data registry (user error when missing)."""
    from codesign.data import registry

    return Path(registry.fetch(spec(size).checkpoint.removeprefix("models/"), data_dir))


def load_econt(size: str, data_dir=None):
    """The pre-trained ECON-T ``(encoder, decoder)`` of ``size`` from the data directory's weights-only checkpoint."""
    encoder, decoder, autoencoder = build_econt(size)
    path = checkpoint_path(size, data_dir)
    try:
        autoencoder.load_weights(str(path))
    except Exception as exc:  # wrong file, truncated file, shape mismatch
        first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise CodesignError(f"cannot load ECON-T {spec(size).size.upper()} weights from {path}: {first}") from None
    return encoder, decoder
