"""BatchNormalization + quantizing activation -> exact per-channel thresholds (see :class:`Threshold`).

The thresholds are found by bisection over the integer input codes, evaluating the Keras layers themselves (the
same TensorFlow kernels as QKeras' ``predict``), so they reproduce QKeras' float32 arithmetic exactly.
"""

from __future__ import annotations

import logging

import numpy as np

from codesign.errors import CodesignError
from codesign.ir.fixed import FixedType
from codesign.ir.qnet import Activation, BatchNorm, Threshold

log = logging.getLogger(__name__)

MAX_LEVELS = 1 << 12  # wider outputs keep the fixed-point BatchNorm (thresholds would not pay in hardware)
MAX_INPUT_BITS = 48  # bisection steps = input width; QKeras sees float32(x), which we reproduce for any width


def fold_batchnorm(layers: list, input_type: FixedType, keras_model) -> list:
    """Replace each (BatchNorm, Activation) pair by a Threshold layer computed from ``keras_model``."""
    out = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        in_type = out[-1].out_type if out else input_type
        if isinstance(layer, BatchNorm) and isinstance(nxt, Activation) and keras_model is not None:
            levels = nxt.out_type.max_code - nxt.out_type.min_code
            if levels <= MAX_LEVELS and in_type.width <= MAX_INPUT_BITS:
                out.append(_threshold_layer(layer, nxt, in_type, keras_model))
                i += 2
                continue
            log.warning("%s: kept as fixed-point BatchNorm (%d output levels, input %s); it may differ from "
                        "QKeras' float32 arithmetic in rare rounding ties", layer.name, levels, in_type)
        out.append(layer)
        i += 1
    return out


def _threshold_layer(bn: BatchNorm, act: Activation, in_type: FixedType, keras_model) -> Threshold:
    import tensorflow as tf

    from codesign.ir.keras_names import cpp_names

    by_ident = {ident: name for name, ident in cpp_names(keras_model).items()}  # QNet names are C++ identifiers
    try:
        k_bn, k_act = (keras_model.get_layer(by_ident.get(n, n)) for n in (bn.name, act.name))
    except ValueError:
        raise CodesignError(f"cannot find Keras layers {bn.name}/{act.name} to fold the batch-norm") from None
    sub = tf.keras.Model(k_bn.input, k_act.output)
    shape = tuple(bn.out_shape)
    channels = shape[-1]
    w = k_bn.get_weights()
    gamma = w[0] if k_bn.scale else np.ones(channels, np.float32)
    direction = np.where(gamma < 0, -1, 1).astype(np.int64)  # variance > 0, so the sign of the slope is gamma's
    out_t = act.out_type
    lo_code, hi_code = in_type.min_code, in_type.max_code
    levels = np.arange(out_t.min_code + 1, out_t.max_code + 1, dtype=np.int64)  # output code reached at t_k

    def codes_at(xp: np.ndarray) -> np.ndarray:
        """Output codes of QKeras for signed-direction input codes xp (levels, channels)."""
        x = (xp * direction[None, :]).astype(np.float64) * 2.0 ** -in_type.frac
        batch = np.broadcast_to(x.reshape((x.shape[0],) + (1,) * (len(shape) - 1) + (channels,)),
                                (x.shape[0],) + shape).astype(np.float32)
        y = sub.predict(batch, batch_size=4096, verbose=0).reshape((x.shape[0], -1, channels))[:, 0, :]
        return np.round(y.astype(np.float64) * 2.0 ** out_t.frac).astype(np.int64)

    # x' = direction * x runs over [lo', hi']; find the least x' whose output reaches each level.
    lo_p = np.where(direction > 0, lo_code, -hi_code)[None, :].repeat(len(levels), 0)
    hi_p = np.where(direction > 0, hi_code, -lo_code)[None, :].repeat(len(levels), 0)
    lo, hi = lo_p.copy(), hi_p + 1  # search in [lo, hi); hi_p + 1 means "never reached"
    target = levels[:, None]
    while np.any(lo < hi):
        mid = (lo + hi) // 2
        active = lo < hi
        reached = codes_at(np.minimum(mid, hi_p)) >= target
        hi = np.where(active & reached, mid, hi)
        lo = np.where(active & ~reached, mid + 1, lo)
    thresholds = lo.T.copy()  # (channels, levels)
    if np.any(np.diff(thresholds, axis=1) < 0):
        raise CodesignError(f"{bn.name}+{act.name} is not monotonic in its input; cannot fold to thresholds")
    return Threshold(act.name, out_t, act.out_shape, thresholds=thresholds, direction=direction, bn=bn.name)


def apply_thresholds(layer: Threshold, x: np.ndarray) -> np.ndarray:
    xs = x * layer.direction
    out = np.empty(x.shape, dtype=np.int64)
    for c in range(layer.thresholds.shape[0]):
        out[..., c] = np.searchsorted(layer.thresholds[c], xs[..., c], side="right")
    return out + layer.out_type.min_code
