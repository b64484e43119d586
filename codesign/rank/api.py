"""Rankings of a design (``codesign rank``) and their evaluation against the stored oracle (``codesign evaluate``).

Outputs: ``<out>/<design>/rank/<method>/rank.csv`` (``position,bit`` plus the bit's address and the injection count
at which the method found it) and ``<out>/<design>/evaluation/{evaluation.csv, evaluation.md, oracle_properties.json,
monoscore.csv, *.png}``. Dynamic rankers are replayed from the oracle when one is stored (the oracle is exactly what
a live campaign would measure), else driven live by the campaign evaluator.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError
from codesign.outdir import atomic_dir
from codesign.rank import dynamic, static
from codesign.rank.base import Context, Ranking
from codesign.rank.loss import ROWS

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
ALIASES = {"binfi": "binfi_serial", "statfi": "statfi_data_aware", "msb_to_lsb": "msb"}
RANKERS = tuple(STATIC) + tuple(DYNAMIC)


def canonical(name: str) -> str:
    name = ALIASES.get(name.strip().lower(), name.strip().lower())
    if name not in RANKERS:
        raise CodesignError(f"unknown ranker {name!r}; choose from {', '.join(RANKERS)}")
    return name


def parse_rankers(text: str | None) -> list[str]:
    if not text:
        return list(RANKERS)
    names = [canonical(t) for t in text.split(",") if t.strip()]
    if not names:
        raise CodesignError("no ranker named")
    return list(dict.fromkeys(names))


def context_for(design, rows: int = ROWS) -> Context:
    from codesign.campaign.api import evaluator_for
    from codesign.rank.loss import loss_model_for

    return Context(design.qnet(), seed=design.seed, metric=design.metric,
                   loss_factory=lambda obj: loss_model_for(design, rows, obj),
                   evaluator_factory=lambda n: evaluator_for(design, n))


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


def load_oracle(design, out, column: str = "delta_cost") -> np.ndarray:
    """ΔC (or another numeric ``column`` of oracle.csv, e.g. ``changed_rows``) per BitSpace index from
    ``<out>/<design>/oracle/oracle.csv`` (NaN where not evaluated)."""
    path = Path(out) / design.name / "oracle" / "oracle.csv"
    if not path.is_file():
        raise CodesignError(f"no oracle for {design.name} in {Path(out)}: run `codesign oracle "
                            f"<design.yaml> --out {out}` first")
    qnet = design.qnet()
    summary = path.with_name("summary.json")
    if summary.is_file():
        h = json.loads(summary.read_text()).get("design_hash")
        if h and h != qnet.fingerprint():
            raise CodesignError(f"the oracle in {path.parent} was made for another version of {design.name}")
    delta = np.full(qnet.bitspace.size, np.nan)
    with open(path, newline="") as f:
        for rec in csv.DictReader(f):
            bit = int(rec["bit"])
            if not 0 <= bit < len(delta):
                raise CodesignError(f"{path}: bit {bit} is outside BitSpace ({len(delta)} bits)")
            delta[bit] = float(rec[column])
    return delta


def replay(delta: np.ndarray):
    """``measure(bit) -> ΔC`` answered from a stored oracle (bits it did not evaluate read as 0)."""
    return lambda bit: float(np.nan_to_num(delta[bit]))


def live_measure(design, out):
    """ΔC of one bit measured by the simulator, kept in a resumable store (single-bit campaign keyed like the
    oracle), so a killed dynamic ranking loses nothing."""
    from codesign.campaign.api import campaign_key, evaluator_for
    from codesign.campaign.faults import FaultModel
    from codesign.campaign.store import Store

    ev = evaluator_for(design)
    model = FaultModel("single", seed=design.seed)
    store = Store(Path(out) / design.name / ".work" / "oracle.sqlite", campaign_key(design, ev, model, None))
    table = store.table()
    done = {int(i): float(d) for i, d in zip(table["fault_id"], table["delta_cost"])}

    def measure(bit: int) -> float:
        if bit not in done:
            o = ev.evaluate([bit])
            store.add([(bit, str(bit), 1, o.delta_cost, o.faulty_cost, o.changed_rows)])
            done[bit] = o.delta_cost
        return done[bit]

    measure.close = store.close
    return measure


# --- commands ----------------------------------------------------------------------------------------------------


def rank(design, method: str, out="out", k: int = 5, k_eigen: int = 8, rows: int = ROWS) -> dict:
    method = canonical(method)
    check_options(k, k_eigen)
    ctx = context_for(design, rows)
    measure, source = None, "static"
    if method in DYNAMIC:
        try:
            delta = load_oracle(design, out)
            measure, source = replay(delta), "oracle replay"
        except CodesignError:
            measure, source = live_measure(design, out), "live"
    t0 = time.perf_counter()
    try:
        r = make_ranking(method, ctx, measure, k=k, k_eigen=k_eigen)
    finally:
        getattr(measure, "close", lambda: None)()
    seconds = time.perf_counter() - t0
    final = Path(out) / design.name / "rank" / method
    addr = ctx.bitspace.table()
    with atomic_dir(final) as tmp:
        with open(tmp / "rank.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["position", "bit", "flips", "layer", "tensor", "index", "bit_position"])
            for i, (b, fl) in enumerate(zip(r.order.tolist(), r.flips.tolist())):
                w.writerow([i, b, fl, addr["layer"][b], addr["tensor"][b], int(addr["index"][b]),
                            int(addr["bit_position"][b])])
        info = {k_: v for k_, v in r.info.items() if k_ != "score"}
        (tmp / "summary.json").write_text(json.dumps(
            {"design": design.name, "method": method, "source": source, "bits": int(len(r.order)),
             "flips": int(r.flips[-1]) if len(r.flips) else 0, "seconds": seconds, **info}, indent=1))
    return {"design": design.name, "method": method, "source": source, "bits": int(len(r.order)),
            "seconds": seconds, "out": str(final), **info}


def evaluate(design, rankers: list[str] | None = None, out="out", k: int = 5, k_eigen: int = 8,
             rows: int = ROWS) -> dict:
    from codesign.rank import evaluation as ev

    check_options(k, k_eigen)
    names = rankers or list(RANKERS)
    delta = load_oracle(design, out)  # before any work: a missing oracle is a user error
    ctx = context_for(design, rows)
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
    props = {"design": design.name, "bits": int(np.sum(~np.isnan(delta))),
             "sensitive": int(np.nansum(delta > 0)), "model_monoscore": float(np.nanmean(mono)),
             **ev.monotonicity_exceptions(delta, bs)}
    final = Path(out) / design.name / "evaluation"
    columns = list(dict.fromkeys(k_ for r_ in rows_out for k_ in r_))
    head = ["ranker", "auc_vs_oracle", "spearman", "false_positives", "false_negatives"]
    columns = head + [c for c in columns if c not in head]
    with atomic_dir(final) as tmp:
        with open(tmp / "evaluation.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=columns)
            w.writeheader()
            for r_ in rows_out:
                w.writerow({c: ("" if r_.get(c) is None else r_.get(c)) for c in columns})
        (tmp / "evaluation.md").write_text(markdown(design.name, rows_out, props))
        (tmp / "oracle_properties.json").write_text(json.dumps(props, indent=1))
        addr = bs.table()
        with open(tmp / "monoscore.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["bit", "bit_position", "delta_cost", "monoscore"])
            for b in np.flatnonzero(~np.isnan(delta)):
                w.writerow([int(b), int(addr["bit_position"][b]), repr(float(delta[b])), repr(float(mono[b]))])
        from codesign.report.plots import evaluation_plots

        evaluation_plots(rankings, delta, rows_out, mono, bs, tmp, title=design.name)
    return {"design": design.name, "rankers": rows_out, "properties": props, "out": str(final)}


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
