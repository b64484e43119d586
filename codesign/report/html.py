"""``report.html``: one self-contained page per design-space exploration run.

Everything is inside the file — PNGs as base64 data URIs, inline CSS, no JavaScript, no external references — so it
can be mailed, attached to a CI job or opened from any folder. Every value from the run is passed through
``html.escape`` (design names and settings come from user files).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from codesign.check import check_run, find_runs, point_failures, read_run
from codesign.errors import CodesignError
from codesign.points import BER_CSV, LIMITS, label, limit_rule, pareto_front, read_ber, reference
from codesign.report.dse import dse_plots
from codesign.workspace import write_text

COLUMN_HELP = {
    "design": "design name (design file)",
    "ranker": "sensitivity ranker that ordered the bits ('-' for the references)",
    "budget": "how many bits the plan triplicates: a fraction, bits:N, area:F (share of full TMR's overhead), "
              "sensitive (every bit with single-bit ΔC > 0), none or full",
    "protected_bits": "weight/bias bits stored as three voted replicas",
    "area_cells": "Yosys generic cells of the synthesized RTL",
    "luts": "Yosys synth_xilinx (xc7) LUTs",
    "ffs": "Yosys synth_xilinx (xc7) flip-flops",
    "latency_cycles": "clock cycles from input to output",
    "cost_fault_free": "cost metric without faults",
    "multibit_mean_delta_cost": "ΔC: mean cost increase over fault-free under multi-bit upsets (lower is better)",
    "errors_prevented_pct": "of the multi-bit trials that hurt the unprotected design (ΔC > 0), the share that do no "
                            "harm with this plan (same trials; higher is better)",
    "equivalence": "Yosys proves the protected design equivalent to the unprotected one without faults",
    "masking_verified": "upsets of one replica of protected bits shown to leave the outputs unchanged",
    "multibit_error_rate": "share of multi-bit trials with ΔC > 0",
    "single_bit_expected_delta_cost": "expected single-bit ΔC of an upset at a uniformly random bit (protected bits "
                                      "count 0)",
    "single_bit_sum_delta_cost": "sum of single-bit ΔC over the unprotected bits",
    "cmos_transistors": "Yosys stat -tech cmos transistor count",
    "logic_depth": "Yosys ltp: longest topological path",
    "area_overhead_pct": "extra area (cells) over the unprotected design as a share of full TMR's extra area "
                         "(0 = none, 100 = full)",
    "multibit_flips": "bits flipped per multi-bit trial",
    "multibit_trials": "multi-bit trials run",
    "metric": "cost metric",
    "point": "design point identifier (its folder under points/)",
}

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em 2em; color: #222;
       max-width: 1400px; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.sub { color: #555; margin-top: 0; }
.verdict { padding: 0.6em 1em; border-radius: 4px; margin: 1em 0; }
.verdict.pass { background: #e6f4ea; border: 1px solid #7cb98a; }
.verdict.fail { background: #fdecea; border: 1px solid #e08a80; }
.verdict ul { margin: 0.4em 0 0 0; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; }
th { background: #f3f3f3; text-align: left; position: sticky; top: 0; }
table.kv td:first-child { font-weight: 600; }
.scroll { overflow-x: auto; }
table.points td { white-space: nowrap; }
table.points td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.points tr.ref td { background: #f7f7fb; font-style: italic; }
table.points tr.pareto td.pareto { color: #b00; font-weight: 700; text-align: center; }
table.points td.bad { background: #f8c9c4; color: #900; font-weight: 600; }
table.points tr.failed td:first-child { border-left: 4px solid #c00; }
td.na { color: #999; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 13px; }
.how p, .how li { line-height: 1.45; max-width: 60em; }
footer { margin-top: 2em; color: #888; font-size: 12px; }
"""

