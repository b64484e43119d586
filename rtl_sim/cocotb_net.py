"""cocotb bench of a codesign-generated network: load weights through the port, stream inputs, inject weight SEUs.

Driven by a job file (JSON, path in ``CODESIGN_RTL_JOB``) written by :mod:`codesign.rtl.sim`:

- ``weights``: load image, one hex word per line in address order (``weights.hex`` of the generated RTL);
- ``inputs``: one ``in_data`` value per line as a binary string (packed by the caller);
- ``faults``: JSON lines ``{"id": ..., "flips": [[register, bit], ...]}``; an empty list is a fault-free pass;
- ``results``: appended JSON lines: first ``{"id": "golden", "out": [hex per input]}`` (fault-free outputs of this
  RTL), then per fault ``{"id": ..., "rows": [...], "out": [...]}`` listing only the inputs whose output differs
  from the golden run (written and flushed one fault at a time, so a killed run keeps its completed faults);
- ``heartbeat``: a file touched every few thousand cycles (the caller's watchdog kills a run that stops beating);
- ``inject_cycle``: cycle of the stream at which the flips are deposited (0 = before the first input enters).

Per fault: read-modify-write deposit of the flop bits, stream every input (one per cycle), collect outputs by
``out_valid``, restore the saved register values. The simulator is started once for the whole fault list.
"""

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

HEARTBEAT_CYCLES = 4096


class _Bench:
    def __init__(self, dut, job):
        self.dut = dut
        self.job = job
        self.cycles = 0
        self.heartbeat = Path(job["heartbeat"]) if job.get("heartbeat") else None
        self.handles = {}

    async def tick(self):
        await RisingEdge(self.dut.clk)
        self.cycles += 1
        if self.heartbeat is not None and self.cycles % HEARTBEAT_CYCLES == 0:
            self.heartbeat.touch()

    def reg(self, name):
        h = self.handles.get(name)
        if h is None:
            h = self.dut
            for part in name.split("."):  # TMR replicas: <instance>.q
                h = h[part]
            self.handles[name] = h
        return h

    async def reset_and_load(self, words):
        dut = self.dut
        dut.rst.value = 1
        dut.in_valid.value = 0
        dut.load_we.value = 0
        await self.tick()
        await self.tick()
        dut.rst.value = 0
        dut.load_we.value = 1
        for addr, word in enumerate(words):
            dut.load_addr.value = addr
            dut.load_data.value = word
            await self.tick()
        dut.load_we.value = 0
        await self.tick()

    async def stream(self, inputs, inject_cycle=None, flips=()):
        """Outputs (binary strings) of every input; flips deposited at cycle ``inject_cycle`` of the stream."""
        dut = self.dut
        outs = []
        saved = {}
        n = len(inputs)
        k = 0
        valid_in = False
        while len(outs) < n:
            if k == inject_cycle and flips:
                saved = self.deposit(flips)
            if k < n:
                dut.in_data.value = inputs[k]
                if not valid_in:
                    dut.in_valid.value = 1
                    valid_in = True
            elif valid_in:
                dut.in_valid.value = 0
                valid_in = False
            await self.tick()
            if dut.out_valid.value == 1:
                outs.append(str(dut.out_data.value))
            k += 1
            if k > n + 64 + 4 * len(inputs):
                raise RuntimeError("out_valid never rose: the pipeline does not deliver one output per input")
        if saved:
            for name, value in saved.items():
                self.reg(name).value = value
            await self.tick()
        return outs

    def deposit(self, flips):
        """Read-modify-write: flip the listed bits of each register; returns the values to restore."""
        masks = {}
        for name, bit in flips:
            masks[name] = masks.get(name, 0) ^ (1 << int(bit))
        saved = {}
        for name, mask in masks.items():
            h = self.reg(name)
            old = int(str(h.value), 2)  # 1-bit registers read as Logic, vectors as LogicArray
            saved[name] = old
            h.value = old ^ mask
        return saved


@cocotb.test()
async def run_job(dut):
    job = json.loads(Path(os.environ["CODESIGN_RTL_JOB"]).read_text())
    words = [int(line, 16) for line in Path(job["weights"]).read_text().split()]
    inputs = Path(job["inputs"]).read_text().split()
    inject = int(job.get("inject_cycle", 0))
    Clock(dut.clk, 10, unit="ns").start()
    bench = _Bench(dut, job)
    await bench.reset_and_load(words)
    with open(job["results"], "a") as res:
        golden = await bench.stream(inputs)
        res.write(json.dumps({"id": "golden", "out": [format(int(s, 2), "x") for s in golden]}) + "\n")
        res.flush()
        with open(job["faults"]) as faults:
            for line in faults:
                if not line.strip():
                    continue
                fault = json.loads(line)
                outs = await bench.stream(inputs, inject, [tuple(f) for f in fault["flips"]])
                rows = [r for r, (a, b) in enumerate(zip(outs, golden)) if a != b]
                res.write(json.dumps({"id": fault["id"], "rows": rows,
                                      "out": [format(int(outs[r], 2), "x") for r in rows]}) + "\n")
                res.flush()
