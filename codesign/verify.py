"""Cross-level fidelity: run the same quantized inputs through QKeras and every level, count mismatches.

QKeras is the reference. Inputs are first quantized to the chip's input type (what the input port receives) and
QKeras gets those exact values, so a model without an input quantizer is compared on the same numbers as the chip.
A mismatch is an input row whose outputs differ from QKeras in any element (exact comparison, no tolerance). The
levels come from the registry (:mod:`codesign.level`): ``sim``, ``hls``, ``hls4ml``, ``rtl`` and any registered one.

A mitigated design (clipped activations, weight tables) computes something QKeras does not: QKeras is then compared
with the unmitigated QNet's simulator (it checks the IR), and every other level with the mitigated QNet's simulator.
"""

from __future__ import annotations

import numpy as np

from codesign import level as registry
from codesign.errors import CodesignError
from codesign.sim.forward import predict, quantize_input

REFERENCE = "qkeras"


def parse_levels(text) -> list[str]:
    return registry.parse(text, [REFERENCE, *registry.names()])


def verify(keras_model, qnet, x: np.ndarray, levels=("qkeras", "sim"), batch_size: int = 4096,
           base_qnet=None, options: dict | None = None, workdir=None) -> dict:
    """``base_qnet``: the unmitigated QNet when ``qnet`` carries a mitigation QKeras does not model; ``options``:
    level options (e.g. ``simulator`` for ``rtl``)."""
    names = parse_levels(list(levels))
    codes = quantize_input(qnet, np.asarray(x))  # also checks the input shape
    xq = qnet.input_type.to_float(codes).astype(np.float32)
    keras_out = np.asarray(keras_model.predict(xq, batch_size=batch_size, verbose=0),
                           dtype=np.float64).reshape(len(x), -1)
    mitigated = base_qnet is not None and base_qnet.fingerprint() != qnet.fingerprint()
    ref = predict(qnet, xq).reshape(len(x), -1) if mitigated else keras_out
    result = {"model": qnet.name, "n_inputs": int(len(x)),
              "reference": "sim of the mitigated QNet (QKeras vs the unmitigated QNet)" if mitigated else "qkeras",
              "mismatches": {}, "max_abs_diff": {}}
    for name in names:
        if name == REFERENCE:
            out, want = keras_out, (predict(base_qnet, xq).reshape(len(x), -1) if mitigated else ref)
        else:
            target = registry.Target(qnet, codes, keras_model, workdir=workdir, options=dict(options or {}))
            with registry.open_level(name, target) as lvl:
                out, want = lvl.values(codes), ref
        if out.shape != want.shape:
            raise CodesignError(f"level {name} produced outputs of shape {out.shape}, expected {want.shape}")
        result["mismatches"][name] = int(np.sum(np.any(out != want, axis=1)))
        result["max_abs_diff"][name] = float(np.max(np.abs(out - want))) if len(out) else 0.0
    result["ok"] = all(v == 0 for v in result["mismatches"].values())
    return result
