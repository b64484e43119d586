"""`codesign run` design-space exploration end to end on a tiny MLP: plans -> RTL -> Yosys area and equivalence ->
cocotb masking -> multi-bit campaigns -> design_points.csv, report, `codesign check`; and its input errors."""

import csv
import json
import textwrap

import numpy as np
import pytest
from cli_checks import assert_user_error
from test_cli import cli, files  # noqa: F401  (session fixture: tiny models and data)

from codesign.points import COLUMNS

REQUIRED = ("design,ranker,budget,protected_bits,area_cells,luts,ffs,latency_cycles,cost_fault_free,"
            "multibit_mean_delta_cost,errors_prevented_pct,equivalence,masking_verified").split(",")

DSE = """\
dse:
  rankers: [bitwise, msb]
  budgets: [sensitive, 0.25, {bits: 10}, {area: 0.5}]
  multibit: {flips: 6, trials: 40}
  masking_rows: 2
  masking_group: 1
  unprotected_samples: 8
limits:
  max_area_overhead_pct: 100
  max_cost_fault_free: 1.0
"""


def design_file(tmp_path, files, dse=DSE, name="dsenet"):  # noqa: F811
    d = files["dir"]
    text = textwrap.dedent(f"""\
        name: {name}
        model: {{path: {d / 'mlp.h5'}}}
        data: {{path: {d / 'data.npz'}, x: x, y: y}}
        metric: mispredict
        seed: 0
        """) + dse
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def read_points(path):
    with open(path, newline="") as f:
        return {r["point"]: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def dse_run(files, tmp_path_factory):  # noqa: F811
    tmp = tmp_path_factory.mktemp("dse")
    design = design_file(tmp, files)
    out = tmp / "out"
    proc = cli("run", design, "--out", out, "--workers", "1", cwd=tmp, cache=tmp / "cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"tmp": tmp, "design": design, "out": out, "proc": proc, "dse": out / "dsenet" / "dse"}


def test_design_points_contract(dse_run):
    path = dse_run["dse"] / "design_points.csv"
    header = path.read_text().splitlines()[0].split(",")
    assert header[: len(REQUIRED)] == REQUIRED and header == COLUMNS
    pts = read_points(path)
    assert list(pts) == ["ref-none", "ref-full", "oracle-sensitive", "bitwise-0.25", "bitwise-bits10",
                         "bitwise-area0.5", "msb-0.25", "msb-bits10", "msb-area0.5"]
    for p in pts.values():
        assert p["equivalence"] == "true" and p["masking_verified"] == "true", p
        assert int(p["area_cells"]) > 0 and int(p["latency_cycles"]) > 0


def test_references_and_budgets(dse_run):
    pts = read_points(dse_run["dse"] / "design_points.csv")
    none, full = pts["ref-none"], pts["ref-full"]
    summary = json.loads((dse_run["out"] / "dsenet" / "report" / "summary.json").read_text())
    size = summary["bitspace_bits"]
    assert int(none["protected_bits"]) == 0 and int(full["protected_bits"]) == size
    assert int(pts["bitwise-bits10"]["protected_bits"]) == 10
    assert int(pts["bitwise-0.25"]["protected_bits"]) == round(0.25 * size)
    # the oracle's sensitive bits, counted from its own CSV
    with open(dse_run["out"] / "dsenet" / "oracle" / "oracle.csv", newline="") as f:
        sensitive = sum(float(r["delta_cost"]) > 0 for r in csv.DictReader(f))
    assert int(pts["oracle-sensitive"]["protected_bits"]) == sensitive
    assert float(pts["oracle-sensitive"]["single_bit_sum_delta_cost"]) == 0.0
    assert float(none["single_bit_sum_delta_cost"]) > 0
    # full TMR masks every upset of the multi-bit campaign; the unprotected design fails some trials
    assert float(full["multibit_mean_delta_cost"]) == 0.0 and float(full["multibit_error_rate"]) == 0.0
    assert float(none["multibit_error_rate"]) > 0
    assert float(full["errors_prevented_pct"]) == 100.0 and float(none["errors_prevented_pct"]) == 0.0
    assert float(none["area_overhead_pct"]) == 0.0 and float(full["area_overhead_pct"]) == 100.0
    # area grows with the protected bits; the area budget stays within its share of full TMR's overhead
    # (which bits share a word moves the count by a cell or two, so compare plans that differ by > 20 bits)
    for a in pts.values():
        for b in pts.values():
            if int(a["protected_bits"]) > int(b["protected_bits"]) + 20:
                assert int(a["area_cells"]) > int(b["area_cells"]), (a["point"], b["point"])
    cells = [int(p["area_cells"]) for p in pts.values()]
    assert min(cells) == int(none["area_cells"]) and max(cells) == int(full["area_cells"])
    assert float(pts["bitwise-area0.5"]["area_overhead_pct"]) <= 52.0


def test_masking_and_equivalence_details(dse_run):
    res = json.loads((dse_run["dse"] / "points" / "ref-full" / "result.json").read_text())
    m = res["masking"]
    assert m["protected_bits_flipped"] == res["protected_bits"] and m["deviations"] == 0 and m["group"] == 1
    assert m["fault_free_matches_sim"] and m["unprotected_sampled"] == 0
    none = json.loads((dse_run["dse"] / "points" / "ref-none" / "result.json").read_text())["masking"]
    # sampled unprotected flips agree with the simulator, and some of them do change the outputs
    assert none["unprotected_sampled"] == 8 and none["unprotected_mismatches_vs_sim"] == 0
    assert none["unprotected_deviating"] > 0
    assert res["equivalence"]["equivalent"] is True
    plan = json.loads((dse_run["dse"] / "points" / "bitwise-bits10" / "plan.json").read_text())
    assert len(plan["bits"]) == 10
    assert (dse_run["dse"] / "points" / "bitwise-bits10" / "rtl" / "rtl.json").is_file()


def test_report_and_check(dse_run):
    d = dse_run["dse"]
    assert (d / "report.html").is_file() and list((d / "plots").glob("*.png"))
    assert "report:" in dse_run["proc"].stdout
    ok = cli("check", dse_run["out"], cwd=dse_run["tmp"], cache=dse_run["tmp"] / "cache")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # a regression: one point lost masking -> the gate fails and names it
    bad = dse_run["tmp"] / "bad"
    import shutil

    shutil.copytree(d, bad / "dse")
    path = bad / "dse" / "design_points.csv"
    text = path.read_text().splitlines()
    text[3] = text[3].replace(",true,true,", ",true,false,", 1)
    path.write_text("\n".join(text) + "\n")
    proc = cli("check", bad, cwd=dse_run["tmp"], cache=dse_run["tmp"] / "cache")
    assert proc.returncode == 1 and "oracle-sensitive" in proc.stdout + proc.stderr


def test_rerun_resumes_and_is_deterministic(dse_run):
    before = (dse_run["dse"] / "design_points.csv").read_text()
    proc = cli("run", dse_run["design"], "--out", dse_run["out"], "--workers", "1", cwd=dse_run["tmp"],
               cache=dse_run["tmp"] / "cache")
    assert proc.returncode == 0, proc.stderr
    assert "oracle: reused" in proc.stdout
    assert (dse_run["dse"] / "design_points.csv").read_text() == before


@pytest.mark.parametrize("dse, fragments", [
    ("dse: {budgets: [1.5]}\n", ["1.5", "[0, 1]"]),
    ("dse: {budgets: [-0.1]}\n", ["-0.1", "[0, 1]"]),
    ("dse: {rankers: [magic]}\n", ["magic", "ranker"]),
    ("dse: {multibit: {flips: 0}}\n", ["flips"]),
    ("limits: {max_speed: 3}\n", ["max_speed"]),
    ("dse: {budgets: [{bits: 100000}]}\n", ["100000"]),
], ids=["budget_above_1", "budget_negative", "unknown_ranker", "zero_flips", "unknown_limit", "too_many_bits"])
def test_bad_dse_settings(files, tmp_path, dse, fragments):  # noqa: F811
    design = design_file(tmp_path, files, dse=dse)
    out = tmp_path / "out"
    out.mkdir()
    proc = cli("run", design, "--out", out, cwd=tmp_path, cache=tmp_path / "cache")
    assert_user_error(proc, *fragments)
    assert sorted(p.name for p in out.iterdir()) == []  # no partial report directory


def test_check_without_run_dir(tmp_path):
    proc = cli("check", tmp_path / "nothing", cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 2 and proc.stderr.count("\n") <= 1


def test_points_share_the_multibit_draws():
    from codesign.campaign.faults import FaultModel, FaultSpace

    class _BS:
        size = 100
        segments = []

        def check(self, b):
            return np.asarray(b, dtype=np.int64)

    m = FaultModel("multibit", flips=10, trials=5, seed=3)
    a, b = FaultSpace(m, _BS()), FaultSpace(m, _BS(), protected=np.arange(50))
    for t in range(5):
        assert np.array_equal(a.drawn(t), b.drawn(t))
        assert np.array_equal(b.bits(t), a.drawn(t)[a.drawn(t) >= 50])


def test_example_sweep_script(dse_run):
    """examples/dse_sweep.py picks the smallest point under the ΔC limit (here: no limit at all -> the unprotected
    design; an impossible limit -> exit 1)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "dse_sweep.py"
    run = lambda limit: subprocess.run(  # noqa: E731
        [sys.executable, str(script), str(dse_run["design"]), "--limit", str(limit), "--budgets", "0.25",
         "--out", str(dse_run["out"])], capture_output=True, text=True, timeout=900,
        env={**__import__("os").environ, "CODESIGN_CACHE": str(dse_run["tmp"] / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3"})
    proc = run(1e9)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "chosen: ref-none" in proc.stdout
    proc = run(-1)
    assert proc.returncode == 1 and "no design point" in proc.stdout


TARGET_DSE = """\
dse:
  rankers: [bitwise]
  budgets: []
  multibit: {flips: 6, trials: 40}
  masking_rows: 2
  masking_group: 4
  unprotected_samples: 4
  yosys: {xilinx: false, cmos: false}
  target: {relative: 0.2}
"""


def test_cheapest_design_meeting_a_target(files, tmp_path):  # noqa: F811
    """dse.target: the bisection's point is the smallest protection of the ranker's order whose multi-bit campaign
    meets the bound (its probe one bit fewer does not), it is measured like every point, the report and dse.json
    name the cheapest point meeting it, and `codesign check` fails when none does."""
    path = design_file(tmp_path, files, TARGET_DSE, name="tgt")
    out = tmp_path / "out"
    proc = cli("run", path, "--out", out, "--workers", "1", cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dse = out / "tgt" / "dse"
    pts = read_points(dse / "design_points.csv")
    meta = json.loads((dse / "dse.json").read_text())
    target = meta["target"]
    none = float(pts["ref-none"]["multibit_mean_delta_cost"])
    assert none > 0 and target["bound"] == pytest.approx(0.2 * none)
    point = pts["bitwise-target"]
    k = int(point["protected_bits"])
    assert k == target["bits"] and 0 < k < int(pts["ref-full"]["protected_bits"])
    probes = {p["bits"]: p["multibit_mean_delta_cost"] for p in target["probes"]}
    assert probes[k] <= target["bound"] < probes[k - 1]  # minimal along the order
    assert float(point["multibit_mean_delta_cost"]) == pytest.approx(probes[k])  # the point is the probe, measured
    assert point["target_met"] == "true" and pts["ref-none"]["target_met"] == "false"
    assert pts["ref-full"]["target_met"] == "true"
    assert point["equivalence"] == "true" and point["masking_verified"] == "true"
    best = meta["smallest_point_meeting_target"]
    met = [p for p in pts.values() if p["target_met"] == "true"]
    assert best["area_cells"] == min(int(p["area_cells"]) for p in met)
    assert "Cheapest design meeting the target" in (dse / "report.html").read_text()
    assert cli("check", out, cwd=tmp_path, cache=tmp_path / "cache").returncode == 0
    meta["smallest_point_meeting_target"] = None  # as a run whose points all miss the target would record it
    (dse / "dse.json").write_text(json.dumps(meta))
    proc = cli("check", out, cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 1 and "no design point meets dse.target" in proc.stdout


@pytest.mark.parametrize("target, fragment", [("{relative: 2}", "dse.target.relative"),
                                              ("{max_multibit_delta_cost: -1}", "max_multibit_delta_cost"),
                                              ("{cheap: yes}", "dse.target must be")])
def test_bad_targets(files, tmp_path, target, fragment):  # noqa: F811
    path = design_file(tmp_path, files, TARGET_DSE.replace("{relative: 0.2}", target), name="bad")
    assert_user_error(cli("run", path, "--out", tmp_path / "o", cwd=tmp_path, cache=tmp_path / "cache"), fragment)
    assert not (tmp_path / "o").exists()
