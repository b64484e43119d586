"""CMS HGCAL ECON-T trigger-cell data: geometry, the preparation the pre-trained ECON-T models expect, CSV loading.

A row holds the integer charges of the 48 trigger cells (``CALQ_0..CALQ_47``) of one sensor module. The encoder sees
them on an 8×8 grid (``arrange_8x8``; 16 positions are duplicates and zeroed by ``arrmask_8x8``); EMD is computed back
on the 48 cells with their hexagonal coordinates (see :mod:`codesign.metrics.emd`).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codesign.data import registry
from codesign.errors import CodesignError

__all__ = ["DATASETS", "Geometry", "N_CELLS", "load_geometry", "load_hgcal", "prepare", "read_csv", "to_48"]

N_CELLS = 48
DATASETS = ("CALQ_output", "electron_pt20_eta15-30_0PU", "jet_pt20_eta15-30_0PU", "ttbar_0PU")
_COLUMNS = [f"CALQ_{i}" for i in range(N_CELLS)]


@dataclass(frozen=True, eq=False)
class Geometry:
    """The 48-cell ↔ 8×8 arrangement and cell coordinates.

    ``cell_of_position[i]`` is the flat 8×8 position (0..63) holding cell ``i`` among the unmasked positions, i.e. the
    inverse of ``arrange_8x8`` restricted to the mask; ``coords`` are ``hex_coords * hex_scale`` (units where the
    distance between neighbouring small cells is 1); ``ground_metric`` is the 48×48 euclidean distance between them.
    """

    arrange_8x8: np.ndarray  # (64,) int: cell index placed at each flat 8x8 position
    arrmask_8x8: np.ndarray  # (64,) int: 1 = keep, 0 = duplicate position, zeroed
    coords: np.ndarray  # (48, 2) float64
    cell_of_position: np.ndarray = field(init=False)  # (48,) int
    ground_metric: np.ndarray = field(init=False, repr=False)  # (48, 48) float64, C-contiguous

    def __post_init__(self) -> None:
        arrange = np.asarray(self.arrange_8x8, dtype=np.int64).reshape(-1)
        mask = np.asarray(self.arrmask_8x8, dtype=np.int64).reshape(-1)
        coords = np.asarray(self.coords, dtype=np.float64)
        if arrange.shape != (64,) or mask.shape != (64,) or coords.shape != (N_CELLS, 2):
            raise CodesignError(
                f"bad HGCAL geometry: need 64 arrange/mask entries and (48,2) coords, got "
                f"{arrange.shape}, {mask.shape}, {coords.shape}"
            )
        kept = np.flatnonzero(mask != 0)
        # Every cell must appear exactly once among kept positions, else to_48() would be ambiguous or lossy.
        if not np.array_equal(np.sort(arrange[kept]), np.arange(N_CELLS)):
            raise CodesignError("bad HGCAL geometry: unmasked arrange_8x8 entries are not a permutation of 0..47")
        cell_of_position = np.empty(N_CELLS, dtype=np.int64)
        cell_of_position[arrange[kept]] = kept
        # Direct differences (not |a|²+|b|²−2ab as ot.dist does) keep the diagonal exactly 0 and M symmetric.
        metric = np.sqrt(((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1))
        for name, value in (("arrange_8x8", arrange), ("arrmask_8x8", mask), ("coords", coords),
                            ("cell_of_position", cell_of_position), ("ground_metric", np.ascontiguousarray(metric))):
            value.flags.writeable = False  # shared by every caller; an in-place edit would corrupt all EMDs
            object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls, d: dict) -> "Geometry":
        """From the ``geometry.json`` layout: arrange_8x8, arrmask_8x8, hex_coords, hex_scale."""
        try:
            coords = np.asarray(d["hex_coords"], dtype=np.float64) * float(d["hex_scale"])
            return cls(np.asarray(d["arrange_8x8"]), np.asarray(d["arrmask_8x8"]), coords)
        except KeyError as exc:
            raise CodesignError(f"bad HGCAL geometry: missing key {exc.args[0]!r}") from None

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "Geometry":
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise CodesignError(f"cannot read HGCAL geometry {path}: {exc}") from None
        return cls.from_dict(d)


def load_geometry(data_dir: str | os.PathLike | None = None) -> Geometry:
    """The ECON-T geometry from ``data/hgcal/geometry.json`` in the data directory (sha256-checked)."""
    return Geometry.from_json(registry.fetch("hgcal/geometry.json", data_dir))


def prepare(rows: np.ndarray, geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Normalize charge rows as the pre-trained ECON-T models expect.

    Drops rows whose sum is 0, divides each row by ``2**floor(log2(sum))`` and places it on the 8×8 grid.
    Returns ``(x8, x48)``: float32 (N, 8, 8, 1) encoder input and float64 (N, 48) normalized cells (the EMD reference).
    """
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != N_CELLS:
        raise CodesignError(f"HGCAL rows must have shape (N, {N_CELLS}), got {rows.shape}")
    if not np.isfinite(rows).all() or (rows < 0).any():
        raise CodesignError("HGCAL charges must be finite and non-negative")
    rows = rows[rows.sum(axis=1) > 0]
    # frexp gives sum = m·2**e with m in [0.5, 1), so floor(log2(sum)) = e − 1 exactly (np.log2 may round a sum
    # just below a power of two up to it); ldexp then divides by that power of two without rounding.
    _, e = np.frexp(rows.sum(axis=1))
    x48 = np.ldexp(rows, -(e - 1)[:, None])
    x8 = x48[:, geometry.arrange_8x8] * geometry.arrmask_8x8
    return x8.astype(np.float32).reshape(-1, 8, 8, 1), x48


