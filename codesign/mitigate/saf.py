"""Saturated weight transforms (SAF paper: tanh / softsign / arctan applied to the weights) for fixed-point weights.

The kernel registers keep W-bit codes of the layer's kernel type; a lookup table between register and multiplier
turns a stored code s (value v) into the operand code ``Q(g(v))`` with ``g(v) = a f(v / a)``: slope 1 at 0 (small
weights pass unchanged) and saturation where the trained weights end. ``a`` is chosen per layer so that the largest
stored value maps onto the layer's largest trained weight magnitude m (``a f(V / a) = m``, V = the type's largest
value), so an upset that drives a stored word to the edge of the format yields at most about m instead of V.
``hardtanh`` is the limit of a sharp knee: the identity clamped to [-m, m] — lossless for the trained weights.

The stored codes are found post-training (no fine-tuning): for each trained operand code the stored code whose
table entry is nearest (ties: the smaller stored magnitude); the fault-free cost change this causes is measured by
the flow like any other. ``Q`` rounds to nearest and saturates in the kernel type.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from codesign.errors import CodesignError
from codesign.ir.qnet import Dense, QNet

FUNCTIONS = {
    "tanh": np.tanh,
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "arctan": np.arctan,
    "hardtanh": None,
}


def _scale(f, V: float, m: float) -> float:
    """a with a f(V / a) = m (a f(V/a) rises from 0 to V as a grows), by bisection on log a."""
    lo, hi = 1e-6, 1e6
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if mid * float(f(V / mid)) < m:
            lo = mid
        else:
            hi = mid
    return hi


def lut_for(layer: Dense, function: str) -> np.ndarray:
    """The operand code for every stored W-bit pattern of ``layer``'s kernel type."""
    if function not in FUNCTIONS:
        raise CodesignError(f"unknown saturating function {function!r}; choose one of {', '.join(FUNCTIONS)}")
    ty = layer.kernel_type
    W = ty.width
    patterns = np.arange(1 << W, dtype=np.int64)
    stored = patterns - ((patterns >> (W - 1)) << W) if ty.signed else patterns  # pattern -> signed code
    trained = np.asarray(layer.effective_kernel(), dtype=np.int64)
    m_code = int(np.max(np.abs(trained))) if trained.size else 0
    V_code = max(abs(ty.min_code), ty.max_code)
    if function == "hardtanh" or m_code == 0 or m_code >= V_code:
        lo = -m_code if ty.signed else 0
        return np.clip(stored, lo, m_code) if function == "hardtanh" or m_code == 0 else stored.copy()
    f = FUNCTIONS[function]
    a = _scale(f, float(V_code), float(m_code))
    out = np.rint(a * f(stored / a)).astype(np.int64)  # in code units: g commutes with the 2^-F scaling
    return np.clip(out, ty.min_code, ty.max_code)


def stored_codes(lut: np.ndarray, trained: np.ndarray, ty) -> np.ndarray:
    """For each trained operand code, the stored code whose table entry is nearest (ties: smallest |stored|)."""
    W = ty.width
    patterns = np.arange(1 << W, dtype=np.int64)
    stored = patterns - ((patterns >> (W - 1)) << W) if ty.signed else patterns
    order = np.argsort(np.abs(stored), kind="stable")
    cand_val, cand_code = lut[order], stored[order]
    uniq, inverse = np.unique(trained, return_inverse=True)
    best = np.abs(uniq[:, None] - cand_val[None, :]).argmin(axis=1)  # first minimum = smallest |stored| among ties
    return cand_code[best][inverse].reshape(trained.shape)


def with_saf(qnet: QNet, function: str, layers: list[str] | None = None) -> QNet:
    """A copy of ``qnet`` whose Dense/Conv2D kernels (all, or ``layers``) go through a saturating table."""
    dense = [l.name for l in qnet.layers if isinstance(l, Dense)]
    chosen = dense if layers is None else list(layers)
    unknown = sorted(set(chosen) - set(dense))
    if unknown:
        raise CodesignError(f"cannot apply a weight transform to {', '.join(unknown)}: only Dense/Conv2D layers "
                            f"({', '.join(dense)})")
    out = []
    for l in qnet.layers:
        if l.name in chosen:
            trained = l.effective_kernel()
            lut = lut_for(l, function)
            l = copy.copy(l)
            l.kernel = stored_codes(lut, trained, l.kernel_type)
            l.kernel_lut, l.saf = lut, function
        out.append(l)
    return QNet(qnet.name, qnet.input_shape, qnet.input_type, out, dict(qnet.meta))


def operand_error(base: QNet, transformed: QNet) -> dict:
    """Per layer: how many operand codes the transform could not reproduce, and the largest difference."""
    rows = {}
    for a, b in zip(base.layers, transformed.layers):
        if isinstance(b, Dense) and b.kernel_lut is not None:
            d = np.abs(b.effective_kernel() - a.effective_kernel())
            rows[b.name] = {"changed": int(np.count_nonzero(d)), "of": int(d.size), "max_codes": int(d.max(initial=0))}
    return rows
