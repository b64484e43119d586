"""Icarus + cocotb runs of a generated network: build once, then stream inputs under many faults per start.

The bench itself is ``rtl_sim/cocotb_net.py``; this module writes its job files, builds the design with
``cocotb_tools.runner`` (Icarus), runs it under a progress watchdog and decodes the outputs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError
from codesign.rtl.generate import RTL_SIM, ensure_rtl, protected_bits
from codesign.rtl.names import flop_bits, words

log = logging.getLogger(__name__)

TEST_MODULE = "cocotb_net"
STALL_TIMEOUT = 300.0  # seconds without progress (heartbeat/results) before a run counts as hung
INSTALL_HINT = "apt-get install -y iverilog"


def check_icarus() -> None:
    for tool in ("iverilog", "vvp"):
        if shutil.which(tool) is None:
            raise CodesignError(f"{tool} (Icarus Verilog) is not installed; install it with: {INSTALL_HINT}")
    if not (RTL_SIM / f"{TEST_MODULE}.py").is_file():
        raise CodesignError(f"cocotb bench not found at {RTL_SIM} (rtl_sim/ must sit next to the codesign package)")


def _runner():
    from cocotb_tools.runner import get_runner

    base = type(get_runner("icarus"))

    class _Icarus(base):
        """Icarus with the bench module on the simulator's Python path and a watchdog in front of vvp."""

        cmd_prefix: list[str] = []

        def _get_sim_cmd_prefix(self):
            return list(self.cmd_prefix)

        def _set_env_test(self):
            super()._set_env_test()
            self.env["PYTHONPATH"] = os.pathsep.join([str(RTL_SIM), self.env.get("PYTHONPATH", "")])

    runner = _Icarus()
    # cocotb's runner logs every command at INFO; codesign's own -v decides whether users see them
    runner.log.setLevel(max(logging.getLogger().getEffectiveLevel(), logging.INFO))
    return runner


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

    ``workdir`` keeps ``rtl/`` (the generated Verilog), ``build/`` (the compiled simulation) and the run files; a
    temporary directory (removed by :meth:`close`) when None.
    """

    def __init__(self, qnet, plan=None, workdir=None, stall_timeout: float = STALL_TIMEOUT):
        check_icarus()
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
        self._runner = runner = _runner()
        log_file = self.workdir / "build.log"
        try:
            runner.build(sources=self.build.paths(), hdl_toplevel=self.top,
                         build_dir=self.build_dir, log_file=log_file)
        except (RuntimeError, SystemExit) as exc:
            raise CodesignError(f"Icarus could not compile {self.rtl_dir}: {_tail(log_file) or exc}") from None

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
            runner.test(test_module=TEST_MODULE, hdl_toplevel=self.top, build_dir=self.build_dir, test_dir=run,
                        extra_env={"CODESIGN_RTL_JOB": str(run / "job.json")}, results_xml=str(xml),
                        log_file=log_file)
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


def rtl_predict(qnet, x_codes: np.ndarray, workdir=None, plan=None) -> np.ndarray:
    """Output codes of the generated RTL (Icarus) for input codes ``x_codes`` (rows, *input_shape)."""
    sim = RtlSim(qnet, plan, workdir)
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


def _tail(path: Path, chars: int = 300) -> str:
    """The last meaningful log lines, flattened to one line for the CLI's one-line error."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    keep = [l for l in lines if any(k in l for k in ("Error", "error", "watchdog", "FAIL", "Traceback"))] or lines
    return " | ".join(keep[-3:])[-chars:]
