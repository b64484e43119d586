"""``design_points.csv`` and ``ber_sweep.csv``: the columns, the limits ``codesign check`` enforces, and reading them
back. The one place that knows the schema: the design-space exploration writes with it, ``codesign check``, the
report and the design-file checks read with it.

A design point is one protection plan (a ranker and a budget) with its measured costs. The two references have
ranker ``-`` and budget ``none`` (no TMR) or ``full`` (every bit triplicated). Empty CSV cells mean "not measured"
and are read as ``None``.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from codesign.errors import CodesignError

CSV = "design_points.csv"
BER_CSV = "ber_sweep.csv"
COLUMNS = ["design", "ranker", "budget", "protected_bits", "area_cells", "luts", "ffs", "latency_cycles",
           "cost_fault_free", "multibit_mean_delta_cost", "errors_prevented_pct", "equivalence", "masking_verified",
           "multibit_error_rate", "single_bit_expected_delta_cost", "single_bit_sum_delta_cost", "cmos_transistors",
           "logic_depth", "area_overhead_pct", "multibit_flips", "multibit_trials", "metric", "point", "mitigation",
           "variant", "clip_thresholds", "saf_function", "ber_mean_expected_cost", "target_met"]
BER_COLUMNS = ["design", "point", "mitigation", "protected_bits", "area_cells", "ber", "trials", "mean_flips_drawn",
               "expected_cost", "mean_delta_cost", "error_rate"]

TEXT_COLUMNS = ("design", "ranker", "budget", "metric", "point", "mitigation", "variant", "clip_thresholds",
                "saf_function")
BOOL_COLUMNS = ("equivalence", "masking_verified", "target_met")
REQUIRED_COLUMNS = ("design", "ranker", "budget", "equivalence", "masking_verified")
X_AREA, Y_DELTA = "area_cells", "multibit_mean_delta_cost"


def _cell(column: str, raw: str):
    text = (raw or "").strip()
    if text == "":
        return None
    if column in TEXT_COLUMNS:
        return text
    if column in BOOL_COLUMNS:
        low = text.lower()
        return True if low == "true" else False if low == "false" else text
    try:
        value = float(text)
    except ValueError:
        return text
    return None if math.isnan(value) else value


def read_points(path: str | Path) -> tuple[list[str], list[dict]]:
    """(columns in file order, one dict per row with numbers as float, true/false as bool, empty as None)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = list(reader.fieldnames or [])
            rows = [{c: _cell(c, r.get(c)) for c in columns} for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CodesignError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise CodesignError(f"{path} is not a design_points.csv: no column {', '.join(missing)}")
    return columns, rows


def as_points(points) -> list[dict]:
    """A list of point dicts as given, or the rows of a design_points.csv path."""
    if isinstance(points, (str, os.PathLike)):
        return read_points(points)[1]
    return list(points)


def number(value) -> float | None:
    """A finite float, or None for missing / non-numeric / NaN / infinite cells."""
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def reference(point: dict) -> str | None:
    """'none' or 'full' for the two reference points, None for a ranker's plan or a mitigated network's point."""
    budget = str(point.get("budget") or "").strip().lower()
    return budget if budget in ("none", "full") and not point.get("variant") else None


def series(point: dict) -> str:
    """The line a point belongs to in the plots: its ranker, or its mitigated network (``clip-actmax``,
    ``saf-tanh``)."""
    return str(point["variant"]) if point.get("variant") else str(point.get("ranker"))


def label(point: dict) -> str:
    """How a point is named in plots, tables and failure messages: ``ranker/budget``, or the reference's name."""
    ref = reference(point)
    if ref:
        return ref
    if point.get("variant"):
        return str(point.get("point") or f"{point['variant']}/{point.get('budget')}")
    return f"{point.get('ranker') or '?'}/{point.get('budget') or '?'}"


def pareto_front(points, x: str = X_AREA, y: str = Y_DELTA) -> list[int]:
    """Indices of the points no other point dominates when minimising both ``x`` and ``y``, by increasing x.

    q dominates p when q is no worse in both and strictly better in one, so points with identical (x, y) are all
    on the front (neither dominates the other) and of several points at the same x only the lowest y survive.
    Points with x or y missing, NaN or infinite are left out.
    """
    pts = as_points(points)
    valued = [(number(p.get(x)), number(p.get(y)), i) for i, p in enumerate(pts)]
    valued = sorted(v for v in valued if v[0] is not None and v[1] is not None)
    front: list[int] = []
    best_y = math.inf  # lowest y among points with smaller x, or equal x seen earlier
    last = None
    for vx, vy, i in valued:
        if vy < best_y or (vx, vy) == last:
            front.append(i)
            last = (vx, vy)
        best_y = min(best_y, vy)
    return front


# limit -> (column, "max" | "min", reference point it does not apply to):
# quality limits spare the `none` reference (it exists to show the unprotected damage), area limits the `full` one
LIMITS = {
    "max_multibit_delta_cost": ("multibit_mean_delta_cost", "max", "none"),
    "min_errors_prevented_pct": ("errors_prevented_pct", "min", "none"),
    "max_cost_fault_free": ("cost_fault_free", "max", "none"),
    "max_area_cells": ("area_cells", "max", "full"),
    "max_luts": ("luts", "max", "full"),
    "max_area_overhead_pct": ("area_overhead_pct", "max", "full"),
}


def numeric_columns(columns=None) -> list[str]:
    cols = COLUMNS if columns is None else columns
    return [c for c in cols if c not in TEXT_COLUMNS and c not in BOOL_COLUMNS]


def limit_rule(key: str, columns=None) -> tuple[str, str, str | None] | None:
    """(column, 'max'|'min', exempt reference or None) for a limit key, or None when the key names nothing: one of
    :data:`LIMITS`, or ``max_<column>`` / ``min_<column>`` of a numeric column (of ``columns``, default the
    columns codesign writes), which applies to every point."""
    if key in LIMITS:
        return LIMITS[key]
    kind, _, column = str(key).partition("_")
    if kind in ("max", "min") and column in numeric_columns(columns):
        return column, kind, None
    return None


def check_limits(limits, origin: str) -> dict:
    """A design file's ``limits:`` mapping, every key known and every bound a number."""
    if not isinstance(limits, dict):
        raise CodesignError(f"{origin}: limits must be a mapping ({', '.join(LIMITS)}, or max_/min_<column>)")
    for k, v in limits.items():
        if limit_rule(k) is None:
            raise CodesignError(f"{origin}: unknown limit {k!r}; known: {', '.join(LIMITS)}, or max_/min_ and a "
                                "numeric column of design_points.csv")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise CodesignError(f"{origin}: limit {k} must be a number, got {v!r}")
    return dict(limits)


def fmt(v):
    """A value as written into the CSVs (empty = not measured)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(round(v, 10))
    return v


def write_rows(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow([fmt(r[c]) for c in columns])


def read_ber(path: str | Path) -> list[dict]:
    """Rows of a ber_sweep.csv (numbers as float); [] when the run has no BER sweep."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [{c: _cell(c, v) for c, v in r.items()} for r in csv.DictReader(f)]
