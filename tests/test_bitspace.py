"""BitSpace addressing: bijection, Keras layout, MSB = bit 0, flips of the stored two's-complement word."""

import numpy as np
import pytest

from codesign.errors import CodesignError
from codesign.ir.bitspace import apply_flips, flip_codes
from codesign.ir.fixed import FixedType
from codesign.ir.from_keras import from_keras
from models_for_tests import tiny_cnn


@pytest.fixture(scope="module")
def qnet():
    return from_keras(tiny_cnn(2, "same"))


def test_size_and_order(qnet):
    bs = qnet.bitspace
    conv, dense = qnet.layer("conv"), qnet.layer("dense")
    assert bs.size == 6 * (conv.kernel.size + conv.bias.size + dense.kernel.size + dense.bias.size)
    assert [(s.layer, s.tensor) for s in bs.segments] == [
        ("conv", "kernel"), ("conv", "bias"), ("dense", "kernel"), ("dense", "bias")]
    assert bs.count("kernel") == 6 * (conv.kernel.size + dense.kernel.size)


def test_locate_index_bijection(qnet):
    bs = qnet.bitspace
    seen = set()
    for bit in range(bs.size):
        addr = bs.locate(bit)
        assert bs.index(*addr) == bit
        seen.add(addr)
    assert len(seen) == bs.size
    table = bs.table()
    assert len(table["bit"]) == bs.size and table["bit_position"].max() == 5


def test_element_index_is_keras_row_major(qnet):
    """Element i of a kernel is kernel.reshape(-1)[i], the Keras weight tensor flattened in C order."""
    bs = qnet.bitspace
    conv = qnet.layer("conv")
    elem = 17
    faulty = apply_flips(qnet, [bs.index("conv", "kernel", elem, 5)])  # LSB
    li = [l.name for l in qnet.layers].index("conv")
    diff = faulty[li]["kernel"].reshape(-1) - conv.kernel.reshape(-1)
    assert np.flatnonzero(diff).tolist() == [elem]
    assert abs(int(diff[elem])) == 1
    assert faulty[li]["kernel"].shape == conv.kernel.shape


def test_msb_is_sign_bit():
    t = FixedType(6, 2)
    codes = np.array([5, -3, 0, -32, 31])
    flipped = flip_codes(codes, t, np.arange(5), np.zeros(5, int))
    assert flipped.tolist() == [5 - 32, -3 + 32, -32, 0, -1]
    lsb = flip_codes(codes, t, np.arange(5), np.full(5, 5))
    assert lsb.tolist() == [4, -4, 1, -31, 30]
    u = FixedType(4, 1, signed=False)
    assert flip_codes(np.array([1]), u, [0], [0]).tolist() == [9]


def test_double_flip_cancels_and_bad_index(qnet):
    bs = qnet.bitspace
    li = [l.name for l in qnet.layers].index("conv")
    assert apply_flips(qnet, [7, 7])[li]["kernel"].tolist() == qnet.layer("conv").kernel.tolist()
    with pytest.raises(CodesignError, match="outside BitSpace"):
        bs.check([bs.size])
    with pytest.raises(CodesignError):
        bs.index("conv", "kernel", 10_000, 0)


def test_columns_name_the_output_column_a_bit_feeds(qnet):
    """Kernel bits of (.., c) and bias bits of c share a column id; one flip changes only that column's output."""
    from codesign.sim.forward import forward, quantize_input

    bs = qnet.bitspace
    dense, conv = qnet.layer("dense"), qnet.layer("conv")
    n_out, c_out = dense.kernel.shape[-1], conv.kernel.shape[-1]
    col = bs.columns([bs.index("dense", "kernel", 3 * n_out + 2, 0), bs.index("dense", "bias", 2, 4),
                      bs.index("dense", "kernel", 3 * n_out + 1, 0), bs.index("conv", "kernel", c_out + 2, 1),
                      bs.index("conv", "bias", 2, 0)])
    assert col[0] == col[1] and col[3] == col[4] and len(set(col.tolist())) == 3
    assert len(np.unique(bs.columns(np.arange(bs.size)))) == n_out + c_out
    x = quantize_input(qnet, np.random.default_rng(0).uniform(-1, 1, (40,) + tuple(qnet.input_shape)))
    _, acts = forward(qnet, x, keep=True)
    li = [l.name for l in qnet.layers].index("conv")
    for bit in np.flatnonzero(bs.columns(np.arange(bs.size)) == col[3])[::5]:
        _, faulty = forward(qnet, x, overrides=apply_flips(qnet, [bit]), keep=True)
        changed = np.any((faulty[li] != acts[li]).reshape(-1, c_out), axis=0)
        assert not changed[np.arange(c_out) != 2].any()
