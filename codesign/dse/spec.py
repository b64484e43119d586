"""The design-space exploration settings of a design file (``dse:`` and ``limits:``), validated before any work.

::

    dse:
      rankers: [oracle, bitwise]          # 'oracle' = the exhaustive single-bit campaign; any `codesign rank` method
      budgets: [sensitive, 0.05, 0.1, {bits: 200}, {area: 0.4}]   # 'none' and 'full' are always added
      multibit: {flips: 960, trials: 1000}  # default: 7.46 % of the bits (FKeras: 960 of ECON-T's 12 864), 200 trials
      masking_rows: 2                     # inputs streamed per fault in the RTL masking check
      masking_group: 16                   # protected bits upset together per masking fault (1: each alone)
      unprotected_samples: 20             # unprotected bits whose RTL ΔC is compared with the simulator's
      yosys: {xilinx: true, cmos: true}
      clip: [actmax, clipact]             # activation-clipping points (ClipAct's CReLU), without TMR
      saf: [tanh, hardtanh, {function: tanh, level: 0.5, train: {epochs: 10}}]   # weight-table points
      combine: [0.2, full]                # ... each also with TMR from the first ranker at these budgets
      ber: {rates: [1e-5, 1e-4, 1e-3], trials: 50}   # bit-error-rate sweep of every point (ber_sweep.csv)
    limits:                               # what `codesign check` enforces (any subset)
      max_multibit_delta_cost: 0.01
      max_area_cells: 2000000

A budget ``sensitive`` protects every bit the oracle finds sensitive, ``observable`` every bit whose single flip
changes any output; they do not depend on a ranking, so each is one design point (ranker ``oracle``) whatever rankers
are listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codesign.errors import CodesignError
from codesign.protect.budget import Budget, parse_budget

LIMIT_KEYS = ("max_multibit_delta_cost", "max_area_cells", "max_luts", "max_area_overhead_pct",
              "min_errors_prevented_pct", "max_cost_fault_free")
ORACLE_BUDGETS = ("sensitive", "observable")  # budgets that are sets read off the oracle, not a ranking's top
FKERAS_FLIP_FRACTION = 960 / 12864  # FKeras §3.2.2: 960 flips in ECON-T's 12 864 weight bits
DSE_KEYS = ("rankers", "budgets", "multibit", "masking_rows", "masking_group", "unprotected_samples", "yosys", "clip",
            "saf", "combine", "ber")
CLIP_METHODS = ("actmax", "clipact")


@dataclass
class DseSpec:
    rankers: list[str]
    budgets: list[tuple[str, Budget]]  # (text as written in design_points.csv, parsed budget)
    flips: int
    trials: int
    masking_rows: int = 2
    masking_group: int = 16
    unprotected_samples: int = 20
    xilinx: bool = True
    cmos: bool = True
    limits: dict = field(default_factory=dict)
    clips: list = field(default_factory=list)  # activation-clipping variants (CLIP_METHODS)
    safs: list = field(default_factory=list)  # saturated weight transforms (codesign.mitigate.saf.SafSpec)
    combine: list = field(default_factory=list)  # (text, Budget) applied with every clipping variant
    ber_rates: list = field(default_factory=list)
    ber_trials: int = 0

    @property
    def needs_oracle(self) -> bool:
        from codesign.rank.api import DYNAMIC

        return "oracle" in self.rankers or any(b.kind in ORACLE_BUDGETS for _, b in self.budgets) or \
            any(r in DYNAMIC for r in self.rankers)

    def to_dict(self) -> dict:
        return {"rankers": self.rankers, "budgets": [t for t, _ in self.budgets],
                "multibit": {"flips": self.flips, "trials": self.trials}, "masking_rows": self.masking_rows,
                "masking_group": self.masking_group,
                "unprotected_samples": self.unprotected_samples, "yosys": {"xilinx": self.xilinx, "cmos": self.cmos},
                "clip": self.clips, "saf": [s.label for s in self.safs], "combine": [t for t, _ in self.combine],
                "ber": {"rates": self.ber_rates, "trials": self.ber_trials}}


def budget_text(b: Budget) -> str:
    if b.kind == "fraction":
        return f"{b.value:g}"
    if b.kind == "bits":
        return f"bits:{int(b.value)}"
    if b.kind == "area":
        return f"area:{b.value:g}"
    return b.kind


def _int(raw, key: str, lo: int, origin: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < lo:
        raise CodesignError(f"{origin}: dse.{key} must be an integer >= {lo}, got {raw!r}")
    return raw


def parse_spec(raw: dict, bits: int, origin: str = "design") -> DseSpec:
    """Validate ``raw['dse']`` and ``raw['limits']`` of a design file (``bits``: BitSpace size)."""
    from codesign.rank.api import canonical

    dse = raw.get("dse") or {}
    if not isinstance(dse, dict):
        raise CodesignError(f"{origin}: dse must be a mapping ({', '.join(DSE_KEYS)})")
    unknown = sorted(set(dse) - set(DSE_KEYS))
    if unknown:
        raise CodesignError(f"{origin}: unknown dse key {unknown[0]!r}; known: {', '.join(DSE_KEYS)}")
    rankers = dse.get("rankers", ["oracle"])
    if isinstance(rankers, str):
        rankers = [r for r in rankers.split(",") if r.strip()]
    if not isinstance(rankers, list) or not rankers or not all(isinstance(r, str) for r in rankers):
        raise CodesignError(f"{origin}: dse.rankers must be a non-empty list of ranker names")
    names = []
    for r in rankers:
        r = r.strip().lower()
        names.append("oracle" if r == "oracle" else canonical(r))
    budgets_raw = dse.get("budgets", ["sensitive"])
    if not isinstance(budgets_raw, list):
        budgets_raw = [budgets_raw]
    budgets = []
    for b in budgets_raw:
        parsed = parse_budget(b)
        if parsed.kind == "bits" and parsed.value > bits:
            raise CodesignError(f"{origin}: budget of {int(parsed.value)} bits exceeds the design's {bits} bits")
        text = budget_text(parsed)
        if parsed.kind not in ("none", "full") and text not in [t for t, _ in budgets]:
            budgets.append((text, parsed))
    mb = dse.get("multibit") or {}
    if not isinstance(mb, dict) or set(mb) - {"flips", "trials"}:
        raise CodesignError(f"{origin}: dse.multibit must be a mapping with keys flips, trials")
    flips = _int(mb.get("flips", max(1, round(FKERAS_FLIP_FRACTION * bits))), "multibit.flips", 1, origin)
    if flips > bits:
        raise CodesignError(f"{origin}: dse.multibit.flips {flips} exceeds the design's {bits} bits")
    trials = _int(mb.get("trials", 200), "multibit.trials", 1, origin)
    ys = dse.get("yosys") or {}
    if not isinstance(ys, dict) or set(ys) - {"xilinx", "cmos"}:
        raise CodesignError(f"{origin}: dse.yosys must be a mapping with keys xilinx, cmos (true/false)")
    clips = dse.get("clip") or []
    if isinstance(clips, str):
        clips = [clips]
    if not isinstance(clips, list) or any(c not in CLIP_METHODS for c in clips):
        raise CodesignError(f"{origin}: dse.clip must be a list of {', '.join(CLIP_METHODS)}")
    from codesign.mitigate.saf import parse_spec

    safs = dse.get("saf") or []
    if isinstance(safs, (str, dict)):
        safs = [safs]
    if not isinstance(safs, list):
        raise CodesignError(f"{origin}: dse.saf must be a list of weight transforms (a name or {{function, ...}})")
    safs = list({s.label: s for s in (parse_spec(s, f"{origin}: dse.saf") for s in safs)}.values())
    combine = []
    for b in dse.get("combine") or []:
        parsed = parse_budget(b)
        if parsed.kind not in ("fraction", "bits", "full"):
            raise CodesignError(f"{origin}: dse.combine takes fractions, {{bits: N}} or full, not {b!r}")
        combine.append((budget_text(parsed), parsed))
    if combine and not clips and not safs:
        raise CodesignError(f"{origin}: dse.combine needs dse.clip or dse.saf (it combines them with TMR)")
    ber = dse.get("ber") or {}
    if not isinstance(ber, dict) or set(ber) - {"rates", "trials"}:
        raise CodesignError(f"{origin}: dse.ber must be a mapping with keys rates, trials")
    rates = ber.get("rates", [])
    if not isinstance(rates, list) or any(isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r < 1
                                          for r in rates):
        raise CodesignError(f"{origin}: dse.ber.rates must be a list of bit error rates in (0, 1)")
    ber_trials = _int(ber.get("trials", 50), "ber.trials", 1, origin) if rates else 0
    limits = raw.get("limits") or {}
    if not isinstance(limits, dict):
        raise CodesignError(f"{origin}: limits must be a mapping ({', '.join(LIMIT_KEYS)})")
    for k, v in limits.items():
        if k not in LIMIT_KEYS:
            raise CodesignError(f"{origin}: unknown limit {k!r}; known: {', '.join(LIMIT_KEYS)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise CodesignError(f"{origin}: limit {k} must be a number, got {v!r}")
    return DseSpec(list(dict.fromkeys(names)), budgets, flips, trials,
                   _int(dse.get("masking_rows", 2), "masking_rows", 1, origin),
                   _int(dse.get("masking_group", 16), "masking_group", 1, origin),
                   _int(dse.get("unprotected_samples", 20), "unprotected_samples", 0, origin),
                   bool(ys.get("xilinx", True)), bool(ys.get("cmos", True)), dict(limits),
                   list(dict.fromkeys(clips)), safs, list(dict(combine).items()),
                   sorted(float(r) for r in set(rates)), ber_trials)
