"""Design-space report (Pareto front, PNGs, self-contained report.html) and the `codesign check` gate, on small
synthetic run directories written by the tests (no flow needed)."""

import argparse
import base64
import csv
import html
import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from codesign.check import check, find_runs, main_check
from codesign.errors import CodesignError
from codesign.points import pareto_front, read_points
from codesign.report.dse import PLOTS, dse_plots
from codesign.report.html import write_report

COLUMNS = ["design", "ranker", "budget", "protected_bits", "area_cells", "luts", "ffs", "latency_cycles",
           "cost_fault_free", "multibit_mean_delta_cost", "errors_prevented_pct", "equivalence", "masking_verified",
           "multibit_error_rate", "single_bit_expected_delta_cost", "single_bit_sum_delta_cost", "cmos_transistors",
           "logic_depth", "area_overhead_pct", "multibit_flips", "multibit_trials", "metric", "point"]

# (ranker, budget, protected bits, area cells, ΔC): both references plus three rankers at two or three budgets
GRID = [("-", "none", 0, 1000, 0.20), ("-", "full", 960, 3000, 0.0),
        ("oracle", "0.05", 48, 1100, 0.05), ("oracle", "0.1", 96, 1200, 0.02), ("oracle", "sensitive", 130, 1260, 0.0),
        ("bitwise", "0.05", 48, 1100, 0.07), ("bitwise", "0.1", 96, 1200, 0.03),
        ("hessian", "0.05", 48, 1110, 0.09), ("hessian", "bits:100", 100, 1210, 0.06)]
LIMITS = {"max_multibit_delta_cost": 0.1, "max_area_cells": 2500, "min_errors_prevented_pct": 40}


def good_points(design="tiny"):
    rows = []
    for ranker, budget, bits, area, dc in GRID:
        rows.append({
            "design": design, "ranker": ranker, "budget": budget, "protected_bits": bits, "area_cells": area,
            "luts": area // 2, "ffs": 960 + 2 * bits, "latency_cycles": 3, "cost_fault_free": 0.0125,
            "multibit_mean_delta_cost": dc, "errors_prevented_pct": round(100 * (1 - dc / 0.2), 3),
            "equivalence": "true", "masking_verified": "true", "multibit_error_rate": dc * 2,
            "single_bit_expected_delta_cost": dc / 100, "single_bit_sum_delta_cost": dc * 10,
            "cmos_transistors": area * 6, "logic_depth": 40, "area_overhead_pct": round(100 * (area - 1000) / 1000, 3),
            "multibit_flips": 10, "multibit_trials": 200, "metric": "mispredict",
            "point": f"{'ref' if ranker == '-' else ranker}-{budget.replace(':', '')}"})
    return rows


def write_run(out, points, limits=LIMITS, design="tiny", metric="mispredict", meta=True):
    """`codesign run --out OUT` layout: OUT/<design>/dse/{design_points.csv, dse.json}; returns the dse dir."""
    dse = out / design / "dse"
    dse.mkdir(parents=True)
    with open(dse / "design_points.csv", "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        w.writerows(points)
    if meta:
        (dse / "dse.json").write_text(json.dumps({
            "design": design, "metric": metric, "limits": limits,
            "settings": {"rankers": ["oracle", "bitwise", "hessian"], "multibit": {"flips": 10, "trials": 200}},
            "points": points}))
    return dse


# ---------------------------------------------------------------- Pareto front

def brute_force_front(xs, ys):
    ok = [i for i in range(len(xs)) if xs[i] is not None and ys[i] is not None
          and math.isfinite(xs[i]) and math.isfinite(ys[i])]
    return {i for i in ok if not any(xs[j] <= xs[i] and ys[j] <= ys[i] and (xs[j] < xs[i] or ys[j] < ys[i])
                                     for j in ok)}


def test_pareto_front_small_example():
    pts = [{"a": 1, "b": 5}, {"a": 2, "b": 3}, {"a": 2, "b": 3}, {"a": 3, "b": 3}, {"a": 2, "b": 4},
           {"a": 4, "b": 1}, {"a": None, "b": 0}, {"a": 0.5, "b": float("nan")}, {"a": "", "b": 0}]
    assert pareto_front(pts, x="a", y="b") == [0, 1, 2, 5]


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(0, 25))
        # a small integer range makes ties and duplicates common
        xs = [float(v) for v in rng.integers(0, 6, n)] if trial % 2 else list(rng.random(n))
        ys = [float(v) for v in rng.integers(0, 6, n)] if trial % 3 else list(rng.random(n))
        for i in rng.choice(n, size=min(n, int(rng.integers(0, 4))), replace=False):
            (xs if rng.random() < 0.5 else ys)[i] = [None, float("nan"), float("inf")][int(rng.integers(0, 3))]
        pts = [{"area_cells": x, "multibit_mean_delta_cost": y} for x, y in zip(xs, ys)]
        front = pareto_front(pts)
        assert set(front) == brute_force_front(xs, ys), (xs, ys)
        assert len(front) == len(set(front))
        assert [xs[i] for i in front] == sorted(xs[i] for i in front)  # ordered for the step line


def test_pareto_front_from_csv(tmp_path):
    dse = write_run(tmp_path, good_points())
    _, rows = read_points(dse / "design_points.csv")
    front = pareto_front(dse / "design_points.csv")
    assert front == pareto_front(rows)
    xs, ys = [float(g[3]) for g in GRID], [g[4] for g in GRID]
    assert set(front) == brute_force_front(xs, ys)
    assert 1 not in front and 0 in front  # full TMR is dominated by the oracle's sensitive plan; none is smallest


# ---------------------------------------------------------------- plots

def png_pixels(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(path)
    return img.reshape(-1, img.shape[-1])


def test_plots_are_nontrivial_pngs(tmp_path):
    dse = write_run(tmp_path, good_points())
    paths = dse_plots(dse / "design_points.csv", tmp_path / "plots")
    assert [p.name for p in paths] == list(PLOTS)
    for p in paths:
        assert p.stat().st_size > 10_000
        pixels = png_pixels(p)
        assert len(np.unique(pixels, axis=0)) > 50  # axes, text and coloured markers, not a blank canvas
    # the same data give the same bytes (no timestamp in the PNG)
    again = dse_plots(good_points(), tmp_path / "again")
    assert [a.read_bytes() for a in again] == [p.read_bytes() for p in paths]


def test_plots_without_measurements_still_written(tmp_path):
    pts = good_points()
    for p in pts:
        p["area_cells"] = ""
    dse = write_run(tmp_path, pts)
    _, rows = read_points(dse / "design_points.csv")
    assert pareto_front(rows) == []
    paths = dse_plots(rows, tmp_path / "plots")
    assert all(p.is_file() for p in paths)


# ---------------------------------------------------------------- report.html

class Rows(HTMLParser):
    """Classes of every <tr id="point-i"> and of its cells."""

    def __init__(self):
        super().__init__()
        self.rows, self.current, self.imgs, self.refs = {}, None, [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and (a.get("id") or "").startswith("point-"):
            self.current = int(a["id"][6:])
            self.rows[self.current] = {"class": set((a.get("class") or "").split()), "cells": []}
        elif tag == "td" and self.current is not None:
            self.rows[self.current]["cells"].append(set((a.get("class") or "").split()))
        elif tag == "img":
            self.imgs.append(a.get("src") or "")
        for k in ("src", "href"):
            if k in a:
                self.refs.append(a[k])

    def handle_endtag(self, tag):
        if tag == "tr":
            self.current = None


def parse(text):
    p = Rows()
    p.feed(text)
    return p


def test_report_is_self_contained_and_marks_pareto_and_failures(tmp_path):
    pts = good_points()
    pts[5]["equivalence"] = "false"  # bitwise/0.05
    write_run(tmp_path, pts)
    report = write_report(tmp_path)  # the --out dir: finds tiny/dse
    assert report == tmp_path / "tiny" / "dse" / "report.html"
    assert all((report.parent / "plots" / name).is_file() for name in PLOTS)
    text = report.read_text()
    assert text.startswith("<!DOCTYPE html>")
    doc = parse(text)
    assert len(doc.imgs) == 3 and all(s.startswith("data:image/png;base64,") for s in doc.imgs)
    for s in doc.imgs:
        assert base64.b64decode(s.split(",", 1)[1])[:4] == b"\x89PNG"
    assert doc.refs == doc.imgs  # no other src/href at all
    without_images = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    assert "http" not in without_images and 'src="file' not in text and "<script" not in text.lower()
    assert "<style>" in text and "<link" not in text
    # one row per point in CSV order; Pareto rows and failed cells marked
    assert sorted(doc.rows) == list(range(len(pts)))
    front = set(pareto_front(pts))
    assert {i for i, r in doc.rows.items() if "pareto" in r["class"]} == front
    assert {i for i, r in doc.rows.items() if "failed" in r["class"]} == {5}
    bad_cells = [j for j, c in enumerate(doc.rows[5]["cells"]) if "bad" in c]
    assert bad_cells == [1 + COLUMNS.index("equivalence")]  # first cell is the Pareto mark
    assert "FAIL" in text and "equivalence false" in text
    for word in ("mispredict", "max_multibit_delta_cost", "How to read", "ΔC", "Errors prevented", "Area overhead"):
        assert word in text


def test_report_escapes_user_values(tmp_path):
    evil = '<script>alert("x")</script>& $\\frac{$'  # '$…$' would be mathtext to matplotlib: shown literally
    pts = good_points(design=evil)
    pts[3]["ranker"] = "<b>bold</b>"
    dse = tmp_path / "run"
    dse.mkdir()
    with open(dse / "design_points.csv", "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        w.writerows(pts)
    (dse / "dse.json").write_text(json.dumps({"design": evil, "metric": "<i>m</i>",
                                              "limits": {"max_<u>x": 1}, "settings": {"<k>": "<v>"}}))
    text = write_report(dse).read_text()  # the dse dir itself
    assert all(png_pixels(dse / "plots" / name).size for name in PLOTS)
    assert "<script" not in text and "<b>bold" not in text and "<i>m" not in text and "<u>x" not in text
    assert "<k>" not in text and "<v>" not in text
    assert html.escape(evil) in text and "&lt;b&gt;bold&lt;/b&gt;" in text
    assert "unknown limit" in text


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless browser (chromium, chromium-browser or google-chrome) on PATH: "
                "install one with `apt-get install -y chromium` to render report.html")


def browser(binary, tmp_path, *args):
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def test_report_renders_in_headless_chromium(tmp_path):
    binary = chromium()
    pts = good_points()
    pts[2]["masking_verified"] = "false"
    write_run(tmp_path / "out", pts)
    report = write_report(tmp_path / "out" / "tiny")  # the design dir
    dom = browser(binary, tmp_path, "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    doc = parse(dom.stdout)
    assert sorted(doc.rows) == list(range(len(pts)))  # the browser built every table row
    assert len(doc.imgs) == 3 and all(s.startswith("data:image/png;base64,") for s in doc.imgs)
    assert "codesign design space: tiny" in dom.stdout
    shot = tmp_path / "out.png"
    res = browser(binary, tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", report.as_uri())
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    pixels = png_pixels(shot)
    colours = np.unique(pixels, axis=0)
    assert len(colours) > 1
    assert len(colours) > 50  # text, table shading, the red failure cell and the plots, not a blank page
    assert (np.abs(pixels[:, :3] - 1.0) > 0.1).any(axis=1).mean() > 0.02  # some ink on the white page


# ---------------------------------------------------------------- codesign check

def run_check(path, capsys):
    code = main_check(argparse.Namespace(run_dir=str(path)))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_passes_a_good_run_from_any_of_its_directories(tmp_path, capsys):
    dse = write_run(tmp_path, good_points())
    for where in (tmp_path, tmp_path / "tiny", dse):
        assert find_runs(where) == [dse]
        assert check(where) == []
        code, out, err = run_check(where, capsys)
        assert code == 0 and "all 9 design points pass" in out and err == ""


def test_check_lists_each_failure(tmp_path, capsys):
    pts = good_points()
    by = {(p["ranker"], p["budget"]): p for p in pts}
    by["oracle", "0.05"]["equivalence"] = "false"
    by["oracle", "0.1"]["masking_verified"] = "false"
    by["bitwise", "0.05"]["masking_verified"] = ""  # not measured is not a pass
    by["bitwise", "0.1"]["multibit_mean_delta_cost"] = 0.15  # > max_multibit_delta_cost 0.1
    by["hessian", "0.05"]["area_cells"] = 2600  # > max_area_cells 2500
    by["hessian", "bits:100"]["errors_prevented_pct"] = 12.5  # < min_errors_prevented_pct 40
    by["hessian", "bits:100"]["point"] = ""  # no point id: named by ranker/budget
    by["oracle", "sensitive"]["area_cells"] = ""  # area limit cannot be checked
    # the references break limits by design and must not fail: none's ΔC 0.2 and 0 % prevented, full's area 3000
    write_run(tmp_path, pts)
    failures = check(tmp_path)
    expected = [("oracle-0.05", "equivalence false"), ("oracle-0.1", "masking_verified false"),
                ("oracle-sensitive", "area_cells not measured"), ("bitwise-0.05", "masking_verified not measured"),
                ("bitwise-0.1", "multibit_mean_delta_cost 0.15 > max_multibit_delta_cost 0.1"),
                ("hessian-0.05", "area_cells 2600 > max_area_cells 2500"),
                ("hessian/bits:100", "errors_prevented_pct 12.5 < min_errors_prevented_pct 40")]
    assert len(failures) == len(expected), failures
    for (who, what), msg in zip(expected, failures):
        assert msg.startswith(f"tiny {who}: {what}"), (who, what, msg)
    assert not any(" ref-" in f for f in failures)
    code, out, _ = run_check(tmp_path, capsys)
    assert code == 1
    assert out.count("FAIL tiny ") == len(expected) and "7 failure(s) in 9 design points" in out


def test_check_reference_limits_and_unknown_limits(tmp_path):
    pts = good_points()
    limits = {"max_multibit_delta_cost": 0.1, "max_area_cells": 1050, "max_latency_cycles": 2, "max_speed": 3}
    write_run(tmp_path, pts, limits=limits)
    failures = check(tmp_path)
    # none meets the area limit, full is exempt from it; every other point is over
    area = [f for f in failures if "> max_area_cells" in f]
    assert len(area) == len(pts) - 2 and not any(f.startswith("tiny ref-") for f in area)
    latency = [f for f in failures if "latency_cycles 3 > max_latency_cycles 2" in f]
    assert len(latency) == len(pts)  # a generic max_<column> limit applies to every point
    assert sum("unknown limit 'max_speed'" in f for f in failures) == 1


def test_check_covers_every_design_of_an_out_dir(tmp_path):
    write_run(tmp_path, good_points("a"), design="a")
    bad = good_points("b")
    bad[4]["equivalence"] = "false"
    write_run(tmp_path, bad, design="b")
    write_run(tmp_path, bad, design=".c.tmp-x")  # atomic_dir's half-written temporary is not looked at
    assert [d.parent.name for d in find_runs(tmp_path)] == ["a", "b"]
    assert check(tmp_path) == ["b oracle-sensitive: equivalence false (protected design not proven equivalent to the "
                               "unprotected one)"]
    with pytest.raises(CodesignError, match="2 design runs"):
        write_report(tmp_path)


def test_check_errors(tmp_path, capsys):
    with pytest.raises(CodesignError, match="not found"):
        check(tmp_path / "missing")
    code, out, err = run_check(tmp_path / "missing", capsys)
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1
    (tmp_path / "empty").mkdir()
    code, _, err = run_check(tmp_path / "empty", capsys)
    assert code == 2 and "no design_points.csv" in err
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "design_points.csv").write_text("a,b\n1,2\n")
    code, _, err = run_check(tmp_path / "junk", capsys)
    assert code == 2 and "not a design_points.csv" in err
    # no dse.json: equivalence is still checked, the missing limits are a failure, not a silent pass
    write_run(tmp_path / "nometa", good_points(), meta=False)
    assert check(tmp_path / "nometa") == [f"tiny: no dse.json in {tmp_path / 'nometa' / 'tiny' / 'dse'}: "
                                          "limits cannot be checked"]