def to_48(y8: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Map 8×8 decoder outputs, shape (N, 8, 8, 1) or (N, 64), back to the 48 cells (duplicate positions ignored)."""
    y8 = np.asarray(y8)
    if y8.ndim < 1 or y8.size % 64 or (y8.ndim > 1 and y8[0].size != 64):
        raise CodesignError(f"decoder output must have shape (N, 8, 8, 1) or (N, 64), got {y8.shape}")
    return y8.reshape(-1, 64)[:, geometry.cell_of_position]


def read_csv(path: str | os.PathLike) -> np.ndarray:
    """The raw (N, 48) float64 charges of a CSV with header columns ``CALQ_0..CALQ_47`` (other columns ignored)."""
    path = Path(path)
    try:
        with path.open() as f:
            header = [h.strip().strip('"') for h in f.readline().strip().split(",")]
    except OSError as exc:
        raise CodesignError(f"cannot read HGCAL CSV {path}: {exc.strerror}") from None
    missing = [c for c in _COLUMNS if c not in header]
    if missing:
        raise CodesignError(f"{path} is not an HGCAL CSV: header lacks {missing[0]}" +
                            (f" and {len(missing) - 1} more CALQ_ columns" if len(missing) > 1 else ""))
    try:
        # numpy's C loadtxt reads the 40k-row files in ~0.4 s: no pandas, no cache needed.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "loadtxt: input contained no data")  # header only: (0, 48) is right
            data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=[header.index(c) for c in _COLUMNS],
                              dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise CodesignError(f"{path}: malformed HGCAL CSV ({' '.join(str(exc).split())})") from None
    return data


def load_hgcal(name: str | os.PathLike = "ttbar_0PU", n: int | None = None,
               data_dir: str | os.PathLike | None = None,
               geometry: Geometry | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Prepared ``(x8, x48)`` from a registered dataset name (see ``DATASETS``) or a CSV path.

    ``n`` keeps the first n rows after zero-sum rows are dropped. Without ``geometry``, ``geometry.json`` is read
    from the data directory.
    """
    if isinstance(name, str) and name in DATASETS:
        path = registry.fetch(f"hgcal/{name}.csv", data_dir)
    else:
        path = Path(name)
        if not path.is_file():
            raise CodesignError(f"no HGCAL dataset {str(name)!r}: use one of {', '.join(DATASETS)} or a CSV path")
    if n is not None and n < 0:
        raise CodesignError(f"n must be >= 0, got {n}")
    x8, x48 = prepare(read_csv(path), geometry if geometry is not None else load_geometry(data_dir))
    if n is not None:
        x8, x48 = x8[:n], x48[:n]
    return x8, x48
