"""Fault models over BitSpace: which bits one fault flips, derived from (seed, fault id) alone.

- ``single``: fault id = BitSpace index; one flip.
- ``multibit``: fault id = trial number; ``flips`` distinct bits drawn uniformly (FKeras §3.2.2: 960 for ECON-T).
- ``ber``: fault id = trial number; the number of flips ~ Binomial(total bits, rate), placed uniformly (SSL paper
  §III-A).

Every model takes a protection mask: an upset that lands on a protected bit is masked (TMR outvotes it), so it is
drawn like any other and then dropped. ``weights_only`` restricts the candidate bits to kernels, as FKeras does.
Because each fault's bits come from ``default_rng([seed, fault_id])``, a campaign can be split, resumed or farmed out in
any order and still gives the same faults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from codesign.errors import CodesignError

KINDS = ("single", "multibit", "ber")


@dataclass(frozen=True)
class FaultModel:
    kind: str = "single"
    flips: int | None = None  # multibit
    rate: float | None = None  # ber
    trials: int | None = None  # multibit / ber
    weights_only: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise CodesignError(f"unknown fault model {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.kind == "multibit" and (self.flips is None or int(self.flips) < 1):
            raise CodesignError("fault model multibit needs --flips K with K >= 1")
        if self.kind == "ber" and (self.rate is None or not 0.0 < float(self.rate) < 1.0):
            raise CodesignError(f"bit error rate must lie in (0, 1), got {self.rate}")
        if self.kind != "single" and (self.trials is None or int(self.trials) < 1):
            raise CodesignError(f"fault model {self.kind} needs --trials N with N >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


class FaultSpace:
    """A fault model bound to one BitSpace and protection mask."""

    def __init__(self, model: FaultModel, bitspace, protected=None):
        self.model = model
        self.bitspace = bitspace
        size = bitspace.size
        if model.weights_only:
            cand = np.concatenate([np.arange(s.offset, s.offset + s.nbits) for s in bitspace.segments
                                   if s.tensor == "kernel"] or [np.zeros(0, np.int64)])
        else:
            cand = np.arange(size, dtype=np.int64)
        self.candidates = cand.astype(np.int64)
        self.protected = np.zeros(size, dtype=bool)
        if protected is not None and len(protected):
            self.protected[bitspace.check(protected)] = True
        if model.kind == "multibit" and model.flips > len(self.candidates):
            raise CodesignError(f"--flips {model.flips} exceeds the {len(self.candidates)} bits of the fault space")

    def fault_ids(self) -> np.ndarray:
        if self.model.kind == "single":
            return self.candidates[~self.protected[self.candidates]]
        return np.arange(int(self.model.trials), dtype=np.int64)

    def drawn(self, fault_id: int) -> np.ndarray:
        """Every bit the upset hits, protected or not (sorted)."""
        m = self.model
        if m.kind == "single":
            return np.array([fault_id], dtype=np.int64)
        rng = np.random.default_rng([int(m.seed), int(fault_id)])
        n = int(m.flips) if m.kind == "multibit" else int(rng.binomial(len(self.candidates), float(m.rate)))
        return np.sort(rng.choice(self.candidates, size=n, replace=False))

    def bits(self, fault_id: int) -> np.ndarray:
        """The bits that actually flip: drawn bits minus protected ones."""
        b = self.drawn(fault_id)
        return b[~self.protected[b]]
