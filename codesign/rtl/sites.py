"""Fault sites: the weight flip-flop bits of a generated design, read back from its Verilog with pyverilog.

A site is ``(register path, Verilog bit index)`` (see :mod:`codesign.rtl.names`). :func:`site_map` maps each one to ``(BitSpace bit, replica)``
(replica ``None`` for a single flop, 0..2 for a TMR replica) from the names alone, so the test that the map is a
bijection checks the generator's output rather than its intentions.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from codesign.errors import CodesignError

_WEIGHT = re.compile(r"w_.*")
_ANY = re.compile(r".*")


def _int(node) -> int:
    """A declaration bound; the generator writes plain decimal integers."""
    from pyverilog.vparser.ast import IntConst

    if not isinstance(node, IntConst) or not node.value.isdigit():
        raise CodesignError(f"unexpected width expression {node!r} in generated RTL")
    return int(node.value)


def _local_flops(mod, pattern) -> list[tuple[str, int]]:
    """The flop bits declared in module ``mod`` itself: every bit of every ``reg`` whose name matches ``pattern``,
    and every bit of the flop ``q`` of every ``tmr_ff`` instance whose name matches (its width is the instance's ``W``
    parameter)."""
    from pyverilog.vparser.ast import Decl, InstanceList, Reg

    out = []
    for item in mod.items:
        if isinstance(item, InstanceList) and item.module == "tmr_ff":
            widths = [_int(a.argname) for a in item.parameterlist if a.paramname == "W"]
            width = widths[0] if widths else 1  # the primitive's default
            out.extend((f"{inst.name}.q", j) for inst in item.instances if pattern.fullmatch(inst.name)
                       for j in range(width))
        if not isinstance(item, Decl):
            continue
        for d in item.list:
            if isinstance(d, Reg) and pattern.fullmatch(d.name):
                if d.width is None:
                    out.append((d.name, 0))
                else:
                    msb, lsb = _int(d.width.msb), _int(d.width.lsb)
                    out.extend((d.name, i) for i in range(min(msb, lsb), max(msb, lsb) + 1))
    return out


def weight_flops(verilog_file) -> list[tuple[str, int]]:
    """Every weight flop bit of the modules in ``verilog_file`` that no other module there instantiates (the top),
    parsed with pyverilog: its ``reg``s and ``tmr_ff`` replica instances named ``w_*``, and inside every instance
    named ``w_*`` of a module defined in the file (a split word) that module's ``reg``s and ``tmr_ff`` replicas, as
    ``<instance>.<register>``."""
    from pyverilog.vparser.ast import InstanceList, ModuleDef
    from pyverilog.vparser.parser import VerilogCodeParser

    with tempfile.TemporaryDirectory(prefix="codesign-pyverilog-") as tmp:
        parser = VerilogCodeParser([str(verilog_file)], preprocess_output=str(Path(tmp) / "pp.v"), outputdir=tmp,
                                   debug=False)
        ast = parser.parse()
    mods = {m.name: m for m in ast.description.definitions if isinstance(m, ModuleDef)}
    used = {item.module for m in mods.values() for item in m.items if isinstance(item, InstanceList)}
    out = []
    for mod in (m for name, m in mods.items() if name not in used):
        out.extend(_local_flops(mod, _WEIGHT))
        for item in mod.items:
            if isinstance(item, InstanceList) and item.module in mods:
                inner = _local_flops(mods[item.module], _ANY)
                out.extend((f"{inst.name}.{reg}", i) for inst in item.instances if _WEIGHT.fullmatch(inst.name)
                           for reg, i in inner)
    return out


def site_map(build, qnet, plan_bits=None) -> dict[tuple[str, int], tuple[int, int | None]]:
    """``{(register, bit): (BitSpace bit, replica)}`` for every weight flop of ``build`` (an RtlBuild or its
    directory).

    Raises CodesignError if the RTL's flops and the naming contract of :mod:`codesign.rtl.names` disagree.
    """
    from codesign.rtl.names import flop_map, words

    from codesign.rtl.build import RtlBuild

    build = RtlBuild.of(build)
    rtl_dir = build.dir
    flops = weight_flops(build.top_file)
    expected = flop_map(words(qnet, plan_bits))
    found = set(flops)
    if len(found) != len(flops) or found != set(expected):
        missing, extra = set(expected) - found, found - set(expected)
        raise CodesignError(f"{rtl_dir}: weight flops do not match BitSpace ({len(missing)} missing, "
                            f"{len(extra)} unexpected, e.g. {sorted(missing or extra)[:3]})")
    return {site: expected[site] for site in flops}
