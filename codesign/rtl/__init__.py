"""Verilog RTL of a QNet with weight register files, and weight-SEU injection at RTL (cocotb + Icarus).

- :func:`codesign.rtl.generate.write_rtl` — the generator (``codesign rtl``); conventions in its module docstring;
- :func:`codesign.rtl.sim.rtl_predict` — RTL outputs for ``codesign verify --levels ...,rtl``;
- :class:`codesign.rtl.level.RtlLevel` — the campaign level (many faults per simulator start);
- :func:`codesign.rtl.sites.site_map` — fault sites read back from the Verilog, mapped to BitSpace;
- :func:`codesign.rtl.yosys.yosys_stats` — Yosys area / depth numbers.
"""

from codesign.rtl.generate import write_rtl
from codesign.rtl.level import RtlLevel
from codesign.rtl.sim import rtl_predict
from codesign.rtl.sites import site_map
from codesign.rtl.yosys import yosys_stats

__all__ = ["write_rtl", "rtl_predict", "RtlLevel", "site_map", "yosys_stats"]
