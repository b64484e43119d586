"""Protection plans: a set of BitSpace indices and a scheme, bound to one design by its QNet fingerprint.

File format (JSON): ``{"design": name, "design_hash": sha256, "scheme": "tmr", "bits": [i, j, ...]}``. Campaigns
use a plan as a mask (protected bits never flip); the HLS and RTL generators triplicate them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError

SCHEMES = ("tmr",)


@dataclass
class Plan:
    design: str
    design_hash: str
    bits: np.ndarray
    scheme: str = "tmr"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"design": self.design, "design_hash": self.design_hash,
                                          "scheme": self.scheme, "bits": sorted(map(int, self.bits))}))

    @classmethod
    def load(cls, path: str | Path, qnet=None) -> "Plan":
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
            plan = cls(raw["design"], raw["design_hash"], np.array(raw["bits"], dtype=np.int64),
                       raw.get("scheme", "tmr"))
        except FileNotFoundError:
            raise CodesignError(f"protection plan not found: {path}") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CodesignError(f"cannot read protection plan {path}: {exc}") from None
        if plan.scheme not in SCHEMES:
            raise CodesignError(f"plan {path}: unknown scheme {plan.scheme!r} (supported: {', '.join(SCHEMES)})")
        if qnet is not None:
            if plan.design_hash != qnet.fingerprint():
                raise CodesignError(f"plan {path} was made for another design ({plan.design!r})")
            qnet.bitspace.check(plan.bits)
        return plan
