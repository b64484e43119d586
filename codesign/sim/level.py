"""The ``sim`` level: codesign's numpy integer simulator behind the level protocol (:mod:`codesign.level`).

A protected bit's upset that hits one replica is outvoted, so the simulator drops it; with ``replica=None`` (every
replica hit) the bit flips.
"""

from __future__ import annotations

import numpy as np

from codesign.ir.bitspace import apply_flips
from codesign.level import Level, register
from codesign.sim.forward import forward


@register("sim")
class SimLevel(Level):
    def __init__(self, target):
        super().__init__(target)
        size = self.qnet.bitspace.size
        self.protected = np.zeros(size, dtype=bool)
        if target.plan is not None:
            self.protected[target.plan.bits_for(self.qnet)] = True

    def predict(self, codes: np.ndarray) -> np.ndarray:
        return forward(self.qnet, np.asarray(codes, dtype=np.int64))

    def outputs(self, faults, replica=None) -> list[np.ndarray]:
        out = []
        for bits, r in zip(faults, self.replicas(faults, replica)):
            bits = self.qnet.bitspace.check(bits)
            if r is not None:
                bits = bits[~self.protected[bits]]
            out.append(forward(self.qnet, self.target.inputs, overrides=apply_flips(self.qnet, bits)))
        return out
