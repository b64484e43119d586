"""BitSpace: one global index over every weight and bias bit of the on-chip layers.

Order: layers in network order; within a layer the kernel then the bias; within a tensor the Keras row-major (C)
flat element index; within an element the bit position, 0 = MSB (the sign bit of a signed format), as in the
FKeras/PrioriFI figures. The same index names a flop bit in the RTL and an element bit in the HLS register file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.errors import CodesignError
from codesign.ir.fixed import FixedType

TENSORS = ("kernel", "bias")


@dataclass(frozen=True)
class Segment:
    """A contiguous block of BitSpace: one parameter tensor."""

    layer_index: int
    layer: str
    tensor: str
    shape: tuple
    type: FixedType
    offset: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbits(self) -> int:
        return self.size * self.type.width


class BitSpace:
    def __init__(self, qnet):
        self.segments: list[Segment] = []
        offset = 0
        for i, layer in enumerate(qnet.layers):
            for tensor, (codes, ty) in layer.params().items():
                seg = Segment(i, layer.name, tensor, tuple(codes.shape), ty, offset)
                self.segments.append(seg)
                offset += seg.nbits
        self.size = offset
        self._starts = np.array([s.offset for s in self.segments], dtype=np.int64)

    def __len__(self) -> int:
        return self.size

    def segment(self, layer: str, tensor: str) -> Segment:
        for s in self.segments:
            if s.layer == layer and s.tensor == tensor:
                return s
        raise CodesignError(f"no tensor {layer}/{tensor} in BitSpace")

    def tensor_bits(self, layer: str, tensor: str) -> int:
        return self.segment(layer, tensor).nbits

    def count(self, tensor: str | None = None) -> int:
        return sum(s.nbits for s in self.segments if tensor is None or s.tensor == tensor)

    def check(self, bits) -> np.ndarray:
        bits = np.asarray(bits, dtype=np.int64).reshape(-1)
        if bits.size and (bits.min() < 0 or bits.max() >= self.size):
            bad = bits[(bits < 0) | (bits >= self.size)][0]
            raise CodesignError(f"bit {bad} is outside BitSpace (0..{self.size - 1})")
        return bits

    def decode(self, bits) -> dict[str, np.ndarray]:
        """Vectorized index -> (segment number, element index, bit position)."""
        bits = self.check(bits)
        seg = np.searchsorted(self._starts, bits, side="right") - 1
        width = np.array([s.type.width for s in self.segments], dtype=np.int64)[seg]
        local = bits - self._starts[seg]
        return {"segment": seg, "index": local // width, "bit_position": local % width}

    def columns(self, bits) -> np.ndarray:
        """Per bit, an id of the output column its parameter feeds (Dense neuron / Conv2D output channel of its
        layer; kernel and bias bits of one column share it): a single flip changes that column and nothing else
        in its layer."""
        d = self.decode(bits)
        last = np.array([s.shape[-1] for s in self.segments], dtype=np.int64)[d["segment"]]
        layer = np.array([s.layer_index for s in self.segments], dtype=np.int64)[d["segment"]]
        return (layer << 32) | (d["index"] % last)

    def locate(self, bit: int) -> tuple[str, str, int, int]:
        """(layer, tensor, flat element index, bit position with 0 = MSB)."""
        d = self.decode([bit])
        s = self.segments[int(d["segment"][0])]
        return s.layer, s.tensor, int(d["index"][0]), int(d["bit_position"][0])

    def index(self, layer: str, tensor: str, element: int, bit_position: int) -> int:
        s = self.segment(layer, tensor)
        if not (0 <= element < s.size and 0 <= bit_position < s.type.width):
            raise CodesignError(f"{layer}/{tensor}[{element}] bit {bit_position} is outside the tensor")
        return s.offset + element * s.type.width + bit_position

    def table(self) -> dict[str, np.ndarray]:
        """Every index with its address columns (for oracle.csv and friends)."""
        d = self.decode(np.arange(self.size, dtype=np.int64))
        return {"bit": np.arange(self.size, dtype=np.int64),
                "layer": np.array([self.segments[i].layer for i in d["segment"]], dtype=object),
                "tensor": np.array([self.segments[i].tensor for i in d["segment"]], dtype=object),
                "index": d["index"], "bit_position": d["bit_position"]}


def flip_codes(codes: np.ndarray, ty: FixedType, elements: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Return a copy of ``codes`` with the given (element, bit position) bits flipped in the stored word.

    The word is the two's-complement (or unsigned) bit pattern of width ``ty.width``; flipping the MSB of a signed
    code flips its sign bit, exactly as an upset in the register would.
    """
    flat = np.array(codes, dtype=np.int64).reshape(-1)
    mask = (1 << ty.width) - 1
    for e, p in zip(np.asarray(elements).reshape(-1), np.asarray(positions).reshape(-1)):
        word = (int(flat[e]) & mask) ^ (1 << (ty.width - 1 - int(p)))
        if ty.signed and word >> (ty.width - 1):
            word -= 1 << ty.width
        flat[e] = word
    return flat.reshape(np.shape(codes))


def apply_flips(qnet, bits) -> dict[int, dict[str, np.ndarray]]:
    """Faulty parameter tensors for a set of BitSpace indices: ``{layer_index: {tensor: codes}}`` (only the touched)."""
    bs = qnet.bitspace
    d = bs.decode(bits)
    out: dict[int, dict[str, np.ndarray]] = {}
    for seg_no in np.unique(d["segment"]):
        s = bs.segments[int(seg_no)]
        sel = d["segment"] == seg_no
        # Two flips of the same bit cancel, as two upsets of one flop would.
        elems, pos = d["index"][sel], d["bit_position"][sel]
        layer = qnet.layers[s.layer_index]
        base = out.get(s.layer_index, {}).get(s.tensor, layer.params()[s.tensor][0])
        out.setdefault(s.layer_index, {})[s.tensor] = flip_codes(base, s.type, elems, pos)
    return out
