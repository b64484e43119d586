"""The trade-off PNGs of a design-space exploration (the rows of ``design_points.csv``, see :mod:`codesign.points`)."""

from __future__ import annotations

import os
from pathlib import Path

from codesign.points import X_AREA, Y_DELTA, as_points, label, number, pareto_front, reference, series

# ---------------------------------------------------------------- plots

def _plt():
    from codesign.report.plots import _plt as plt

    return plt()


def _colours(points: list[dict]) -> dict[str, object]:
    """One stable colour per ranker (sorted names), the same in every figure."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    rankers = sorted({series(p) for p in points if not reference(p)})
    return {r: cmap(i % 10) for i, r in enumerate(rankers)}


REF_STYLE = {"none": dict(color="black", marker="X", ls=":"), "full": dict(color="tab:gray", marker="P", ls="--")}


def _tex(text) -> str:
    """User names shown literally: matplotlib reads text between two '$' as mathtext (and can fail on it)."""
    return str(text).replace("$", r"\$")


def _title(points: list[dict], what: str) -> str:
    designs = sorted({str(p.get("design")) for p in points if p.get("design")})
    return _tex(f"{', '.join(designs)}: {what}") if designs else what


def _no_data(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no design point has {what} measured", ha="center", va="center", transform=ax.transAxes,
            color="tab:red")


def _save(fig, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    fig.tight_layout()
    # no Software/date metadata: the same results give the same bytes
    fig.savefig(tmp, dpi=110, format="png", metadata={"Software": None})
    _plt().close(fig)
    os.replace(tmp, path)
    return path


def _pareto_plot(points: list[dict], colours: dict, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    have = [i for i, p in enumerate(points) if number(p.get(X_AREA)) is not None and number(p.get(Y_DELTA)) is not None]
    front = pareto_front(points)
    on_front = set(front)
    if not have:
        _no_data(ax, "both area_cells and multibit_mean_delta_cost")
    for i in have:
        p = points[i]
        ref = reference(p)
        style = REF_STYLE[ref] if ref else dict(color=colours[series(p)], marker="o")
        ax.scatter(number(p[X_AREA]), number(p[Y_DELTA]), s=60 if i in on_front else 28, color=style["color"],
                   marker=style["marker"], edgecolors="red" if i in on_front else "none", linewidths=1.5, zorder=3)
    if front:
        fx = [number(points[i][X_AREA]) for i in front]
        fy = [number(points[i][Y_DELTA]) for i in front]
        ax.step(fx, fy, where="post", color="red", lw=1.2, alpha=0.8, zorder=2, label="Pareto front")
    # with many points only the front and the references are named, or the labels hide the points
    named = have if len(have) <= 30 else [i for i in have if i in on_front or reference(points[i])]
    for i in named:
        p = points[i]
        ax.annotate(_tex(label(p)), (number(p[X_AREA]), number(p[Y_DELTA])), textcoords="offset points", xytext=(4, 4),
                    fontsize=7, color="darkred" if i in on_front else "dimgray")
    handles = [plt.Line2D([], [], color=c, marker="o", ls="", label=_tex(r)) for r, c in colours.items()]
    handles += [plt.Line2D([], [], color=s["color"], marker=s["marker"], ls="", label=f"{r} (reference)")
                for r, s in REF_STYLE.items() if any(reference(points[i]) == r for i in have)]
    if front:
        handles.append(plt.Line2D([], [], color="red", lw=1.2, marker="o", mfc="none", label="Pareto front"))
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="best")
    ax.set_xlabel("area (Yosys cells)")
    ax.set_ylabel("multi-bit mean ΔC (lower is better)")
    ax.set_title(_title(points, "area vs multi-bit ΔC"))
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _budget_plot(points: list[dict], colours: dict, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    any_drawn = False
    for ranker, colour in colours.items():
        xs = sorted((number(p.get("protected_bits")), number(p.get(Y_DELTA))) for p in points
                    if not reference(p) and series(p) == ranker
                    and number(p.get("protected_bits")) is not None and number(p.get(Y_DELTA)) is not None)
        if xs:
            ax.plot([a for a, _ in xs], [b for _, b in xs], marker="o", ms=4, color=colour, label=_tex(ranker))
            any_drawn = True
    for p in points:
        ref = reference(p)
        dc = number(p.get(Y_DELTA))
        if not ref or dc is None:
            continue
        style = REF_STYLE[ref]
        ax.axhline(dc, color=style["color"], ls=style["ls"], lw=1, label=f"{ref} (reference): ΔC {dc:.4g}")
        bits = number(p.get("protected_bits"))
        if bits is not None:
            ax.scatter(bits, dc, color=style["color"], marker=style["marker"], s=50, zorder=3)
        any_drawn = True
    if any_drawn:
        ax.legend(fontsize=7, loc="best")
    else:
        _no_data(ax, "multibit_mean_delta_cost")
    ax.set_xlabel("protected (triplicated) bits")
    ax.set_ylabel("multi-bit mean ΔC (lower is better)")
    ax.set_title(_title(points, "protection budget vs multi-bit ΔC"))
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _area_plot(points: list[dict], colours: dict, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    any_drawn = False
    for ranker, colour in colours.items():
        xs = sorted((number(p.get("protected_bits")), number(p.get(X_AREA))) for p in points
                    if not reference(p) and series(p) == ranker
                    and number(p.get("protected_bits")) is not None and number(p.get(X_AREA)) is not None)
        if xs:
            ax.plot([a for a, _ in xs], [b for _, b in xs], marker="o", ms=4, color=colour, lw=0.8, alpha=0.85,
                    label=_tex(ranker))
            any_drawn = True
    refs = {}
    for p in points:
        ref = reference(p)
        bits, area = number(p.get("protected_bits")), number(p.get(X_AREA))
        if not ref or bits is None or area is None:
            continue
        style = REF_STYLE[ref]
        ax.scatter(bits, area, color=style["color"], marker=style["marker"], s=60, zorder=3,
                   label=f"{ref} (reference)")
        refs[ref] = (bits, area)
        any_drawn = True
    if len(refs) == 2 and refs["full"][0] > refs["none"][0]:
        # what the area would be if every triplicated bit cost the same: plans above it pay extra for their voters
        (x0, y0), (x1, y1) = refs["none"], refs["full"]
        ax.plot([x0, x1], [y0, y1], color="tab:gray", ls=":", lw=1, label="none → full, linear")
    if any_drawn:
        ax.legend(fontsize=7, loc="best")
    else:
        _no_data(ax, "both protected_bits and area_cells")
    ax.set_xlabel("protected (triplicated) bits")
    ax.set_ylabel("area (Yosys cells)")
    ax.set_title(_title(points, "area vs protected bits"))
    ax.grid(alpha=0.3)
    return _save(fig, path)


PLOTS = ("pareto_area_vs_delta.png", "budget_vs_delta.png", "area_vs_protected.png")
BER_PLOT = "ber_sweep.png"


def ber_plot(ber_rows: list[dict], points: list[dict], path: Path) -> Path:
    """Expected cost against bit error rate, one curve per design point (log x), the unprotected fault-free cost
    as a dotted line: mitigations compared at equal fault rate, with each point's area in the legend."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    by_point: dict[str, list] = {}
    for r in ber_rows:
        if number(r.get("ber")) is not None and number(r.get("expected_cost")) is not None:
            by_point.setdefault(str(r["point"]), []).append((number(r["ber"]), number(r["expected_cost"]),
                                                             number(r.get("area_cells"))))
    import matplotlib

    cmap = matplotlib.colormaps["tab20" if len(by_point) > 12 else "tab10"]
    k = 0
    for pid, xs in by_point.items():
        xs.sort()
        area = xs[0][2]
        ref = {"ref-none": "none", "ref-full": "full"}.get(pid)
        if ref:  # the references on top, in their own style
            style = dict(color=REF_STYLE[ref]["color"], ls=REF_STYLE[ref]["ls"], lw=2.0, zorder=4)
        else:
            style = dict(color=cmap(k % cmap.N))
            k += 1
        ax.plot([a for a, _, _ in xs], [b for _, b, _ in xs], marker="o", ms=4, **{"lw": 1.2, **style},
                label=_tex(f"{pid} ({area:,.0f} cells)" if area is not None else pid))
    base = next((number(p.get("cost_fault_free")) for p in points if str(p.get("point")) == "ref-none"), None)
    if base is not None:
        ax.axhline(base, color="black", ls=":", lw=0.8, label=f"fault-free cost {base:.4g}")
    if by_point:
        ax.set_xscale("log")
        ax.legend(fontsize=7, loc="best")
    else:
        _no_data(ax, "a BER sweep")
    ax.set_xlabel("bit error rate (weight and bias bits)")
    ax.set_ylabel("expected cost over all rows (lower is better)")
    ax.set_title(_title(points, "cost under random bit errors"))
    ax.grid(alpha=0.3)
    return _save(fig, path)


def dse_plots(points, out_dir: str | Path, ber_rows: list[dict] | None = None) -> list[Path]:
    """Write the three trade-off PNGs into ``out_dir`` and return their paths (always all three: a figure whose
    quantities were not measured says so instead of silently missing).

    ``points``: point dicts (as from :func:`read_points`) or a design_points.csv path.
    """
    pts = as_points(points)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    colours = _colours(pts)
    paths = [_pareto_plot(pts, colours, out / PLOTS[0]), _budget_plot(pts, colours, out / PLOTS[1]),
             _area_plot(pts, colours, out / PLOTS[2])]
    if ber_rows:
        paths.append(ber_plot(ber_rows, pts, out / BER_PLOT))
    return paths
