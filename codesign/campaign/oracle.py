"""The single-bit oracle as a value: ΔC and changed rows of every BitSpace bit, read from and written to
``oracle.csv`` (``bit,layer,tensor,index,bit_position,delta_cost,sensitive,changed_rows``) and ``summary.json``.

Planners and rankers receive an :class:`Oracle`; only this module knows the file format.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError

CSV = "oracle.csv"
SUMMARY = "summary.json"
CSV_COLUMNS = ["bit", "layer", "tensor", "index", "bit_position", "delta_cost", "sensitive", "changed_rows"]


@dataclass
class Oracle:
    delta: np.ndarray  # ΔC per BitSpace index (NaN where not evaluated)
    changed: np.ndarray  # rows whose output changed, per index (0 where not evaluated)
    design_hash: str = ""

    @property
    def evaluated(self) -> np.ndarray:
        return ~np.isnan(self.delta)

    @classmethod
    def from_table(cls, table: dict, size: int, design_hash: str = "") -> "Oracle":
        """From a campaign store's table (fault id = BitSpace index)."""
        delta = np.full(size, np.nan)
        changed = np.zeros(size, dtype=np.int64)
        delta[table["fault_id"]] = table["delta_cost"]
        changed[table["fault_id"]] = table["changed_rows"]
        return cls(delta, changed, design_hash)

    @classmethod
    def read(cls, directory: Path, qnet, hint: str = "") -> "Oracle":
        """The oracle stored in ``directory`` for ``qnet`` (a one-line error when missing or for another network)."""
        path = Path(directory) / CSV
        if not path.is_file():
            raise CodesignError(f"no oracle in {Path(directory).parent}: run `codesign oracle` first{hint}")
        summary = path.with_name(SUMMARY)
        h = ""
        if summary.is_file():
            h = json.loads(summary.read_text()).get("design_hash") or ""
            if h and h != qnet.fingerprint():
                raise CodesignError(f"the oracle in {path.parent} was made for another version of the network")
        size = qnet.bitspace.size
        delta, changed = np.full(size, np.nan), np.zeros(size, dtype=np.int64)
        with open(path, newline="") as f:
            for rec in csv.DictReader(f):
                bit = int(rec["bit"])
                if not 0 <= bit < size:
                    raise CodesignError(f"{path}: bit {bit} is outside BitSpace ({size} bits)")
                delta[bit] = float(rec["delta_cost"])
                changed[bit] = int(float(rec["changed_rows"]))
        return cls(delta, changed, h)

    def write_csv(self, path: Path, bitspace) -> None:
        addr = bitspace.table()
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(CSV_COLUMNS)
            for i in np.flatnonzero(self.evaluated):
                w.writerow([int(addr["bit"][i]), addr["layer"][i], addr["tensor"][i], int(addr["index"][i]),
                            int(addr["bit_position"][i]), repr(float(self.delta[i])), int(self.delta[i] > 0),
                            int(self.changed[i])])

    def order(self) -> np.ndarray:
        """Bits by ΔC descending, ties by index (not evaluated last)."""
        d = np.nan_to_num(self.delta, nan=-1.0)
        return np.lexsort((np.arange(len(d)), -d))

    def summary(self, bitspace, name: str, metric: str, rows: int, cost_fault_free: float) -> dict:
        addr = bitspace.table()
        delta, evaluated = self.delta, self.evaluated
        sens = (delta > 0) & evaluated
        pos = addr["bit_position"]
        kernel = (addr["tensor"] == "kernel") & evaluated
        per_pos = {}
        for p in np.unique(pos[evaluated]):
            sel = evaluated & (pos == p)
            per_pos[int(p)] = {"bits": int(sel.sum()), "sensitive": int(sens[sel].sum()),
                               "delta_cost_sum": float(np.nansum(delta[sel])),
                               "weights_delta_cost_sum": float(np.nansum(delta[sel & kernel]))}
        per_layer = {}
        for layer in dict.fromkeys(addr["layer"].tolist()):
            sel = evaluated & (addr["layer"] == layer)
            per_layer[layer] = {"bits": int(sel.sum()), "sensitive": int(sens[sel].sum())}
        return {
            "design": name, "design_hash": self.design_hash, "metric": metric, "rows": int(rows),
            "cost_fault_free": cost_fault_free, "bits": int(evaluated.sum()), "sensitive": int(sens.sum()),
            "sensitive_fraction": float(sens.sum() / max(evaluated.sum(), 1)),
            "weight_bits": int(kernel.sum()), "weight_bits_sensitive": int(sens[kernel].sum()),
            "weight_sensitive_fraction": float(sens[kernel].sum() / max(kernel.sum(), 1)),
            "delta_cost_sum": float(np.nansum(delta[evaluated])),
            "weights_delta_cost_sum": float(np.nansum(delta[kernel])),
            "weights_msb_delta_cost_sum": float(np.nansum(delta[kernel & (pos == 0)])),
            "per_bit_position": per_pos, "per_layer": per_layer,
        }
