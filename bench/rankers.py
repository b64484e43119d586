"""AUC/oracle of every ranker on designs whose oracle is stored (PrioriFI Table 3), as one markdown table.

    codesign oracle designs/econt_m.yaml --out ORACLES   # once per design (see BENCHMARKS.md for times)
    python bench/rankers.py --out ORACLES designs/econt_s.yaml designs/econt_m.yaml ...
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("designs", nargs="+")
    p.add_argument("--out", required=True, help="directory holding <design>/oracle/")
    p.add_argument("--rankers", help="comma list (default: all)")
    a = p.parse_args()
    from codesign import spec
    from codesign.flow import ranking
    from codesign.prepare import Prepared
    from codesign.rank.names import parse_rankers
    from codesign.workspace import Workspace

    rankers = parse_rankers(a.rankers)
    table, props = {}, {}
    for path in a.designs:
        design = Prepared(spec.load(path))
        ws = Workspace(a.out, design.name)
        with ws.lock():
            s = ranking.evaluate(design, ws, rankers)
        table[design.name] = {r["ranker"]: r for r in s["rankers"]}
        props[design.name] = s["properties"]
        print(f"{design.name}: done ({s['out']})", flush=True)
    names = list(table)
    print("\n| ranker | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for r in rankers:
        print(f"| {r} | " + " | ".join(f"{table[n][r]['auc_vs_oracle']:.3f}" for n in names) + " |")
    print("| FP / FN of bitwise_dynamic | " + " | ".join(
        f"{table[n]['bitwise_dynamic']['false_positives']} / {table[n]['bitwise_dynamic']['false_negatives']}"
        if "bitwise_dynamic" in table[n] else "—" for n in names) + " |")
    print("| model monoscore | " + " | ".join(f"{props[n]['model_monoscore']:.3f}" for n in names) + " |")
    print("| intra / inter exceptions | " + " | ".join(
        f"{100 * props[n]['intra_exception_rate']:.0f} % / {100 * props[n]['inter_exception_rate']:.0f} %"
        for n in names) + " |")
    print("| seconds (hessian / priorifi / bitwise) | " + " | ".join(
        " / ".join(f"{table[n][r]['seconds']:.0f}" if r in table[n] else "—"
                   for r in ("hessian", "priorifi", "bitwise")) for n in names) + " |")


if __name__ == "__main__":
    main()
