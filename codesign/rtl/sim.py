"""cocotb runs of a generated network (Icarus or Verilator): build once, then stream inputs under many faults per
start.

The bench itself is ``rtl_sim/cocotb_net.py``; this module writes its job files, builds the design with
``cocotb_tools.runner`` (through :mod:`codesign.rtl.simulators`), runs it under a progress watchdog and decodes the
outputs. Both simulators give the same outputs bit for bit (tests/test_rtl_verilator.py).
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError
from codesign.rtl.generate import RTL_SIM, ensure_rtl, protected_bits
from codesign.rtl.names import flop_bits, words
from codesign.rtl.simulators import DEFAULT as DEFAULT_SIMULATOR
from codesign.rtl.simulators import get_simulator
from codesign.rtl.simulators import tail as _tail

log = logging.getLogger(__name__)

TEST_MODULE = "cocotb_net"
STALL_TIMEOUT = 300.0  # seconds without progress (heartbeat/results) before a run counts as hung


def check_bench() -> None:
    if not (RTL_SIM / f"{TEST_MODULE}.py").is_file():
        raise CodesignError(f"cocotb bench not found at {RTL_SIM} (rtl_sim/ must sit next to the codesign package)")


def check_icarus() -> None:
    get_simulator("icarus")
    check_bench()


PORTS = ("clk", "rst", "load_we", "load_addr", "load_data", "in_valid", "in_data", "out_valid", "out_data", "tmr_err")


def writable_registers(top: str) -> list[tuple[str, str]]:
    """(module, signal) globs of what the bench reads and writes: the top's ports, every weight flop it deposits
    into (see :mod:`codesign.rtl.names`): the top's ``w_*`` registers, the 1-bit ``b<i>`` of split words and the TMR
    replicas' ``q``. Verilator makes only these visible (everything else stays free to optimise)."""
    return [(top, p) for p in PORTS] + [(top, "w_*"), (f"{top}_tmrword_*", "b*"), ("tmr_ff", "q")]


def pack_inputs(codes: np.ndarray, width: int) -> list[str]:
    """``in_data`` of each row as a binary string: element j at bits [(j+1)*W-1 : j*W] (MSB first in the string)."""
    flat = np.asarray(codes, dtype=np.int64).reshape(len(codes), -1) & ((1 << width) - 1)
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    bits = ((flat[:, ::-1, None] >> shifts) & 1).astype(np.uint8) + ord("0")
    raw = bits.reshape(len(codes), -1)
    return [row.tobytes().decode() for row in raw]


def unpack_outputs(hex_values: list[str], n: int, width: int, signed: bool) -> np.ndarray:
    """Inverse of the output packing: (rows, n) int64 codes from ``out_data`` values in hex."""
    total = n * width
    if not hex_values:
        return np.zeros((0, n), dtype=np.int64)
    text = "".join(format(int(h, 16), f"0{total}b") for h in hex_values).encode()
    bits = (np.frombuffer(text, dtype=np.uint8) - ord("0")).reshape(len(hex_values), n, width)[:, ::-1, :]
    weights = (1 << np.arange(width - 1, -1, -1, dtype=np.int64))
    codes = bits.astype(np.int64) @ weights
    if signed:
        codes = np.where(codes >= 1 << (width - 1), codes - (1 << width), codes)
    return codes