CAPTIONS = {
    "pareto_area_vs_delta.png": "Area against multi-bit ΔC for every design point. Red-edged points joined by the "
                                "red step line are Pareto-optimal: no other point is at least as small and at least "
                                "as reliable.",
    "budget_vs_delta.png": "Multi-bit ΔC against the number of protected bits, one line per ranker; the horizontal "
                           "lines are the references (none: no TMR, full: every bit triplicated). A better ranker "
                           "reaches a low ΔC with fewer bits.",
    "area_vs_protected.png": "Area against the number of protected bits: what each triplicated bit costs.",
    "ber_sweep.png": "Expected cost over all rows against the bit error rate of the weight and bias registers, one "
                     "curve per design point (activation clipping, selective TMR, combinations, the references), "
                     "with each point's area: which mitigation is better at equal fault rate, and what it costs.",
}


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value) -> tuple[str, str, str]:
    """(text shown, css class, title) of one cell."""
    if value is None:
        return "—", "na", "not measured"
    if isinstance(value, bool):
        return ("true" if value else "false"), "", ""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value)), "num", ""
        return f"{value:.4g}", "num", repr(value)
    return str(value), "", ""


def _json_value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _kv_table(rows: list[tuple]) -> str:
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>\n" for r in rows)
    return f'<table class="kv">\n{body}</table>'


def _applies_to(key: str, columns) -> str:
    rule = limit_rule(key, columns)
    if rule is None:
        return "unknown limit: not checked"
    column, kind, exempt = rule
    where = f"all points except {exempt}" if exempt else "all points"
    return f"{column} {'≤' if kind == 'max' else '≥'} limit, {where}"


def _points_table(columns: list[str], points: list[dict], limits: dict, front: set[int]) -> str:
    head = '<th title="Pareto-optimal in area_cells and multibit_mean_delta_cost">Pareto</th>' + "".join(
        f'<th title="{_e(COLUMN_HELP.get(c, ""))}">{_e(c)}</th>' for c in columns)
    rows = []
    for i, p in enumerate(points):
        bad = point_failures(p, limits, columns)
        classes = [c for c, on in (("ref", reference(p)), ("pareto", i in front), ("failed", bad)) if on]
        cells = [f'<td class="pareto">{"★" if i in front else ""}</td>']
        for c in columns:
            text, cls, title = _fmt(p.get(c))
            if c in bad:
                cls, title = f"{cls} bad".strip(), bad[c]
            attrs = (f' class="{_e(cls)}"' if cls else "") + (f' title="{_e(title)}"' if title else "")
            cells.append(f"<td{attrs}>{_e(text)}</td>")
        rows.append(f'<tr id="point-{i}" class="{" ".join(classes)}">' + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table class="points">\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(rows) + "\n</tbody></table></div>")


