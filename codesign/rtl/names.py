"""Verilog identifiers for QNet objects, and the weight-word table that ties every register to BitSpace.

Naming (the fault-site contract shared by the generator, the fault-site map and the cocotb bench):

- one weight/bias word = one register ``w_<layer>_<tensor>_<element>``: ``<layer>`` the sanitized layer name,
  ``<tensor>`` ``kernel|bias``, ``<element>`` the Keras C-order flat index (BitSpace's element index);
- Verilog bit ``i`` of a word of width ``W`` (``i = 0`` the LSB) is BitSpace bit position ``W - 1 - i`` (0 = MSB);
- a word with bits in a TMR plan is split, in an instance ``<word>_tmr`` of a split-word module (one module per width
  and set of protected bits, so Yosys synthesizes each kind once): an unprotected bit ``i`` in its 1-bit register
  ``b<i>``; its ``P`` protected bits, in ascending Verilog order, in three ``P``-bit replica registers
  ``r0/r1/r2.q`` (instances of the hand-written ``tmr_ff``, kept as hierarchy so synthesis keeps all three; one
  instance per word and replica rather than per bit, which keeps Icarus and Yosys fast on large plans) voted by one
  ``tmr_vote``; ``<word>`` is then a wire carrying the voted word, so the datapath reads every word by the same
  name. A fault site is ``(register path, Verilog bit)``, e.g. ``("w_conv_kernel_5", 3)``,
  ``("w_conv_kernel_5_tmr.b2", 0)`` or ``("w_conv_kernel_5_tmr.r1.q", 0)`` (replica 1 of the word's lowest
  protected bit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from codesign.ir.fixed import FixedType
from codesign.names import PRIMITIVES, VERILOG_KEYWORDS

_KEYWORDS = VERILOG_KEYWORDS

TENSOR_ORDER = ("kernel", "bias")


def sanitize(name: str) -> str:
    """A string made of Verilog identifier characters (``[A-Za-z0-9_]``), never empty."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", str(name))
    return out or "_"


def module_name(name: str) -> str:
    """The top module's name: the sanitized design name, prefixed when it would not be a legal identifier."""
    s = sanitize(name)
    if not re.match(r"[A-Za-z_]", s) or s in _KEYWORDS or s in PRIMITIVES:  # never one of our own modules
        s = "net_" + s
    return s


def layer_idents(qnet) -> list[str]:
    """One distinct identifier fragment per layer (sanitizing can merge names: ``a-b`` and ``a_b``)."""
    out, seen = [], set()
    for i, layer in enumerate(qnet.layers):
        s = sanitize(layer.name)
        if s in seen:
            s = f"{s}_L{i}"
            while s in seen:
                s += "_"
        seen.add(s)
        out.append(s)
    return out


@dataclass(frozen=True)
class Word:
    """One weight/bias register: its load address, BitSpace location and name."""

    address: int
    layer_index: int
    tensor: str
    element: int
    type: FixedType
    name: str
    bit_offset: int  # BitSpace index of the word's MSB (bit position 0)
    protected: tuple = ()  # Verilog bit indices (0 = LSB) that are triplicated

    def sites(self, i: int) -> list[tuple[str, int]]:
        """The flop bits ``(register, bit)`` holding Verilog bit ``i``: one, or three replicas (replica order)."""
        if not self.split:
            return [(self.name, i)]
        if i in self.protected:
            j = self.protected.index(i)
            return [(f"{self.name}_tmr.r{r}.q", j) for r in range(3)]
        return [(f"{self.name}_tmr.b{i}", 0)]

    @property
    def split(self) -> bool:
        return bool(self.protected)


def words(qnet, protected_bits=None) -> list[Word]:
    """Every weight/bias word in load-address order, which is BitSpace segment order (so address ``a`` holds the
    ``a``-th word of BitSpace and bit ``b`` lives at address ``#words before its segment + element``)."""
    bs = qnet.bitspace
    idents = layer_idents(qnet)
    prot: dict[int, set[int]] = {}
    if protected_bits is not None and len(protected_bits):
        d = bs.decode(np.unique(np.asarray(protected_bits, dtype=np.int64)))
        for seg, idx, pos in zip(d["segment"], d["index"], d["bit_position"]):
            s = bs.segments[int(seg)]
            prot.setdefault((int(seg), int(idx)), set()).add(s.type.width - 1 - int(pos))
    out = []
    address = 0
    for k, s in enumerate(bs.segments):
        w = s.type.width
        for e in range(s.size):
            out.append(Word(address, s.layer_index, s.tensor, e, s.type, f"w_{idents[s.layer_index]}_{s.tensor}_{e}",
                            s.offset + e * w, tuple(sorted(prot.get((k, e), ())))))
            address += 1
    return out


def flop_map(word_list: list[Word]) -> dict[tuple[str, int], tuple[int, int | None]]:
    """``{(register, Verilog bit index): (BitSpace bit, replica or None)}`` for every weight flop bit."""
    out = {}
    for wd in word_list:
        W = wd.type.width
        for i in range(W):
            bit = wd.bit_offset + (W - 1 - i)
            sites = wd.sites(i)
            for r, site in enumerate(sites):
                out[site] = (bit, r if len(sites) == 3 else None)
    return out


def flop_bits(word_list: list[Word], bits, replica: int | None = None) -> list[tuple[str, int]]:
    """The flop bits an upset of BitSpace ``bits`` hits: a protected bit hits replica ``replica``, or all three
    replicas when ``replica`` is None (the plan's protection is then defeated on purpose)."""
    starts = np.array([wd.bit_offset for wd in word_list], dtype=np.int64)
    out = []
    for b in np.asarray(bits, dtype=np.int64).reshape(-1):
        wd = word_list[int(np.searchsorted(starts, b, side="right")) - 1]
        sites = wd.sites(wd.type.width - 1 - int(b - wd.bit_offset))
        out.extend(sites if replica is None or len(sites) == 1 else [sites[replica]])
    return out
