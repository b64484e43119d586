"""Verilog text helpers shared by the emitters: declarations, ports, literals, unit modules and instances."""

from __future__ import annotations

from codesign.ir.fixed import FixedType

UNIT_NAME = "@MODULE@"  # placeholder for a unit module's name while its text is deduplicated


class Writer:
    def __init__(self, f):
        self.f = f

    def __call__(self, line: str = "", indent: int = 0):
        self.f.write("  " * indent + line + "\n")


def lit(v: int, width: int) -> str:
    return f"{width}'sd{v}" if v >= 0 else f"-{width}'sd{-v}"


def sval(name: str, ty: FixedType) -> str:
    """A signal's code as a signed expression (unsigned formats get a zero sign bit)."""
    return name if ty.signed else f"$signed({{1'b0,{name}}})"


def decl(kind: str, name: str, ty_width: int, signed: bool) -> str:
    rng = f" [{ty_width - 1}:0]" if ty_width > 1 else ""
    return f"{kind}{' signed' if signed else ''}{rng} {name};"


def port(direction: str, name: str, width: int, signed: bool = False) -> str:
    rng = f" [{width - 1}:0]" if width > 1 else ""
    return f"{direction}{' signed' if signed else ''}{rng} {name}"


def unit(comment: str, ports: list[str], temps, body: list[str]) -> str:
    """Text of a registered unit module: ``always @(posedge clk) if (en)`` evaluates ``body`` (blocking temporaries,
    non-blocking output registers)."""
    lines = [f"// {comment}", f"module {UNIT_NAME} (", "  input wire clk,", "  input wire en,"]
    lines += [f"  {p}," for p in ports[:-1]] + [f"  {ports[-1]}", ");"]
    lines += ["  " + decl("reg", name, width, signed) for name, width, signed in temps]
    lines += ["  always @(posedge clk) begin", "    if (en) begin"]
    lines += ["      " + line for line in body]
    lines += ["    end", "  end", "endmodule", ""]
    return "\n".join(lines)


def instance(module: str, name: str, conns: list[tuple[str, str]], per_line: int = 8) -> list[str]:
    parts = [f".{p}({s})" for p, s in conns]
    rows = [", ".join(parts[i:i + per_line]) for i in range(0, len(parts), per_line)]
    return [f"{module} {name} ("] + [f"  {r}," for r in rows[:-1]] + [f"  {rows[-1]}", ");"]
