"""Design points: which plans a DSE measures (:func:`points_of`) and what one measurement holds
(:class:`PointResult`, kept as ``result.json`` so a killed run resumes)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from codesign.protect.budget import Budget
from codesign.spec.dse import ORACLE_BUDGETS

RESULT_VERSION = 7


@dataclass(frozen=True)
class Point:
    ranker: str  # a ranker, 'oracle', or '-' for the references
    budget: str  # as in design_points.csv
    kind: Budget
    variant: str = ""  # the mitigated network: '' (the design's own), 'clip-<method>' or 'saf-<label>'

    @property
    def id(self) -> str:
        r = "ref" if self.ranker == "-" else self.ranker
        base = f"{r}-{self.budget}".replace(":", "").replace("/", "_")
        if not self.variant:
            return base
        return self.variant + ("" if self.kind.kind == "none" else f"+{base}")

    @property
    def mitigation(self) -> str:
        tmr = "tmr" if self.kind.kind != "none" else ""
        return "+".join(m for m in (self.variant.split("-")[0], tmr) if m) or "none"

    @property
    def is_reference(self) -> bool:
        return self.ranker == "-" and not self.variant


REFERENCES = (Point("-", "none", Budget("none")), Point("-", "full", Budget("full")))


def points_of(spec) -> list[Point]:
    pts = list(REFERENCES)
    for text, b in spec.budgets:
        if b.kind in ORACLE_BUDGETS:
            pts.append(Point("oracle", text, b))
    for r in spec.rankers:
        for text, b in spec.budgets:
            if b.kind not in ORACLE_BUDGETS:
                pts.append(Point(r, text, b))
    if spec.target_bits is not None:
        pts.append(Point(spec.rankers[0], "target", Budget("bits", spec.target_bits)))
    for v in [f"clip-{c}" for c in spec.clips] + [f"saf-{s.label}" for s in spec.safs]:
        pts.append(Point("-", "none", Budget("none"), v))
        for text, b in spec.combine:
            pts.append(Point("-", "full", b, v) if b.kind == "full" else Point(spec.rankers[0], text, b, v))
    return pts


@dataclass
class PointResult:
    """The measurements of one design point."""

    point: str
    ranker: str
    budget: str
    protected_bits: int
    variant: str
    design_hash: str
    clip_thresholds: dict = field(default_factory=dict)
    saf_function: str = ""
    yosys: dict = field(default_factory=dict)
    equivalence: dict = field(default_factory=dict)
    masking: dict = field(default_factory=dict)
    latency_cycles: int = 0
    multibit: dict = field(default_factory=dict)  # with "delta_cost": ΔC per trial (kept in .work, not in dse/)
    ber: list = field(default_factory=list)
    same_plan_as: str | None = None  # the point with the same bits (and so the same hardware)
    version: int = RESULT_VERSION

    def for_point(self, p: Point, twin: str) -> "PointResult":
        """This measurement as the result of point ``p``, whose plan has the same bits."""
        d = asdict(self) | {"point": p.id, "ranker": p.ranker, "budget": p.budget, "same_plan_as": twin}
        return PointResult(**d)

    def save(self, path: Path) -> None:
        from codesign.workspace import write_json

        write_json(path, asdict(self), indent=None)

    def public(self) -> dict:
        """What ``dse/points/<point>/result.json`` holds (the per-trial ΔC stays in the working directory)."""
        d = asdict(self)
        d["multibit"] = {k: v for k, v in self.multibit.items() if k != "delta_cost"}
        if d["same_plan_as"] is None:
            del d["same_plan_as"]
        return d

    @classmethod
    def stored(cls, path: Path, design_hash: str) -> "PointResult | None":
        """A point's result from an earlier run of the same version and network, if any."""
        try:
            d = json.loads(Path(path).read_text())
            res = cls(**d)
        except (OSError, ValueError, TypeError):
            return None
        if res.version != RESULT_VERSION or res.design_hash != design_hash:
            return None
        return res
