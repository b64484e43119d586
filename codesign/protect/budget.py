"""Protection plans from a ranking and a budget.

A budget is one of:
- a fraction in [0, 1] of the BitSpace bits (``0.1``: the top 10 % of the ranking),
- ``{bits: N}``: the top N bits,
- ``sensitive``: every bit the oracle finds sensitive (ΔC > 0) — needs the oracle,
- ``observable``: every bit whose single flip changes any network output on the data (a superset of ``sensitive``:
  a flip can change outputs and still lower the mean cost, yet several such flips together raise it) — the oracle,
- ``none`` / ``full``: the two references (no protection, full TMR).
An area budget (``{area: 0.4}``: at most 40 % of full TMR's area overhead) is resolved by the design-space
exploration, which measures the overhead per protected bit with Yosys, into a bit count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codesign.errors import CodesignError


@dataclass(frozen=True)
class Budget:
    kind: str  # 'fraction' | 'bits' | 'sensitive' | 'observable' | 'none' | 'full' | 'area'
    value: float = 0.0

    @property
    def label(self) -> str:
        if self.kind == "fraction":
            return f"{100 * self.value:g}%"
        if self.kind == "bits":
            return f"{int(self.value)}bits"
        if self.kind == "area":
            return f"area{100 * self.value:g}%"
        return self.kind


def parse_budget(raw) -> Budget:
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in ("sensitive", "observable", "none", "full"):
            return Budget(text)
        if text.endswith("%"):
            try:
                raw = float(text[:-1]) / 100
            except ValueError:
                raise CodesignError(f"budget {raw!r} is not a number, a fraction, 'sensitive', 'observable', "
                                    "'none' or 'full'") from None
        else:
            try:
                raw = float(text)
            except ValueError:
                raise CodesignError(f"budget {raw!r} is not a number, a fraction, 'sensitive', 'observable', "
                                    "'none' or 'full'") from None
    if isinstance(raw, dict) and len(raw) == 1:
        (key, val), = raw.items()
        if key == "bits":
            if not isinstance(val, int) or isinstance(val, bool) or val < 0:
                raise CodesignError(f"budget bits must be a non-negative integer, got {val!r}")
            return Budget("bits", float(val))
        if key == "area":
            if not isinstance(val, (int, float)) or isinstance(val, bool) or not 0 <= val <= 1:
                raise CodesignError(f"area budget must lie in [0, 1] (fraction of full TMR's overhead), got {val!r}")
            return Budget("area", float(val))
        raise CodesignError(f"unknown budget {raw!r}: use a fraction, {{bits: N}}, {{area: F}}, 'sensitive', "
                            "'none' or 'full'")
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise CodesignError(f"unknown budget {raw!r}: use a fraction, {{bits: N}}, {{area: F}}, 'sensitive', "
                            "'none' or 'full'")
    if not 0 <= raw <= 1 or math.isnan(raw):
        raise CodesignError(f"budget {raw} must lie in [0, 1] (a fraction of the bits; use {{bits: N}} for a count)")
    return Budget("fraction", float(raw))


def select_bits(budget: Budget, order: np.ndarray, size: int, delta: np.ndarray | None = None,
                area_bits: int | None = None, changed: np.ndarray | None = None) -> np.ndarray:
    """The BitSpace indices a budget protects, taking the top of ``order`` (a ranking, most sensitive first)."""
    order = np.asarray(order, dtype=np.int64)
    if budget.kind == "none":
        return np.zeros(0, dtype=np.int64)
    if budget.kind == "full":
        return np.arange(size, dtype=np.int64)
    if budget.kind == "sensitive":
        if delta is None:
            raise CodesignError("budget 'sensitive' needs the single-bit oracle (run `codesign oracle` or list the "
                                "oracle as a ranker)")
        return np.sort(np.flatnonzero(np.nan_to_num(delta) > 0))
    if budget.kind == "observable":
        if delta is None or changed is None:
            raise CodesignError("budget 'observable' needs the single-bit oracle (its changed_rows column)")
        return np.sort(np.flatnonzero((np.nan_to_num(changed) > 0) | (np.nan_to_num(delta) > 0)))
    if budget.kind == "fraction":
        n = int(round(budget.value * size))
    elif budget.kind == "bits":
        n = int(budget.value)
        if n > size:
            raise CodesignError(f"budget of {n} bits exceeds the design's {size} bits")
    else:
        if area_bits is None:
            raise CodesignError("an area budget needs the per-bit TMR overhead (design-space exploration resolves it)")
        n = int(area_bits)
    return np.sort(order[:n])
