"""Standalone check of the cocotb bench (``make -C rtl_sim``): generate small synthetic networks, run them in
Icarus through cocotb_tools.runner, and compare fault-free and faulty outputs with the numpy simulator."""

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codesign.ir.bitspace import apply_flips  # noqa: E402
from codesign.protect.plan import Plan  # noqa: E402
from codesign.rtl.examples import conv_net, mlp_net, random_inputs  # noqa: E402
from codesign.rtl.sim import RtlSim  # noqa: E402
from codesign.sim.forward import forward  # noqa: E402


def check(qnet, plan_bits=()):
    codes = random_inputs(qnet, 100)
    plan = Plan(qnet.name, qnet.fingerprint(), np.asarray(plan_bits, dtype=np.int64)) if len(plan_bits) else None
    with tempfile.TemporaryDirectory() as tmp:
        sim = RtlSim(qnet, plan, workdir=tmp)
        golden = sim.golden(codes)
        ok = np.array_equal(golden, forward(qnet, codes))
        bits = np.random.default_rng(0).choice(qnet.bitspace.size, 10, replace=False)
        protected = set(int(b) for b in plan_bits)
        results = sim.run(codes, [sim.flops([b], replica=0) for b in bits])
        import json

        for b, line in zip(bits, results.read_text().splitlines()[1:]):
            rec = json.loads(line)
            out = golden.copy()
            if rec["rows"]:
                out[rec["rows"]] = sim.decode(rec["out"], len(rec["rows"]))
            want = golden if int(b) in protected else forward(qnet, codes, overrides=apply_flips(qnet, [b]))
            ok &= np.array_equal(out, want)
    print(f"{qnet.name}{' (TMR)' if plan else ''}: {'PASS' if ok else 'FAIL'}")
    return ok


if __name__ == "__main__":
    q = mlp_net(0)
    results = [check(conv_net(0)), check(q), check(q, np.arange(0, q.bitspace.size, 2))]
    sys.exit(0 if all(results) else 1)
