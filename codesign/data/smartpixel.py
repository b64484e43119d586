"""Smart-pixel cluster filtering data (muon-collider beam-induced-background variant, binary labels).

Source: elizahoward/smart-pixels-ml ``filtering_models/filtering_records/tfrecords_validation/batch_*.tfrecord``.

TFRecord layout (found by inspecting batch_0/1): each file holds ONE ``tf.train.Example`` carrying a whole batch of
300 clusters; every feature is a ``bytes_list`` with a single ``tf.io.serialize_tensor`` float32 tensor (see
``FEATURES`` for the shapes). Labels ``y`` are 0.0/1.0 floats.

Row order: ``muc_bib_filter_validation.npz`` is the decode of the files concatenated; ``batch_0`` is npz rows
0..299 and ``batch_1`` rows 300..599 (checked bit-exactly on all shared keys). The npz has no ``cluster`` images.
Its 59 060 rows are fewer than 198 × 300, so later files must be shorter or were filtered; the order beyond
batch_1 cannot be checked with the two raw files we hold.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from codesign.data import registry
from codesign.errors import CodesignError

__all__ = ["BATCH_ROWS", "FEATURES", "dataset", "load_npz", "read_tfrecords"]

# Feature key -> per-row shape. All are float32 serialized tensors of shape (rows, *per_row).
FEATURES: dict[str, tuple[int, ...]] = {
    "cluster": (13, 21, 1),  # charge image, y × x pixels
    "y_profile": (13,),  # cluster summed over x: the 13 model inputs
    "x_profile": (21,),
    "y_local": (1,),
    "z_global": (1,),
    "total_charge": (1,),
    "x_size": (1,),
    "y_size": (1,),
    "adjusted_hit_time": (1,),
    "adjusted_hit_time_30ps_gaussian": (1,),
    "adjusted_hit_time_60ps_gaussian": (1,),
    "y": (1,),  # 1 = signal, 0 = beam-induced background
}
# Where the raw batches sit in the npz (half-open row ranges).
BATCH_ROWS = {"smartpixel_muc/batch_0.tfrecord": (0, 300), "smartpixel_muc/batch_1.tfrecord": (300, 600)}
_NPZ = "smartpixel_muc/muc_bib_filter_validation.npz"


def load_npz(data_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """All arrays of ``muc_bib_filter_validation.npz`` (float32, (59060, k)), loaded into memory."""
    path = registry.fetch(_NPZ, data_dir)
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def read_tfrecords(paths: str | os.PathLike | Iterable[str | os.PathLike],
                   keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Decode TFRecord files with the smart-pixel schema into ``{key: (N, *shape) float32}``, files in given order.

    ``keys`` selects features (default: all of ``FEATURES``). TensorFlow is imported here, not at module import: it
    takes seconds and most users of this module only read the npz.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [str(Path(p)) for p in paths]
    keys = list(FEATURES if keys is None else keys)
    unknown = [k for k in keys if k not in FEATURES]
    if unknown:
        raise CodesignError(f"unknown smart-pixel feature {unknown[0]!r}; known: {', '.join(FEATURES)}")
    for p in paths:
        if not Path(p).is_file():
            raise CodesignError(f"TFRecord file {p} does not exist")

    import tensorflow as tf

    spec = {k: tf.io.FixedLenFeature([], tf.string) for k in keys}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    try:
        for record in tf.data.TFRecordDataset(paths):
            example = tf.io.parse_single_example(record, spec)
            for k in keys:
                t = tf.io.parse_tensor(example[k], out_type=tf.float32).numpy()
                parts[k].append(t.reshape((-1, *FEATURES[k])))
    except (tf.errors.OpError, ValueError) as exc:
        msg = " ".join(str(getattr(exc, "message", exc)).split())
        raise CodesignError(f"cannot decode smart-pixel TFRecords {', '.join(paths)}: {msg}") from None
    out = {}
    for k in keys:
        out[k] = np.concatenate(parts[k]) if parts[k] else np.zeros((0, *FEATURES[k]), np.float32)
    n = {len(v) for v in out.values()}
    if len(n) > 1:
        raise CodesignError(f"smart-pixel TFRecords {', '.join(paths)}: features have different row counts {n}")
    return out


def _split(y: np.ndarray, split: str, test_size: float, seed: int) -> np.ndarray:
    """Row indices of a deterministic stratified split (same seed -> same rows on every machine)."""
    if split == "all":
        return np.arange(len(y))
    if split not in ("train", "test"):
        raise CodesignError(f"split must be 'train', 'test' or 'all', got {split!r}")
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(np.arange(len(y)), test_size=test_size, random_state=seed, stratify=y)
    # Left in shuffled order: the first n rows of a split are then a fair sample, not the first files.
    return train if split == "train" else test


def dataset(split: str = "train", data_dir: str | os.PathLike | None = None, seed: int = 0,
            test_size: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: float32 (N, 13) raw y-profiles and int64 (N,) labels; 80/20 stratified split by ``seed``.

    No input scaling: the upstream smart-pixel models take the raw profiles (they have no input quantizer).
    """
    z = load_npz(data_dir)
    x = np.ascontiguousarray(z["y_profile"], dtype=np.float32)
    y = z["y"].reshape(-1).astype(np.int64)
    idx = _split(y, split, test_size, seed)
    return x[idx], y[idx]
