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


def evaluation_plots(rankings: dict, delta: np.ndarray, rows: list[dict], mono: np.ndarray, bitspace, out: Path,
                     title: str = "") -> list[Path]:
    """Cumulative ΔC vs injections per ranker with the oracle (PrioriFI Fig. 7), Spearman ρ per bit position
    (FKeras Fig. 6), injections to reach 25/50/75/100 % of ΔC (PrioriFI Fig. 9), monoscore histogram (Fig. 8)."""
    from codesign.rank.evaluation import curve, oracle_curve, restrict

    plt = _plt()
    evaluated = ~np.isnan(delta)
    d = np.where(evaluated, delta, 0.0)
    n = int(evaluated.sum())
    paths = []
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = np.arange(1, n + 1)
    ax.plot(x, oracle_curve(d[evaluated]), "k--", label="oracle")
    for name, r in rankings.items():
        ax.plot(x, curve(restrict(r, evaluated), d, n), label=name, lw=1)
    ax.set_xlabel("bits flipped (fault injections)")
    ax.set_ylabel("cumulative ΔC")
    ax.set_title(f"{title}: cumulative ΔC found")
    ax.legend(fontsize=7)
    paths.append(_save(fig, out / "cumulative_delta_cost.png"))

    positions = sorted({int(k[len("spearman_pos"):]) for r in rows for k in r if k.startswith("spearman_pos")})
    if positions:
        fig, ax = plt.subplots(figsize=(7, 4))
        width = 0.8 / max(len(rows), 1)
        for i, r in enumerate(rows):
            vals = [r.get(f"spearman_pos{p}") or 0.0 for p in positions]
            ax.bar(np.arange(len(positions)) + i * width, vals, width, label=r["ranker"])
        ax.set_xticks(np.arange(len(positions)) + 0.4 - width / 2)
        ax.set_xticklabels(["MSB" if p == 0 else f"MSB-{p}" for p in positions])
        ax.set_ylabel("Spearman ρ vs oracle")
        ax.set_title(f"{title}: rank correlation per bit position")
        ax.legend(fontsize=6, ncol=2)
        paths.append(_save(fig, out / "spearman_per_bit_position.png"))

    fig, ax = plt.subplots(figsize=(7, 4))
    qs = (25, 50, 75, 100)
    width = 0.8 / max(len(rows), 1)
    for i, r in enumerate(rows):
        vals = [r.get(f"flips_to_{q}pct_delta") or n for q in qs]
        ax.bar(np.arange(len(qs)) + i * width, vals, width, label=r["ranker"])
    ax.set_xticks(np.arange(len(qs)) + 0.4 - width / 2)
    ax.set_xticklabels([f"{q} % of ΔC" for q in qs])
    ax.set_ylabel("bits flipped (never reached = all bits)")
    ax.set_title(f"{title}: injections needed")
    ax.legend(fontsize=6, ncol=2)
    paths.append(_save(fig, out / "flips_to_delta_cost.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(mono[evaluated], bins=50)
    ax.set_xlabel("bit monoscore")
    ax.set_ylabel("bits")
    ax.set_title(f"{title}: monoscore distribution")
    paths.append(_save(fig, out / "monoscore.png"))
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _plt().close(fig)
    return path
