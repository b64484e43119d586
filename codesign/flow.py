"""The main job on one design: model -> QNet -> fidelity check -> fault-free cost, written as one output tree.

Output layout: ``<out>/<design>/{model,verify,report}/`` plus ``manifest.json`` (versions, seed, input hashes), each
replaced whole by a new run. Later stages (oracle, rank, dse, campaigns) add their own sub-directories to the same
tree; ``codesign run`` then runs the design-space exploration (:mod:`codesign.dse.run`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from pathlib import Path

import numpy as np

from codesign import __version__
from codesign.errors import CodesignError
from codesign.metrics.cost import Cost
from codesign.outdir import atomic_dir
from codesign.verify import verify

log = logging.getLogger(__name__)


def versions() -> dict:
    import importlib.metadata as md

    out = {"codesign": __version__, "python": platform.python_version()}
    for pkg in ("tensorflow-cpu", "qkeras", "hls4ml", "numpy", "POT"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(design, out: str | Path = "out", levels=("qkeras", "sim")) -> dict:
    """Run the flow on ``design`` (a :class:`codesign.design.Design`); returns the summary that is also written."""
    name = design.name
    if not name or name in (".", "..") or name.startswith(".") or any(c in name for c in "/\\\0"):
        raise CodesignError(f"design name {name!r} must be a plain directory name (no '/', not starting with '.')")
    if Path(out).exists() and not Path(out).is_dir():
        raise CodesignError(f"output directory {out} exists and is not a directory")
    qnet = design.qnet()
    zm = design.zoo_model()
    data = design.dataset()
    fidelity = verify(zm.onchip, qnet, data.x, levels, base_qnet=design.base_qnet())
    from codesign.sim.forward import predict

    outputs = predict(qnet, data.x)
    cost = Cost.for_design(design)
    per_sample = cost.per_sample(outputs)
    bs = qnet.bitspace
    summary = {
        "design": design.name,
        "model": design.model,
        "data": data.source,
        "rows": int(len(data.x)),
        "metric": design.metric,
        "cost_fault_free": float(np.mean(per_sample)) if len(per_sample) else None,
        "weight_bits": bs.count("kernel"),
        "bias_bits": bs.count("bias"),
        "bitspace_bits": bs.size,
        "fidelity": fidelity,
        "qnet_sha256": qnet.fingerprint(),
    }
    if design.metric == "mispredict":
        summary["accuracy"] = 1.0 - summary["cost_fault_free"]
    manifest = {
        "versions": versions(),
        "seed": design.seed,
        "design_sha256": design.sha256(),
        "qnet_sha256": summary["qnet_sha256"],
        "inputs": {k: v for k, v in (zm.info or {}).items() if isinstance(v, (str, int, float))},
    }
    final = Path(out) / design.name
    # each part is replaced whole; what other commands wrote (oracle, rank, dse, campaign stores) stays
    with atomic_dir(final / "model") as tmp:
        qnet.save(tmp / "qnet.npz")
        (tmp / "layers.json").write_text(json.dumps(qnet.summary(), indent=1))
    with atomic_dir(final / "verify") as tmp:
        (tmp / "verify.json").write_text(json.dumps(fidelity, indent=1))
    with atomic_dir(final / "report") as tmp:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    tmp_manifest = final / ".manifest.json.tmp"
    tmp_manifest.write_text(json.dumps(manifest, indent=1, default=str))
    tmp_manifest.replace(final / "manifest.json")
    summary["out"] = str(final)
    return summary
