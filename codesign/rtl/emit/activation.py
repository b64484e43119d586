"""Activation layers (relu, linear), with the clipped ReLU of :mod:`codesign.mitigate.clip`: an element-wise unit."""

from __future__ import annotations

from codesign.errors import CodesignError
from codesign.rtl.emit.temp import Temp, bits_for
from codesign.rtl.emit.writer import lit, sval


def body(layer, xs, x_type, outs):
    ot = layer.out_type
    width = bits_for(x_type.min_code, x_type.max_code, x_type.max_code << max(ot.frac - x_type.frac, 0),
                     1 << (abs(ot.frac - x_type.frac) + 2)) + 1
    t = Temp("t", width)
    lines = []
    for j, x in enumerate(xs):
        lines += t.set(sval(x, x_type), x_type.min_code, x_type.max_code)
        if layer.function == "relu" and t.lo < 0:
            lines.append(f"if ({t.name}[{width - 1}]) {t.name} = {width}'sd0;")
            t.lo, t.hi = 0, max(t.hi, 0)
        elif layer.function not in ("relu", "linear"):
            raise CodesignError(f"the RTL generator supports relu and linear activations, not {layer.function!r}")
        lines += t.cast(x_type.frac, ot)
        if layer.clip is not None and layer.clip < t.hi:  # CReLU: a code above the threshold becomes 0
            lines.append(f"if ({t.name} > {lit(int(layer.clip), width)}) {t.name} = {width}'sd0;")
        lines.append(f"{outs[j]} <= {t.name}[{ot.width - 1}:0];")
    return lines, [(t.name, width, True)]
