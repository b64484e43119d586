"""Fixed-point batch-norm layers (a per-channel scale and bias): an element-wise unit."""

from __future__ import annotations

import numpy as np

from codesign.rtl.emit.temp import Temp, bits_for
from codesign.rtl.emit.writer import lit, sval


def body(layer, xs, x_type, outs):
    ot, st, btp = layer.out_type, layer.scale_type, layer.bias_type
    prod_frac = x_type.frac + st.frac
    frac = max(prod_frac, btp.frac)
    scale = np.asarray(layer.scale, dtype=np.int64).reshape(-1)
    bias = np.asarray(layer.bias, dtype=np.int64).reshape(-1)
    xmax = max(abs(x_type.min_code), x_type.max_code)
    smax = int(np.abs(scale).max(initial=0))
    bmax = int(np.abs(bias).max(initial=0)) << (frac - btp.frac)
    width = bits_for(((xmax * smax) << (frac - prod_frac)) + bmax, 1 << (abs(ot.frac - frac) + 2),
                     ot.max_code << max(ot.frac - frac, 0)) + 1
    t = Temp("t", width)
    C = len(scale)
    lines = []
    for j, x in enumerate(xs):
        c = j % C
        s, b = int(scale[c]), int(bias[c]) << (frac - btp.frac)
        lo, hi = sorted((x_type.min_code * s, x_type.max_code * s))
        lines += t.set(f"{sval(x, x_type)} * {lit(s, width)}", lo, hi)
        lines += t.shift_left(frac - prod_frac)
        if b:
            lines.append(f"{t.name} = {t.name} + {lit(b, width)};")
            t.lo, t.hi = t.lo + b, t.hi + b
        lines += t.cast(frac, ot)
        lines.append(f"{outs[j]} <= {t.name}[{ot.width - 1}:0];")
    return lines, [(t.name, width, True)]
