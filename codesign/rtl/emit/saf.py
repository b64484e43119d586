"""Saturated weight transforms (SAF): a lookup table per kernel word between its register and the multipliers."""

from __future__ import annotations

from codesign.rtl.emit.writer import UNIT_NAME


def tables(dp, li, layer) -> list[str]:
    """A saturated weight transform: one lookup table per kernel word, between its register (wd<a>) and the
    multipliers (e<a>); one combinational module per layer (its table)."""
    kt = layer.kernel_type
    W = kt.width
    mask = (1 << W) - 1
    rows = [f"      {W}'d{p}: q = {W}'d{int(v) & mask};" for p, v in enumerate(layer.kernel_lut)]
    text = "\n".join([(f"// SAF ({layer.saf or 'table'}) of layer {layer.name!r}: stored {kt} code -> multiplier "
                       "operand code"), f"module {UNIT_NAME} (", f"  input wire [{W - 1}:0] d,",
                      f"  output reg [{W - 1}:0] q", ");", "  always @(*) begin", "    case (d)", *rows,
                      "      default: q = " + f"{W}'d0;", "    endcase", "  end", "endmodule", ""])
    name = dp.module(text, f"{dp.top}_L{li}_saf")
    lines = []
    for wd in dp.by_tensor[(li, "kernel")]:
        lines.append(f"wire [{W - 1}:0] e{wd.address};")
        lines.append(f"{name} u_saf{wd.address} (.d(wd{wd.address}), .q(e{wd.address}));")
        dp.instances += 1
    return lines
