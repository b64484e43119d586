"""Fixed-point steps on a wide signed temporary: the exact ap_fixed quantization and overflow of
:mod:`codesign.ir.fixed`, as blocking Verilog assignments whose value range is tracked statically."""

from __future__ import annotations

from codesign.ir.fixed import FixedType
from codesign.rtl.emit.writer import lit


class Temp:
    """A signed temporary of width ``width`` holding a value with a statically known range [lo, hi]."""

    def __init__(self, name: str, width: int):
        self.name, self.width = name, width
        self.lo = self.hi = 0

    def set(self, expr: str, lo: int, hi: int) -> list[str]:
        self.lo, self.hi = lo, hi
        self._check()
        return [f"{self.name} = {expr};"]

    def _check(self):
        need = max(abs(self.lo), abs(self.hi) + 1).bit_length() + 1
        if need > self.width:
            raise AssertionError(f"temporary {self.name} too narrow: {need} > {self.width}")

    def shift_left(self, s: int) -> list[str]:
        if s <= 0:
            return []
        self.lo, self.hi = self.lo << s, self.hi << s
        self._check()
        return [f"{self.name} = {self.name} <<< {s};"]

    def round_shift(self, s: int, mode: str) -> list[str]:
        """Divide by 2**s with an ap_fixed quantization mode (codesign.ir.fixed._round_shift)."""
        if s <= 0:
            return []
        t, W = self.name, self.width
        assert s + 1 < W
        half = f"{t}[{s - 1}]"
        rest = f"(|{t}[{s - 2}:0])" if s >= 2 else "1'b0"
        neg = f"{t}[{W - 1}]"
        up = {
            "TRN": None,
            "TRN_ZERO": f"{neg} & (|{t}[{s - 1}:0])",
            "RND": half,
            "RND_ZERO": f"{half} & ({rest} | {neg})",
            "RND_INF": f"{half} & ({rest} | ~{neg})",
            "RND_MIN_INF": f"{half} & {rest}",
            "RND_CONV": f"{half} & ({rest} | {t}[{s}])",
        }[mode]
        self.lo, self.hi = self.lo >> s, (self.hi >> s) + (up is not None)
        if up is None:
            return [f"{t} = {t} >>> {s};"]
        return [f"{t} = ({t} >>> {s}) + $signed({{1'b0, {up}}});"]

    def overflow(self, ty: FixedType) -> list[str]:
        """Bring the value into ``ty``'s code range with its overflow mode (FixedType.overflow_codes)."""
        lo, hi = ty.min_code, ty.max_code
        if self.lo >= lo and self.hi <= hi:
            return []
        t, W, w = self.name, self.width, ty.width
        out = []
        if ty.overflow == "WRAP":
            fill = f"{{{W - w}{{{t}[{w - 1}]}}}}" if ty.signed else f"{{{W - w}{{1'b0}}}}"
            out.append(f"{t} = {{{fill}, {t}[{w - 1}:0]}};")
        elif ty.overflow in ("SAT", "SAT_SYM"):
            if ty.overflow == "SAT_SYM":
                lo = -hi if ty.signed else 0
            if self.hi > hi and self.lo < lo:
                out.append(f"if ({t} > {lit(hi, W)}) {t} = {lit(hi, W)}; "
                           f"else if ({t} < {lit(lo, W)}) {t} = {lit(lo, W)};")
            elif self.hi > hi:
                out.append(f"if ({t} > {lit(hi, W)}) {t} = {lit(hi, W)};")
            elif self.lo < lo:
                out.append(f"if ({t} < {lit(lo, W)}) {t} = {lit(lo, W)};")
        else:  # SAT_ZERO
            out.append(f"if ({t} > {lit(hi, W)} || {t} < {lit(lo, W)}) {t} = {lit(0, W)};")
        self.lo, self.hi = max(self.lo, lo), min(self.hi, hi)
        if ty.overflow in ("WRAP", "SAT_ZERO"):
            self.lo, self.hi = min(lo, 0), max(hi, 0)
        return out

    def cast(self, src_frac: int, dst: FixedType) -> list[str]:
        """codesign.ir.fixed.cast: align the binary point (rounding when dropping bits), then overflow."""
        shift = dst.frac - src_frac
        return (self.shift_left(shift) if shift >= 0 else self.round_shift(-shift, dst.rounding)) + self.overflow(dst)


def bits_for(*values: int) -> int:
    """Width of a signed temporary that holds every value in the span of ``values`` (and a rounding margin)."""
    m = max(max(abs(int(v)) for v in values), 1)
    return m.bit_length() + 2
