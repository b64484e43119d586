"""Saturated weight transforms (SAF paper: tanh / softsign / arctan applied to the weights) for fixed-point weights.

The kernel registers keep W-bit codes of the layer's kernel type; a lookup table between register and multiplier
turns a stored code s (value v) into the operand code ``Q(g(v))`` with ``g(v) = a f(v / a)``: slope 1 at 0 (small
weights pass unchanged) and saturation where the trained weights end. ``a`` is chosen per layer so that the largest
stored value maps onto the layer's largest trained weight magnitude m (``a f(V / a) = m``, V = the type's largest
value), so an upset that drives a stored word to the edge of the format yields at most about m instead of V.
``hardtanh`` is the limit of a sharp knee: the identity clamped to [-m, m] — lossless for the trained weights.

``level`` (0 < level <= 1) puts the edge at ``level`` x V instead: a harder saturation, lossy for larger trained
weights unless the network is fine-tuned with the tables (:mod:`codesign.mitigate.saf_train`).

Without fine-tuning the stored codes are found post-training: for each trained operand code the stored code whose
table entry is nearest (ties: the smaller stored magnitude); the fault-free cost change this causes is measured by
the flow like any other. After fine-tuning the network's own codes are stored (``stored=True``). ``Q`` rounds to
nearest and saturates in the kernel type.

Design-file form (:func:`parse_spec`): ``saf: tanh`` or ``saf: {function: tanh, layers: [...], level: 0.5,
train: {epochs: 10, learning_rate: 0.001}}`` (``train: {}`` fine-tunes with the defaults).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class SafSpec:
    function: str
    layers: tuple[str, ...] | None = None
    level: float | None = None  # table edge as a fraction of the format's largest code (None: the trained maximum)
    train: dict | None = field(default=None, hash=False)  # fine-tuning options ({} = defaults); None: post-training

    @property
    def label(self) -> str:
        """Variant name part: ``tanh``, ``tanh-l0.5``, ``tanh-ft``, ``tanh-l0.5-ft``."""
        return self.function + (f"-l{self.level:g}" if self.level is not None else "") + (
            "-ft" if self.train is not None else "")


_TRAIN_KEYS = {"epochs", "learning_rate"}


def parse_spec(raw, origin: str) -> SafSpec:
    """A ``saf:`` setting: a function name or ``{function, layers, level, train}``; one-line error otherwise."""
    usage = (f"{origin}: saf must be one of {', '.join(FUNCTIONS)} or {{function: NAME, layers: [LAYER, ...], "
             "level: 0<L<=1, train: {epochs: N, learning_rate: R}}")
    if isinstance(raw, str):
        raw = {"function": raw}
    if not isinstance(raw, dict) or set(raw) - {"function", "layers", "level", "train"} or \
            raw.get("function") not in FUNCTIONS:
        raise CodesignError(usage)
    layers, level, train = raw.get("layers"), raw.get("level"), raw.get("train")
    if layers is not None and (not isinstance(layers, list) or not all(isinstance(l, str) for l in layers)):
        raise CodesignError(usage)
    if level is not None and (isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level <= 1):
        raise CodesignError(f"{origin}: saf.level must be a number in (0, 1], got {level!r}")
    if train is not None:
        if not isinstance(train, dict) or set(train) - _TRAIN_KEYS:
            raise CodesignError(f"{origin}: saf.train must be a mapping with keys {', '.join(sorted(_TRAIN_KEYS))}")
        ep, lr = train.get("epochs", 1), train.get("learning_rate", 1e-3)
        if isinstance(ep, bool) or not isinstance(ep, int) or ep < 1:
            raise CodesignError(f"{origin}: saf.train.epochs must be an integer >= 1, got {ep!r}")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < 1:
            raise CodesignError(f"{origin}: saf.train.learning_rate must be in (0, 1), got {lr!r}")
    return SafSpec(raw["function"], None if layers is None else tuple(layers),
                   None if level is None else float(level), None if train is None else dict(train))


def edges(qnet: QNet, layers, level: float | None) -> dict[str, int]:
    """The table edge m (a code) of every chosen layer: ``level`` x the format's largest code, or the largest
    trained |operand code|."""
    out = {}
    for l in qnet.layers:
        if l.name in layers:
            ty = l.kernel_type
            if level is not None:
                out[l.name] = max(1, int(round(level * max(abs(ty.min_code), ty.max_code))))
            else:
                trained = np.asarray(l.effective_kernel(), dtype=np.int64)
                out[l.name] = int(np.max(np.abs(trained))) if trained.size else 0
    return out


def transform_scale(ty, function: str, m_code: int) -> float | None:
    """``a`` (in codes) of ``g(v) = a f(v / a)`` with ``g(V) = m``; None when the table is a clamp or the identity."""
    V_code = max(abs(ty.min_code), ty.max_code)
    if function == "hardtanh" or m_code == 0 or m_code >= V_code:
        return None
    return _scale(FUNCTIONS[function], float(V_code), float(m_code))


def lut_for(layer: Dense, function: str, m_code: int | None = None) -> np.ndarray:
    """The operand code for every stored W-bit pattern of ``layer``'s kernel type (edge ``m_code``; default: the
    largest trained |code|)."""
    if function not in FUNCTIONS:
        raise CodesignError(f"unknown saturating function {function!r}; choose one of {', '.join(FUNCTIONS)}")
    ty = layer.kernel_type
    W = ty.width
    patterns = np.arange(1 << W, dtype=np.int64)
    stored = patterns - ((patterns >> (W - 1)) << W) if ty.signed else patterns  # pattern -> signed code
    if m_code is None:
        trained = np.asarray(layer.effective_kernel(), dtype=np.int64)
        m_code = int(np.max(np.abs(trained))) if trained.size else 0
    a = transform_scale(ty, function, m_code)
    if a is None:
        lo = -m_code if ty.signed else 0
        return np.clip(stored, lo, m_code) if function == "hardtanh" or m_code == 0 else stored.copy()
    out = np.rint(a * FUNCTIONS[function](stored / a)).astype(np.int64)  # in code units: g commutes with 2^-F
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


def chosen_layers(qnet: QNet, layers) -> list[str]:
    """Names of the Dense/Conv2D layers a transform applies to (all, or ``layers``); one-line error otherwise."""
    dense = [l.name for l in qnet.layers if isinstance(l, Dense)]
    chosen = dense if layers is None else list(layers)
    unknown = sorted(set(chosen) - set(dense))
    if unknown:
        raise CodesignError(f"cannot apply a weight transform to {', '.join(unknown)}: only Dense/Conv2D layers "
                            f"({', '.join(dense)})")
    return chosen


def with_saf(qnet: QNet, function: str, layers: list[str] | None = None, level: float | None = None,
             m: dict[str, int] | None = None, stored: bool = False) -> QNet:
    """A copy of ``qnet`` whose Dense/Conv2D kernels (all, or ``layers``) go through a saturating table with edges
    ``m`` (default: :func:`edges` at ``level``). ``stored``: the kernels already hold the stored codes (a network
    fine-tuned with these tables); otherwise each trained code is replaced by the nearest table entry's."""
    chosen = chosen_layers(qnet, layers)
    m = edges(qnet, chosen, level) if m is None else m
    out = []
    for l in qnet.layers:
        if l.name in chosen:
            trained = l.effective_kernel()
            lut = lut_for(l, function, int(m[l.name]))
            l = copy.copy(l)
            if not stored:
                l.kernel = stored_codes(lut, trained, l.kernel_type)
            l.kernel_lut, l.saf = lut, function
        out.append(l)
    return qnet.with_layers(out)


def with_spec(qnet: QNet, spec: SafSpec, m: dict[str, int] | None = None) -> QNet:
    """``qnet`` with ``spec``'s tables: built post-training, or (``spec.train``) behind the stored codes of the
    network fine-tuned with edges ``m``."""
    trained = spec.train is not None
    return with_saf(qnet, spec.function, spec.layers, spec.level, m if trained else None, stored=trained)


def operand_error(base: QNet, transformed: QNet) -> dict:
    """Per layer: how many operand codes the transform could not reproduce, and the largest difference."""
    rows = {}
    for a, b in zip(base.layers, transformed.layers):
        if isinstance(b, Dense) and b.kernel_lut is not None:
            d = np.abs(b.effective_kernel() - a.effective_kernel())
            rows[b.name] = {"changed": int(np.count_nonzero(d)), "of": int(d.size), "max_codes": int(d.max(initial=0))}
    return rows
