"""PNG figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def oracle_plots(addr: dict, delta: np.ndarray, evaluated: np.ndarray, out: Path, title: str = "") -> list[Path]:
    """Per-bit ΔC heatmap (weights × bit position, FKeras Fig. 4) and sensitive bits per bit position (Fig. 12)."""
    plt = _plt()
    kernel = (addr["tensor"] == "kernel") & evaluated
    pos = addr["bit_position"]
    paths = []
    if kernel.any():
        # one column per weight (layers in BitSpace order), one row per bit position, MSB on top
        weights = np.unique(addr["bit"][kernel] - pos[kernel])  # index of each word's MSB = one weight
        col = {w: i for i, w in enumerate(weights.tolist())}
        height = int(pos[kernel].max()) + 1
        grid = np.full((height, len(weights)), np.nan)
        for b in np.flatnonzero(kernel):
            grid[pos[b], col[int(addr["bit"][b] - pos[b])]] = delta[b]
        fig, ax = plt.subplots(figsize=(10, 3))
        im = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap="viridis")
        ax.set_xlabel("weight (BitSpace order)")
        ax.set_ylabel("bit position (0 = MSB)")
        ax.set_title(f"{title}: ΔC per weight bit")
        fig.colorbar(im, ax=ax, label="ΔC")
        fig.tight_layout()
        paths.append(out / "oracle_heatmap.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3))
    positions = np.unique(pos[evaluated])
    sens = [int(((delta > 0) & evaluated & (pos == p)).sum()) for p in positions]
    total = [int((evaluated & (pos == p)).sum()) for p in positions]
    ax.bar(positions, total, color="lightgray", label="bits")
    ax.bar(positions, sens, color="tab:red", label="sensitive")
    ax.set_xlabel("bit position (0 = MSB)")
    ax.set_ylabel("bits")
    ax.set_title(f"{title}: sensitive bits per bit position")
    ax.legend()
    fig.tight_layout()
    paths.append(out / "sensitive_per_bit_position.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths
