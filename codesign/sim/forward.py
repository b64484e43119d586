"""Batched integer forward pass over QNet, bit-exact with hls4ml's io_parallel/latency C++ (and so with QKeras).

Each layer maps int64 codes of its input type to int64 codes of its output type, following hls4ml's
``dense_latency`` / ``conv_2d_latency_cl``: every product is assigned to ``accum_t``, the bias is cast to
``accum_t``, the sum accumulates in ``accum_t`` and the result is cast to ``res_t``. Fast paths (one BLAS matmul)
are taken only when they provably give the same integers.
"""

from __future__ import annotations

import numpy as np

from codesign.errors import CodesignError
from codesign.ir.fixed import FixedType, cast, quantize_float
from codesign.ir.qnet import Activation, BatchNorm, Conv2D, Dense, QNet, Reshape, Threshold
from codesign.ir.thresholds import apply_thresholds

_FLOAT_EXACT = 2**52  # every partial sum below this is exact in float64


def quantize_input(qnet: QNet, x: np.ndarray) -> np.ndarray:
    """Float inputs (batch first) -> input codes, as the hardware's input port receives them."""
    x = np.asarray(x)
    if tuple(x.shape[1:]) != tuple(qnet.input_shape):
        raise CodesignError(
            f"input shape {tuple(x.shape[1:])} does not match the model input {tuple(qnet.input_shape)}")
    return quantize_float(x.astype(np.float32), qnet.input_type)


def _matmul_exact(a: np.ndarray, b: np.ndarray, a_type: FixedType, b_type: FixedType) -> np.ndarray:
    """Integer a @ b, through float64 BLAS when the bound on every partial sum allows it."""
    amax = max(abs(a_type.min_code), a_type.max_code)
    bmax = max(abs(b_type.min_code), b_type.max_code)
    if amax * bmax * a.shape[-1] < _FLOAT_EXACT:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    if amax.bit_length() + bmax.bit_length() + int(a.shape[-1]).bit_length() > 63:
        raise CodesignError("accumulation would overflow int64; formats are too wide for the simulator")
    return a @ b


def _accumulate(x: np.ndarray, x_type: FixedType, w: np.ndarray, w_type: FixedType, b: np.ndarray,
                b_type: FixedType, acc_type: FixedType) -> np.ndarray:
    """acc = cast<accum>(bias) + sum_i cast<accum>(x_i * w_i), with accum's quantization and overflow rules.

    x: (rows, n_in) codes; w: (n_in, n_out); returns (rows, n_out) accum codes.
    """
    prod_frac = x_type.frac + w_type.frac
    bias_acc = cast(b, b_type.frac, acc_type)
    if acc_type.frac >= prod_frac and acc_type.overflow == "WRAP":
        # Products are exact in accum and wrapping is modular, so the order of additions does not matter.
        total = _matmul_exact(x, w, x_type, w_type) << (acc_type.frac - prod_frac)
        return acc_type.overflow_codes(total + bias_acc)
    # General case: quantize each product, saturate after every addition, in hls4ml's loop order.
    acc = np.broadcast_to(bias_acc, (x.shape[0], w.shape[1])).copy()
    for i in range(x.shape[1]):
        p = cast(x[:, i, None] * w[None, i, :], prod_frac, acc_type)
        acc = acc_type.overflow_codes(acc + p) if acc_type.overflow != "WRAP" else acc + p
    return acc_type.overflow_codes(acc)


def im2col(x: np.ndarray, kh: int, kw: int, strides: tuple, pads: tuple) -> np.ndarray:
    """(N, H, W, C) -> (N, OH, OW, kh*kw*C) patches in Keras kernel order (kh, kw, c), zero padded."""
    top, bottom, left, right = pads
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(1, 2))  # (N, H', W', C, kh, kw)
    win = win[:, :: strides[0], :: strides[1]]
    n, oh, ow, c = win.shape[:4]
    return win.transpose(0, 1, 2, 4, 5, 3).reshape(n, oh, ow, kh * kw * c)


