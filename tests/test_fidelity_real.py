"""Acceptance: sim and HLS C-sim bit-exact with QKeras on the real models and data (needs CODESIGN_DATA).

The `hls` level is the C-sim of the register-file project (codesign.hls.regfile), the one fault injection uses.
ECON-T-M, smart-pixel-M and digits-M get their C-sim check in tests/test_hls_regfile.py, on the same rows and from
the same build as their injection checks, so CI compiles each model once.
The digits designs need no data directory and always run.
"""

import os

import numpy as np
import pytest

from codesign.prepare import Prepared
from codesign.spec import from_dict
from codesign.verify import verify

ECONT_EMD_CALQ = {"s": 1.505, "m": 1.074, "l": 0.813}  # measured upstream (models README)
HLS_ELSEWHERE = {"econt_m", "smartpixel_m", "digits_m"}  # C-sim checked in test_hls_regfile.py


def _levels(name):
    return ["qkeras", "sim"] + ([] if name in HLS_ELSEWHERE else ["hls"])


def _design(name, data_dir=None, **data):
    raw = {"name": name, "model": {"zoo": name}, "metric": "mispredict", "seed": 0}
    if data:
        raw["data"] = data
    return Prepared(from_dict(raw), data_dir)


@pytest.mark.parametrize("size", ["s", "m", "l"])
def test_econt_all_hgcal_rows_sim_and_hls(size, data_dir):
    from codesign.data import hgcal

    design = _design(f"econt_{size}", data_dir)
    zm = design.model
    x = np.concatenate([hgcal.load_hgcal(f, data_dir=data_dir)[0] for f in hgcal.DATASETS])
    assert len(x) == 101_868
    levels = _levels(design.name)
    r = verify(zm.onchip, design.qnet, x, levels=levels)
    assert r["mismatches"] == {level: 0 for level in levels}, r


@pytest.mark.parametrize("size", ["s", "m", "l"])
def test_econt_fault_free_emd_on_calq(size, data_dir):
    from codesign.sim.forward import predict

    design = Prepared(from_dict({"name": f"econt_{size}", "model": {"zoo": f"econt_{size}"}, "metric": "emd",
                                 "data": {"dataset": "hgcal", "file": "CALQ_output"}}), data_dir)
    data = design.data
    assert len(data.x) == 6050
    cost = design.cost().per_sample(predict(design.qnet, data.x))
    assert abs(cost.mean() - ECONT_EMD_CALQ[size]) < 0.01, cost.mean()


@pytest.mark.parametrize("name", ["digits_s", "digits_m", "digits_l"])
def test_digits_sim_and_hls(name):
    design = _design(name, dataset="digits", split="all")
    levels = _levels(name)
    r = verify(design.model.onchip, design.qnet, design.data.x, levels=levels)
    assert r["n_inputs"] == 1797
    assert r["mismatches"] == {level: 0 for level in levels}, r


@pytest.mark.parametrize("name", ["smartpixel_s", "smartpixel_m", "smartpixel_l", "smartpixel_small_upstream",
                                  "smartpixel_medium_upstream", "smartpixel_large_upstream",
                                  "smartpixel_large2_upstream"])
def test_smartpixel_sim_and_hls(name, data_dir):
    design = _design(name, data_dir, dataset="smartpixel", split="all")
    levels = _levels(name)
    r = verify(design.model.onchip, design.qnet, design.data.x, levels=levels)
    assert r["n_inputs"] == 59_060
    assert r["mismatches"] == {level: 0 for level in levels}, r


@pytest.mark.parametrize("name,levels", [("cifar10_tiny", ["qkeras", "sim", "hls"]), ("cifar10_tiny2", ["qkeras", "sim"])])
def test_cifar_generated_inputs(name, levels, data_dir):
    design = _design(name, data_dir, dataset="synthetic", n=500)
    r = verify(design.model.onchip, design.qnet, design.data.x, levels=levels)
    assert r["mismatches"] == {level: 0 for level in levels}, r


def test_cifar_tiny2_hls(data_dir):
    if not os.environ.get("CODESIGN_SLOW"):
        pytest.skip("CIFAR tiny2 C-sim takes ~18 min here (g++ cannot build hls4ml's fully unrolled io_parallel code "
                    "at -O1 within 13 min; -O0 builds it); set CODESIGN_SLOW=1 to run it")
    from codesign.hls.injection import RegfileCsim
    from codesign.sim.forward import predict, quantize_input

    design = _design("cifar10_tiny2", data_dir, dataset="synthetic", n=200)
    model, qnet = design.model.onchip, design.qnet
    xq = qnet.input_type.to_float(quantize_input(qnet, design.data.x)).astype(np.float32)
    ref = model.predict(xq, verbose=0).astype(np.float64).reshape(len(xq), -1)
    csim = RegfileCsim(model, qnet, opt="-O0")
    try:
        assert np.array_equal(csim.predict(xq), ref)
    finally:
        csim.close()
    assert np.array_equal(predict(qnet, xq).reshape(len(xq), -1), ref)
