"""Cross-level fidelity: run the same quantized inputs through QKeras and every translation, count mismatches.

QKeras is the reference. Inputs are first quantized to the chip's input type (what the input port receives) and
QKeras gets those exact values, so a model without an input quantizer is compared on the same numbers as the chip.
A mismatch is an input row whose outputs differ from QKeras in any element (exact comparison, no tolerance).

A mitigated design (clipped activations) computes something QKeras does not: QKeras is then compared with the
unmitigated QNet's simulator (it checks the IR), and every other level with the mitigated QNet's simulator.
"""

from __future__ import annotations

import numpy as np

from codesign.errors import CodesignError
from codesign.sim.forward import predict, quantize_input

LEVELS = ("qkeras", "sim", "hls", "hls4ml", "rtl")  # hls: register-file C-sim; hls4ml: hls4ml's plain project


def parse_levels(text: str | list[str]) -> list[str]:
    levels = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    bad = [l for l in levels if l not in LEVELS]
    if bad or not levels:
        raise CodesignError(f"unknown level(s) {', '.join(bad) or '(none)'}; choose from {', '.join(LEVELS)}")
    return levels


def verify(keras_model, qnet, x: np.ndarray, levels=("qkeras", "sim"), batch_size: int = 4096,
           base_qnet=None) -> dict:
    """``base_qnet``: the unmitigated QNet when ``qnet`` carries a mitigation QKeras does not model."""
    levels = parse_levels(list(levels))
    codes = quantize_input(qnet, np.asarray(x))  # also checks the input shape
    xq = qnet.input_type.to_float(codes).astype(np.float32)
    keras_out = np.asarray(keras_model.predict(xq, batch_size=batch_size, verbose=0),
                           dtype=np.float64).reshape(len(x), -1)
    mitigated = base_qnet is not None and base_qnet.fingerprint() != qnet.fingerprint()
    ref = predict(qnet, xq).reshape(len(x), -1) if mitigated else keras_out
    result = {"model": qnet.name, "n_inputs": int(len(x)),
              "reference": "sim of the mitigated QNet (QKeras vs the unmitigated QNet)" if mitigated else "qkeras",
              "mismatches": {}, "max_abs_diff": {}}
    for level in levels:
        if level == "qkeras":
            out = keras_out
            if mitigated:
                base = predict(base_qnet, xq).reshape(len(x), -1)
                result["mismatches"][level] = int(np.sum(np.any(out != base, axis=1)))
                result["max_abs_diff"][level] = float(np.max(np.abs(out - base))) if len(out) else 0.0
                continue
        elif level == "sim":
            out = predict(qnet, xq).reshape(len(x), -1)
        elif level == "hls":
            from codesign.hls.injection import RegfileCsim

            csim = RegfileCsim(keras_model, qnet)
            try:
                out = csim.predict(xq)
            finally:
                csim.close()
        elif level == "rtl":
            from codesign.rtl.sim import rtl_predict

            out = qnet.output_type.to_float(rtl_predict(qnet, codes)).reshape(len(x), -1)
        else:
            from codesign.hls.hls4ml_csim import Hls4mlCsim

            csim = Hls4mlCsim(keras_model, qnet)
            try:
                out = csim.predict(xq)
            finally:
                csim.close()
        if out.shape != ref.shape:
            raise CodesignError(f"level {level} produced outputs of shape {out.shape}, QKeras {ref.shape}")
        result["mismatches"][level] = int(np.sum(np.any(out != ref, axis=1)))
        result["max_abs_diff"][level] = float(np.max(np.abs(out - ref))) if len(out) else 0.0
    result["ok"] = all(v == 0 for v in result["mismatches"].values())
    return result
