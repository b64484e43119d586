"""Protection plan files: bound to one design, bits inside BitSpace, used as a campaign mask."""

import numpy as np
import pytest

from codesign.campaign.evaluate import Evaluator
from codesign.campaign.faults import FaultModel, FaultSpace
from codesign.data.load import Data
from codesign.errors import CodesignError
from codesign.ir.from_keras import from_keras
from codesign.metrics.cost import Cost
from codesign.protect.plan import Plan
from codesign.sim.forward import predict
from models_for_tests import tiny_mlp


@pytest.fixture(scope="module")
def qnets():
    return from_keras(tiny_mlp(seed=0, bn=False)), from_keras(tiny_mlp(seed=1, bn=False))


def test_round_trip_and_design_binding(qnets, tmp_path):
    qnet, other = qnets
    bits = np.array([3, 1, 40])
    Plan("mlp", qnet.fingerprint(), bits).save(tmp_path / "p.json")
    assert Plan.load(tmp_path / "p.json", qnet).bits.tolist() == [1, 3, 40]
    with pytest.raises(CodesignError, match="another design"):
        Plan.load(tmp_path / "p.json", other)
    Plan("mlp", qnet.fingerprint(), np.array([qnet.bitspace.size])).save(tmp_path / "bad.json")
    with pytest.raises(CodesignError, match="outside BitSpace"):
        Plan.load(tmp_path / "bad.json", qnet)
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(CodesignError, match="cannot read"):
        Plan.load(tmp_path / "junk.json", qnet)
    with pytest.raises(CodesignError, match="not found"):
        Plan.load(tmp_path / "missing.json", qnet)


def test_protecting_every_sensitive_bit_removes_all_multibit_error(qnets):
    """The FKeras Fig. 13 experiment in miniature: protect the single-bit-sensitive bits, then multi-bit faults."""
    qnet, _ = qnets
    x = np.random.default_rng(0).uniform(-1.5, 1.5, (300, 5)).astype(np.float32)
    ref = predict(qnet, x)
    ev = Evaluator(qnet, Cost("mse", Data(x, None), reference=ref))
    single = np.array([ev.evaluate([b]).delta_cost for b in range(qnet.bitspace.size)])
    sensitive = np.flatnonzero(single > 0)
    model = FaultModel("multibit", flips=1, trials=200, seed=0)
    unprotected = FaultSpace(model, qnet.bitspace)
    protected = FaultSpace(model, qnet.bitspace, sensitive)
    before = [ev.evaluate(unprotected.bits(t)).delta_cost for t in unprotected.fault_ids()]
    after = [ev.evaluate(protected.bits(t)).delta_cost for t in protected.fault_ids()]
    assert np.count_nonzero(before) > 0
    assert np.count_nonzero(after) == 0  # one flip per trial: only sensitive bits could hurt, and they are masked


# --- budgets -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, kind, value", [
    (0.1, "fraction", 0.1), ("25%", "fraction", 0.25), ("0", "fraction", 0.0), (1, "fraction", 1.0),
    ({"bits": 12}, "bits", 12), ({"area": 0.4}, "area", 0.4), ("sensitive", "sensitive", 0), ("full", "full", 0),
    ("None", "none", 0),
])
def test_parse_budget(raw, kind, value):
    from codesign.protect.budget import parse_budget

    b = parse_budget(raw)
    assert (b.kind, b.value) == (kind, value)


@pytest.mark.parametrize("raw", [-0.1, 1.5, "150%", "lots", {"bits": -1}, {"bits": 2.5}, {"area": 2}, {"x": 1}, True,
                                 None, float("nan")])
def test_bad_budgets(raw):
    from codesign.errors import CodesignError
    from codesign.protect.budget import parse_budget

    with pytest.raises(CodesignError, match="budget"):
        parse_budget(raw)


def test_select_bits_takes_the_top_of_the_ranking():
    from codesign.errors import CodesignError
    from codesign.protect.budget import parse_budget, select_bits

    order = np.array([7, 3, 9, 0, 1, 2, 4, 5, 6, 8])
    assert select_bits(parse_budget(0.3), order, 10).tolist() == [3, 7, 9]
    assert select_bits(parse_budget({"bits": 2}), order, 10).tolist() == [3, 7]
    assert select_bits(parse_budget("none"), order, 10).tolist() == []
    assert select_bits(parse_budget("full"), order, 10).tolist() == list(range(10))
    delta = np.array([0, 1, 0, 2, np.nan, 0, 0, 3, 0, 0])
    assert select_bits(parse_budget("sensitive"), order, 10, delta).tolist() == [1, 3, 7]
    with pytest.raises(CodesignError, match="oracle"):
        select_bits(parse_budget("sensitive"), order, 10)
    with pytest.raises(CodesignError, match="exceeds"):
        select_bits(parse_budget({"bits": 11}), order, 10)
