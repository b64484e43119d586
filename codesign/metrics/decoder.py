"""The float (off-chip) ECON-T decoder in numpy, row by row deterministic.

Campaigns recompute the cost only for the rows a fault changes; ΔC is bit-identical to a full re-evaluation only if
a row's cost does not depend on which other rows share its batch. TensorFlow's kernels change summation order with
the batch size, and BLAS takes other code paths for small or ragged matrices. So every layer here is one float64
matrix product (a Conv2DTranspose becomes its dense (in, out) matrix: each entry is one kernel tap, exact) run on
blocks of exactly ``BLOCK`` rows (zero padded): every row goes through the same BLAS call shape and kernel, whatever
else is in its block. It is also picklable and free of TensorFlow, so campaign workers never import it.
"""

from __future__ import annotations

import numpy as np

from codesign.errors import CodesignError

_ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
}


BLOCK = 64


class FloatDecoder:
    def __init__(self, ops: list[tuple]):
        # ops: ("matmul", W (in, out), bias (out,)) | ("act", name); inputs and outputs flattened per row
        self.ops = ops
        self.out_shape = None

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
                ops.append(("matmul", k, b))
            elif cls_name == "Conv2DTranspose":
                if cfg.get("padding") != "same" or cfg.get("data_format", "channels_last") != "channels_last":
                    raise CodesignError(f"decoder layer {layer.name}: only same-padded channels_last supported")
                k, b = (w.astype(np.float64) for w in layer.get_weights())
                in_shape = tuple(layer.input_shape[1:])
                ops.append(("matmul", _conv_transpose_matrix(k, in_shape, tuple(cfg["strides"])),
                            np.tile(b, int(np.prod(layer.output_shape[1:-1])))))
            elif cls_name == "Reshape":
                pass  # channels-last reshapes keep the flat row order
            elif cls_name == "Activation":
                act = cfg["activation"]
            else:
                raise CodesignError(f"decoder layer {layer.name} ({cls_name}) is not supported by the numpy decoder")
            if act not in _ACTIVATIONS:
                raise CodesignError(f"decoder layer {layer.name}: activation {act!r} not supported")
            if act != "linear":
                ops.append(("act", act))
        dec = cls(ops)
        dec.out_shape = tuple(model.output_shape[1:])
        return dec

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        n = len(x)
        padded = np.zeros((-(-n // BLOCK) * BLOCK, x.shape[1]))
        padded[:n] = x
        out = [self._block(padded[i: i + BLOCK]) for i in range(0, len(padded), BLOCK)]
        y = np.concatenate(out)[:n] if out else np.zeros((0, int(np.prod(self.out_shape or (0,)))))
        return y.reshape((n,) + tuple(self.out_shape)) if self.out_shape else y

    def _block(self, y: np.ndarray) -> np.ndarray:
        for op in self.ops:
            if op[0] == "matmul":
                y = y @ op[1] + op[2]
            else:
                y = _ACTIVATIONS[op[1]](y)
        return y


def _conv_transpose_matrix(kernel: np.ndarray, in_shape: tuple, strides: tuple) -> np.ndarray:
    """Dense (in, out) matrix of Keras Conv2DTranspose(padding='same'), kernel (kh, kw, out, in), channels last.

    Output pixel (h*s + i - top, w*s + j - left) receives x[h, w] . K[i, j]; an (input, output) pair meets at most
    one tap, so every entry is a single kernel value.
    """
    h, w, cin = in_shape
    kh, kw, cout, _ = kernel.shape
    sh, sw = strides
    oh, ow = h * sh, w * sw
    top, left = max(kh - sh, 0) // 2, max(kw - sw, 0) // 2
    mat = np.zeros((h, w, cin, oh, ow, cout))
    for y in range(h):
        for x in range(w):
            for i in range(kh):
                for j in range(kw):
                    oy, ox = y * sh + i - top, x * sw + j - left
                    if 0 <= oy < oh and 0 <= ox < ow:
                        mat[y, x, :, oy, ox, :] += kernel[i, j].T
    return mat.reshape(h * w * cin, oh * ow * cout)
