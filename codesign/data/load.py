"""A design's evaluation data: read from an ``.npz`` or a registered data set, then checked for what its metric needs.

Checks (each a one-line error): at least one row; inputs numeric and finite; labels for ``mispredict`` integers in
``[0, classes)`` (a one-hot ``y`` is read as its class indices); ``x`` and ``y`` with the same number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError


@dataclass
class Data:
    """Evaluation data: model inputs ``x`` (floats, before input quantization) and what the metric needs."""

    x: np.ndarray
    y: np.ndarray | None = None
    x48: np.ndarray | None = None  # ECON-T: normalized 48-cell input, the EMD reference
    source: str = ""

    def rows(self, idx) -> "Data":
        pick = lambda a: None if a is None else np.asarray(a)[idx]  # noqa: E731
        return replace(self, x=pick(self.x), y=pick(self.y), x48=pick(self.x48))

    def __len__(self) -> int:
        return len(self.x)


def load(spec, metric: str, seed: int, samples: int | None, default_dataset: str | None, data_dir=None,
         input_shape: tuple | None = None, input_scale: float = 1.0) -> Data:
    """The rows a design names (``spec``: :class:`codesign.spec.DataSpec`), the first ``samples`` of them."""
    n = samples or spec.n
    if spec.path is not None:
        data = _npz(Path(spec.path), spec.x, spec.y, metric)
    else:
        data = _registered(spec, spec.dataset or default_dataset, seed, n, data_dir, input_shape)
    if n is not None:
        data = data.rows(slice(0, n))
    if input_scale != 1.0:
        data.x = (data.x * input_scale).astype(np.float32)
    return data


def _registered(spec, kind: str | None, seed: int, n, data_dir, input_shape) -> Data:
    if kind == "digits":
        from codesign.data import digits

        x, y = digits.dataset(spec.split, seed=seed)
        return Data(x, y, source=f"sklearn digits ({spec.split})")
    if kind == "smartpixel":
        from codesign.data import smartpixel

        x, y = smartpixel.dataset(spec.split, data_dir=data_dir, seed=seed)
        return Data(x, y, source=f"smartpixel_muc ({spec.split})")
    if kind == "hgcal":
        from codesign.data import hgcal

        x8, x48 = hgcal.load_hgcal(spec.file, n=n, data_dir=data_dir)
        return Data(x8, None, x48, source=f"HGCAL {spec.file}")
    if kind == "synthetic":
        rng = np.random.default_rng(seed)
        x = rng.uniform(spec.low, spec.high, (int(n or 1000),) + tuple(input_shape)).astype(np.float32)
        return Data(x, None, source="synthetic uniform")
    raise CodesignError(f"unknown dataset {kind!r}; choose one of digits, smartpixel, hgcal, synthetic or give "
                        "data.path")


def _npz(path: Path, xkey: str, ykey: str | None, metric: str) -> Data:
    if not path.is_file():
        raise CodesignError(f"data file not found: {path}")
    try:
        arrays = np.load(path, allow_pickle=False)
        keys = set(arrays.files)
    except Exception as exc:  # numpy raises several types for a bad archive
        raise CodesignError(f"cannot read {path} as .npz: {str(exc).splitlines()[0]}") from None
    if xkey not in keys:
        raise CodesignError(f"{path} has no array {xkey!r} (has: {', '.join(sorted(keys))})")
    if ykey and ykey not in keys:
        raise CodesignError(f"{path} has no array {ykey!r} (has: {', '.join(sorted(keys))})")
    if metric == "mispredict" and not ykey:
        raise CodesignError("metric mispredict needs labels: set data.y in the design")
    try:
        x, y = arrays[xkey], (arrays[ykey] if ykey else None)
    except ValueError as exc:  # object arrays need pickle, which is refused
        raise CodesignError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    x = numeric(x, f"{path}: {xkey}")
    if y is not None and len(y) != len(x):
        raise CodesignError(f"{path}: {xkey} has {len(x)} rows but {ykey} has {len(y)}")
    return Data(x.astype(np.float32), None if y is None else np.asarray(y), source=str(path))


def numeric(a, what: str) -> np.ndarray:
    """A numeric array of at least one dimension (strings, objects and scalars refused)."""
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise CodesignError(f"{what} must be a numeric array, not {a.dtype}")
    if a.ndim == 0:
        raise CodesignError(f"{what} must be an array of rows, not a scalar")
    return a


def check(data: Data, metric: str, n_outputs: int, input_shape: tuple) -> Data:
    """The data checked against the network and the metric (labels become int64 class indices)."""
    x = numeric(data.x, "input x")
    if len(x) == 0:
        raise CodesignError(f"the data ({data.source}) have no rows: nothing to evaluate")
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise CodesignError(f"input shape {tuple(x.shape[1:])} does not match the model input {tuple(input_shape)}")
    if not np.all(np.isfinite(x)):
        raise CodesignError(f"the inputs ({data.source}) contain NaN or infinity")
    if metric != "mispredict" or data.y is None:
        return data
    return replace(data, y=labels(data.y, n_outputs, data.source))


def labels(y, classes: int, source: str) -> np.ndarray:
    """Class indices in ``[0, classes)`` from integer labels or one-hot rows."""
    y = numeric(y, f"labels ({source})")
    if y.ndim == 2 and y.shape[1] == classes and y.shape[1] > 1:
        if not (np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)):
            raise CodesignError(f"labels ({source}) are 2-D but not one-hot rows of {classes} classes")
        y = np.argmax(y, axis=1)
    y = y.reshape(len(y), -1)
    if y.shape[1] != 1:
        raise CodesignError(f"labels ({source}) must be one class index per row (or one-hot rows of {classes})")
    y = y[:, 0]
    if y.dtype.kind == "f" and not np.all(np.isfinite(y) & (y == np.round(y))):
        raise CodesignError(f"labels ({source}) must be whole class indices; found fractional or non-finite ones")
    if len(y) and (y.min() < 0 or y.max() >= classes):
        bad = y[(y < 0) | (y >= classes)][0]
        raise CodesignError(f"label {bad:g} ({source}) is outside the model's {classes} classes (0..{classes - 1})")
    return y.astype(np.int64)
