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
      target: {max_multibit_delta_cost: 0.001}   # or {relative: 0.01}: the cheapest protection that meets it
      simulator: verilator                # RTL simulator of the masking runs (default: rtl.simulator, else icarus)
    limits:                               # what `codesign check` enforces (any subset)
      max_multibit_delta_cost: 0.01
      max_area_cells: 2000000

A budget ``sensitive`` protects every bit the oracle finds sensitive, ``observable`` every bit whose single flip
changes any output; they do not depend on a ranking, so each is one design point (ranker ``oracle``) whatever rankers
are listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from codesign.errors import CodesignError
from codesign.protect.budget import Budget, parse_budget

ORACLE_BUDGETS = ("sensitive", "observable")  # budgets that are sets read off the oracle, not a ranking's top
FKERAS_FLIP_FRACTION = 960 / 12864  # FKeras §3.2.2: 960 flips in ECON-T's 12 864 weight bits
DSE_KEYS = ("rankers", "budgets", "multibit", "masking_rows", "masking_group", "unprotected_samples", "yosys", "clip",
            "saf", "combine", "ber", "target", "simulator")
TARGET_KEYS = ("max_multibit_delta_cost", "relative")
CLIP_METHODS = ("actmax", "clipact")


@dataclass(frozen=True)
class DseSpec:
    rankers: list[str]
    budgets: list[tuple[str, Budget]]  # (text as written in design_points.csv, parsed budget)
    flips: int | None  # None until resolved for a network: FKeras' share of its bits
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
    target: dict | None = None  # {max_multibit_delta_cost: X} or {relative: R} (of the unprotected design's ΔC)
    target_bits: int | None = None  # found by the search (codesign.dse.target), like flips: resolved at run time
    target_bound: float | None = None
    simulator: str | None = None  # RTL simulator of the masking runs (codesign.rtl.simulators); None: the default

    def for_bits(self, bits: int, origin: str = "design") -> "DseSpec":
        """The settings for a network of ``bits`` BitSpace bits: the default flip count filled in, and the
        settings that depend on the network's size checked."""
        for _, b in self.budgets:
            if b.kind == "bits" and b.value > bits:
                raise CodesignError(f"{origin}: budget of {int(b.value)} bits exceeds the design's {bits} bits")
        flips = max(1, round(FKERAS_FLIP_FRACTION * bits)) if self.flips is None else self.flips
        if flips > bits:
            raise CodesignError(f"{origin}: dse.multibit.flips {flips} exceeds the design's {bits} bits")
        return replace(self, flips=flips)

    def with_options(self, rankers=None, budgets=None, flips=None, trials=None, origin: str = "design") -> "DseSpec":
        """These settings with some replaced, validated as in a design file (the Python API's overrides)."""
        dse = {"rankers": rankers if rankers is not None else self.rankers,
               "budgets": budgets if budgets is not None else [b for _, b in self.budgets]}
        out = replace(self, rankers=_rankers(dse, origin), budgets=_budgets(dse["budgets"], origin))
        if flips is not None:
            out = replace(out, flips=_int(flips, "multibit.flips", 1, origin))
        if trials is not None:
            out = replace(out, trials=_int(trials, "multibit.trials", 1, origin))
        return out

    @property
    def needs_oracle(self) -> bool:
        from codesign.rank.names import DYNAMIC

        return "oracle" in self.rankers or any(b.kind in ORACLE_BUDGETS for _, b in self.budgets) or \
            any(r in DYNAMIC for r in self.rankers)

    def to_dict(self) -> dict:
        return {"rankers": self.rankers, "budgets": [t for t, _ in self.budgets],
                "multibit": {"flips": self.flips, "trials": self.trials}, "masking_rows": self.masking_rows,
                "masking_group": self.masking_group,
                "unprotected_samples": self.unprotected_samples, "yosys": {"xilinx": self.xilinx, "cmos": self.cmos},
                "clip": self.clips, "saf": [s.label for s in self.safs], "combine": [t for t, _ in self.combine],
                "ber": {"rates": self.ber_rates, "trials": self.ber_trials}, "target": self.target,
                "simulator": self.simulator}


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


def _rankers(dse: dict, origin: str) -> list[str]:
    from codesign.rank.names import canonical

    rankers = dse.get("rankers", ["oracle"])
    if isinstance(rankers, str):
        rankers = [r for r in rankers.split(",") if r.strip()]
    if not isinstance(rankers, list) or not rankers or not all(isinstance(r, str) for r in rankers):
        raise CodesignError(f"{origin}: dse.rankers must be a non-empty list of ranker names")
    names = ["oracle" if r.strip().lower() == "oracle" else canonical(r) for r in rankers]
    return list(dict.fromkeys(names))


def _budgets(raw, origin: str, allowed=None, key: str = "budgets") -> list[tuple[str, Budget]]:
    if not isinstance(raw, list):
        raw = [raw]
    out: dict[str, Budget] = {}
    for b in raw:
        parsed = parse_budget(b)
        if allowed is not None and parsed.kind not in allowed:
            raise CodesignError(f"{origin}: dse.{key} takes fractions, {{bits: N}} or full, not {b!r}")
        if allowed is not None or parsed.kind not in ("none", "full"):
            out.setdefault(budget_text(parsed), parsed)
    return list(out.items())


