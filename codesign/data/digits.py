"""UCI handwritten digits bundled with scikit-learn (1 797 images, 8×8, 16 grey levels, 10 classes).

Real data present on any machine with scikit-learn, so the default small quantized-CNN design needs no data directory.
"""

from __future__ import annotations

import numpy as np

from codesign.errors import CodesignError

__all__ = ["dataset"]


def dataset(split: str = "train", seed: int = 0, test_size: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: float32 (N, 8, 8, 1) in [0, 1] and int64 (N,) labels; stratified split by ``seed``.

    Pixels are 0..16 and divided by 16, a power of two, so x holds exactly k/16: a fixed-point input with 4 fractional
    bits (and one integer bit for 1.0) represents it without quantization noise.
    """
    from sklearn.datasets import load_digits  # sklearn import is slow; keep it off the package import path

    d = load_digits()
    x = (d.images.astype(np.float32) / np.float32(16.0)).reshape(-1, 8, 8, 1)
    y = d.target.astype(np.int64)
    if split == "all":
        return x, y
    if split not in ("train", "test"):
        raise CodesignError(f"split must be 'train', 'test' or 'all', got {split!r}")
    from sklearn.model_selection import train_test_split

    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    return (x_tr, y_tr) if split == "train" else (x_te, y_te)
