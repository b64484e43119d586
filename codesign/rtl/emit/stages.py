"""Dispatch by layer kind: the emitter of each computing layer's register stage.

An emitter is called as ``emitter(dp, li, layer, xs, x_type, outs)`` (``dp``: the :class:`~codesign.rtl.emit.datapath.
Datapath` being written; ``xs``/``outs``: the stage's input and output signals) and returns ``(wiring, units)``:
lines placed in the datapath before the stage's instances, and ``[(unit module text, [(port, signal)])]``.
Reshapes are wiring and never reach an emitter.
"""

from __future__ import annotations

from codesign.errors import CodesignError
from codesign.ir.qnet import Activation, BatchNorm, Dense, Threshold
from codesign.rtl.emit import activation, batchnorm, mac, threshold
from codesign.rtl.emit.writer import port, unit


def elementwise(body_fn):
    """The emitter of an element-wise kind from its body: ``body_fn(layer, xs, x_type, outs) -> (body, temps)``
    evaluates every element. One unit for the whole layer (one process per stage in the simulator)."""

    def emit(dp, li, layer, xs, x_type, outs):
        ux = [f"x{j}" for j in range(len(xs))]
        uy = [f"y{j}" for j in range(len(outs))]
        body, temps = body_fn(layer, ux, x_type, uy)
        ot = layer.out_type
        ports = [port("input wire", x, x_type.width, x_type.signed) for x in ux]
        ports += [port("output reg", y, ot.width) for y in uy]
        text = unit(f"{layer.kind} {layer.name!r}: {len(xs)} x {x_type} -> {ot}", ports, temps, body)
        return [], [(text, list(zip(ux, xs)) + list(zip(uy, outs)))]

    return emit


# Keyed by QNet layer class; a subclass without its own entry uses its nearest base's (Conv2D: Dense's).
STAGES = {
    Dense: mac.emit,
    Activation: elementwise(activation.body),
    Threshold: elementwise(threshold.body),
    BatchNorm: elementwise(batchnorm.body),
}


def emit_stage(dp, li, layer, xs, x_type, outs):
    """``(wiring, units)`` of one computing layer, by the emitter of its kind."""
    for cls in type(layer).__mro__:
        if cls in STAGES:
            return STAGES[cls](dp, li, layer, xs, x_type, outs)
    raise CodesignError(f"the RTL generator has no rule for layer {layer.name} ({type(layer).__name__})")
