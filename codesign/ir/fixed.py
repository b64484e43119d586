"""Fixed-point formats and the ap_fixed conversion rules, on integer codes.

A value is held as an int64 *code* c with value c * 2**-frac. Every conversion in the network (input quantization,
product -> accumulator, accumulator -> result) goes through :func:`cast` or :func:`quantize_float`, which follow
the Xilinx ap_fixed quantization (AP_TRN, AP_RND_CONV, ...) and overflow (AP_WRAP, AP_SAT, ...) modes, so the
simulator computes exactly what hls4ml C-sim and the generated RTL compute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from codesign.errors import CodesignError

ROUNDING = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")

# int64 codes must not overflow in products and sums; formats wider than this are refused.
MAX_WIDTH = 62


@dataclass(frozen=True)
class FixedType:
    """``ap_fixed<width, integer, rounding, overflow>`` (``ap_ufixed`` when not signed); integer includes the sign."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self):
        if not 1 <= self.width <= MAX_WIDTH:
            raise CodesignError(f"fixed-point width {self.width} outside 1..{MAX_WIDTH}")
        if self.rounding not in ROUNDING:
            raise CodesignError(f"unknown rounding mode {self.rounding!r}")
        if self.overflow not in OVERFLOW:
            raise CodesignError(f"unknown overflow mode {self.overflow!r}")

    @property
    def frac(self) -> int:
        return self.width - self.integer

    @property
    def min_code(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def __str__(self) -> str:
        base = "ap_fixed" if self.signed else "ap_ufixed"
        if self.rounding == "TRN" and self.overflow == "WRAP":
            return f"{base}<{self.width},{self.integer}>"
        return f"{base}<{self.width},{self.integer},AP_{self.rounding},AP_{self.overflow}>"

    def to_dict(self) -> dict:
        return {"width": self.width, "integer": self.integer, "signed": self.signed,
                "rounding": self.rounding, "overflow": self.overflow}

    @classmethod
    def from_dict(cls, d: dict) -> "FixedType":
        return cls(int(d["width"]), int(d["integer"]), bool(d["signed"]), d["rounding"], d["overflow"])

    @classmethod
    def parse(cls, text: str) -> "FixedType":
        """Parse ``ap_fixed<W,I[,Q[,O[,N]]]>``, ``ap_ufixed<...>``, hls4ml's ``fixed<...>``/``ufixed<...>``, ``ap_int<W>``."""
        t = text.replace(" ", "")
        m = re.fullmatch(r"(?:ap_)?(u?)(fixed|int)<([^>]*)>", t)
        if not m:
            raise CodesignError(f"cannot parse fixed-point type {text!r} (expected ap_fixed<W,I,...>)")
        unsigned, kind, args = m.group(1) == "u", m.group(2), m.group(3).split(",")
        try:
            width = int(args[0])
            integer = width if kind == "int" else int(args[1])
        except (ValueError, IndexError):
            raise CodesignError(f"cannot parse fixed-point type {text!r}") from None
        extra = args[1:] if kind == "int" else args[2:]
        rnd = extra[0].replace("AP_", "") if len(extra) > 0 else "TRN"
        ovf = extra[1].replace("AP_", "") if len(extra) > 1 else "WRAP"
        if len(extra) > 2 and int(extra[2]) != 0:
            raise CodesignError(f"saturation bits N>0 are not supported: {text!r}")
        return cls(width, integer, not unsigned, rnd, ovf)

    @classmethod
    def from_hls4ml(cls, precision) -> "FixedType":
        """From an hls4ml FixedPrecisionType / IntegerPrecisionType."""
        from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

        name = type(precision).__name__
        if isinstance(precision, IntegerPrecisionType):
            return cls(precision.width, precision.width, bool(precision.signed))
        if not isinstance(precision, FixedPrecisionType):
            raise CodesignError(f"hls4ml precision {precision} ({name}) is not a fixed-point type")
        if precision.saturation_bits:
            raise CodesignError(f"saturation bits N>0 are not supported: {precision}")
        return cls(int(precision.width), int(precision.integer), bool(precision.signed),
                   str(precision.rounding_mode), str(precision.saturation_mode))

    # --- conversions -------------------------------------------------------------------------------------------

    def overflow_codes(self, q: np.ndarray) -> np.ndarray:
        """Apply this type's overflow mode to already-quantized integer codes (int64)."""
        lo, hi = self.min_code, self.max_code
        if self.overflow == "WRAP":
            span = 1 << self.width
            return ((q - lo) & (span - 1)) + lo
        if self.overflow == "SAT":
            return np.clip(q, lo, hi)
        if self.overflow == "SAT_SYM":
            return np.clip(q, -hi if self.signed else 0, hi)
        return np.where((q < lo) | (q > hi), 0, q)  # SAT_ZERO

    def to_float(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(codes, dtype=np.float64) * 2.0 ** -self.frac

    def contains(self, codes: np.ndarray) -> bool:
        codes = np.asarray(codes)
        return bool(codes.size == 0 or (codes.min() >= self.min_code and codes.max() <= self.max_code))


def _round_shift(c: np.ndarray, s: int, mode: str) -> np.ndarray:
    """Divide int64 codes by 2**s (s > 0) with an ap_fixed quantization mode."""
    q = c >> s  # floor
    if mode == "TRN":
        return q
    r = c - (q << s)
    if mode == "TRN_ZERO":
        return q + ((c < 0) & (r != 0))
    half = 1 << (s - 1)
    up = r > half
    tie = r == half
    if mode == "RND":
        up = up | tie
    elif mode == "RND_ZERO":
        up = up | (tie & (c < 0))
    elif mode == "RND_INF":
        up = up | (tie & (c >= 0))
    elif mode == "RND_CONV":
        up = up | (tie & ((q & 1) == 1))
    # RND_MIN_INF: ties stay at floor
    return q + up


def cast(codes: np.ndarray, src_frac: int, dst: FixedType) -> np.ndarray:
    """Convert int64 codes with ``src_frac`` fractional bits to ``dst`` (the C++ assignment ``dst_t y = x``)."""
    codes = np.asarray(codes, dtype=np.int64)
    shift = dst.frac - src_frac
    if shift >= 0:
        q = codes << shift
    else:
        q = _round_shift(codes, -shift, dst.rounding)
    return dst.overflow_codes(q)


def quantize_float(x: np.ndarray, dst: FixedType) -> np.ndarray:
    """Convert floats to codes of ``dst`` as ap_fixed's constructor from double does (exact, then Q and O modes)."""
    v = np.asarray(x, dtype=np.float64) * 2.0 ** dst.frac
    if not np.all(np.isfinite(v)):
        raise CodesignError("input contains NaN or infinity")
    fl = np.floor(v)
    r = v - fl  # exact for doubles
    mode = dst.rounding
    if mode == "TRN":
        q = fl
    elif mode == "TRN_ZERO":
        q = np.where((v < 0) & (r != 0), fl + 1, fl)
    else:
        up = r > 0.5
        tie = r == 0.5
        if mode == "RND":
            up |= tie
        elif mode == "RND_ZERO":
            up |= tie & (v < 0)
        elif mode == "RND_INF":
            up |= tie & (v >= 0)
        elif mode == "RND_CONV":
            up |= tie & (np.mod(fl, 2) == 1)
        q = fl + up
    if dst.overflow == "WRAP":
        q = np.mod(q, float(1 << dst.width))  # exact on float64 integers; keeps huge values out of int64 overflow
    else:
        bound = float(1 << MAX_WIDTH)
        q = np.clip(q, -bound, bound)  # saturating modes only need the sign of a huge value
    return dst.overflow_codes(q.astype(np.int64))
