"""Verilog-2001 of a QNet: weight register files with a load port and a fully parallel, pipelined datapath.

Interface of the generated top module (see also the header written into the file):

- ``clk``; ``rst`` synchronous, active high: clears the valid pipeline only (weights survive a reset);
- ``load_we``, ``load_addr``, ``load_data``: one weight word per cycle. The address space is BitSpace's word order
  (layers in network order, kernel then bias, Keras C-order elements), so the word holding BitSpace bit ``b`` is at
  address ``#words of the segments before b's + element``. ``load_data[W-1:0]`` carries the word's two's-complement
  code (W = that tensor's width); upper bits are ignored;
- ``in_valid``, ``in_data``: flat input element ``j`` (C order of the input shape) at
  ``in_data[(j+1)*Win-1 : j*Win]`` as its code's bit pattern; same packing for ``out_data``, and ``out_valid``;
- ``tmr_err``: some TMR replica disagrees with its siblings (always 0 without a plan).

Latency: one register stage per layer that computes (dense, conv2d, activation, threshold, batchnorm); reshapes are
wiring. ``out_valid`` follows ``in_valid`` by exactly ``latency`` cycles; one input per cycle is accepted.

Structure: ``<top>.v`` holds the weight registers (TMR replicas and voters included, see
:mod:`codesign.rtl.names`), their load logic and one instance ``u_datapath`` of ``<top>_datapath``, written to
``<top>_datapath.v``. The datapath's text does not depend on the protection plan (it receives every weight word as
its own port ``wd<a>``, a = load address), so its synthesis can be cached by the file's sha256 and an equivalence
proof can treat it as a black box (:mod:`codesign.rtl.equiv`). Inside, every computing layer is one register stage
made of unit modules: one per neuron of a dense/conv layer (neurons with the same term count share one module:
all of a dense layer, the interior and each border shape of a conv layer) and one per element-wise layer. Each
unit is an ``always @(posedge clk) if (en)`` block, so Yosys synthesizes each distinct unit once and Icarus
evaluates a unit once per valid input. Ports carry single elements and single words: a concatenated bus would be
rebuilt by Icarus on every change of any part of it.

Arithmetic: every unit evaluates in a wide signed temporary (no overflow possible) and applies the exact
ap_fixed quantization and overflow steps of :mod:`codesign.ir.fixed` in the order of :mod:`codesign.sim.forward`.
Threshold layers count ``#{k : x >= thresholds[c, k]}`` by an unrolled binary search over the sorted row (one
comparison per output bit).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError
from codesign.ir.fixed import FixedType
from codesign.ir.qnet import Activation, BatchNorm, Conv2D, Dense, Reshape, Threshold
from codesign.protect.plan import bits_sha256
from codesign.rtl.build import RtlBuild
from codesign.workspace import atomic_dir
from codesign.rtl.names import Word, layer_idents, module_name, words

RTL_SIM = Path(__file__).resolve().parents[2] / "rtl_sim"
VOTER = "tmr_vote.v"
REPLICA = "tmr_ff.v"
PRIMITIVES = (VOTER, REPLICA)
REGFILE_WORDS = 256  # addresses per register-file always block


def primitive_sources() -> list[Path]:
    paths = [RTL_SIM / p for p in PRIMITIVES]
    if not all(p.is_file() for p in paths):
        raise CodesignError(f"RTL primitives not found at {RTL_SIM} (rtl_sim/ must sit next to the codesign package)")
    return paths


# --- fixed-point steps on a wide signed temporary --------------------------------------------------------------------


def _lit(v: int, width: int) -> str:
    return f"{width}'sd{v}" if v >= 0 else f"-{width}'sd{-v}"


def _sval(name: str, ty: FixedType) -> str:
    """A signal's code as a signed expression (unsigned formats get a zero sign bit)."""
    return name if ty.signed else f"$signed({{1'b0,{name}}})"


