"""The weight registers of the top module: one register file per layer and address block for unprotected words, and
one instance of a split-word module (TMR replicas of the protected bits, voted) per protected word."""

from __future__ import annotations

from codesign.rtl.emit.layout import Layout
from codesign.rtl.emit.writer import decl
from codesign.rtl.names import Word

REGFILE_WORDS = 256  # addresses per register-file always block


def write_weights(w, layout: Layout, word_modules: dict[str, str]):
    """Declarations and load logic of every weight word, and ``tmr_err``; the split-word modules used are added to
    ``word_modules`` (name -> text)."""
    errs = []
    A = layout.addr_width
    for wd in layout.words:
        W, signed = wd.type.width, wd.type.signed
        if not wd.split:
            w(decl("reg", wd.name, W, signed), 1)
            continue
        we = f"{wd.name}_we"
        w(f"wire {we} = load_we && load_addr == {A}'d{wd.address};", 1)
        w(decl("wire", wd.name, W, signed), 1)
        w(f"wire {wd.name}_err;", 1)
        module = word_module(layout.top, W, wd.protected, word_modules)
        w(f"{module} {wd.name}_tmr (.clk(clk), .en({we}), .d(load_data[{W - 1}:0]), "
          f".q({wd.name}), .err({wd.name}_err));", 1)
        errs.append(f"{wd.name}_err")
    err = f"|{{{', '.join(errs)}}}" if errs else "1'b0"  # a reduction: a balanced OR tree after synthesis
    w(f"assign tmr_err = {err};", 1)
    _register_files(w, layout)


def _register_files(w, layout: Layout):
    # Unsplit words: one register file (always block) per layer and block of REGFILE_WORDS addresses; the address
    # range test keeps the case scan per load short (Icarus scans a case linearly). Split words load above.
    by_layer: dict[tuple[int, int], list[Word]] = {}
    for wd in (wd for wd in layout.words if not wd.split):
        by_layer.setdefault((wd.layer_index, wd.address // REGFILE_WORDS), []).append(wd)
    A = layout.addr_width
    for (li, _), group in by_layer.items():
        first, last = group[0].address, group[-1].address
        cond = f"load_we && load_addr <= {A}'d{last}" + (f" && load_addr >= {A}'d{first}" if first else "")
        w(f"// register file of layer {layout.qnet.layers[li].name!r}: addresses {first}..{last}", 1)
        w("always @(posedge clk) begin", 1)
        w(f"if ({cond}) begin", 2)
        w("case (load_addr)", 3)
        for wd in group:
            w(f"{A}'d{wd.address}: {wd.name} <= load_data[{wd.type.width - 1}:0];", 4)
        w("default: ;", 4)
        w("endcase", 3)
        w("end", 2)
        w("end", 1)


def word_module(top: str, W: int, protected: tuple, word_modules: dict[str, str]) -> str:
    """The module of a split word of ``W`` bits whose Verilog bits ``protected`` are triplicated: one module per
    (width, protected bits), so Yosys synthesizes each kind of split word once instead of every word's flops and
    voter in the top (ECON-T-M bitwise 40 %: 1 710 split words, 6 kinds). Its text is added to ``word_modules``."""
    name = f"{top}_tmrword_w{W}_p{sum(1 << i for i in protected):x}"
    if name in word_modules:
        return name
    P = len(protected)
    singles = [i for i in range(W - 1, -1, -1) if i not in protected]
    lines = [(f"// A {W}-bit weight word with bits {{{', '.join(map(str, reversed(protected)))}}} triplicated "
              "(tmr_ff replicas r0/r1/r2, bit j = the j-th lowest protected bit, voted by one tmr_vote) and the "
              "others in 1-bit registers b<i>."),
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
    word_modules[name] = "\n".join(lines) + "\n"
    return name
