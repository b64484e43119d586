"""Per-sample cost of model outputs: EMD (autoencoders, via the float decoder), mispredictions, MSE.

ΔC = max(mean faulty cost − mean fault-free cost, 0); a bit is sensitive iff ΔC > 0. Campaigns evaluate the
faulty cost on the same rows as the fault-free one; for `mispredict` those are the rows the fault-free model gets
right, so the per-sample faulty cost is 0/1 and ΔC is the fraction the fault turns wrong.
"""

from __future__ import annotations

import copy

import numpy as np

from codesign.errors import CodesignError
from codesign.sim.forward import flat_rows


class Cost:
    """Cost of on-chip outputs (floats, batch first) for one design's data.

    A row's cost depends on that row alone (never on the batch it is computed in), so incremental evaluation of
    the changed rows gives exactly the numbers a full re-evaluation gives. Picklable: campaign workers get a copy.
    """

    def __init__(self, metric: str, data, decoder=None, geometry=None, reference: np.ndarray | None = None):
        self.metric = metric
        self.data = data
        self.decoder = decoder
        self.geometry = geometry
        self.reference = reference  # fault-free outputs (mse without labels)
        if metric == "mispredict" and data.y is None:
            raise CodesignError("metric mispredict needs labels (data.y)")
        if metric == "emd" and (decoder is None or data.x48 is None):
            raise CodesignError("metric emd needs an ECON-T decoder and HGCAL data (x48)")

    @classmethod
    def build(cls, metric: str, data, decoder_model=None, data_dir=None, reference=None) -> "Cost":
        """The cost of ``metric`` on ``data``; EMD decodes with ``decoder_model`` (Keras) on the HGCAL geometry."""
        geometry = decoder = None
        if metric == "emd":
            from codesign.data.hgcal import load_geometry
            from codesign.metrics.decoder import FloatDecoder

            geometry = load_geometry(data_dir)
            if decoder_model is None:
                raise CodesignError("metric emd needs an autoencoder with a float decoder (the ECON-T zoo models)")
            decoder = FloatDecoder.from_keras(decoder_model)
        return cls(metric, data, decoder, geometry, reference)

    def subset(self, idx) -> "Cost":
        """The same cost on the data rows ``idx`` (decoder and geometry shared)."""
        out = copy.copy(self)
        out.data = self.data.rows(idx)
        if self.reference is not None:
            out.reference = np.asarray(self.reference)[idx]
        return out

    def per_sample(self, outputs: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Cost of each row of ``outputs``; ``rows`` says which data rows they are (default: all, in order)."""
        sel = slice(None) if rows is None else rows
        out = flat_rows(np.asarray(outputs, dtype=np.float64))
        if self.metric == "mispredict":
            # argmax ties go to the lowest class index, as numpy's argmax does
            return (np.argmax(out, axis=1) != np.asarray(self.data.y)[sel].reshape(-1)).astype(np.float64)
        if self.metric == "mse":
            target = self.data.y if self.data.y is not None else self.reference
            if target is None:
                raise CodesignError("metric mse needs labels (data.y) or fault-free reference outputs")
            t = flat_rows(np.asarray(target, dtype=np.float64)[sel])
            if t.shape != out.shape:
                raise CodesignError(f"mse target shape {t.shape[1:]} does not match model outputs {out.shape[1:]}")
            return np.mean((out - t) ** 2, axis=1)
        from codesign.data.hgcal import to_48
        from codesign.metrics.emd import emd

        return emd(self.data.x48[sel], to_48(self.decoder(out), self.geometry), self.geometry)


def delta_cost(faulty_mean: float, fault_free_mean: float) -> float:
    return max(float(faulty_mean) - float(fault_free_mean), 0.0)