class _Temp:
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
                out.append(f"if ({t} > {_lit(hi, W)}) {t} = {_lit(hi, W)}; "
                           f"else if ({t} < {_lit(lo, W)}) {t} = {_lit(lo, W)};")
            elif self.hi > hi:
                out.append(f"if ({t} > {_lit(hi, W)}) {t} = {_lit(hi, W)};")
            elif self.lo < lo:
                out.append(f"if ({t} < {_lit(lo, W)}) {t} = {_lit(lo, W)};")
        else:  # SAT_ZERO
            out.append(f"if ({t} > {_lit(hi, W)} || {t} < {_lit(lo, W)}) {t} = {_lit(0, W)};")
        self.lo, self.hi = max(self.lo, lo), min(self.hi, hi)
        if ty.overflow in ("WRAP", "SAT_ZERO"):
            self.lo, self.hi = min(lo, 0), max(hi, 0)
        return out

    def cast(self, src_frac: int, dst: FixedType) -> list[str]:
        """codesign.ir.fixed.cast: align the binary point (rounding when dropping bits), then overflow."""
        shift = dst.frac - src_frac
        return (self.shift_left(shift) if shift >= 0 else self.round_shift(-shift, dst.rounding)) + self.overflow(dst)


def _bits_for(*values: int) -> int:
    """Width of a signed temporary that holds every value in the span of ``values`` (and a rounding margin)."""
    m = max(max(abs(int(v)) for v in values), 1)
    return m.bit_length() + 2


# --- the generator -------------------------------------------------------------------------------------------------


class _Writer:
    def __init__(self, f):
        self.f = f

    def __call__(self, line: str = "", indent: int = 0):
        self.f.write("  " * indent + line + "\n")


def _decl(kind: str, name: str, ty_width: int, signed: bool) -> str:
    rng = f" [{ty_width - 1}:0]" if ty_width > 1 else ""
    return f"{kind}{' signed' if signed else ''}{rng} {name};"


def _port(direction: str, name: str, width: int, signed: bool = False) -> str:
    rng = f" [{width - 1}:0]" if width > 1 else ""
    return f"{direction}{' signed' if signed else ''}{rng} {name}"


_NAME = "@MODULE@"  # placeholder for a unit module's name while its text is deduplicated


def _unit(comment: str, ports: list[str], temps, body: list[str]) -> str:
    """Text of a registered unit module: ``always @(posedge clk) if (en)`` evaluates ``body`` (blocking temporaries,
    non-blocking output registers)."""
    lines = [f"// {comment}", f"module {_NAME} (", "  input wire clk,", "  input wire en,"]
    lines += [f"  {p}," for p in ports[:-1]] + [f"  {ports[-1]}", ");"]
    lines += ["  " + _decl("reg", name, width, signed) for name, width, signed in temps]
    lines += ["  always @(posedge clk) begin", "    if (en) begin"]
    lines += ["      " + line for line in body]
    lines += ["    end", "  end", "endmodule", ""]
    return "\n".join(lines)


def _instance(module: str, name: str, conns: list[tuple[str, str]], per_line: int = 8) -> list[str]:
    parts = [f".{p}({s})" for p, s in conns]
    rows = [", ".join(parts[i:i + per_line]) for i in range(0, len(parts), per_line)]
    return [f"{module} {name} ("] + [f"  {r}," for r in rows[:-1]] + [f"  {rows[-1]}", ");"]


