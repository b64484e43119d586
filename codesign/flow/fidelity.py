"""The main job's first part on one design: model -> QNet -> fidelity check -> fault-free cost.

Writes ``<out>/<design>/{model,verify,report}/`` and ``manifest.json`` (versions, seed, input hashes), each replaced
whole by a new run; what other commands wrote (oracle, rank, dse, campaign stores) stays.
"""

from __future__ import annotations

import json
import platform

import numpy as np

from codesign import __version__
from codesign.sim.forward import predict
from codesign.verify import verify
from codesign.workspace import write_json


def versions() -> dict:
    import importlib.metadata as md

    out = {"codesign": __version__, "python": platform.python_version()}
    for pkg in ("tensorflow-cpu", "qkeras", "hls4ml", "numpy", "POT"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def run(prepared, ws, levels=("qkeras", "sim")) -> dict:
    """Check the design's network against QKeras and write the summary; returns it (with ``out``)."""
    qnet, zm, data = prepared.qnet, prepared.model, prepared.data
    fidelity = verify(zm.onchip, qnet, data.x, levels, base_qnet=prepared.base_qnet)
    per_sample = prepared.cost().per_sample(predict(qnet, data.x))
    bs = qnet.bitspace
    summary = {
        "design": prepared.name, "model": prepared.spec.model.to_dict(), "data": data.source,
        "rows": int(len(data.x)), "metric": prepared.metric,
        "cost_fault_free": float(np.mean(per_sample)) if len(per_sample) else None,
        "weight_bits": bs.count("kernel"), "bias_bits": bs.count("bias"), "bitspace_bits": bs.size,
        "fidelity": fidelity, "qnet_sha256": qnet.fingerprint(),
    }
    if prepared.metric == "mispredict":
        summary["accuracy"] = 1.0 - summary["cost_fault_free"]
    manifest = {
        "versions": versions(), "seed": prepared.seed, "design_sha256": prepared.spec.sha256,
        "qnet_sha256": summary["qnet_sha256"],
        "inputs": {k: v for k, v in (zm.info or {}).items() if isinstance(v, (str, int, float))},
    }
    with ws.writing("model") as tmp:
        qnet.save(tmp / "qnet.npz")
        (tmp / "layers.json").write_text(json.dumps(qnet.summary(), indent=1))
    with ws.writing("verify") as tmp:
        (tmp / "verify.json").write_text(json.dumps(fidelity, indent=1))
    with ws.writing("report") as tmp:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    write_json(ws.manifest(), manifest, default=str)
    return {**summary, "out": str(ws.root)}
