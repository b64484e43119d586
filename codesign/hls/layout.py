"""The address map of the HLS weight register file: one word per weight/bias element, in BitSpace order.

Word address = the element's position in BitSpace segment order: segments (layer order, kernel then bias) are laid
end to end, and inside a segment the address runs over the flat Keras (C-order) element index. A word holds the
element's raw code (two's complement for signed types) in its low ``width`` bits; BitSpace bit position ``p``
(0 = MSB) is bit ``width - 1 - p`` of the word (0 = LSB). So BitSpace index ``seg.offset + e * width + p`` is word
``base + e``, bit ``width - 1 - p``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.ir.bitspace import Segment


@dataclass(frozen=True)
class Block:
    """The words of one BitSpace segment."""

    segment: Segment
    base: int  # first word address

    @property
    def words(self) -> int:
        return self.segment.size

    @property
    def width(self) -> int:
        return self.segment.type.width


class RegfileLayout:
    def __init__(self, qnet, protected_bits=None):
        self.qnet = qnet
        bs = qnet.bitspace
        self.blocks: list[Block] = []
        base = 0
        for seg in bs.segments:
            self.blocks.append(Block(seg, base))
            base += seg.size
        self.n_words = base
        self.data_width = max((b.width for b in self.blocks), default=1)
        self.addr_width = max(1, int(self.n_words - 1).bit_length())
        self._bases = np.array([b.base for b in self.blocks], dtype=np.int64)
        self._widths = np.array([b.width for b in self.blocks], dtype=np.int64)
        bits = bs.check(protected_bits if protected_bits is not None else [])
        self.protected_bits = np.unique(bits)
        self.masks = np.zeros(self.n_words, dtype=np.uint64)  # protected bits of every word (word bit numbering)
        if self.protected_bits.size:
            addr, bit = self.address(self.protected_bits)
            np.bitwise_or.at(self.masks, addr, np.left_shift(np.uint64(1), bit.astype(np.uint64)))

    def address(self, bits) -> tuple[np.ndarray, np.ndarray]:
        """BitSpace indices -> (word address, bit in word with 0 = LSB)."""
        d = self.qnet.bitspace.decode(bits)
        seg = d["segment"]
        return self._bases[seg] + d["index"], self._widths[seg] - 1 - d["bit_position"]

    def is_protected(self, bits) -> np.ndarray:
        return np.isin(np.asarray(bits, dtype=np.int64), self.protected_bits)

    def block_protected(self, block: Block) -> bool:
        return bool(np.any(self.masks[block.base: block.base + block.words]))

    def image(self, qnet=None) -> np.ndarray:
        """The words to load (uint64 raw codes), from ``qnet``'s codes (default: the layout's own QNet)."""
        qnet = qnet or self.qnet
        out = np.zeros(self.n_words, dtype=np.uint64)
        for b in self.blocks:
            codes = qnet.layers[b.segment.layer_index].params()[b.segment.tensor][0]
            raw = np.asarray(codes, dtype=np.int64).reshape(-1) & ((1 << b.width) - 1)
            out[b.base: b.base + b.words] = raw.astype(np.uint64)
        return out

    def table(self) -> list[dict]:
        """One row per block: what the summary and the header comment document."""
        return [{"layer": b.segment.layer, "tensor": b.segment.tensor, "base": b.base, "words": b.words,
                 "width": b.width, "type": str(b.segment.type), "shape": list(b.segment.shape),
                 "bitspace_offset": b.segment.offset, "protected": self.block_protected(b)} for b in self.blocks]
