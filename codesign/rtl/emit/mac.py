"""Dense and Conv2D layers: one MAC unit per neuron (a sum of products, the bias, the accumulator and output casts),
behind SAF lookup tables when the layer has a kernel transform."""

from __future__ import annotations

from codesign.ir.qnet import Conv2D
from codesign.rtl.emit import saf
from codesign.rtl.emit.temp import Temp, bits_for
from codesign.rtl.emit.writer import port, sval, unit


def emit(dp, li, layer, xs, x_type, outs):
    """The stage of a dense/conv layer: SAF tables (wiring) when the layer has a kernel table, and its neurons."""
    wiring = saf.tables(dp, li, layer) if layer.kernel_lut is not None else []
    return wiring, _units(dp, li, layer, xs, x_type, outs)


def _units(dp, li, layer, xs, x_type, outs):
    """One unit per neuron; neurons with the same number of terms share one module (conv borders differ)."""
    k_words = dp.by_tensor[(li, "kernel")]
    b_words = dp.by_tensor.get((li, "bias"))
    n_out = layer.kernel.shape[-1]
    texts: dict[int, str] = {}
    units = []
    for o, terms in _terms(dp.qnet, layer):
        n = len(terms)
        if n not in texts:
            texts[n] = _unit_text(layer, x_type, n, b_words is not None)
        conns = [(f"x{i}", xs[j]) for i, (j, _) in enumerate(terms)]
        kw = "e" if layer.kernel_lut is not None else "wd"  # SAF: the table's output, not the register
        conns += [(f"k{i}", f"{kw}{k_words[kk].address}") for i, (_, kk) in enumerate(terms)]
        if b_words is not None:
            conns.append(("b", f"wd{b_words[o % n_out].address}"))
        conns.append(("y", outs[o]))
        units.append((texts[n], conns))
    return units


def _terms(qnet, layer):
    """Per output element: the list of (input index, kernel flat index) products, zero padding left out."""
    k = layer.kernel
    n_out = k.shape[-1]
    if not isinstance(layer, Conv2D):
        n_in = k.shape[0]
        for o in range(n_out):
            yield o, [(i, i * n_out + o) for i in range(n_in)]
        return
    kh, kw, cin, _ = k.shape
    H, Wd, C = qnet.in_shape(qnet.layers.index(layer))
    assert C == cin
    top, _, left, _ = layer.pads
    oh, ow, _ = layer.out_shape
    sh, sw = layer.strides
    for r in range(oh):
        for c in range(ow):
            for o in range(n_out):
                terms = []
                for a in range(kh):
                    h = r * sh + a - top
                    if not 0 <= h < H:
                        continue
                    for b in range(kw):
                        x = c * sw + b - left
                        if not 0 <= x < Wd:
                            continue
                        for ci in range(cin):
                            terms.append(((h * Wd + x) * C + ci, ((a * kw + b) * cin + ci) * n_out + o))
                yield (r * ow + c) * n_out + o, terms


def _unit_text(layer, x_type, n_terms, has_bias) -> str:
    """y = cast(sum_i x_i * k_i (+ b)), exactly as codesign.sim.forward evaluates a dense/conv output."""
    kt, bt, at, ot = layer.kernel_type, layer.bias_type, layer.accum_type, layer.out_type
    prod_frac = x_type.frac + kt.frac
    xmax = max(abs(x_type.min_code), x_type.max_code)
    kmax = max(abs(kt.min_code), kt.max_code)
    fast = at.frac >= prod_frac and at.overflow == "WRAP"
    sh = max(at.frac - prod_frac, 0)
    bmax = max(abs(bt.min_code), bt.max_code) << max(at.frac - bt.frac, 0)
    amax = max(abs(at.min_code), at.max_code)
    width = bits_for((max(n_terms, 1) * xmax * kmax) << sh, amax + bmax, amax << max(ot.frac - at.frac, 0),
                     xmax * kmax, 1 << (abs(prod_frac - at.frac) + 2), 1 << (abs(ot.frac - at.frac) + 2),
                     1 << (abs(bt.frac - at.frac) + 2)) + 1
    t, u = Temp("t", width), Temp("u", width)
    prods = [f"{sval(f'x{i}', x_type)} * {sval(f'k{i}', kt)}" for i in range(n_terms)]
    bias = []
    if has_bias:
        bias += u.set(sval("b", bt), bt.min_code, bt.max_code)
        bias += u.cast(bt.frac, at)
    body = []
    if fast:
        body += t.set(" + ".join(prods) or "0", -n_terms * xmax * kmax, n_terms * xmax * kmax)
        body += t.shift_left(sh)
        if bias:
            body += bias
            body += ["t = t + u;"]
            t.lo, t.hi = t.lo + u.lo, t.hi + u.hi
        body += t.overflow(at)
    else:
        # hls4ml's general order: each product cast to accum_t, saturation after every addition.
        if bias:
            body += bias
            body += ["t = u;"]
            t.lo, t.hi = u.lo, u.hi
        else:
            body += t.set("0", 0, 0)
        for p in prods:
            body += u.set(p, -xmax * kmax, xmax * kmax)
            body += u.cast(prod_frac, at)
            body += ["t = t + u;"]
            t.lo, t.hi = t.lo + u.lo, t.hi + u.hi
            if at.overflow != "WRAP":
                body += t.overflow(at)
        body += t.overflow(at)
    body += t.cast(at.frac, ot)
    body.append(f"y <= t[{ot.width - 1}:0];")
    ports = [port("input wire", f"x{i}", x_type.width, x_type.signed) for i in range(n_terms)]
    ports += [port("input wire", f"k{i}", kt.width, kt.signed) for i in range(n_terms)]
    if has_bias:
        ports.append(port("input wire", "b", bt.width, bt.signed))
    ports.append(port("output reg", "y", ot.width))
    comment = (f"{layer.kind} {layer.name!r} neuron: {n_terms} x ({x_type} * {kt})"
               + (f" + {bt}" if has_bias else "") + f", accumulator {at} -> {ot}")
    return unit(comment, ports, [("t", width, True), ("u", width, True)], body)