def _mapping(dse: dict, key: str, keys: tuple, origin: str) -> dict:
    value = dse.get(key) or {}
    if not isinstance(value, dict) or set(value) - set(keys):
        raise CodesignError(f"{origin}: dse.{key} must be a mapping with keys {', '.join(keys)}")
    return value


def _flag(value, key: str, origin: str) -> bool:
    if not isinstance(value, bool):
        raise CodesignError(f"{origin}: dse.{key} must be true or false, got {value!r}")
    return value


def _mitigations(dse: dict, origin: str) -> tuple[list, list, list]:
    from codesign.mitigate.saf import parse_spec as parse_saf

    clips = dse.get("clip") or []
    if isinstance(clips, str):
        clips = [clips]
    if not isinstance(clips, list) or any(c not in CLIP_METHODS for c in clips):
        raise CodesignError(f"{origin}: dse.clip must be a list of {', '.join(CLIP_METHODS)}")
    safs = dse.get("saf") or []
    if isinstance(safs, (str, dict)):
        safs = [safs]
    if not isinstance(safs, list):
        raise CodesignError(f"{origin}: dse.saf must be a list of weight transforms (a name or {{function, ...}})")
    safs = list({s.label: s for s in (parse_saf(s, f"{origin}: dse.saf") for s in safs)}.values())
    combine = _budgets(dse.get("combine") or [], origin, ("fraction", "bits", "full"), "combine")
    if combine and not clips and not safs:
        raise CodesignError(f"{origin}: dse.combine needs dse.clip or dse.saf (it combines them with TMR)")
    return list(dict.fromkeys(clips)), safs, combine


def _ber(dse: dict, origin: str) -> tuple[list[float], int]:
    ber = _mapping(dse, "ber", ("rates", "trials"), origin)
    rates = ber.get("rates", [])
    if not isinstance(rates, list) or any(isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r < 1
                                          for r in rates):
        raise CodesignError(f"{origin}: dse.ber.rates must be a list of bit error rates in (0, 1)")
    trials = _int(ber.get("trials", 50), "ber.trials", 1, origin) if rates else 0
    return sorted(float(r) for r in set(rates)), trials


def _target(dse: dict, origin: str) -> dict | None:
    """``target:`` one bound on the multi-bit ΔC: absolute, or relative to the unprotected design's."""
    if dse.get("target") is None:
        return None
    t = dse["target"]
    if not isinstance(t, dict) or len(t) != 1 or set(t) - set(TARGET_KEYS):
        raise CodesignError(f"{origin}: dse.target must be {{max_multibit_delta_cost: X}} or {{relative: R}}")
    (key, value), = t.items()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or \
            (key == "relative" and not 0 < value <= 1):
        raise CodesignError(f"{origin}: dse.target.{key} must be a number "
                            f"{'in (0, 1]' if key == 'relative' else '>= 0'}, got {value!r}")
    return {key: float(value)}


def parse_spec(raw: dict, origin: str = "design") -> DseSpec:
    """Validate ``raw['dse']`` and ``raw['limits']`` of a design file (what depends on the network's size is checked
    by :meth:`DseSpec.for_bits`)."""
    from codesign.points import check_limits
    from codesign.rtl.simulators import check_name

    dse = raw.get("dse") or {}
    if not isinstance(dse, dict):
        raise CodesignError(f"{origin}: dse must be a mapping ({', '.join(DSE_KEYS)})")
    unknown = sorted(set(dse) - set(DSE_KEYS))
    if unknown:
        raise CodesignError(f"{origin}: unknown dse key {unknown[0]!r}; known: {', '.join(DSE_KEYS)}")
    mb = _mapping(dse, "multibit", ("flips", "trials"), origin)
    flips = None if mb.get("flips") is None else _int(mb["flips"], "multibit.flips", 1, origin)
    ys = _mapping(dse, "yosys", ("xilinx", "cmos"), origin)
    clips, safs, combine = _mitigations(dse, origin)
    rates, ber_trials = _ber(dse, origin)
    return DseSpec(_rankers(dse, origin), _budgets(dse.get("budgets", ["sensitive"]), origin), flips,
                   _int(mb.get("trials", 200), "multibit.trials", 1, origin),
                   _int(dse.get("masking_rows", 2), "masking_rows", 1, origin),
                   _int(dse.get("masking_group", 16), "masking_group", 1, origin),
                   _int(dse.get("unprotected_samples", 20), "unprotected_samples", 0, origin),
                   _flag(ys.get("xilinx", True), "yosys.xilinx", origin), _flag(ys.get("cmos", True), "yosys.cmos",
                                                                                origin),
                   check_limits(raw.get("limits") or {}, origin), clips, safs, combine, rates, ber_trials,
                   _target(dse, origin),
                   simulator=check_name(dse.get("simulator"), f"{origin}: dse.simulator"))
