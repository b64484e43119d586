"""hls4ml C-simulation of the same ModelGraph QNet is built from: the `hls` level of `codesign verify`.

hls4ml writes the project and compiles it with g++ into a shared library (no Vivado needed for C-sim).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

from codesign.errors import CodesignError
from codesign.ir.from_keras import check_keras, onchip_part, quiet_stdout, strip_fkeras, to_hls4ml
from codesign.level import Level, register


class Hls4mlCsim:
    def __init__(self, keras_model, qnet, backend: str = "Vivado", workdir: str | None = None, opt: str = "-O1"):
        if shutil.which("g++") is None:
            raise CodesignError("hls level needs g++ (apt-get install g++)")
        keras_model = onchip_part(keras_model)
        check_keras(keras_model)
        self._tmp = None if workdir else tempfile.mkdtemp(prefix="codesign-csim-")
        out = os.path.join(workdir or self._tmp, "hls4ml_prj")
        from codesign.hls.multithreshold import install

        self.graph = to_hls4ml(strip_fkeras(keras_model), qnet.input_type, output_dir=out, backend=backend)
        install(self.graph, qnet)
        with quiet_stdout():
            try:
                self.graph.write()
                _lower_optimization(out, opt)
                self.graph._compile()
            except Exception as exc:
                raise CodesignError(f"hls4ml C-sim build failed: {str(exc).splitlines()[0]}") from None

    def predict(self, x: np.ndarray) -> np.ndarray:
        # double in, double out: every fixed-point output value is exact in a double
        x = np.ascontiguousarray(np.asarray(x, dtype=np.float32).astype(np.float64))
        with quiet_stdout():
            y = self.graph.predict(x)
        return np.asarray(y, dtype=np.float64).reshape(len(x), -1)

    def close(self):
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __del__(self):
        self.close()


@register("hls4ml")
class Hls4mlLevel(Level):
    """hls4ml's own project (weights as constants), C-simulated: a reference level, no fault injection."""

    injects = False

    def __init__(self, target):
        super().__init__(target)
        workdir = None if target.workdir is None else str(target.workdir)
        self.csim = Hls4mlCsim(target.keras_model, self.qnet, workdir=workdir)

    def values(self, codes: np.ndarray) -> np.ndarray:
        return self.csim.predict(self.qnet.input_type.to_float(codes).astype(np.float32))

    def predict(self, codes: np.ndarray) -> np.ndarray:
        q = self.qnet
        out = np.round(self.values(codes) * 2.0 ** q.output_type.frac).astype(np.int64)  # the outputs are codes
        return out.reshape((len(codes),) + tuple(q.output_shape))

    def close(self):
        self.csim.close()


def _lower_optimization(project: str, opt: str) -> None:
    """hls4ml builds C-sim with -O3; on fully unrolled CNNs g++ then needs >10 min and 5 GB. ap_types arithmetic
    is exact integer code, so the optimization level cannot change results, only build and run time."""
    path = os.path.join(project, "build_lib.sh")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace('CFLAGS="-O3 -fPIC"', f'CFLAGS="{opt} -fPIC"'))
