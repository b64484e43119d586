"""ap_fixed conversion rules checked against exact rational arithmetic (fractions), for every mode."""

import math
from fractions import Fraction

import numpy as np
import pytest

from codesign.errors import CodesignError
from codesign.ir.fixed import OVERFLOW, ROUNDING, FixedType, cast, quantize_float


def ref_quantize(v: Fraction, t: FixedType) -> int:
    """Textbook definition of ap_fixed quantization then overflow, on an exact rational."""
    scaled = v * (1 << t.frac)
    fl = math.floor(scaled)
    r = scaled - fl
    half = Fraction(1, 2)
    if t.rounding == "TRN":
        q = fl
    elif t.rounding == "TRN_ZERO":
        q = fl + 1 if (scaled < 0 and r != 0) else fl
    else:
        if r > half:
            q = fl + 1
        elif r < half:
            q = fl
        else:
            q = {"RND": fl + 1, "RND_ZERO": fl + 1 if scaled < 0 else fl, "RND_INF": fl + 1 if scaled >= 0 else fl,
                 "RND_MIN_INF": fl, "RND_CONV": fl + (fl % 2)}[t.rounding]
    lo, hi = t.min_code, t.max_code
    if t.overflow == "SAT_SYM" and t.signed:
        lo = -hi  # ap_fixed_base.h: with AP_SAT_SYM the bare sign-bit pattern (min) counts as underflow too
    if lo <= q <= hi:
        return q
    if t.overflow == "WRAP":
        return (q - t.min_code) % (1 << t.width) + t.min_code
    if t.overflow == "SAT":
        return max(lo, min(hi, q))
    if t.overflow == "SAT_SYM":
        return max(-hi if t.signed else 0, min(hi, q))
    return 0


@pytest.mark.parametrize("rounding", ROUNDING)
@pytest.mark.parametrize("overflow", OVERFLOW)
@pytest.mark.parametrize("signed", [True, False])
def test_cast_matches_exact_definition(rounding, overflow, signed):
    dst = FixedType(5, 2, signed, rounding, overflow)
    src_frac = 6
    codes = np.arange(-700, 700, dtype=np.int64)  # covers ties, overflow both ways
    got = cast(codes, src_frac, dst)
    want = [ref_quantize(Fraction(int(c), 1 << src_frac), dst) for c in codes]
    assert got.tolist() == want


@pytest.mark.parametrize("rounding", ROUNDING)
@pytest.mark.parametrize("overflow", OVERFLOW)
def test_quantize_float_matches_exact_definition(rounding, overflow):
    dst = FixedType(7, 3, True, rounding, overflow)
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-10, 10, 500), np.arange(-9, 9, 1 / 32)]).astype(np.float32)
    got = quantize_float(x, dst)
    want = [ref_quantize(Fraction(float(v)), dst) for v in x]
    assert got.tolist() == want


def test_cast_widening_is_exact_and_wrap_of_huge_floats():
    t = FixedType(8, 4)
    assert cast(np.array([3, -3]), 0, FixedType(12, 8)).tolist() == [3 * 16, -3 * 16]
    assert quantize_float(np.array([1e30, -1e30]), FixedType(8, 4, True, "TRN", "SAT")).tolist() == [127, -128]
    assert quantize_float(np.array([2.0 ** 70 + 0.0]), t).tolist() == [0]  # wraps like ap_fixed: low bits are zero


def test_parse_and_str_round_trip():
    for text in ("ap_fixed<11,4,AP_RND_CONV,AP_SAT>", "ap_ufixed<9,1,AP_RND_CONV,AP_SAT>", "ap_fixed<6,2>"):
        assert str(FixedType.parse(text)) == text
    assert FixedType.parse("fixed<16,6,TRN,WRAP,0>") == FixedType(16, 6)
    assert FixedType.parse("ap_int<8>") == FixedType(8, 8)
    with pytest.raises(CodesignError):
        FixedType.parse("float")
    with pytest.raises(CodesignError):
        FixedType(8, 4, True, "ROUND")


def test_nan_input_is_a_user_error():
    with pytest.raises(CodesignError, match="NaN"):
        quantize_float(np.array([np.nan]), FixedType(8, 4))