class _Gen:
    def __init__(self, qnet, word_list: list[Word]):
        self.qnet = qnet
        self.words = word_list
        self.top = module_name(qnet.name)
        self.dp = f"{self.top}_datapath"
        self.by_tensor: dict[tuple[int, str], list[Word]] = {}
        for wd in word_list:
            self.by_tensor.setdefault((wd.layer_index, wd.tensor), []).append(wd)
        self.n_words = len(word_list)
        self.addr_width = max(1, int(self.n_words - 1).bit_length())
        self.data_width = max([wd.type.width for wd in word_list], default=1)
        self.in_width = qnet.input_type.width
        self.n_in = int(np.prod(qnet.input_shape, dtype=np.int64))
        self.n_out = int(np.prod(qnet.output_shape, dtype=np.int64))
        self.out_width = qnet.output_type.width
        self.latency = sum(not isinstance(l, Reshape) for l in qnet.layers)
        self.modules: dict[str, str] = {}  # unit text (with _NAME) -> module name, in order of first use
        self.word_modules: dict[str, str] = {}  # split-word module name -> text
        self.instances = 0

    # -- top: header, ports, weights, the datapath instance --

    def write(self, top_path: Path, dp_path: Path) -> str:
        """Write the top module and the datapath file; returns the datapath text."""
        dp_text = self.datapath_text()
        dp_path.write_text(dp_text)
        with open(top_path, "w") as f:
            w = _Writer(f)
            self._header(w, dp_path.name)
            self._weights(w)
            conns = [("clk", "clk"), ("rst", "rst"), ("in_valid", "in_valid"), ("in_data", "in_data")]
            conns += [(f"wd{wd.address}", wd.name) for wd in self.words]
            conns += [("out_valid", "out_valid"), ("out_data", "out_data")]
            for line in _instance(self.dp, "u_datapath", conns, per_line=4):
                w(line, 1)
            w("endmodule")
            for text in self.word_modules.values():
                f.write("\n" + text)
        return dp_text

    def _header(self, w, dp_file: str):
        q = self.qnet
        w(f"// {self.top}: generated by codesign from QNet {q.name!r} (fingerprint {q.fingerprint()[:16]}).")
        w(f"// Latency {self.latency} cycles (one register stage per computing layer); one input per cycle.")
        w(f"// Weight load: load_addr = word index in BitSpace order ({self.n_words} words), "
          "load_data[W-1:0] = the word's code.")
        w(f"// in_data: {self.n_in} x {q.input_type} codes, element j at [(j+1)*{self.in_width}-1 : j*{self.in_width}]"
          f"; out_data: {self.n_out} x {q.output_type}, same packing.")
        w("// Weight register w_<layer>_<tensor>_<element>: Verilog bit i = BitSpace bit position W-1-i (0 = MSB).")
        w(f"// Datapath: module {self.dp} ({dp_file}, the same text for every protection plan), "
          "port wd<a> = the word at load address a.")
        w("`timescale 1ns/1ps")
        w(f"module {self.top} (")
        w("input wire clk,", 1)
        w("input wire rst,", 1)
        w("input wire load_we,", 1)
        w(f"input wire [{self.addr_width - 1}:0] load_addr,", 1)
        w(f"input wire [{self.data_width - 1}:0] load_data,", 1)
        w("input wire in_valid,", 1)
        w(f"input wire [{self.n_in * self.in_width - 1}:0] in_data,", 1)
        w("output wire out_valid,", 1)
        w(f"output wire [{self.n_out * self.out_width - 1}:0] out_data,", 1)
        w("output wire tmr_err", 1)
        w(");")
        w(f"localparam LATENCY = {self.latency};", 1)

    def _weights(self, w):
        errs = []
        for wd in self.words:
            W, signed = wd.type.width, wd.type.signed
            if not wd.split:
                w(_decl("reg", wd.name, W, signed), 1)
                continue
            we = f"{wd.name}_we"
            w(f"wire {we} = load_we && load_addr == {self.addr_width}'d{wd.address};", 1)
            w(_decl("wire", wd.name, W, signed), 1)
            w(f"wire {wd.name}_err;", 1)
            w(f"{self._word_module(W, wd.protected)} {wd.name}_tmr (.clk(clk), .en({we}), .d(load_data[{W - 1}:0]), "
              f".q({wd.name}), .err({wd.name}_err));", 1)
            errs.append(f"{wd.name}_err")
        err = f"|{{{', '.join(errs)}}}" if errs else "1'b0"  # a reduction: a balanced OR tree after synthesis
        w(f"assign tmr_err = {err};", 1)
        # Unsplit words: one register file (always block) per layer and block of REGFILE_WORDS addresses; the address
        # range test keeps the case scan per load short (Icarus scans a case linearly). Split words load above.
        by_layer: dict[tuple[int, int], list[Word]] = {}
        for wd in (wd for wd in self.words if not wd.split):
            by_layer.setdefault((wd.layer_index, wd.address // REGFILE_WORDS), []).append(wd)
        A = self.addr_width
        for (li, _), group in by_layer.items():
            first, last = group[0].address, group[-1].address
            cond = f"load_we && load_addr <= {A}'d{last}" + (f" && load_addr >= {A}'d{first}" if first else "")
            w(f"// register file of layer {self.qnet.layers[li].name!r}: addresses {first}..{last}", 1)
            w("always @(posedge clk) begin", 1)
            w(f"if ({cond}) begin", 2)
            w("case (load_addr)", 3)
            for wd in group:
                w(f"{A}'d{wd.address}: {wd.name} <= load_data[{wd.type.width - 1}:0];", 4)
            w("default: ;", 4)
            w("endcase", 3)
            w("end", 2)
            w("end", 1)

    def _word_module(self, W: int, protected: tuple) -> str:
        """The module of a split word of ``W`` bits whose Verilog bits ``protected`` are triplicated: one module per
        (width, protected bits), so Yosys synthesizes each kind of split word once instead of every word's flops and
        voter in the top (ECON-T-M bitwise 40 %: 1 710 split words, 6 kinds)."""
        name = f"{self.top}_tmrword_w{W}_p{sum(1 << i for i in protected):x}"
        if name in self.word_modules:
            return name
        P = len(protected)
        singles = [i for i in range(W - 1, -1, -1) if i not in protected]
        lines = [f"// A {W}-bit weight word with bits {{{', '.join(map(str, reversed(protected)))}}} triplicated "
                 "(tmr_ff replicas r0/r1/r2, bit j = the j-th lowest protected bit, voted by one tmr_vote) and the "
                 "others in 1-bit registers b<i>.",
                 f"module {name} (", "  input wire clk,", "  input wire en,", f"  input wire [{W - 1}:0] d,",
                 f"  output wire [{W - 1}:0] q,", "  output wire err", ");"]
        lines += [f"  reg b{i};" for i in singles]
        lines.append(f"  wire [{P - 1}:0] r0_q, r1_q, r2_q, v;")
        d = "{" + ", ".join(f"d[{i}]" for i in reversed(protected)) + "}"
        lines += [f"  tmr_ff #(.W({P})) r{r} (.clk(clk), .en(en), .d({d}), .q(r{r}_q));" for r in range(3)]
        lines.append(f"  tmr_vote #(.W({P})) vote (.a(r0_q), .b(r1_q), .c(r2_q), .y(v), .err(err));")
        bits = [f"v[{protected.index(i)}]" if i in protected else f"b{i}" for i in range(W - 1, -1, -1)]
        lines.append(f"  assign q = {{{', '.join(bits)}}};")
        if singles:
            lines.append("  always @(posedge clk) if (en) begin " + " ".join(f"b{i} <= d[{i}];" for i in singles)
                         + " end")
        lines.append("endmodule")
        self.word_modules[name] = "\n".join(lines) + "\n"
        return name

    # -- datapath: a wrapper with the valid pipeline, instances of registered unit modules --

    def _module(self, text: str, base: str) -> str:
        """The name of the unit module with this text (one module per distinct text: Yosys synthesizes it once)."""
        name = self.modules.get(text)
        if name is None:
            k = sum(n.startswith(base) for n in self.modules.values())
            name = self.modules[text] = f"{base}_n{k}"
        return name

    def datapath_text(self) -> str:
        q = self.qnet
        self.modules, self.instances = {}, 0
        W = self.in_width
        body = []
        cur = [f"x_{j}" for j in range(self.n_in)]
        for j, name in enumerate(cur):
            body.append(f"wire [{W - 1}:0] {name} = in_data[{(j + 1) * W - 1}:{j * W}];")
        valid = "in_valid"
        for li, layer in enumerate(q.layers):
            if isinstance(layer, Reshape):
                continue
            x_type = q.in_type(li)
            n = int(np.prod(layer.out_shape, dtype=np.int64))
            outs = [f"a{li}_{j}" for j in range(n)]
            v = f"v{li}"
            ow = layer.out_type.width
            body.append(f"// stage {li}: {layer.kind} {layer.name!r} -> {layer.out_type} {tuple(layer.out_shape)}")
            body.append(f"reg {v};")
            body.append(f"always @(posedge clk) {v} <= rst ? 1'b0 : {valid};")
            rng = f"[{ow - 1}:0] " if ow > 1 else ""
            for i in range(0, n, 16):
                body.append(f"wire {rng}" + ", ".join(outs[i:i + 16]) + ";")
            base = f"{self.top}_L{li}_{layer.kind}"
            if isinstance(layer, Dense) and layer.kernel_lut is not None:
                body += self._saf_tables(li, layer)
            for k, (mod, conns) in enumerate(self._stage(li, layer, cur, x_type, outs)):
                name = self._module(mod, base)
                body += _instance(name, f"u{li}_{k}", [("clk", "clk"), ("en", valid)] + conns)
                self.instances += 1
            cur, valid = outs, v
        body.append(f"assign out_valid = {valid};")
        body.append(f"assign out_data = {{{', '.join(reversed(cur))}}};")
        ports = ["input wire clk", "input wire rst", "input wire in_valid",
                 _port("input wire", "in_data", self.n_in * self.in_width)]
        ports += [_port("input wire", f"wd{wd.address}", wd.type.width) for wd in self.words]
        ports += ["output wire out_valid", _port("output wire", "out_data", self.n_out * self.out_width)]
        text = [f"// {self.dp}: datapath of {self.top} (generated by codesign; independent of the protection plan).",
                "// Every computing layer is one register stage of unit modules (a neuron, or a whole element-wise",
                "// layer), each an always @(posedge clk) gated by the incoming valid; units of equal text are one",
                "// module. Ports wd<a>: the weight word at load address a (BitSpace word order).",
                "`timescale 1ns/1ps", ""]
        for mod, name in self.modules.items():
            text.append(mod.replace(_NAME, name))
        text.append(f"module {self.dp} (")
        text += [f"  {p}," for p in ports[:-1]] + [f"  {ports[-1]}", ");"]
        text += ["  " + line for line in body]
        text += ["endmodule", ""]
        return "\n".join(text)

    def _stage(self, li, layer, xs, x_type, outs):
        """[(unit module text, [(port, signal)])] of one computing layer."""
        if isinstance(layer, Dense):
            return self._mac_stage(li, layer, xs, x_type, outs)
        if isinstance(layer, Activation):
            fn = self._act_body
        elif isinstance(layer, Threshold):
            fn = self._thr_body
        elif isinstance(layer, BatchNorm):
            fn = self._bn_body
        else:
            raise CodesignError(f"the RTL generator has no rule for layer {layer.name} ({type(layer).__name__})")
        # element-wise: one unit for the whole layer (one process per stage in the simulator)
        ux = [f"x{j}" for j in range(len(xs))]
        uy = [f"y{j}" for j in range(len(outs))]
        body, temps = fn(layer, ux, x_type, uy)
        ot = layer.out_type
        ports = [_port("input wire", x, x_type.width, x_type.signed) for x in ux]
        ports += [_port("output reg", y, ot.width) for y in uy]
        text = _unit(f"{layer.kind} {layer.name!r}: {len(xs)} x {x_type} -> {ot}", ports, temps, body)
        return [(text, list(zip(ux, xs)) + list(zip(uy, outs)))]

    def _terms(self, layer):
        """Per output element: the list of (input index, kernel flat index) products, zero padding left out."""
        k = layer.kernel
        n_out = k.shape[-1]
        if not isinstance(layer, Conv2D):
            n_in = k.shape[0]
            for o in range(n_out):
                yield o, [(i, i * n_out + o) for i in range(n_in)]
            return
        kh, kw, cin, _ = k.shape
        H, Wd, C = self.qnet.in_shape(self.qnet.layers.index(layer))
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

    def _mac_stage(self, li, layer, xs, x_type, outs):
        """One unit per neuron; neurons with the same number of terms share one module (conv borders differ)."""
        k_words = self.by_tensor[(li, "kernel")]
        b_words = self.by_tensor.get((li, "bias"))
        n_out = layer.kernel.shape[-1]
        texts: dict[int, str] = {}
        units = []
        for o, terms in self._terms(layer):
            n = len(terms)
            if n not in texts:
                texts[n] = self._mac_unit(layer, x_type, n, b_words is not None)
            conns = [(f"x{i}", xs[j]) for i, (j, _) in enumerate(terms)]
            kw = "e" if layer.kernel_lut is not None else "wd"  # SAF: the table's output, not the register
            conns += [(f"k{i}", f"{kw}{k_words[kk].address}") for i, (_, kk) in enumerate(terms)]
            if b_words is not None:
                conns.append(("b", f"wd{b_words[o % n_out].address}"))
            conns.append(("y", outs[o]))
            units.append((texts[n], conns))
        return units

    def _saf_tables(self, li, layer) -> list[str]:
        """A saturated weight transform: one lookup table per kernel word, between its register (wd<a>) and the
        multipliers (e<a>); one combinational module per layer (its table)."""
        kt = layer.kernel_type
        W = kt.width
        mask = (1 << W) - 1
        rows = [f"      {W}'d{p}: q = {W}'d{int(v) & mask};" for p, v in enumerate(layer.kernel_lut)]
        text = "\n".join([f"// SAF ({layer.saf or 'table'}) of layer {layer.name!r}: stored {kt} code -> multiplier "
                          "operand code", f"module {_NAME} (", f"  input wire [{W - 1}:0] d,",
                          f"  output reg [{W - 1}:0] q", ");", "  always @(*) begin", "    case (d)", *rows,
                          "      default: q = " + f"{W}'d0;", "    endcase", "  end", "endmodule", ""])
        name = self._module(text, f"{self.top}_L{li}_saf")
        lines = []
        for wd in self.by_tensor[(li, "kernel")]:
            lines.append(f"wire [{W - 1}:0] e{wd.address};")
            lines.append(f"{name} u_saf{wd.address} (.d(wd{wd.address}), .q(e{wd.address}));")
            self.instances += 1
        return lines

    def _mac_unit(self, layer, x_type, n_terms, has_bias) -> str:
        """y = cast(sum_i x_i * k_i (+ b)), exactly as codesign.sim.forward evaluates a dense/conv output."""
        kt, bt, at, ot = layer.kernel_type, layer.bias_type, layer.accum_type, layer.out_type
        prod_frac = x_type.frac + kt.frac
        xmax = max(abs(x_type.min_code), x_type.max_code)
        kmax = max(abs(kt.min_code), kt.max_code)
        fast = at.frac >= prod_frac and at.overflow == "WRAP"
        sh = max(at.frac - prod_frac, 0)
        bmax = max(abs(bt.min_code), bt.max_code) << max(at.frac - bt.frac, 0)
        amax = max(abs(at.min_code), at.max_code)
        width = _bits_for((max(n_terms, 1) * xmax * kmax) << sh, amax + bmax, amax << max(ot.frac - at.frac, 0),
                          xmax * kmax, 1 << (abs(prod_frac - at.frac) + 2), 1 << (abs(ot.frac - at.frac) + 2),
                          1 << (abs(bt.frac - at.frac) + 2)) + 1
        t, u = _Temp("t", width), _Temp("u", width)
        prods = [f"{_sval(f'x{i}', x_type)} * {_sval(f'k{i}', kt)}" for i in range(n_terms)]
        bias = []
        if has_bias:
            bias += u.set(_sval("b", bt), bt.min_code, bt.max_code)
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
        ports = [_port("input wire", f"x{i}", x_type.width, x_type.signed) for i in range(n_terms)]
        ports += [_port("input wire", f"k{i}", kt.width, kt.signed) for i in range(n_terms)]
        if has_bias:
            ports.append(_port("input wire", "b", bt.width, bt.signed))
        ports.append(_port("output reg", "y", ot.width))
        comment = (f"{layer.kind} {layer.name!r} neuron: {n_terms} x ({x_type} * {kt})"
                   + (f" + {bt}" if has_bias else "") + f", accumulator {at} -> {ot}")
        return _unit(comment, ports, [("t", width, True), ("u", width, True)], body)

    def _act_body(self, layer, xs, x_type, outs):
        ot = layer.out_type
        width = _bits_for(x_type.min_code, x_type.max_code, x_type.max_code << max(ot.frac - x_type.frac, 0),
                          1 << (abs(ot.frac - x_type.frac) + 2)) + 1
        t = _Temp("t", width)
        body = []
        for j, x in enumerate(xs):
            body += t.set(_sval(x, x_type), x_type.min_code, x_type.max_code)
            if layer.function == "relu" and t.lo < 0:
                body.append(f"if ({t.name}[{width - 1}]) {t.name} = {width}'sd0;")
                t.lo, t.hi = 0, max(t.hi, 0)
            elif layer.function not in ("relu", "linear"):
                raise CodesignError(f"the RTL generator supports relu and linear activations, not {layer.function!r}")
            body += t.cast(x_type.frac, ot)
            if layer.clip is not None and layer.clip < t.hi:  # CReLU: a code above the threshold becomes 0
                body.append(f"if ({t.name} > {_lit(int(layer.clip), width)}) {t.name} = {width}'sd0;")
            body.append(f"{outs[j]} <= {t.name}[{ot.width - 1}:0];")
        return body, [(t.name, width, True)]

    def _thr_body(self, layer, xs, x_type, outs):
        """out = min_code + #{k : direction * x >= thresholds[c, k]}: for a row sorted ascending, an unrolled binary
        search (one comparison per count bit, against a constant selected by the bits found so far); otherwise a sum
        of comparators."""
        ot = layer.out_type
        thr, direction = np.asarray(layer.thresholds), np.asarray(layer.direction)
        lo_x, hi_x = x_type.min_code, x_type.max_code
        width = _bits_for(lo_x, hi_x, -lo_x, int(thr.min()), int(thr.max())) + 1
        cnt_width = max(int(thr.shape[1]).bit_length() + 1, ot.width)
        t, cnt, c_reg = "t", "n", "c"
        C = thr.shape[0]
        body = []
        searched = False
        for j, x in enumerate(xs):
            c = j % C
            neg = direction[c] < 0
            lo, hi = (-hi_x, -lo_x) if neg else (lo_x, hi_x)
            body.append(f"{t} = {'-' if neg else ''}{_sval(x, x_type)};")
            row = [int(v) for v in thr[c]]
            if all(a <= b for a, b in zip(row, row[1:])):
                body += self._bisect(row, lo, hi, width, cnt_width, t, cnt, c_reg)
                searched = True
            else:
                always = sum(v <= lo for v in row)  # reached by every input code
                terms = [f"({t} >= {_lit(v, width)})" for v in row if lo < v <= hi]
                base = f"{cnt_width}'d{always}"
                body.append(f"{cnt} = {' + '.join([base] + terms)};")
            mn = ot.min_code & ((1 << ot.width) - 1)
            expr = f"{cnt}[{ot.width - 1}:0]" if mn == 0 else f"{cnt}[{ot.width - 1}:0] + {ot.width}'d{mn}"
            body.append(f"{outs[j]} <= {expr};")
        temps = [(t, width, True), (cnt, cnt_width, False)]
        return body, temps + ([(c_reg, width, True)] if searched else [])

    @staticmethod
    def _bisect(row, lo, hi, width, cnt_width, t, cnt, c_reg) -> list[str]:
        """count = #{k : row[k] <= t} for a non-decreasing row, t in [lo, hi]: count >= m iff row[m-1] <= t, so
        the count's bits follow MSB first, each from one comparison with row[prefix | half - 1] (constants clamped to
        [lo, hi + 1]: always / never reached)."""
        L = len(row)
        m = max(L.bit_length(), 1)

        def const(count: int) -> str:  # the threshold that count >= `count` needs
            v = row[count - 1] if count <= L else hi + 1
            return _lit(min(max(v, lo), hi + 1), width)

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

    def _bn_body(self, layer, xs, x_type, outs):
        ot, st, btp = layer.out_type, layer.scale_type, layer.bias_type
        prod_frac = x_type.frac + st.frac
        frac = max(prod_frac, btp.frac)
        scale = np.asarray(layer.scale, dtype=np.int64).reshape(-1)
        bias = np.asarray(layer.bias, dtype=np.int64).reshape(-1)
        xmax = max(abs(x_type.min_code), x_type.max_code)
        smax = int(np.abs(scale).max(initial=0))
        bmax = int(np.abs(bias).max(initial=0)) << (frac - btp.frac)
        width = _bits_for(((xmax * smax) << (frac - prod_frac)) + bmax, 1 << (abs(ot.frac - frac) + 2),
                          ot.max_code << max(ot.frac - frac, 0)) + 1
        t = _Temp("t", width)
        C = len(scale)
        body = []
        for j, x in enumerate(xs):
            c = j % C
            s, b = int(scale[c]), int(bias[c]) << (frac - btp.frac)
            lo, hi = sorted((x_type.min_code * s, x_type.max_code * s))
            body += t.set(f"{_sval(x, x_type)} * {_lit(s, width)}", lo, hi)
            body += t.shift_left(frac - prod_frac)
            if b:
                body.append(f"{t.name} = {t.name} + {_lit(b, width)};")
                t.lo, t.hi = t.lo + b, t.hi + b
            body += t.cast(frac, ot)
            body.append(f"{outs[j]} <= {t.name}[{ot.width - 1}:0];")
        return body, [(t.name, width, True)]


# --- public entry point --------------------------------------------------------------------------------------------


def protected_bits(qnet, plan) -> np.ndarray:
    return np.zeros(0, dtype=np.int64) if plan is None else plan.bits_for(qnet)


def word_codes(qnet, word_list: list[Word]) -> np.ndarray:
    """Bit patterns (unsigned) of every word, in address order."""
    parts = []
    for seg in qnet.bitspace.segments:
        codes, ty = qnet.layers[seg.layer_index].params()[seg.tensor]
        parts.append(np.asarray(codes, dtype=np.int64).reshape(-1) & ((1 << ty.width) - 1))
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    assert len(flat) == len(word_list)
    return flat


def ensure_rtl(qnet, out_dir, plan=None) -> RtlBuild:
    """The RTL of ``plan`` in ``out_dir``: reused when it is of this network, this plan and this generator (it has a
    separate datapath), else written (again) by :func:`write_rtl`."""
    bits = protected_bits(qnet, plan)
    if RtlBuild.exists(out_dir):
        try:
            build = RtlBuild.read(out_dir)
            if build.design_hash == qnet.fingerprint() and build.protected_sha256 == bits_sha256(bits):
                return build
        except CodesignError:
            pass
    return write_rtl(qnet, out_dir, plan)


def write_rtl(qnet, out_dir, plan=None) -> RtlBuild:
    """Write ``<top>.v`` (weight registers, TMR, the datapath instance), ``<top>_datapath.v`` (the datapath: the same
    text for every plan), ``tmr_vote.v``, ``tmr_ff.v``, ``weights.hex`` (the load image) and the summary into
    ``out_dir`` (atomically); returns the :class:`RtlBuild`."""
    bits = protected_bits(qnet, plan)
    word_list = words(qnet, bits)
    gen = _Gen(qnet, word_list)
    primitives = primitive_sources()
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        dp_text = gen.write(tmp / f"{gen.top}.v", tmp / f"{gen.dp}.v")
        for p in primitives:
            shutil.copyfile(p, tmp / p.name)
        codes = word_codes(qnet, word_list)
        (tmp / "weights.hex").write_text("".join(f"{int(c):x}\n" for c in codes))
        RtlBuild(tmp, summarize(qnet, gen, bits, hashlib.sha256(dp_text.encode()).hexdigest())).write()
    return RtlBuild.read(out_dir)


def summarize(qnet, gen: "_Gen", bits: np.ndarray, dp_sha256: str) -> dict:
    weight_bits = qnet.bitspace.size
    return {
        "top": gen.top,
        "sources": [f"{gen.top}.v", f"{gen.dp}.v", *PRIMITIVES],
        "datapath": {"module": gen.dp, "file": f"{gen.dp}.v", "sha256": dp_sha256, "instance": "u_datapath",
                     "units": list(gen.modules.values()), "unit_instances": gen.instances,
                     "ports": "clk, rst, in_valid, in_data, wd<a> (word at load address a), out_valid, out_data"},
        "design_hash": qnet.fingerprint(),
        "latency_cycles": gen.latency,
        "ports": {
            "clk": 1, "rst": 1, "load_we": 1, "load_addr": gen.addr_width, "load_data": gen.data_width,
            "in_valid": 1, "in_data": gen.n_in * gen.in_width, "out_valid": 1,
            "out_data": gen.n_out * gen.out_width, "tmr_err": 1,
        },
        "input": {"elements": gen.n_in, "type": str(qnet.input_type), "width": gen.in_width,
                  "signed": qnet.input_type.signed, "shape": list(qnet.input_shape)},
        "output": {"elements": gen.n_out, "type": str(qnet.output_type), "width": gen.out_width,
                   "signed": qnet.output_type.signed, "shape": list(qnet.output_shape)},
        "weight_words": gen.n_words,
        "weight_bits": weight_bits,
        "protected_bits": int(len(bits)),
        "protected_sha256": bits_sha256(bits),
        "weight_flops": weight_bits + 2 * int(len(bits)),
        "packing": "element j of in_data/out_data at bits [(j+1)*W-1 : j*W], flat C order",
        "naming": "w_<layer>_<tensor>_<element>; Verilog bit i = BitSpace bit position W-1-i; a protected word is "
                  "an instance <word>_tmr of a split-word module (one per width and protected bits) holding regs "
                  "b<i> (unprotected bits) and tmr_ff instances r0/r1/r2 (TMR replicas of the word's protected bits "
                  "in ascending order, flop .q) voted by one tmr_vote: sites <word>_tmr.b<i>, <word>_tmr.r<r>.q",
        "word_modules": list(gen.word_modules),
        "layers": [{"name": l.name, "ident": ident, "kind": l.kind} for l, ident in zip(qnet.layers, layer_idents(qnet))],
    }
