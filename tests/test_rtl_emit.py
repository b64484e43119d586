"""The RTL emitters' dispatch by layer kind (codesign.rtl.emit.stages): every computing QNet layer kind has an emitter,
and a kind without one is a user error naming the layer."""

import pytest

from codesign.errors import CodesignError
from codesign.ir import qnet
from codesign.rtl.emit import mac
from codesign.rtl.emit.stages import STAGES, emit_stage


def _kinds(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _kinds(sub)


def test_every_computing_layer_kind_has_an_emitter():
    computing = [c for c in _kinds(qnet.Layer) if c.__module__ == qnet.__name__ and c is not qnet.Reshape]
    assert computing
    missing = [c.__name__ for c in computing if not any(k in STAGES for k in c.__mro__)]
    assert missing == []
    assert STAGES[qnet.Dense] is mac.emit  # Conv2D shares the dense MAC emitter through its base class


def test_a_layer_kind_without_an_emitter_is_refused():
    class Odd(qnet.Layer):
        kind = "odd"

        def __init__(self):
            self.name = "weird"

    with pytest.raises(CodesignError, match=r"no rule for layer weird \(Odd\)"):
        emit_stage(None, 0, Odd(), [], None, [])
