"""Protection plans: a set of BitSpace indices and a scheme, bound to one design by its QNet fingerprint.

File format (JSON): ``{"design": name, "design_hash": sha256, "scheme": "tmr", "bits": [i, j, ...]}``. Campaigns
use a plan as a mask (protected bits never flip); the HLS and RTL generators triplicate them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError

SCHEMES = ("tmr",)


def bits_sha256(bits) -> str:
    """The digest of a set of protected bits (campaign keys and tags, the RTL summary)."""
    return hashlib.sha256(np.sort(np.asarray(bits if bits is not None else [], dtype=np.int64)).tobytes()).hexdigest()


@dataclass
class Plan:
    design: str
    design_hash: str
    bits: np.ndarray
    scheme: str = "tmr"

    @classmethod
    def of(cls, design: str, qnet, bits, scheme: str = "tmr") -> "Plan":
        """The plan protecting ``bits`` of ``qnet``."""
        bits = qnet.bitspace.check(np.asarray(bits, dtype=np.int64))
        return cls(design, qnet.fingerprint(), np.unique(bits), scheme)

    def bits_for(self, qnet, schemes=SCHEMES) -> np.ndarray:
        """The protected bits, sorted and unique, after checking the plan fits ``qnet`` and a scheme the caller
        implements (one place for what the HLS register file, the RTL and the campaigns each checked)."""
        if self.scheme not in schemes:
            raise CodesignError(f"protection scheme {self.scheme!r} is not supported here (only "
                                f"{', '.join(schemes)})")
        if self.design_hash and self.design_hash != qnet.fingerprint():
            raise CodesignError(f"the protection plan was made for another design ({self.design!r})")
        return np.unique(qnet.bitspace.check(self.bits))

    def to_json(self) -> str:
        return json.dumps({"design": self.design, "design_hash": self.design_hash, "scheme": self.scheme,
                           "bits": sorted(map(int, self.bits))})

    def save(self, path: str | Path) -> None:
        from codesign.workspace import write_text

        write_text(path, self.to_json())

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
