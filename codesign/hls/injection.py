"""C-simulation fault injection on the register-file HLS project: the ``hls`` level of campaigns and of verify.

The project is written by :mod:`codesign.hls.regfile`, compiled once with g++ by hls4ml's ``build_lib.sh``
(at -O1: see :func:`codesign.hls.hls4ml_csim._lower_optimization`), and driven through ctypes: the weight image is
loaded through the top-level load port (the testbench's path), a fault flips register bits in place (one TMR
replica or all), all rows are predicted in one C loop, and the touched words are rewritten through the load port.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile

import numpy as np

from codesign.errors import CodesignError
from codesign.ir.from_keras import quiet_stdout
from codesign.level import Level, register
from codesign.sim.forward import flat_rows, quantize_input

_P = ctypes.c_void_p


def _ptr(a: np.ndarray):
    return a.ctypes.data_as(_P)


class RegfileCsim:
    """The compiled C-sim of one register-file project (``protected_bits`` stored as three replicas)."""

    def __init__(self, keras_model, qnet, protected_bits=None, backend: str = "Vivado", workdir: str | None = None,
                 opt: str = "-O1"):
        from codesign.hls.hls4ml_csim import _lower_optimization
        from codesign.hls.regfile import convert, write_graph

        if shutil.which("g++") is None:
            raise CodesignError("the hls level needs g++ (apt-get install g++)")
        self.qnet = qnet
        self._tmp = None if workdir else tempfile.mkdtemp(prefix="codesign-regfile-")
        self.project_dir = os.path.join(workdir or self._tmp, "hls_regfile_prj")
        graph = convert(keras_model, qnet, self.project_dir, backend, protected_bits)
        self.layout = graph.codesign_regfile.layout
        write_graph(graph)
        _lower_optimization(self.project_dir, opt)
        with quiet_stdout():
            try:
                lib_path = graph.config.backend.compile(graph)
            except Exception as exc:
                raise CodesignError(f"hls4ml C-sim build failed: {str(exc).splitlines()[0]}") from None
        self.graph = graph
        self.lib = ctypes.CDLL(lib_path)
        lib = self.lib
        lib.codesign_rf_words.restype = ctypes.c_int
        lib.codesign_rf_write_words.argtypes = [_P, _P, ctypes.c_longlong]
        lib.codesign_rf_flip.argtypes = [_P, _P, _P, ctypes.c_longlong]
        lib.codesign_rf_peek.argtypes = [ctypes.c_longlong, ctypes.c_int]
        lib.codesign_rf_peek.restype = ctypes.c_ulonglong
        lib.codesign_predict_codes.argtypes = [_P, _P, ctypes.c_longlong]
        if lib.codesign_rf_words() != self.layout.n_words:
            raise RuntimeError("compiled register file does not match the layout")
        self.image = self.layout.image()
        self.n_in = int(np.prod(qnet.input_shape))
        self.n_out = int(np.prod(qnet.output_shape))
        lib.codesign_rf_load_image()

    # --- register file ------------------------------------------------------------------------------------------

    def write_words(self, addr, data) -> None:
        """Load-port writes."""
        addr = np.ascontiguousarray(addr, dtype=np.int64)
        data = np.ascontiguousarray(data, dtype=np.uint64)
        self.lib.codesign_rf_write_words(_ptr(addr), _ptr(data), len(addr))

    def flip(self, bits, replica: int | None = None) -> np.ndarray:
        """Flip BitSpace ``bits`` in the registers: protected bits in replica ``replica`` (all three if None),
        others in their single copy. Returns the touched word addresses (for :meth:`restore`)."""
        if replica is not None and replica not in (0, 1, 2):
            raise CodesignError(f"replica must be 0, 1 or 2, not {replica!r}")
        bits = self.qnet.bitspace.check(bits)
        addr, bit = self.layout.address(bits)
        rep = np.where(self.layout.is_protected(bits), -1 if replica is None else replica, 0).astype(np.int64)
        addr, bit = np.ascontiguousarray(addr, dtype=np.int64), np.ascontiguousarray(bit, dtype=np.int64)
        self.lib.codesign_rf_flip(_ptr(addr), _ptr(bit), _ptr(rep), len(addr))
        return np.unique(addr)

    def restore(self, addr) -> None:
        """Rewrite words through the load port (every replica), as a scrub would."""
        addr = np.asarray(addr, dtype=np.int64)
        self.write_words(addr, self.image[addr])

    def peek(self, addr: int, replica: int = 0) -> int:
        return int(self.lib.codesign_rf_peek(int(addr), int(replica)))

    # --- inference ----------------------------------------------------------------------------------------------

    def predict_codes(self, codes: np.ndarray) -> np.ndarray:
        """Input codes (rows, *input_shape) -> output codes (rows, *output_shape), int64."""
        codes = np.asarray(codes)
        x = np.ascontiguousarray(flat_rows(codes), dtype=np.int64)
        if x.shape[1] != self.n_in:
            raise CodesignError(f"input codes of shape {codes.shape[1:]} do not match {self.qnet.input_shape}")
        y = np.zeros((len(x), self.n_out), dtype=np.uint64)
        if len(x):
            self.lib.codesign_predict_codes(_ptr(x), _ptr(y), len(x))
        t = self.qnet.output_type
        out = y.astype(np.int64)
        if t.signed:
            out = np.where(out >= 1 << (t.width - 1), out - (1 << t.width), out)
        return out.reshape((len(x),) + tuple(self.qnet.output_shape))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Float inputs -> float outputs (rows, outputs), like hls4ml's predict."""
        out = self.predict_codes(quantize_input(self.qnet, np.asarray(x)))
        return self.qnet.output_type.to_float(flat_rows(out)).astype(np.float64)

    def close(self):
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __del__(self):
        self.close()


@register("hls")
class HlsLevel(Level):
    """The ``hls`` level: C-sim of the register-file project (the plan's bits stored as three voted replicas)."""

    def __init__(self, target, opt: str = "-O1"):
        super().__init__(target)
        bits = None if target.plan is None else target.plan.bits_for(self.qnet)
        workdir = None if target.workdir is None else str(target.workdir)
        self.csim = RegfileCsim(target.keras_model, self.qnet, bits, workdir=workdir,
                                opt=target.options.get("opt", opt))

    def predict(self, codes: np.ndarray) -> np.ndarray:
        return self.csim.predict_codes(codes)

    def outputs(self, faults, replica=None) -> list[np.ndarray]:
        result = []
        for fault, r in zip(faults, self.replicas(faults, replica)):
            touched = self.csim.flip(np.asarray(fault, dtype=np.int64), r)
            try:
                result.append(self.csim.predict_codes(self.target.inputs))
            finally:
                self.csim.restore(touched)
        return result

    def close(self):
        self.csim.close()
