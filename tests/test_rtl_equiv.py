"""Formal equivalence (Yosys) of a TMR-protected design with the unprotected one: proven for a plan, refuted for a
deliberately broken gate (so the check can fail), not attempted when the datapaths differ."""

import re
import shutil

import numpy as np
import pytest

from codesign.protect.plan import Plan
from codesign.rtl.equiv import equivalence
from codesign.rtl.examples import conv_net, mlp_net
from codesign.rtl.generate import write_rtl

pytestmark = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")


def _pair(q, tmp_path, bits):
    gold, gate = tmp_path / "gold", tmp_path / "gate"
    write_rtl(q, gold)
    write_rtl(q, gate, Plan(q.name, q.fingerprint(), np.asarray(bits, dtype=np.int64)))
    return gold, gate


def _edit(rtl_dir, top, pattern, repl):
    """Replace the first match of ``pattern`` in the gate's top module; returns the matched text."""
    path = rtl_dir / f"{top}.v"
    text = path.read_text()
    m = re.search(pattern, text)
    assert m, pattern
    path.write_text(text[:m.start()] + m.expand(repl) + text[m.end():])
    return m.group(0)


def equivalent(gold, gate) -> bool:
    return equivalence(gold, gate)["equivalent"]


@pytest.mark.parametrize("make", [mlp_net, conv_net])
def test_a_tmr_plan_is_equivalent_to_the_unprotected_design(make, tmp_path):
    q = make(0)
    gold, gate = _pair(q, tmp_path, np.arange(0, q.bitspace.size, 5))
    r = equivalence(gold, gate)
    assert r["equivalent"] and r["datapath_identical"], r
    assert r["unproven"] == 0 and r["proven"] >= q.bitspace.size  # every weight bit fed to the datapath, at least
    assert set(r) >= {"equivalent", "method", "proven", "unproven", "seconds", "datapath_identical"}


def test_a_broken_gate_is_not_equivalent(tmp_path):
    q = mlp_net(0)
    gold, gate = _pair(q, tmp_path, np.arange(0, q.bitspace.size, 3))
    top = q.name
    base = tmp_path / "base"
    shutil.copytree(gate, base)

    # an unprotected bit of a split word loads the wrong data bit: the word kind's own proof fails, and says which
    _edit(gate, top, r"(b)([1-9]) <= d\[\2\];", r"\g<1>\2 <= d[0];")
    r = equivalence(gold, gate)
    assert not r["equivalent"] and r["unproven"] > 0 and r["datapath_identical"], r
    assert all(c.startswith(f"{top}_tmrword_") for c in r["unproven_cells"]) and r["unproven_cells"], r

    # every word kind intact, but one split word loads at another address: the top's proof fails
    shutil.rmtree(gate)
    shutil.copytree(base, gate)
    _edit(gate, top, r"(_we = load_we && load_addr == \d+'d)(\d+);", r"\g<1>999;")
    r = equivalence(gold, gate)
    assert not r["equivalent"] and r["word_kind_cells_proven"] > 0, r
    assert any("u_datapath.wd" in c for c in r["unproven_cells"]), r

    # a voted bit wired to the wrong place in its word
    shutil.rmtree(gate)
    shutil.copytree(base, gate)
    _edit(gate, top, r"assign (q) = \{([\w\[\]]+), ([\w\[\]]+), ", r"assign \1 = {\3, \2, ")
    assert not equivalent(gold, gate)

    # one replica loading a wrong bit is masked by its voter: equivalent when nothing is upset
    shutil.rmtree(gate)
    shutil.copytree(base, gate)
    _edit(gate, top, r"(tmr_ff #\(\.W\(\d+\)\) r0 \(\.clk\(clk\), \.en\(en\), \.d\(\{)d\[(\d)\]", r"\g<1>~d[\2]")
    assert equivalent(gold, gate)


def test_different_datapaths_are_not_compared(tmp_path):
    q = mlp_net(0)
    gold, gate = _pair(q, tmp_path, [0, 7])
    other = tmp_path / "other"
    write_rtl(mlp_net(1), other)  # another network: another datapath
    r = equivalence(gold, other)
    assert not r["equivalent"] and not r["datapath_identical"] and r["proven"] == 0
