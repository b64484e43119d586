"""Rankings as values: make a ranker's order of the BitSpace bits, replay dynamic rankers from an oracle or drive them
live, judge rankings against the oracle, and write ``rank.csv`` / ``evaluation.*`` into a directory the caller gives.

``rank.csv`` has ``position,bit`` plus the bit's address and the injection count at which the method found it;
``evaluation/`` holds ``evaluation.csv``, ``evaluation.md``, ``oracle_properties.json`` and ``monoscore.csv``.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError
from codesign.rank import dynamic, static
from codesign.rank.base import Context, Ranking
from codesign.rank.names import canonical

log = logging.getLogger(__name__)

STATIC = {"random": static.random_rank, "msb": static.msb_rank, "gradient": static.gradient_rank,
          "taylor": static.taylor_rank, "hessian": static.hessian_rank, "bitwise": static.bitwise_rank,
          "bitwise_sampled": static.sampled_rank}
DYNAMIC = {
    "priorifi": lambda o: dynamic.PrioriFI(k=o.get("k", 5), k_eigen=o.get("k_eigen", 8)),
    "bitwise_dynamic": lambda o: dynamic.BitwiseDynamic(),
    "binfi_actual": lambda o: dynamic.BinFI("actual"),
    "binfi_implied": lambda o: dynamic.BinFI("implied"),
    "binfi_serial": lambda o: dynamic.BinFI("serial"),
    "statfi_data_aware": lambda o: dynamic.StatFI(True),
    "statfi_data_unaware": lambda o: dynamic.StatFI(False),
}


def check_options(k: int, k_eigen: int) -> None:
    if k <= 0:
        raise CodesignError("--k must be a positive integer")
    if k_eigen <= 0:
        raise CodesignError("--k-eigen must be a positive integer")


def make_ranking(name: str, ctx: Context, measure=None, **opts) -> Ranking:
    name = canonical(name)
    if name in STATIC:
        return STATIC[name](ctx, **({"k": opts["k_eigen"]} if name == "hessian" and "k_eigen" in opts else {}))
    if measure is None:
        raise CodesignError(f"{name} injects faults: it needs an oracle or a live evaluator")
    return dynamic.drive(DYNAMIC[name](opts), ctx, measure)


# --- oracle ------------------------------------------------------------------------------------------------------


def replay(delta: np.ndarray):
    """``measure(bit) -> ΔC`` answered from a stored oracle (bits it did not evaluate read as 0)."""
    return lambda bit: float(np.nan_to_num(delta[bit]))


def live_measure(evaluator, store):
    """``measure(bit) -> ΔC`` by the simulator, kept in ``store`` (a resumable single-bit campaign store keyed like
    the oracle's), so a killed dynamic ranking loses nothing."""
    table = store.table()
    done = {int(i): float(d) for i, d in zip(table["fault_id"], table["delta_cost"])}

    def measure(bit: int) -> float:
        if bit not in done:
            o = evaluator.evaluate([bit])
            store.add([(bit, str(bit), 1, o.delta_cost, o.faulty_cost, o.changed_rows)])
            done[bit] = o.delta_cost
        return done[bit]

    return measure


def order(name: str, ctx: Context, oracle=None) -> np.ndarray:
    """The order a plan takes its top bits from: the oracle's (ΔC descending, ties by index) or a ranker's, dynamic
    rankers replayed from the oracle (partial rankings: the rest last)."""
    if name == "oracle":
        if oracle is None:
            raise CodesignError("ranker oracle needs the single-bit oracle (run `codesign oracle` first)")
        return oracle.order()
    name = canonical(name)
    measure = None
    if name in DYNAMIC:
        if oracle is None:
            raise CodesignError(f"{name} injects faults: it needs the single-bit oracle (run `codesign oracle`)")
        measure = replay(oracle.delta)
    r = make_ranking(name, ctx, measure)
    rest = np.setdiff1d(np.arange(ctx.bitspace.size), r.order)
    return np.concatenate([r.order, rest])


def rank(ctx: Context, method: str, measure=None, k: int = 5, k_eigen: int = 8) -> tuple[Ranking, float]:
    """(the ranking, seconds); ``measure`` answers a dynamic ranker's injections (:func:`replay` or
    :func:`live_measure`)."""
    check_options(k, k_eigen)
    t0 = time.perf_counter()
    r = make_ranking(method, ctx, measure, k=k, k_eigen=k_eigen)
    return r, time.perf_counter() - t0


def write_ranking(directory: Path, r: Ranking, bitspace, summary: dict) -> None:
    addr = bitspace.table()
    with open(directory / "rank.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["position", "bit", "flips", "layer", "tensor", "index", "bit_position"])
        for i, (b, fl) in enumerate(zip(r.order.tolist(), r.flips.tolist())):
            w.writerow([i, b, fl, addr["layer"][b], addr["tensor"][b], int(addr["index"][b]),
                        int(addr["bit_position"][b])])
    (directory / "summary.json").write_text(json.dumps(summary, indent=1))


def evaluate(ctx: Context, names: list[str], delta: np.ndarray, k: int = 5, k_eigen: int = 8) -> dict:
    """Every ranker in ``names`` judged against the oracle's ΔC: {"rows", "rankings", "properties", "monoscores"}."""
    from codesign.rank import evaluation as ev

    check_options(k, k_eigen)
    bs = ctx.bitspace
    measure = replay(delta)
    rows_out, rankings = [], {}
    for name in names:
        t0 = time.perf_counter()
        r = make_ranking(name, ctx, measure, k=k, k_eigen=k_eigen)
        row = ev.evaluate_ranking(r, delta, bs)
        row["seconds"] = round(time.perf_counter() - t0, 3)
        rows_out.append(row)
        rankings[name] = r
        log.info("%s: AUC/oracle %.4f", name, row["auc_vs_oracle"])
    mono = ev.monoscores(delta, bs)
    props = {"bits": int(np.sum(~np.isnan(delta))), "sensitive": int(np.nansum(delta > 0)),
             "model_monoscore": float(np.nanmean(mono)), **ev.monotonicity_exceptions(delta, bs)}
    return {"rows": rows_out, "rankings": rankings, "properties": props, "monoscores": mono}


def write_evaluation(directory: Path, name: str, result: dict, delta: np.ndarray, bitspace) -> None:
    rows_out, props, mono = result["rows"], result["properties"], result["monoscores"]
    columns = list(dict.fromkeys(k_ for r_ in rows_out for k_ in r_))
    head = ["ranker", "auc_vs_oracle", "spearman", "false_positives", "false_negatives"]
    columns = head + [c for c in columns if c not in head]
    with open(directory / "evaluation.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for r_ in rows_out:
            w.writerow({c: ("" if r_.get(c) is None else r_.get(c)) for c in columns})
    (directory / "evaluation.md").write_text(markdown(name, rows_out, props))
    (directory / "oracle_properties.json").write_text(json.dumps(props, indent=1))
    addr = bitspace.table()
    with open(directory / "monoscore.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["bit", "bit_position", "delta_cost", "monoscore"])
        for b in np.flatnonzero(~np.isnan(delta)):
            w.writerow([int(b), int(addr["bit_position"][b]), repr(float(delta[b])), repr(float(mono[b]))])


def markdown(name: str, rows: list[dict], props: dict) -> str:
    def f(v, fmt="{:.4f}"):
        return "—" if v is None else (fmt.format(v) if isinstance(v, float) else str(v))

    lines = [f"# Rankings of {name} against the oracle", "",
             f"{props['bits']} bits, {props['sensitive']} sensitive; model monoscore {props['model_monoscore']:.3f}; "
             f"intra-parameter exceptions {100 * props['intra_exception_rate']:.1f} %, inter-parameter "
             f"{100 * props['inter_exception_rate']:.1f} %.", "",
             "| ranker | AUC/oracle | Spearman | false pos. | false neg. | flips to 25/50/75/100 % ΔC | seconds |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        reach = " / ".join(f(r.get(f"flips_to_{q}pct_delta")) for q in (25, 50, 75, 100))
        lines.append(f"| {r['ranker']} | {f(r['auc_vs_oracle'])} | {f(r['spearman'])} | {r['false_positives']} | "
                     f"{r['false_negatives']} | {reach} | {f(r['seconds'], '{:.1f}')} |")
    return "\n".join(lines) + "\n"
