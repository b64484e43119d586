"""``codesign info``: layers, fixed-point formats and bit counts of a model."""

from __future__ import annotations

import json

from codesign.cli.common import model_or_design


def add(sub) -> None:
    s = sub.add_parser("info", help="layers, fixed-point formats and bit counts of a model")
    s.add_argument("model", help="Keras .h5, zoo name or design .yaml")
    s.add_argument("--input-precision", help="input port type, e.g. 'ap_fixed<16,6,AP_RND_CONV,AP_SAT>'")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run)


def run(args) -> int:
    qnet = model_or_design(args).qnet
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
