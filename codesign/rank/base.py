"""The ranker protocol and the result every ranker returns.

A *static* ranker orders BitSpace indices from what it knows before any fault is injected (``rank(context)``).
A *dynamic* ranker is a policy: ``start(context)``, then ``ask()`` proposes the next bit and ``tell(bit, ΔC)`` feeds
back the measured result — driven live by the campaign evaluator or replayed from a stored oracle (rank.drive).

A :class:`Ranking` is the order in which a method discovers bits. ``flips[i]`` counts the fault injections
performed when ``order[i]`` became known (1, 2, 3, … for a ranking whose bits are all injected; BinFI's implied bits
share the count of the injection that implied them). ``predicted`` is the method's sensitive/insensitive claim per
bit when it makes one without measuring every bit (BinFI, StatFI), else None: a method that injects every bit knows
every label.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Ranking:
    method: str
    order: np.ndarray
    flips: np.ndarray | None = None
    predicted: np.ndarray | None = None  # bool per BitSpace index, or None
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        self.order = np.asarray(self.order, dtype=np.int64)
        if self.flips is None:
            self.flips = np.arange(1, len(self.order) + 1, dtype=np.int64)
        self.flips = np.asarray(self.flips, dtype=np.int64)


@dataclass
class Context:
    """What rankers may use: the design's QNet and BitSpace, and lazily the loss derivatives."""

    qnet: object
    seed: int = 0
    metric: str = "mse"
    loss_factory: object = None  # (objective) -> LossModel (TensorFlow is only imported by rankers that need it)
    evaluator_factory: object = None  # (rows) -> campaign Evaluator on a seeded row sample (bitwise_sampled)
    _losses: dict = field(default_factory=dict)

    @property
    def bitspace(self):
        return self.qnet.bitspace

    @property
    def loss(self):
        """The training objective (gradient, Taylor, Hessian rankers)."""
        return self.loss_of("task")

    def loss_of(self, objective: str):
        if objective not in self._losses:
            self._losses[objective] = self.loss_factory(objective)
        return self._losses[objective]


def bit_columns(bitspace) -> dict[str, np.ndarray]:
    """Per BitSpace index: its parameter (global flat parameter index), bit position (0 = MSB), segment."""
    d = bitspace.decode(np.arange(bitspace.size, dtype=np.int64))
    seg_param_offset = np.cumsum([0] + [s.size for s in bitspace.segments])[:-1]
    return {"param": seg_param_offset[d["segment"]] + d["index"], "position": d["bit_position"],
            "segment": d["segment"]}


def msb_to_lsb(bitspace, param_score: np.ndarray | None = None) -> np.ndarray:
    """FKeras' bit order: all MSBs first, then all MSB-1s, …; within a bit position by parameter score (high
    first), ties by BitSpace index."""
    cols = bit_columns(bitspace)
    score = np.zeros(bitspace.size) if param_score is None else np.asarray(param_score, dtype=np.float64)[cols["param"]]
    # lexsort: last key is primary
    return np.lexsort((np.arange(bitspace.size), -score, cols["position"]))


def weight_deltas(bitspace, qnet) -> np.ndarray:
    """The exact real-valued change of its parameter that each bit's flip causes (known from code and format)."""
    parts = []
    for s in bitspace.segments:
        codes = np.asarray(qnet.layers[s.layer_index].params()[s.tensor][0], dtype=np.int64).reshape(-1, 1)
        w = s.type.width
        words = codes & ((1 << w) - 1)
        flipped = words ^ (1 << (w - 1 - np.arange(w, dtype=np.int64)))[None, :]
        if s.type.signed:
            flipped = np.where(flipped >> (w - 1) == 1, flipped - (1 << w), flipped)
        parts.append(((flipped - codes) * 2.0 ** -s.type.frac).reshape(-1))  # element-major, then bit position
    return np.concatenate(parts) if parts else np.zeros(0)


def param_values(qnet) -> np.ndarray:
    """Real values of every parameter, in BitSpace segment order."""
    parts = []
    for s in qnet.bitspace.segments:
        codes = qnet.layers[s.layer_index].params()[s.tensor][0]
        parts.append(np.asarray(codes, dtype=np.float64).reshape(-1) * 2.0 ** -s.type.frac)
    return np.concatenate(parts) if parts else np.zeros(0)
