"""``codesign verify``: run a model at several levels and count mismatches against QKeras."""

from __future__ import annotations

import json
from pathlib import Path

from codesign.cli.common import model_or_design, rtl_options, simulator_option
from codesign.errors import CodesignError


def add(sub) -> None:
    s = sub.add_parser("verify", help="run a model at several levels and count mismatches against QKeras")
    s.add_argument("--design", help="design .yaml (its data are the inputs)")
    s.add_argument("--model", help="Keras .h5 or zoo name")
    s.add_argument("--inputs", help=".npy of model inputs, batch first")
    s.add_argument("--levels", default="qkeras,sim", help="comma list of qkeras,sim,hls,hls4ml,rtl (default qkeras,sim)")
    s.add_argument("--n", type=int, help="use the first N inputs")
    s.add_argument("--input-precision", help="input port type, e.g. 'ap_fixed<16,6,AP_RND_CONV,AP_SAT>'")
    simulator_option(s, "level rtl")
    s.set_defaults(func=run)


def _inputs(path: str):
    import numpy as np

    from codesign.data.load import numeric

    if not Path(path).is_file():
        raise CodesignError(f"inputs file not found: {path}")
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for a bad file
        raise CodesignError(f"cannot read inputs {path}: {str(exc).splitlines()[0]}") from None
    x = numeric(x, f"inputs {path}")
    if len(x) == 0:
        raise CodesignError(f"inputs {path} have no rows")
    return x


def run(args) -> int:
    from codesign.verify import parse_levels, verify

    levels = parse_levels(args.levels)
    if args.n is not None and args.n <= 0:
        raise CodesignError("--n must be a positive integer")
    if args.design:
        p = model_or_design(args)
        x = p.data.x
    elif args.model:
        if not args.inputs:
            raise CodesignError("verify --model needs --inputs X.npy (or use --design D.yaml)")
        x = _inputs(args.inputs)
        p = model_or_design(args)
    else:
        raise CodesignError("verify needs --design D.yaml or --model M.h5 --inputs X.npy")
    options = rtl_options(args, p.spec, needed="rtl" in levels)
    if args.n is not None:
        x = x[: args.n]
    result = verify(p.model.onchip, p.qnet, x, levels, base_qnet=p.base_qnet, options=options)
    print(json.dumps(result, indent=1))
    return 0 if result["ok"] else 1
