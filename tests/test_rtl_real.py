"""Acceptance on the real designs (needs CODESIGN_DATA except digits): RTL (Icarus) == simulator outputs, and RTL
ΔC == simulator ΔC for sampled single bits and multi-bit trials. CI sizes; bench/rtl.py runs the full counts."""

import shutil

import numpy as np
import pytest

from codesign.level import Target
from codesign.prepare import Prepared
from codesign.rtl.level import RtlLevel
from codesign.spec import from_dict
from codesign.verify import verify

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) not installed")

DATA = {"econt_s": {"dataset": "hgcal", "file": "ttbar_0PU"}, "econt_m": {"dataset": "hgcal", "file": "ttbar_0PU"},
        "smartpixel_s": {"dataset": "smartpixel", "split": "test"},
        "smartpixel_m": {"dataset": "smartpixel", "split": "test"}, "digits_s": {"dataset": "digits", "split": "all"}}
METRIC = {"econt": "emd", "smartpixel": "mispredict", "digits": "mispredict"}


def _design(name, data_dir, samples):
    return Prepared(from_dict({"name": name, "model": {"zoo": name}, "data": DATA[name],
                               "metric": METRIC[name.split("_")[0]], "samples": samples, "seed": 0}), data_dir)


@pytest.mark.parametrize("name", ["econt_s", "econt_m", "smartpixel_s", "smartpixel_m", "digits_s"])
def test_verify_sim_rtl_1000_inputs(name, data_dir):
    design = _design(name, data_dir, 1000)
    x = design.data.x
    assert len(x) == 1000
    r = verify(design.model.onchip, design.qnet, x, levels=["sim", "rtl"])
    assert r["mismatches"] == {"sim": 0, "rtl": 0}, r


def sample_faults(qnet, n_single, n_multi, seed, flips=3):
    """Half the single bits at bit position 0 (sign/MSB, usually sensitive), half anywhere; multi-bit trials of
    ``flips`` distinct bits."""
    rng = np.random.default_rng(seed)
    bs = qnet.bitspace
    msb = np.flatnonzero(bs.decode(np.arange(bs.size))["bit_position"] == 0)
    singles = np.concatenate([rng.choice(msb, n_single // 2, replace=False),
                              rng.choice(bs.size, n_single - n_single // 2, replace=False)])
    multis = [rng.choice(bs.size, flips, replace=False) for _ in range(n_multi)]
    return [np.array([b]) for b in singles] + multis


@pytest.mark.parametrize("name,samples", [("econt_m", 100), ("smartpixel_m", 200), ("digits_s", 400)])
def test_rtl_delta_cost_equals_simulator(name, samples, data_dir, tmp_path):
    design = _design(name, data_dir, samples)
    ev = design.evaluator()
    faults = sample_faults(ev.qnet, 40, 20, seed=1)
    with RtlLevel(Target(ev.qnet, ev.acts[0], workdir=tmp_path)) as level:
        outs = level.outputs(faults)
    sensitive = 0
    for bits, out in zip(faults, outs):
        rtl, sim = ev.outcome_of_outputs(out), ev.evaluate(bits)
        assert rtl.delta_cost == sim.delta_cost and rtl.changed_rows == sim.changed_rows, (bits, rtl, sim)
        sensitive += rtl.delta_cost > 0
    assert sensitive >= 5, sensitive  # the comparison saw faults that matter
