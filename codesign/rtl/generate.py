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
rebuilt by Icarus on every change of any part of it. The Verilog of each part comes from :mod:`codesign.rtl.emit`
(one emitter per layer kind, dispatched by :data:`codesign.rtl.emit.stages.STAGES`); this module orchestrates.

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
from codesign.protect.plan import bits_sha256
from codesign.names import unmangle
from codesign.rtl.build import RtlBuild
from codesign.rtl.emit.datapath import Datapath
from codesign.rtl.emit.layout import Layout
from codesign.rtl.emit.weights import write_weights
from codesign.rtl.emit.writer import Writer, instance
from codesign.rtl.names import Word, layer_idents, words
from codesign.workspace import atomic_dir

RTL_SIM = Path(__file__).resolve().parents[2] / "rtl_sim"
VOTER = "tmr_vote.v"
REPLICA = "tmr_ff.v"
PRIMITIVES = (VOTER, REPLICA)


def primitive_sources() -> list[Path]:
    paths = [RTL_SIM / p for p in PRIMITIVES]
    if not all(p.is_file() for p in paths):
        raise CodesignError(f"RTL primitives not found at {RTL_SIM} (rtl_sim/ must sit next to the codesign package)")
    return paths


# --- the generator: the top module around the datapath; the Verilog of each part comes from codesign.rtl.emit -------


class _Gen(Layout):
    def __init__(self, qnet, word_list: list[Word]):
        super().__init__(qnet, word_list)
        self.datapath = Datapath(self)
        self.word_modules: dict[str, str] = {}  # split-word module name -> text

    def write(self, top_path: Path, dp_path: Path) -> str:
        """Write the top module and the datapath file; returns the datapath text."""
        dp_text = self.datapath.text()
        dp_path.write_text(dp_text)
        with open(top_path, "w") as f:
            w = Writer(f)
            self._header(w, dp_path.name)
            write_weights(w, self, self.word_modules)
            conns = [("clk", "clk"), ("rst", "rst"), ("in_valid", "in_valid"), ("in_data", "in_data")]
            conns += [(f"wd{wd.address}", wd.name) for wd in self.words]
            conns += [("out_valid", "out_valid"), ("out_data", "out_data")]
            for line in instance(self.dp, "u_datapath", conns, per_line=4):
                w(line, 1)
            w("endmodule")
            f.writelines("\n" + text for text in self.word_modules.values())
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


def summarize(qnet, gen: _Gen, bits: np.ndarray, dp_sha256: str) -> dict:
    weight_bits = qnet.bitspace.size
    return {
        "top": gen.top,
        "sources": [f"{gen.top}.v", f"{gen.dp}.v", *PRIMITIVES],
        "datapath": {"module": gen.dp, "file": f"{gen.dp}.v", "sha256": dp_sha256, "instance": "u_datapath",
                     "units": list(gen.datapath.modules.values()), "unit_instances": gen.datapath.instances,
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
        "protected_bits": len(bits),
        "protected_sha256": bits_sha256(bits),
        "weight_flops": weight_bits + 2 * len(bits),
        "packing": "element j of in_data/out_data at bits [(j+1)*W-1 : j*W], flat C order",
        "naming": "w_<layer>_<tensor>_<element>; Verilog bit i = BitSpace bit position W-1-i; a protected word is "
                  "an instance <word>_tmr of a split-word module (one per width and protected bits) holding regs "
                  "b<i> (unprotected bits) and tmr_ff instances r0/r1/r2 (TMR replicas of the word's protected bits "
                  "in ascending order, flop .q) voted by one tmr_vote: sites <word>_tmr.b<i>, <word>_tmr.r<r>.q",
        "word_modules": list(gen.word_modules),
        # name: the QNet's (C++-safe) layer name; user_name: the Keras model's, as the user wrote it
        "layers": [{"name": layer.name, "user_name": unmangle(layer.name), "ident": ident, "kind": layer.kind}
                   for layer, ident in zip(qnet.layers, layer_idents(qnet))],
    }
