"""RTL level of the injection campaigns: weight upsets as flop-bit deposits in the simulation of the RTL (Icarus or
Verilator, :mod:`codesign.rtl.simulators`).

Many faults share one simulator start (the weights are loaded once through the load port; each fault is a
read-modify-write deposit, a stream of every evaluated input, and a restore). Results go to a file in the work
directory keyed by design, plan, inputs and injection cycle; a run that crashed or hung keeps its completed faults
and the next :meth:`RtlLevel.outputs` call only simulates the missing ones. The simulators give the same outputs bit
for bit, so the results file does not depend on which one ran: a campaign started with one can be finished with the
other.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError
from codesign.level import Level, register
from codesign.rtl.sim import STALL_TIMEOUT, RtlSim


@register("rtl")
class RtlLevel(Level):
    """Options: ``simulator`` (icarus | verilator; default icarus), ``stall_timeout`` (s), ``inject_cycle`` (cycle
    of the input stream at which flips land)."""

    def __init__(self, target):
        super().__init__(target)
        opts = target.options
        self.codes = np.asarray(target.inputs, dtype=np.int64)
        self.shape = (len(self.codes),) + tuple(self.qnet.output_shape)
        self.inject_cycle = int(opts.get("inject_cycle", 0))
        if self.inject_cycle < 0:
            raise CodesignError(f"inject_cycle must be >= 0, not {self.inject_cycle}")
        self.sim = RtlSim(self.qnet, target.plan, target.workdir, float(opts.get("stall_timeout", STALL_TIMEOUT)),
                          simulator=opts.get("simulator"))
        self.simulator = self.sim.simulator.name
        h = hashlib.sha256(self.sim.build.design_hash.encode())
        h.update(self.sim.build.protected_sha256.encode())
        h.update(np.ascontiguousarray(self.codes).tobytes())
        h.update(str(self.inject_cycle).encode())
        self.results = Path(self.sim.workdir) / f"results-{h.hexdigest()[:16]}.jsonl"
        self.runs = 0  # simulator starts so far (for benchmarks)

    @staticmethod
    def key(bits: np.ndarray, replica: int | None) -> str:
        return f"{'all' if replica is None else replica}:{','.join(map(str, sorted(bits.tolist())))}"

    def outputs(self, faults, replica=None) -> list[np.ndarray]:
        """Faulty output codes (shape of ``evaluator.acts[-1]``) of every fault (an array of BitSpace indices), all
        in one simulator start. ``replica``: the TMR replica a protected bit's upset hits (None: all three), one
        for every fault or a list with one per fault."""
        faults = [self.qnet.bitspace.check(f) for f in faults]
        replicas = self.replicas(faults, replica)
        flops = [self.sim.flops(f, r) for f, r in zip(faults, replicas)]  # validates the replicas too
        if len(self.codes) == 0:
            return [np.zeros(self.shape, dtype=np.int64) for _ in faults]
        keys = [self.key(f, r) for f, r in zip(faults, replicas)]
        golden, done = self._load()
        todo = {}
        for k, fl in zip(keys, flops):
            if k not in done and k not in todo:
                todo[k] = fl
        if todo:
            self.runs += 1
            self.sim.run(self.codes, list(todo.values()), ids=list(todo), results=self.results,
                         inject_cycle=self.inject_cycle)
            golden, done = self._load()
        out = []
        for k in keys:
            rows, values = done[k]
            o = golden.copy()
            if rows:
                o[np.asarray(rows)] = self.sim.decode(values, len(rows))
            out.append(o)
        return out

    def _load(self):
        """(fault-free outputs of this RTL, {key: (changed rows, their outputs in hex)}) from the results file."""
        golden, done = None, {}
        if not self.results.is_file():
            return golden, done
        with open(self.results) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a killed simulator
                if rec["id"] == "golden":
                    g = self.sim.decode(rec["out"], len(self.codes))
                    if golden is not None and not np.array_equal(g, golden):
                        raise CodesignError(f"{self.results}: fault-free RTL outputs differ between runs")
                    golden = g
                else:
                    done[rec["id"]] = (rec["rows"], rec["out"])
        return golden, done

    def predict(self, codes: np.ndarray) -> np.ndarray:
        return self.sim.golden(np.asarray(codes, dtype=np.int64))

    def close(self) -> None:
        self.sim.close()
