"""``codesign`` command line: a thin layer over the Python API (codesign.design, codesign.verify, codesign.flow).

User errors print one line ``error: ...`` and exit 2; internal bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from codesign.errors import CodesignError


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _design_or_model(spec: str, data_dir: str | None, input_precision: str | None = None):
    """A design file, a Keras .h5 path, or a zoo name -> Design."""
    from codesign.design import Design

    path = Path(spec)
    if spec.endswith((".yaml", ".yml")):
        design = Design.load(path, data_dir=data_dir)
    elif spec.endswith((".h5", ".hdf5")) or path.exists():
        design = Design.from_dict({"name": path.stem, "model": {"path": str(path.resolve())}, "metric": "mse"},
                                  data_dir=data_dir)
    else:
        design = Design.from_dict({"name": spec, "model": {"zoo": spec}, "metric": "mse"}, data_dir=data_dir)
    if input_precision:
        design.model["input_precision"] = input_precision
    return design


def cmd_info(args) -> int:
    design = _design_or_model(args.model, args.data_dir, args.input_precision)
    qnet = design.qnet()
    rows = qnet.summary()
    bs = qnet.bitspace
    info = {"model": qnet.name, "input": {"shape": list(qnet.input_shape), "type": str(qnet.input_type)},
            "layers": rows, "weight_bits": bs.count("kernel"), "bias_bits": bs.count("bias"),
            "bitspace_bits": bs.size}
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"model {qnet.name}: input {tuple(qnet.input_shape)} {qnet.input_type}")
    for r in rows[1:]:
        params = "  ".join(f"{t}={r[t]}" for t in ("kernel", "bias", "scale") if t in r)
        print(f"  {r['layer']:<24} {r['kind']:<10} out {str(tuple(r['shape'])):<14} {r['type']:<40} {params}")
    print(f"weight bits {info['weight_bits']}  bias bits {info['bias_bits']}  BitSpace {info['bitspace_bits']}")
    return 0


def cmd_verify(args) -> int:
    import numpy as np

    from codesign.verify import parse_levels, verify

    levels = parse_levels(args.levels)
    if args.design:
        design = _design_or_model(args.design, args.data_dir, args.input_precision)
        x = design.dataset().x
    elif args.model:
        if not args.inputs:
            raise CodesignError("verify --model needs --inputs X.npy (or use --design D.yaml)")
        design = _design_or_model(args.model, args.data_dir, args.input_precision)
        if not Path(args.inputs).is_file():
            raise CodesignError(f"inputs file not found: {args.inputs}")
        try:
            x = np.load(args.inputs, allow_pickle=False)
        except Exception as exc:
            raise CodesignError(f"cannot read inputs {args.inputs}: {str(exc).splitlines()[0]}") from None
    else:
        raise CodesignError("verify needs --design D.yaml or --model M.h5 --inputs X.npy")
    if args.n is not None:
        if args.n <= 0:
            raise CodesignError("--n must be a positive integer")
        x = x[: args.n]
    result = verify(design.zoo_model().onchip, design.qnet(), x, levels,
                    base_qnet=design.base_qnet())
    print(json.dumps(result, indent=1))
    return 0 if result["ok"] else 1


def cmd_run(args) -> int:
    from codesign import flow
    from codesign.dse.spec import parse_spec

    design = _load_design(args)
    spec = None
    if args.until == "dse":
        if args.workers < 1:
            raise CodesignError("--workers must be >= 1")
        # every setting is checked before anything is written
        spec = parse_spec(design.raw, design.qnet().bitspace.size, origin=args.design)
    s = flow.run(design, args.out)
    fid = s["fidelity"]["mismatches"]
    line = f"{s['design']}: {s['rows']} rows of {s['data']}, metric {s['metric']} fault-free {s['cost_fault_free']:.6g}"
    if "accuracy" in s:
        line += f" (accuracy {s['accuracy']:.4f})"
    print(line)
    print(f"  BitSpace: {s['weight_bits']} weight bits + {s['bias_bits']} bias bits = {s['bitspace_bits']}")
    print("  fidelity vs QKeras: " + ", ".join(f"{k} {v} mismatches" for k, v in fid.items()))
    print(f"  written to {s['out']}")
    if not s["fidelity"]["ok"]:
        return 1
    if spec is None:
        return 0
    from codesign.dse.run import run_dse

    print(f"design-space exploration: rankers {', '.join(spec.rankers)}; budgets "
          f"{', '.join(['none', 'full'] + [t for t, _ in spec.budgets])}; multi-bit {spec.flips} flips x "
          f"{spec.trials} trials", flush=True)
    d = run_dse(design, spec, args.out, workers=args.workers, progress=lambda m: print(m, flush=True))
    best = d.get("smallest_point_under_1pct_residual")
    if best:
        print(f"  smallest design with multi-bit ΔC <= 1 % of unprotected: {best['point']} "
              f"({best['area_overhead_pct']:.1f} % of full TMR's area overhead)")
    report = Path(args.out) / design.name / "dse" / "report.html"
    print(f"  report: {report}")
    return 0


def cmd_check(args) -> int:
    from codesign.check import main_check

    return main_check(args)


def _load_design(args):
    from codesign.design import Design

    design = Design.load(args.design, data_dir=args.data_dir)
    if getattr(args, "samples", None) is not None:
        if args.samples <= 0:
            raise CodesignError("--samples must be a positive integer")
        design.samples = args.samples
    return design


def cmd_oracle(args) -> int:
    from codesign.campaign import api

    s = api.oracle(_load_design(args), args.out, workers=args.workers, scheduler=args.scheduler,
                   weights_only=args.weights_only)
    print(f"{s['design']}: {s['bits']} bits on {s['rows']} rows, fault-free {s['metric']} {s['cost_fault_free']:.6g}")
    print(f"  sensitive {s['sensitive']} ({100 * s['sensitive_fraction']:.2f} %); weight bits "
          f"{s['weight_bits_sensitive']}/{s['weight_bits']} ({100 * s['weight_sensitive_fraction']:.2f} %)")
    print(f"  ΔC sum {s['delta_cost_sum']:.6g}; weights {s['weights_delta_cost_sum']:.6g} of which MSB "
          f"{s['weights_msb_delta_cost_sum']:.6g}")
    print(f"  written to {s['out']}")
    return 0


def cmd_campaign(args) -> int:
    from codesign.campaign import api
    from codesign.campaign.faults import FaultModel

    design = _load_design(args)
    model = FaultModel(args.fault_model, flips=args.flips, rate=args.rate, trials=args.trials,
                       weights_only=args.weights_only, seed=design.seed if args.seed is None else args.seed)
    s = api.campaign(design, model, args.out, protect=args.protect, workers=args.workers, scheduler=args.scheduler)
    print(f"{s['design']}: {s['trials']} {args.fault_model} trials on {s['rows']} rows "
          f"(mean {s['mean_flips_applied']:.1f} flips applied of {s['mean_flips_drawn']:.1f} drawn)")
    print(f"  mean ΔC {s['mean_delta_cost']:.6g}, error rate {100 * s['error_rate']:.2f} %")
    print(f"  written to {s['out']}")
    return 0


def cmd_rank(args) -> int:
    from codesign.rank import api

    design = _load_design(args)
    s = api.rank(design, args.method, args.out, k=args.k, k_eigen=args.k_eigen, rows=args.rows)
    print(f"{s['design']}: {s['method']} ranked {s['bits']} bits ({s['source']}) in {s['seconds']:.1f} s")
    if "layer_trace" in s:
        print("  Hessian trace per tensor: " + ", ".join(f"{k} {v:.4g}" for k, v in s["layer_trace"].items()))
    print(f"  written to {s['out']}/rank.csv")
    return 0


def cmd_evaluate(args) -> int:
    from codesign.rank import api

    design = _load_design(args)
    rankers = api.parse_rankers(args.rankers)
    s = api.evaluate(design, rankers, args.out, k=args.k, k_eigen=args.k_eigen, rows=args.rows)
    p = s["properties"]
    print(f"{s['design']}: {p['bits']} bits, {p['sensitive']} sensitive, model monoscore {p['model_monoscore']:.3f}")
    for r in s["rankers"]:
        print(f"  {r['ranker']:<20} AUC/oracle {r['auc_vs_oracle']:.4f}  spearman "
              f"{'—' if r['spearman'] is None else format(r['spearman'], '.4f')}  FP {r['false_positives']}  "
              f"FN {r['false_negatives']}")
    print(f"  written to {s['out']}")
    return 0


def cmd_inject(args) -> int:
    from codesign.campaign import levels
    from codesign.protect.plan import Plan

    design = _load_design(args)
    if args.level not in levels.LEVELS:
        raise CodesignError(f"unknown level {args.level!r}; choose from {', '.join(levels.LEVELS)}")
    if (args.bits is None) == (args.sample is None):
        raise CodesignError("inject needs exactly one of --bits I,J,... or --sample N")
    qnet = design.qnet()
    plan = Plan.load(args.protect, qnet) if args.protect else None
    if args.replica not in (0, 1, 2):
        raise CodesignError("--replica must be 0, 1 or 2")
    if args.bits is not None:
        faults = levels.parse_bits(args.bits, qnet.bitspace.size)
    else:
        faults = levels.sample_faults(qnet.bitspace.size, args.sample, args.flips,
                                      design.seed if args.seed is None else args.seed)
    s = levels.inject(design, args.level, faults, args.out, plan=plan, replica=args.replica)
    print(f"{s['design']}: {s['faults']} faults at level {s['level']} on {s['rows']} rows; "
          f"{s['sensitive']} with ΔC > 0, mean ΔC {s['mean_delta_cost']:.6g}")
    print(f"  written to {s['out']}")
    return 0


def cmd_plan(args) -> int:
    import numpy as np

    from codesign.protect import budget as b

    design = _load_design(args)
    budget = b.parse_budget(args.budget)
    qnet = design.qnet()
    out_file = Path(args.plan)
    if out_file.is_dir():
        raise CodesignError(f"--plan {out_file} is a directory; give a .json file name")
    if not out_file.parent.is_dir():
        raise CodesignError(f"directory of --plan does not exist: {out_file.parent}")
    delta = changed = None
    if budget.kind in ("sensitive", "observable") or args.ranker == "oracle":
        from codesign.rank.api import load_oracle

        delta = load_oracle(design, args.out)
        if budget.kind == "observable":
            changed = load_oracle(design, args.out, "changed_rows")
    ranked = budget.kind in ("fraction", "bits", "area")  # the others do not depend on an order
    order = b.ranking_order(design, args.ranker, args.out, delta) if ranked else np.arange(qnet.bitspace.size)
    bits = b.select_bits(budget, order, qnet.bitspace.size, delta, changed=changed)
    plan = b.make_plan(design.name, qnet, bits)
    tmp = out_file.with_name(f".{out_file.name}.tmp")
    plan.save(tmp)
    tmp.replace(out_file)
    print(f"{design.name}: plan protects {len(bits)} of {qnet.bitspace.size} bits "
          f"({budget.label} by {args.ranker}); written to {out_file}")
    return 0


def cmd_hls(args) -> int:
    from codesign.hls.regfile import write_project

    design = _load_design(args)
    s = write_project(design, args.out, backend=args.backend, plan=args.protect)
    li = s["load_interface"]
    print(f"{design.name}: hls4ml {s['hls4ml_version']} {s['backend']} project with a weight register file "
          f"({li['n_words']} words, load port {li['addr_width']}-bit address, {li['data_width']}-bit data)")
    prot = s.get("protection") or {}
    if prot.get("protected_bits"):
        print(f"  TMR on {prot['protected_bits']} bits in {prot['protected_words']} words")
    print(f"  written to {s['project_dir']} (synthesis needs Vivado/Vitis HLS; C-sim builds with g++)")
    return 0


def cmd_rtl(args) -> int:
    import json

    from codesign.outdir import atomic_dir
    from codesign.protect.plan import Plan
    from codesign.rtl.generate import write_rtl

    design = _load_design(args)
    qnet = design.qnet()
    plan = Plan.load(args.protect, qnet) if args.protect else None
    out = Path(args.out)
    if out.exists() and not (out / "rtl.json").is_file():
        raise CodesignError(f"output directory {out} exists and is not a codesign RTL directory (no rtl.json); "
                            "choose another --out or remove it")
    s = write_rtl(qnet, out, plan)
    print(f"{design.name}: Verilog-2001 top {s['top']} in {out} ({len(s['sources'])} files), latency "
          f"{s['latency_cycles']} cycles, {s.get('weight_flops', '?')} weight flops")
    if args.yosys:
        from codesign.rtl.yosys import yosys_stats

        stats = yosys_stats(out, xilinx=True, cmos=True, ltp=True)
        with atomic_dir(out.with_name(out.name + "-yosys")) as tmp:
            (tmp / "yosys.json").write_text(json.dumps(stats, indent=1))
        g, x = stats["generic"], stats.get("xilinx", {})
        print(f"  Yosys: {g['cells']} cells, {g['flops']} flops; xc7 {x.get('luts')} LUTs, {x.get('ffs')} FFs; "
              f"{stats.get('cmos_transistors')} transistors; logic depth {stats.get('logic_depth')}; "
              f"written to {out.name}-yosys/yosys.json")
    return 0


def _campaign_options(s) -> None:
    s.add_argument("design")
    s.add_argument("--out", default="out")
    s.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    s.add_argument("--scheduler", help="Dask distributed scheduler address, e.g. tcp://host:8786")
    s.add_argument("--samples", type=int, help="evaluate on the first N rows")
    s.add_argument("--weights-only", action="store_true", help="only kernel bits (FKeras' fault space)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codesign", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", help="directory holding data/ and models/ (default: $CODESIGN_DATA)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="layers, fixed-point formats and bit counts of a model")
    s.add_argument("model", help="Keras .h5, zoo name or design .yaml")
    s.add_argument("--input-precision", help="input port type, e.g. 'ap_fixed<16,6,AP_RND_CONV,AP_SAT>'")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("verify", help="run a model at several levels and count mismatches against QKeras")
    s.add_argument("--design", help="design .yaml (its data are the inputs)")
    s.add_argument("--model", help="Keras .h5 or zoo name")
    s.add_argument("--inputs", help=".npy of model inputs, batch first")
    s.add_argument("--levels", default="qkeras,sim", help="comma list of qkeras,sim,hls,hls4ml,rtl (default qkeras,sim)")
    s.add_argument("--n", type=int, help="use the first N inputs")
    s.add_argument("--input-precision", help="input port type, e.g. 'ap_fixed<16,6,AP_RND_CONV,AP_SAT>'")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("run", help="the whole flow on a design file: fidelity, oracle/rankings, protection plans, "
                                   "RTL, Yosys, equivalence, masking, multi-bit campaigns, report")
    s.add_argument("design")
    s.add_argument("--out", default="out")
    s.add_argument("--samples", type=int, help="evaluate on the first N rows")
    s.add_argument("--workers", type=int, default=2, help="processes for the campaigns (default 2)")
    s.add_argument("--until", choices=("verify", "dse"), default="dse",
                   help="stop after the fidelity check (verify) or run the design-space exploration (dse, default)")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("check", help="CI gate: exit 1 if a design point fails equivalence, masking or a limit")
    s.add_argument("run_dir", help="`codesign run --out` directory, one design's directory, or its dse/ directory")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("oracle", help="exhaustive single-bit campaign: ΔC of every weight and bias bit")
    _campaign_options(s)
    s.set_defaults(func=cmd_oracle)

    s = sub.add_parser("campaign", help="multi-bit or bit-error-rate fault campaign")
    _campaign_options(s)
    s.add_argument("--fault-model", default="multibit", help="multibit | ber | single")
    s.add_argument("--flips", type=int, help="bits flipped per trial (multibit)")
    s.add_argument("--rate", type=float, help="bit error rate in (0, 1) (ber)")
    s.add_argument("--trials", type=int, default=100)
    s.add_argument("--seed", type=int, help="default: the design's seed")
    s.add_argument("--protect", help="protection plan (JSON): protected bits never flip")
    s.set_defaults(func=cmd_campaign)

    def rank_options(s):
        s.add_argument("design")
        s.add_argument("--out", default="out")
        s.add_argument("--samples", type=int, help="evaluate faults on the first N rows")
        s.add_argument("--k", type=int, default=5, help="PrioriFI: median of the last k ΔC (default 5)")
        s.add_argument("--k-eigen", type=int, default=8, help="Hessian: top-k eigenpairs (default 8)")
        s.add_argument("--rows", type=int, default=1000, help="rows for gradients and Hessians (default 1000)")

    s = sub.add_parser("rank", help="order the weight and bias bits by predicted sensitivity (rank.csv)")
    rank_options(s)
    s.add_argument("--method", required=True, help="random | msb | gradient | taylor | hessian | bitwise | "
                   "bitwise_sampled | priorifi | bitwise_dynamic | binfi_actual | binfi_implied | binfi_serial "
                   "| statfi_data_aware | statfi_data_unaware")
    s.set_defaults(func=cmd_rank)

    s = sub.add_parser("evaluate", help="judge rankers against the stored oracle (evaluation.csv, plots)")
    rank_options(s)
    s.add_argument("--rankers", help="comma list (default: all)")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("hls", help="hls4ml project whose weights live in an injectable register file")
    s.add_argument("design")
    s.add_argument("--out", required=True, help="project directory to write")
    s.add_argument("--backend", default="Vivado", help="Vivado (default) or Vitis")
    s.add_argument("--protect", help="protection plan: protected bits stored as three voted replicas")
    s.add_argument("--samples", type=int, help="testbench rows (default: the first 100)")
    s.set_defaults(func=cmd_hls)

    s = sub.add_parser("rtl", help="Verilog-2001 of the network with weight register files (and TMR)")
    s.add_argument("design")
    s.add_argument("--out", required=True, help="directory to write")
    s.add_argument("--protect", help="protection plan: protected bits as three replica flops and a voter")
    s.add_argument("--yosys", action="store_true", help="also synthesize with Yosys and report area (slow)")
    s.set_defaults(func=cmd_rtl)

    s = sub.add_parser("plan", help="protection plan (TMR bits) from a ranking and a budget")
    s.add_argument("design")
    s.add_argument("--ranker", default="oracle", help="oracle (default) or any ranker name")
    s.add_argument("--budget", required=True, help="fraction in [0,1] (or N%%), 'sensitive', 'observable', "
                   "'none' or 'full'")
    s.add_argument("--out", default="out", help="where the oracle lives (default out)")
    s.add_argument("--samples", type=int, help="evaluate on the first N rows")
    s.add_argument("--plan", required=True, help="JSON file to write")
    s.set_defaults(func=cmd_plan)

    s = sub.add_parser("inject", help="inject faults at one level (sim, hls, rtl) and write ΔC per fault")
    s.add_argument("design")
    s.add_argument("--level", default="sim", help="sim | hls | rtl (default sim)")
    s.add_argument("--bits", help="comma list of BitSpace indices, one single-bit fault each")
    s.add_argument("--sample", type=int, help="N sampled faults")
    s.add_argument("--flips", type=int, default=1, help="bits per sampled fault (default 1)")
    s.add_argument("--seed", type=int, help="default: the design's seed")
    s.add_argument("--samples", type=int, help="evaluate on the first N rows")
    s.add_argument("--protect", help="protection plan: protected bits are triplicated (one replica is hit)")
    s.add_argument("--replica", type=int, default=0, help="replica a protected bit's upset hits (default 0)")
    s.add_argument("--out", required=True, help="CSV file to write")
    s.set_defaults(func=cmd_inject)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    _quiet_tensorflow()
    try:
        return args.func(args)
    except CodesignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
