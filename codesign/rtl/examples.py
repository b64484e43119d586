"""Small synthetic QNets that exercise every datapath rule of the RTL generator (no TensorFlow needed).

Used by the tests, ``make -C rtl_sim`` and bench/rtl.py: odd strides and paddings, narrow wrapping and saturating
accumulators, rounded products, every ap_fixed rounding and overflow mode, unsigned formats, thresholds with both
slope signs, a fixed-point batch-norm, a bias-free layer, and layer names that are not Verilog identifiers.
"""

from __future__ import annotations

import numpy as np

from codesign.ir.fixed import FixedType as F
from codesign.ir.qnet import Activation, BatchNorm, Conv2D, Dense, QNet, Reshape, Threshold


def _codes(rng, ty: F, shape) -> np.ndarray:
    return rng.integers(ty.min_code, ty.max_code + 1, size=shape, dtype=np.int64)


def conv_net(seed: int = 0) -> QNet:
    """conv (strides 2x1, asymmetric zero padding, wrapping accumulator) -> linear -> flatten -> dense (rounded
    products into a saturating accumulator) -> relu -> thresholds -> bias-free dense."""
    rng = np.random.default_rng(seed)
    x_t = F(7, 3, False, "RND_CONV", "SAT")
    k_t, b_t = F(5, 1), F(6, 2)
    conv = Conv2D("c 1/conv", F(10, 4, True, "RND_CONV", "SAT"), (3, 6, 3), kernel=_codes(rng, k_t, (3, 2, 2, 3)),
                  bias=_codes(rng, b_t, (3,)), kernel_type=k_t, bias_type=b_t, accum_type=F(14, 6, True, "TRN", "WRAP"),
                  strides=(2, 1), pads=(1, 1, 0, 1))
    lin = Activation("lin", F(8, 3, True, "TRN_ZERO", "SAT_SYM"), (3, 6, 3), function="linear")
    flat = Reshape("flatten", lin.out_type, (54,))
    d_t, db_t = F(5, 1), F(5, 3)
    d2 = Dense("d-2", F(9, 5, True, "RND_MIN_INF", "SAT_ZERO"), (5,), kernel=_codes(rng, d_t, (54, 5)),
               bias=_codes(rng, db_t, (5,)), kernel_type=d_t, bias_type=db_t,
               accum_type=F(12, 4, True, "RND_INF", "SAT"))
    relu = Activation("relu", F(6, 3, False, "RND", "WRAP"), (5,), function="relu")
    levels = 7
    thr = np.sort(rng.integers(-8, 72, size=(5, levels)), axis=1)
    direction = np.array([1, -1, 1, 1, -1], dtype=np.int64)
    th = Threshold("thr", F(3, 1, False, "TRN", "SAT"), (5,), thresholds=thr, direction=direction, bn="bn")
    o_t = F(4, 2)
    out = Dense("out", F(8, 4, True, "RND_ZERO", "WRAP"), (4,), kernel=_codes(rng, o_t, (5, 4)),
                bias=np.zeros(4, dtype=np.int64), kernel_type=o_t, bias_type=o_t, accum_type=F(12, 6), use_bias=False)
    return QNet(f"conv_net_{seed}", (5, 6, 2), x_t, [conv, lin, flat, d2, relu, th, out])


def mlp_net(seed: int = 0) -> QNet:
    """dense (signed input, exact accumulator) -> fixed-point batch-norm -> relu -> dense with a rounding bias cast."""
    rng = np.random.default_rng(seed)
    x_t = F(8, 2, True, "RND_CONV", "SAT")
    k_t, b_t = F(4, 1), F(4, 1)
    d1 = Dense("dense", F(16, 6), (6,), kernel=_codes(rng, k_t, (7, 6)), bias=_codes(rng, b_t, (6,)),
               kernel_type=k_t, bias_type=b_t, accum_type=F(16, 6))
    s_t, sb_t = F(6, 2), F(8, 3)
    bn = BatchNorm("bn", F(10, 4, True, "RND_CONV", "SAT"), (6,), scale=_codes(rng, s_t, (6,)),
                   bias=_codes(rng, sb_t, (6,)), scale_type=s_t, bias_type=sb_t)
    relu = Activation("act", F(7, 3, False, "RND_CONV", "SAT"), (6,), function="relu")
    k2, b2 = F(6, 2), F(10, 6)  # bias finer than the accumulator: its cast rounds (RND_CONV)
    d2 = Dense("module", F(12, 6, True, "TRN", "SAT"), (3,), kernel=_codes(rng, k2, (6, 3)),
               bias=_codes(rng, b2, (3,)), kernel_type=k2, bias_type=b2, accum_type=F(13, 8, True, "RND_CONV", "WRAP"))
    return QNet(f"mlp_net_{seed}", (7,), x_t, [d1, bn, relu, d2])


def random_inputs(qnet: QNet, n: int, seed: int = 0) -> np.ndarray:
    """Input codes spread over the whole input range (rounding ties and saturation happen often)."""
    return _codes(np.random.default_rng(seed), qnet.input_type, (n,) + tuple(qnet.input_shape))
