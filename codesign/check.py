"""``codesign check RUN_DIR``: the CI gate over a design-space exploration run.

A run fails when any design point
- has ``equivalence`` or ``masking_verified`` other than ``true`` (``false``, or empty = not measured: a gate cannot
  pass what it did not see), or
- violates a limit of its design file (``dse.json`` → ``limits``).

Which points a limit applies to:
- quality limits — ``max_multibit_delta_cost``, ``min_errors_prevented_pct``, ``max_cost_fault_free`` — apply to
  every point the user could ship, i.e. all points except the ``none`` reference (which exists to show the
  unprotected damage and fails them by design);
- area limits — ``max_area_cells``, ``max_luts``, ``max_area_overhead_pct`` — apply to every point except the
  ``full`` reference (the upper bound full TMR costs; ``none`` is checked: if even it is too big, no plan fits);
- any other ``max_<column>`` / ``min_<column>`` naming a numeric column of design_points.csv applies to every point.
A limited quantity left empty (not measured) fails the limit. A limit key that names no column fails the run
(a limit the gate cannot check is not enforced).

Exit status: 0 all pass, 1 failures listed one per line, 2 one ``error: …`` line (no design_points.csv found,
unreadable files).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from codesign.errors import CodesignError
from codesign.points import CSV, LIMITS, label, limit_rule, number, read_points, reference

def find_runs(run_dir: str | Path) -> list[Path]:
    """The dse directories (holding design_points.csv) under a ``--out`` dir, a design dir or a dse dir."""
    root = Path(run_dir)
    if not root.is_dir():
        raise CodesignError(f"run directory not found: {root}")
    if (root / CSV).is_file():
        return [root]
    if (root / "dse" / CSV).is_file():
        return [root / "dse"]
    # hidden siblings are atomic_dir's half-written temporaries
    found = sorted(d.parent for d in root.glob(f"*/dse/{CSV}") if not d.parent.parent.name.startswith("."))
    if not found:
        raise CodesignError(f"no {CSV} in {root}, {root}/dse or {root}/*/dse: not a `codesign run` output")
    return found


def read_run(dse_dir: str | Path) -> dict:
    """{'dir', 'columns', 'points', 'meta' (dse.json or None)} of one dse directory."""
    dse_dir = Path(dse_dir)
    columns, points = read_points(dse_dir / CSV)
    meta = None
    js = dse_dir / "dse.json"
    if js.is_file():
        try:
            meta = json.loads(js.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CodesignError(f"cannot read {js}: {exc}") from None
        if not isinstance(meta, dict):
            raise CodesignError(f"cannot read {js}: not a JSON object")
        if not isinstance(meta.get("limits") or {}, dict):
            raise CodesignError(f"{js}: 'limits' is not a mapping")
    return {"dir": dse_dir, "columns": columns, "points": points, "meta": meta}


def point_failures(point: dict, limits: dict, columns=None) -> dict[str, str]:
    """{column: why it fails} for one point (empty when it passes); the column is where a report marks it."""
    out: dict[str, str] = {}
    for col, what in (("equivalence", "protected design not proven equivalent to the unprotected one"),
                      ("masking_verified", "single-replica upsets of protected bits not shown to be masked")):
        v = point.get(col)
        if v is not True:
            shown = "not measured" if v is None else "false" if v is False else repr(v)
            out[col] = f"{col} {shown} ({what})"
    for key, bound in (limits or {}).items():
        rule = limit_rule(key, columns)
        if rule is None:
            continue  # reported once per run by check(), not once per point
        column, kind, exempt = rule
        if exempt is not None and reference(point) == exempt:
            continue
        b = number(bound)
        if b is None:
            continue  # reported once per run
        value = point.get(column)
        if value is None:
            why = f"{column} not measured, so limit {key} = {b:g} cannot be checked"
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            why = f"{column} {value!r} is not a number, so limit {key} = {b:g} cannot be checked"
        elif (kind == "max" and value > b) or (kind == "min" and value < b):
            why = f"{column} {value:.6g} {'>' if kind == 'max' else '<'} {key} {b:g}"
        else:
            continue
        out[column] = f"{out[column]}; {why}" if column in out else why
    return out


def point_name(point: dict) -> str:
    """The point's id (its folder under points/) when the run wrote one, else ``ranker/budget``."""
    return str(point.get("point") or label(point))


def check_run(run: dict) -> list[str]:
    """Failure messages of one dse directory read by :func:`read_run`."""
    meta, points = run["meta"], run["points"]
    design = (meta or {}).get("design") or next((p["design"] for p in points if p.get("design")), run["dir"].name)
    failures = []
    if meta is None:
        failures.append(f"{design}: no dse.json in {run['dir']}: limits cannot be checked")
    limits = (meta or {}).get("limits") or {}
    for key, bound in limits.items():
        if limit_rule(key, run["columns"]) is None:
            failures.append(f"{design}: unknown limit {key!r} in dse.json (known: {', '.join(LIMITS)}, or "
                            "max_/min_ and a design_points.csv column): not checked")
        elif number(bound) is None:
            failures.append(f"{design}: limit {key} = {bound!r} is not a number: not checked")
    if not points:
        failures.append(f"{design}: design_points.csv has no design points")
    target = (meta or {}).get("target")
    if target and not (meta or {}).get("smallest_point_meeting_target"):
        failures.append(f"{design}: no design point meets dse.target (multi-bit ΔC <= {target.get('bound'):.6g})")
    for p in points:
        for why in point_failures(p, limits, run["columns"]).values():
            failures.append(f"{p.get('design') or design} {point_name(p)}: {why}")
    return failures


def check(run_dir: str | Path) -> list[str]:
    """Failure messages for every design point under ``run_dir`` (empty = pass). Raises CodesignError when there is
    no design_points.csv to check or a file cannot be read."""
    failures = []
    for d in find_runs(run_dir):
        failures += check_run(read_run(d))
    return failures


def main_check(args) -> int:
    """``codesign check RUN_DIR``: 0 pass, 1 failures (one per line on stdout), 2 ``error: …`` on stderr."""
    try:
        runs = [read_run(d) for d in find_runs(args.run_dir)]
    except CodesignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failures = []
    for run in runs:
        failures += check_run(run)
    n_points = sum(len(r["points"]) for r in runs)
    where = ", ".join(str(r["dir"]) for r in runs)
    if failures:
        for f in failures:
            print(f"FAIL {f}")
        print(f"codesign check: {len(failures)} failure(s) in {n_points} design points ({where})")
        return 1
    print(f"codesign check: all {n_points} design points pass equivalence, masking and limits ({where})")
    return 0