def flat_rows(a: np.ndarray) -> np.ndarray:
    """(rows, everything else) view of a batch-first array; unlike ``reshape(n, -1)`` it also works for 0 rows."""
    return a.reshape(len(a), int(np.prod(a.shape[1:], dtype=np.int64)))


def layer_inputs(layer, x: np.ndarray) -> np.ndarray:
    """The 2-D operand of a weighted layer's matmul: (rows, n_in) for Dense, im2col patches for Conv2D."""
    if isinstance(layer, Conv2D):
        kh, kw = layer.kernel.shape[:2]
        cols = im2col(x, kh, kw, layer.strides, layer.pads)
        return cols.reshape(-1, cols.shape[-1])
    return flat_rows(x)


def accumulate(layer, x2d: np.ndarray, x_type: FixedType, params: dict | None = None) -> np.ndarray:
    """accum_t codes of a Dense/Conv2D layer for its 2-D operand (see :func:`layer_inputs`)."""
    params = params or {}
    k = layer.effective_kernel(params.get("kernel"))
    b = params.get("bias", layer.bias)
    return _accumulate(x2d, x_type, k.reshape(-1, k.shape[-1]), layer.kernel_type, b, layer.bias_type,
                       layer.accum_type)


def run_layer(layer, x: np.ndarray, x_type: FixedType, params: dict | None = None) -> np.ndarray:
    """One layer on a batch of codes; ``params`` overrides the layer's tensors (a faulty kernel, say)."""
    if isinstance(layer, Dense):  # Conv2D included
        acc = accumulate(layer, layer_inputs(layer, x), x_type, params)
        return cast(acc, layer.accum_type.frac, layer.out_type).reshape((x.shape[0],) + tuple(layer.out_shape))
    if isinstance(layer, Activation):
        if layer.function == "relu":
            x = np.where(x > 0, x, 0)
        y = cast(x, x_type.frac, layer.out_type)
        return y if layer.clip is None else np.where(y > layer.clip, 0, y)
    if isinstance(layer, BatchNorm):
        prod_frac = x_type.frac + layer.scale_type.frac
        frac = max(prod_frac, layer.bias_type.frac)
        y = (x * layer.scale) << (frac - prod_frac)
        y = y + (layer.bias.astype(np.int64) << (frac - layer.bias_type.frac))
        return cast(y, frac, layer.out_type)
    if isinstance(layer, Threshold):
        return apply_thresholds(layer, x)
    if isinstance(layer, Reshape):
        return x.reshape((x.shape[0],) + tuple(layer.out_shape))
    raise CodesignError(f"simulator has no rule for layer {layer.name} ({type(layer).__name__})")


def forward(qnet: QNet, codes: np.ndarray, start: int = 0, stop: int | None = None,
            overrides: dict | None = None, keep: bool = False):
    """Run layers ``start..stop-1`` on input codes of layer ``start``.

    ``overrides``: ``{layer_index: {tensor: codes}}`` (e.g. from :func:`codesign.ir.bitspace.apply_flips`).
    ``keep``: also return the list of every layer's output (for caching upstream activations).
    """
    stop = len(qnet.layers) if stop is None else stop
    overrides = overrides or {}
    outs = []
    x = codes
    for i in range(start, stop):
        x = run_layer(qnet.layers[i], x, qnet.in_type(i), overrides.get(i))
        if keep:
            outs.append(x)
    return (x, outs) if keep else x


def predict_codes(qnet: QNet, x: np.ndarray, batch: int = 8192, overrides: dict | None = None) -> np.ndarray:
    """Float inputs -> output codes, in batches to bound memory."""
    out = [forward(qnet, quantize_input(qnet, x[i: i + batch]), overrides=overrides)
           for i in range(0, len(x), batch)]
    if not out:
        return np.zeros((0,) + tuple(qnet.output_shape), dtype=np.int64)
    return np.concatenate(out)


def predict(qnet: QNet, x: np.ndarray, **kw) -> np.ndarray:
    """Float inputs -> float outputs (exact values of the output codes)."""
    return qnet.output_type.to_float(predict_codes(qnet, x, **kw))
