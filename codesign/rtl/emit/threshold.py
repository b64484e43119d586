"""Threshold layers (MultiThreshold): ``#{k : x >= thresholds[c, k]}`` per element, in an element-wise unit."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from codesign.rtl.emit.temp import bits_for
from codesign.rtl.emit.writer import lit, sval


def body(layer, xs, x_type, outs):
    """out = min_code + #{k : direction * x >= thresholds[c, k]}: for a row sorted ascending, an unrolled binary
    search (one comparison per count bit, against a constant selected by the bits found so far); otherwise a sum
    of comparators."""
    ot = layer.out_type
    thr, direction = np.asarray(layer.thresholds), np.asarray(layer.direction)
    lo_x, hi_x = x_type.min_code, x_type.max_code
    width = bits_for(lo_x, hi_x, -lo_x, int(thr.min()), int(thr.max())) + 1
    cnt_width = max(int(thr.shape[1]).bit_length() + 1, ot.width)
    t, cnt, c_reg = "t", "n", "c"
    C = thr.shape[0]
    lines = []
    searched = False
    for j, x in enumerate(xs):
        c = j % C
        neg = direction[c] < 0
        lo, hi = (-hi_x, -lo_x) if neg else (lo_x, hi_x)
        lines.append(f"{t} = {'-' if neg else ''}{sval(x, x_type)};")
        row = [int(v) for v in thr[c]]
        if all(a <= b for a, b in pairwise(row)):
            lines += _bisect(row, lo, hi, width, cnt_width, t, cnt, c_reg)
            searched = True
        else:
            always = sum(v <= lo for v in row)  # reached by every input code
            terms = [f"({t} >= {lit(v, width)})" for v in row if lo < v <= hi]
            base = f"{cnt_width}'d{always}"
            lines.append(f"{cnt} = {' + '.join([base] + terms)};")
        mn = ot.min_code & ((1 << ot.width) - 1)
        expr = f"{cnt}[{ot.width - 1}:0]" if mn == 0 else f"{cnt}[{ot.width - 1}:0] + {ot.width}'d{mn}"
        lines.append(f"{outs[j]} <= {expr};")
    temps = [(t, width, True), (cnt, cnt_width, False)]
    return lines, temps + ([(c_reg, width, True)] if searched else [])


def _bisect(row, lo, hi, width, cnt_width, t, cnt, c_reg) -> list[str]:
    """count = #{k : row[k] <= t} for a non-decreasing row, t in [lo, hi]: count >= m iff row[m-1] <= t, so
    the count's bits follow MSB first, each from one comparison with row[prefix | half - 1] (constants clamped to
    [lo, hi + 1]: always / never reached)."""
    L = len(row)
    m = max(L.bit_length(), 1)

    def const(count: int) -> str:  # the threshold that count >= `count` needs
        v = row[count - 1] if count <= L else hi + 1
        return lit(min(max(v, lo), hi + 1), width)

    out = [f"{cnt} = {cnt_width}'d0;"]
    for level in range(m):
        bit = m - 1 - level
        if level == 0:
            out.append(f"if ({t} >= {const(1 << bit)}) {cnt}[{bit}] = 1'b1;")
            continue
        sel = f"{cnt}[{m - 1}:{bit + 1}]" if level > 1 else f"{cnt}[{m - 1}]"
        cases = " ".join(f"{level}'d{p}: {c_reg} = {const((p << (bit + 1)) | (1 << bit))};"
                         for p in range(1 << level))
        out.append(f"case ({sel}) {cases} endcase")
        out.append(f"if ({t} >= {c_reg}) {cnt}[{bit}] = 1'b1;")
    return out
