"""The float (off-chip) ECON-T decoder in numpy, row by row deterministic.

Campaigns recompute the cost only for the rows a fault changes; ΔC is bit-identical to a full re-evaluation only if
a row's cost does not depend on which other rows share its batch. TensorFlow's (and BLAS's) kernels change
summation order with the batch size, so the decoder is evaluated here in float64 with ``einsum``, whose sum order
per output element is fixed. It is also picklable and free of TensorFlow, so campaign workers never import it.
"""

from __future__ import annotations

import numpy as np

from codesign.errors import CodesignError

_ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
}


class FloatDecoder:
    def __init__(self, ops: list[tuple]):
        self.ops = ops

    @classmethod
    def from_keras(cls, model) -> "FloatDecoder":
        ops = []
        for layer in model.layers:
            cls_name = type(layer).__name__
            cfg = layer.get_config()
            act = cfg.get("activation", "linear")
            if cls_name == "InputLayer":
                continue
            if cls_name == "Dense":
                k, b = (w.astype(np.float64) for w in layer.get_weights())
                ops.append(("dense", k, b))
            elif cls_name == "Conv2DTranspose":
                if cfg.get("padding") != "same" or cfg.get("data_format", "channels_last") != "channels_last":
                    raise CodesignError(f"decoder layer {layer.name}: only same-padded channels_last supported")
                k, b = (w.astype(np.float64) for w in layer.get_weights())
                ops.append(("convT", k, b, tuple(cfg["strides"])))
            elif cls_name == "Reshape":
                ops.append(("reshape", tuple(cfg["target_shape"])))
            elif cls_name == "Activation":
                act = cfg["activation"]
            else:
                raise CodesignError(f"decoder layer {layer.name} ({cls_name}) is not supported by the numpy decoder")
            if act not in _ACTIVATIONS:
                raise CodesignError(f"decoder layer {layer.name}: activation {act!r} not supported")
            if act != "linear":
                ops.append(("act", act))
        return cls(ops)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = np.asarray(x, dtype=np.float64)
        for op in self.ops:
            kind = op[0]
            if kind == "dense":
                y = np.einsum("ni,io->no", y, op[1]) + op[2]
            elif kind == "reshape":
                y = y.reshape((len(y),) + op[1])
            elif kind == "act":
                y = _ACTIVATIONS[op[1]](y)
            else:
                y = _conv_transpose_same(y, op[1], op[2], op[3])
        return y


def _conv_transpose_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, strides: tuple) -> np.ndarray:
    """Keras Conv2DTranspose(padding='same'): kernel (kh, kw, out, in); output size = input * stride."""
    n, h, w, _ = x.shape
    kh, kw, cout, _ = kernel.shape
    sh, sw = strides
    full = np.zeros((n, (h - 1) * sh + kh, (w - 1) * sw + kw, cout))
    # contribution of every kernel tap: out[h*s + i, w*s + j] += x[h, w] . K[i, j]
    for i in range(kh):
        for j in range(kw):
            full[:, i: i + (h - 1) * sh + 1: sh, j: j + (w - 1) * sw + 1: sw, :] += np.einsum(
                "nhwc,oc->nhwo", x, kernel[i, j])
    top = max(kh - sh, 0) // 2
    left = max(kw - sw, 0) // 2
    return full[:, top: top + h * sh, left: left + w * sw, :] + bias