class RtlSim:
    """A generated and compiled design: runs fault lists in one simulator start each.

    ``workdir`` keeps ``rtl/`` (the generated Verilog), ``build/`` (Icarus' compiled simulation; Verilator's lives
    in the cache, see :mod:`codesign.rtl.simulators`) and the run files; a temporary directory (removed by
    :meth:`close`) when None. ``simulator``: ``"icarus"`` or ``"verilator"`` (same outputs, bit for bit).
    """

    def __init__(self, qnet, plan=None, workdir=None, stall_timeout: float = STALL_TIMEOUT,
                 simulator: str | None = None):
        self.simulator = get_simulator(simulator or DEFAULT_SIMULATOR)
        check_bench()
        self.qnet = qnet
        self.bits = protected_bits(qnet, plan)
        self._own = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="codesign-rtl-") if workdir is None else workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.stall_timeout = float(stall_timeout)
        self.words = words(qnet, self.bits)
        self.rtl_dir = self.workdir / "rtl"
        self.build_dir = self.workdir / "build"
        try:
            self.build = self._generate()
            self.summary = self.build.summary
            self.top = self.build.top
            self._build()
        except BaseException:  # a design that does not compile leaves no temporary directory behind
            self.close()
            raise

    def _generate(self):
        """Generate the RTL, or reuse a workdir's RTL of the same design and plan (then the build is reused too; RTL
        of an older generator, without a separate datapath, is written again)."""
        from codesign.protect.plan import Plan

        plan = Plan.of(self.qnet.name, self.qnet, self.bits) if len(self.bits) else None
        return ensure_rtl(self.qnet, self.rtl_dir, plan)

    def _build(self) -> None:
        """Compile (Verilator: or reuse the cached build of the same Verilog); ``compiled`` says which and how long."""
        self.compiled = self.simulator.build(self.build.paths(), self.top, self.build_dir, self.workdir / "build.log",
                                             writable_registers(self.top))
        self._runner = self.simulator.runner([str(RTL_SIM)])

    # --- runs ------------------------------------------------------------------------------------------------------

    def run(self, codes: np.ndarray, faults: list[list[tuple[str, int]]], ids: list[str] | None = None,
            results: Path | None = None, inject_cycle: int = 0) -> Path:
        """Stream ``codes`` (rows, *input_shape) fault-free, then under each fault (a list of flop bits), in one
        simulator start. Results are appended to ``results`` (see rtl_sim/cocotb_net.py); returns its path."""
        codes = np.asarray(codes, dtype=np.int64)
        if tuple(codes.shape[1:]) != tuple(self.qnet.input_shape):
            raise CodesignError(f"input codes of shape {codes.shape[1:]} do not match the model input "
                                f"{tuple(self.qnet.input_shape)}")
        if not self.qnet.input_type.contains(codes):
            raise CodesignError(f"input codes outside the input type {self.qnet.input_type}")
        ids = [str(i) for i in range(len(faults))] if ids is None else list(ids)
        run = Path(tempfile.mkdtemp(prefix="run-", dir=self.workdir))
        results = Path(results) if results is not None else run / "results.jsonl"
        (run / "inputs.txt").write_text("\n".join(pack_inputs(codes, self.qnet.input_type.width)) + "\n")
        with open(run / "faults.jsonl", "w") as f:
            for fid, flips in zip(ids, faults):
                f.write(json.dumps({"id": fid, "flips": [[r, int(b)] for r, b in flips]}) + "\n")
        heartbeat = run / "heartbeat"
        heartbeat.touch()
        job = {"weights": str(self.build.weights_image), "inputs": str(run / "inputs.txt"),
               "faults": str(run / "faults.jsonl"), "results": str(results), "heartbeat": str(heartbeat),
               "inject_cycle": int(inject_cycle)}
        (run / "job.json").write_text(json.dumps(job))
        prefix = [sys.executable, "-m", "codesign.rtl.watchdog", "--stall", str(self.stall_timeout),
                  "--watch", str(heartbeat), "--watch", str(results), "--"]
        runner = self._runner
        runner.cmd_prefix = prefix
        log_file = run / "sim.log"
        xml = run / "results.xml"
        try:
            self.simulator.test(runner, self.compiled, TEST_MODULE, run, {"CODESIGN_RTL_JOB": str(run / "job.json")},
                                xml, log_file)
            failed = _failed(xml)
        except (RuntimeError, SystemExit):
            failed = True
        if not failed and results.parent != run:
            shutil.rmtree(run, ignore_errors=True)
        if failed:
            done = _count_lines(results) - 1
            why = "hung (no progress)" if "watchdog: no progress" in _tail(log_file, 4000) else "failed"
            raise CodesignError(f"RTL simulation {why} after {max(done, 0)} of {len(faults)} faults (completed "
                                f"results kept in {results}; log {log_file}): {_tail(log_file)}")
        return results

    def golden(self, codes: np.ndarray) -> np.ndarray:
        """Fault-free output codes of this RTL on input codes (rows, *input_shape)."""
        if len(codes) == 0:
            return np.zeros((0,) + tuple(self.qnet.output_shape), dtype=np.int64)
        results = self.run(codes, [])
        first = json.loads(results.read_text().splitlines()[0])
        shutil.rmtree(results.parent, ignore_errors=True)
        return self.decode(first["out"], len(codes))

    def decode(self, hex_values: list[str], rows: int) -> np.ndarray:
        out = self.build.output
        codes = unpack_outputs(hex_values, out["elements"], out["width"], out["signed"])
        return codes.reshape((rows,) + tuple(self.qnet.output_shape))

    def flops(self, bits, replica: int | None = None) -> list[tuple[str, int]]:
        if replica not in (None, 0, 1, 2):
            raise CodesignError(f"replica must be 0, 1 or 2, not {replica!r}")
        return flop_bits(self.words, self.qnet.bitspace.check(bits), replica)

    def close(self) -> None:
        if self._own:
            shutil.rmtree(self.workdir, ignore_errors=True)


def rtl_predict(qnet, x_codes: np.ndarray, workdir=None, plan=None, simulator: str | None = None) -> np.ndarray:
    """Output codes of the generated RTL (``simulator``: icarus, the default, or verilator) for input codes
    ``x_codes`` (rows, *input_shape)."""
    sim = RtlSim(qnet, plan, workdir, simulator=simulator)
    try:
        return sim.golden(np.asarray(x_codes, dtype=np.int64))
    finally:
        sim.close()


def _failed(xml: Path) -> bool:
    from cocotb_tools.runner import get_results

    try:
        n, failed = get_results(xml)
    except (RuntimeError, OSError):
        return True
    return failed > 0 or n == 0


def _count_lines(path: Path) -> int:
    try:
        with open(path) as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return 0