def _how_to_read(metric: str) -> str:
    m = _e(metric or "the design's cost metric")
    return f"""<div class="how">
<p>Each row is one <b>design point</b>: a protection plan that stores some weight and bias bits as three replicas
behind a majority voter (selective TMR). A <b>ranker</b> orders the bits by predicted sensitivity and the
<b>budget</b> says how many of the top bits are protected. The two references bound the space: <i>none</i> (no
protection) and <i>full</i> (every bit triplicated).</p>
<ul>
<li><b>ΔC</b> (<code>multibit_mean_delta_cost</code>) is the mean increase of the cost metric ({m}) over the
fault-free design when several weight bits are upset at once (<code>multibit_flips</code> bits per trial,
<code>multibit_trials</code> trials), clipped at 0. Lower is better; full TMR should reach 0.</li>
<li><b>Errors prevented</b> (<code>errors_prevented_pct</code>): every point sees the same multi-bit trials; of the
trials that hurt the unprotected design (<i>none</i>, ΔC &gt; 0), the share that do no harm with this plan. 0 % is no
better than no protection, 100 % prevents every error full TMR would.</li>
<li><b>Area overhead</b> (<code>area_overhead_pct</code>) is the extra area (Yosys cells) of the protected design over
the unprotected one, as a share of full TMR's extra area: 0 % costs nothing, 100 % as much as triplicating every bit.
<code>area_cells</code>, <code>luts</code> and <code>ffs</code> are the absolute figures.</li>
<li>A point is <b>Pareto-optimal</b> (★) when no other point has both smaller-or-equal area and smaller-or-equal ΔC
(one of them strictly smaller): those are the only plans worth choosing between.</li>
<li><span class="bad-key" style="background:#f8c9c4;color:#900;padding:0 3px">Red cells</span> fail the
<code>codesign check</code> gate: equivalence or masking not proven (an empty cell was not measured), or a limit of
the design file exceeded; hover over a cell for the reason.</li>
</ul></div>"""


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    caption = CAPTIONS.get(path.name, "")
    return (f'<figure><img alt="{_e(path.stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _target(meta: dict) -> str:
    """The answer to ``dse.target`` first: the cheapest point that meets it, or that none does."""
    target = meta.get("target")
    if not target:
        return ""
    best = meta.get("smallest_point_meeting_target")
    if not best:
        return (f'<div class="verdict fail"><b>Target</b> multi-bit ΔC ≤ {target["bound"]:.4g}: no design point '
                "meets it.</div>\n")
    overhead = best.get("area_overhead_pct")
    return (f'<div class="verdict pass"><b>Cheapest design meeting the target</b> (multi-bit ΔC ≤ '
            f'{target["bound"]:.4g}): <b>{_e(best["point"])}</b> — {best["protected_bits"]} bits protected, '
            f'{best["area_cells"]} cells' + ("" if overhead is None else f" ({overhead:.1f} % of full TMR's extra "
                                             "cells)") + f', ΔC {best["multibit_mean_delta_cost"]:.4g}.</div>\n')


def render(run: dict, plots: list[Path]) -> str:
    """The report page of one dse directory (as read by :func:`codesign.check.read_run`)."""
    meta = run["meta"] or {}
    points, columns = run["points"], run["columns"]
    design = meta.get("design") or next((p["design"] for p in points if p.get("design")), run["dir"].name)
    metric = meta.get("metric") or next((p["metric"] for p in points if p.get("metric")), "")
    limits = meta.get("limits") or {}
    settings = meta.get("settings") or {}
    front = set(pareto_front(points))
    failures = check_run(run)
    if failures:
        items = "".join(f"<li>{_e(f)}</li>" for f in failures)
        verdict = (f'<div class="verdict fail"><b>codesign check: FAIL</b> — {len(failures)} failure(s)'
                   f"<ul>{items}</ul></div>")
    else:
        verdict = ('<div class="verdict pass"><b>codesign check: PASS</b> — every point is proven equivalent, its '
                   "masking verified, and every limit holds.</div>")
    if limits:
        limits_html = _kv_table([(k, _json_value(v), _applies_to(k, columns)) for k, v in limits.items()])
    else:
        limits_html = "<p>No limits in the design file: only equivalence and masking are checked.</p>"
    settings_html = (_kv_table([(k, _json_value(v)) for k, v in settings.items()]) if settings
                     else "<p>No settings recorded.</p>")
    # whatever else the run recorded (timings, headline figures), shown as written
    extra = [(k, _json_value(v)) for k, v in meta.items() if k not in ("design", "metric", "limits", "settings",
                                                                     "points")]
    if extra:
        settings_html += "\n<h3>Run summary (dse.json)</h3>\n" + _kv_table(extra)
    refs = {reference(p): label(p) for p in points if reference(p)}
    title = f"codesign design space: {design}"
    target_html = _target(meta)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{CSS}</style>
</head>
<body>
<h1>{_e(title)}</h1>
<p class="sub">metric <b>{_e(metric or "?")}</b> · {len(points)} design points
({_e(", ".join(refs) or "no references")} included) · {len(front)} Pareto-optimal in area and ΔC</p>
{target_html}{verdict}
<h2>How to read this report</h2>
{_how_to_read(metric)}
<h2>Settings</h2>
{settings_html}
<h2>Limits</h2>
{limits_html}
<h2>Design points</h2>
{_points_table(columns, points, limits, front)}
<h2>Plots</h2>
{"".join(_figure(p) for p in plots)}
<footer>Written by codesign from design_points.csv and dse.json of this directory; the PNGs are also in
plots/. Limits codesign check knows: {_e(", ".join(LIMITS))}.</footer>
</body>
</html>
"""


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` into the dse directory of ``run_dir`` — the ``codesign run --out`` directory of one
    design, the design's directory, or the dse directory itself — and the three PNGs it embeds into its ``plots/``."""
    runs = find_runs(run_dir)
    if len(runs) > 1:
        raise CodesignError(f"{run_dir} holds {len(runs)} design runs ({', '.join(r.parent.name for r in runs)}); "
                            "give one design's directory")
    run = read_run(runs[0])
    plots = dse_plots(run["points"], run["dir"] / "plots", read_ber(run["dir"] / BER_CSV))
    return write_text(run["dir"] / "report.html", render(run, plots))
