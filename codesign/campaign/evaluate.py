"""ΔC of a fault: incremental evaluation, with the plain brute-force path kept as its test oracle.

Incremental evaluation (one fault = a set of flipped BitSpace indices):
- everything upstream of the first faulty layer is cached once (layer inputs on every evaluated row);
- a single flipped kernel/bias bit changes one accumulator column (Dense neuron / Conv2D output channel) by
  ``x_i * Δw`` or ``Δb``; only that column is recomputed, from the cached accumulator and the cached operand;
- only rows whose layer output changed go through the downstream layers, and only rows whose network output
  changed get their cost recomputed.
ΔC = max(mean faulty cost − mean fault-free cost, 0), with means summed by ``math.fsum`` (exactly rounded, so the
order of rows cannot change a bit of the result) — fast and brute force agree bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codesign.ir.bitspace import apply_flips
from codesign.ir.fixed import cast
from codesign.ir.qnet import Dense
from codesign.sim.forward import accumulate, flat_rows, forward, layer_inputs, quantize_input


@dataclass
class Outcome:
    delta_cost: float
    faulty_cost: float  # mean faulty cost over the evaluated rows
    changed_rows: int  # rows whose network output changed


MEMO_ROWS = 2_000_000  # memoized (row, output) costs of one output column (~150 B each)


class Evaluator:
    """Evaluates faults of one QNet on one data set with one cost (picklable: shipped to campaign workers).

    For EMD (a float decoder plus an optimal-transport solve per row) the cost of a (row, faulty output) pair is
    memoized: different faults often drive a row to the same output (a neuron clamped to 0 or saturated) — 79 % of
    the changed-row evaluations of the ECON-T-M oracle are repeats. A single flip changes one output column of its
    layer (:meth:`BitSpace.columns`), and the repeats are among the flips of one column, so the memo holds one column
    at a time: campaigns hand a worker all faults of a column together (:func:`codesign.campaign.runner.run`), and
    memory stays at one column's distinct outputs. A memoized value is the value a recomputation gives (row costs are
    batch-independent), so results stay bit-identical in any order.
    """

    def __init__(self, qnet, cost):
        _single_blas_thread()
        self.qnet = qnet
        self.cost = cost
        self._memo: dict | None = {} if cost.metric == "emd" else None
        self._memo_column = None
        codes = quantize_input(qnet, cost.data.x)
        out = forward(qnet, codes)
        rows = np.arange(len(codes))
        if cost.metric == "mispredict":
            # The fault-free-correct subset: per-sample faulty cost is then 0/1 and ΔC the fraction turned wrong.
            rows = rows[cost.per_sample(qnet.output_type.to_float(out)) == 0]
            codes = codes[rows]
        self.rows = rows
        _, acts = forward(qnet, codes, keep=True)
        self.acts = [codes] + acts  # acts[i] = input of layer i; acts[-1] = network output codes
        self.base_cost = self._cost(self.acts[-1], self.rows)
        self.base_mean = self._mean(self.base_cost)
        self._acc: dict[int, np.ndarray] = {}
        self._ops: dict[int, np.ndarray] = {}

    def __getstate__(self):
        state = self.__dict__.copy()
        # rebuilt lazily by each worker
        state.update(_acc={}, _ops={}, _memo=None if self._memo is None else {}, _memo_column=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        _single_blas_thread()

    @property
    def memoizes(self) -> bool:
        """Whether single-bit faults of one output column are cheaper evaluated together."""
        return self._memo is not None

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    def _cost(self, out_codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return self.cost.per_sample(self.qnet.output_type.to_float(out_codes), rows)

    def _cost_memo(self, out_codes: np.ndarray, rows: np.ndarray, memo: bool = True) -> np.ndarray:
        """Costs of evaluated-row positions ``rows`` with faulty outputs ``out_codes``."""
        if self._memo is None or not memo:
            return self._cost(out_codes, self.rows[rows])
        flat = flat_rows(out_codes)
        keys = [(int(r), flat[k].tobytes()) for k, r in enumerate(rows)]
        costs = np.array([self._memo.get(k, np.nan) for k in keys])
        miss = np.flatnonzero(np.isnan(costs))
        if len(miss):
            costs[miss] = self._cost(out_codes[miss], self.rows[rows[miss]])
            if len(self._memo) < MEMO_ROWS:
                self._memo.update((keys[m], costs[m]) for m in miss)
        return costs

    def _mean(self, costs: np.ndarray) -> float:
        return math.fsum(costs.tolist()) / len(costs) if len(costs) else 0.0

    def _outcome(self, faulty: np.ndarray, changed: int) -> Outcome:
        mean = self._mean(faulty)
        return Outcome(max(mean - self.base_mean, 0.0), mean, changed)

    # --- the plain reference ----------------------------------------------------------------------------------

    def brute_force(self, bits) -> Outcome:
        """One full forward pass and a full cost evaluation: the test oracle of :meth:`evaluate`."""
        if self.n_rows == 0:
            return Outcome(0.0, self.base_mean, 0)
        out = forward(self.qnet, self.acts[0], overrides=apply_flips(self.qnet, bits))
        faulty = self._cost(out, self.rows)
        return self._outcome(faulty, int(np.sum(np.any(flat_rows(out) != flat_rows(self.acts[-1]), axis=1))))

    def outcome_of_outputs(self, out: np.ndarray) -> Outcome:
        """Outcome of a fault from the faulty network outputs on every evaluated row (``acts[0]``), as another
        level (HLS C-sim, RTL) computed them: the same cost path as :meth:`evaluate`, so the levels compare exactly."""
        return self._changed_outcome(np.arange(self.n_rows), np.asarray(out).reshape(self.acts[-1].shape))

    def _changed_outcome(self, rows: np.ndarray, out: np.ndarray, memo: bool = True) -> Outcome:
        """Outcome from faulty outputs ``out`` of evaluated-row positions ``rows``: only rows whose output
        differs from the fault-free one get their cost recomputed (memoized unless ``memo`` is False)."""
        changed = np.any(flat_rows(out) != flat_rows(self.acts[-1][rows]), axis=1)
        rows, out = rows[changed], out[changed]
        if len(rows) == 0:
            return Outcome(0.0, self.base_mean, 0)
        faulty = self.base_cost.copy()
        faulty[rows] = self._cost_memo(out, rows, memo)
        return self._outcome(faulty, len(rows))

    # --- incremental --------------------------------------------------------------------------------------------

    def evaluate(self, bits) -> Outcome:
        bits = np.asarray(bits, dtype=np.int64)
        if bits.size == 0 or self.n_rows == 0:
            return Outcome(0.0, self.base_mean, 0)
        overrides = apply_flips(self.qnet, bits)
        first = min(overrides)
        if bits.size == 1 and self._memo is not None:
            column = int(self.qnet.bitspace.columns(bits)[0])
            if column != self._memo_column:  # keys of another column never repeat
                self._memo.clear()
                self._memo_column = column
        single = self._single_column(bits, overrides) if bits.size == 1 else None
        if single is not None:
            rows, layer_out = single
            if len(rows) == 0:
                return Outcome(0.0, self.base_mean, 0)
            out = forward(self.qnet, layer_out, start=first + 1) if first + 1 < len(self.qnet.layers) else layer_out
        else:
            rows = np.arange(self.n_rows)
            out = forward(self.qnet, self.acts[first], start=first, overrides=overrides)
        # a multi-bit fault moves nearly every row to an output no other fault gives: memo keys would cost ~8 % of
        # the evaluation and fill the memo with entries that are never hit
        return self._changed_outcome(rows, out, memo=bits.size == 1)

    def _operand(self, li: int) -> np.ndarray:
        if li not in self._ops:
            layer = self.qnet.layers[li]
            self._ops[li] = layer_inputs(layer, self.acts[li])
            self._acc[li] = accumulate(layer, self._ops[li], self.qnet.in_type(li))
        return self._ops[li]

    def _single_column(self, bits: np.ndarray, overrides: dict):
        """(rows whose layer output changed, their new layer outputs) for one flipped bit, or None if the
        accumulator is not exact-and-wrapping (then the generic path recomputes the layer)."""
        (li, tensors), = overrides.items()
        layer = self.qnet.layers[li]
        if not isinstance(layer, Dense):
            return None
        x_type = self.qnet.in_type(li)
        at = layer.accum_type
        prod_frac = x_type.frac + layer.kernel_type.frac
        if at.frac < prod_frac or at.overflow != "WRAP":
            return None
        ops = self._operand(li)
        acc = self._acc[li]
        n_out = layer.kernel.shape[-1]
        if "kernel" in tensors:
            new, old = tensors["kernel"].reshape(-1), layer.kernel.reshape(-1)
            elem = int(np.flatnonzero(new != old)[0])
            i, col = divmod(elem, n_out)
            step = layer.effective_kernel(new[elem:elem + 1]) - layer.effective_kernel(old[elem:elem + 1])
            delta = (ops[:, i] * int(step[0])) << (at.frac - prod_frac)
        else:
            new, old = tensors["bias"], layer.bias
            col = int(np.flatnonzero(new != old)[0])
            delta = int(cast(new[col:col + 1], layer.bias_type.frac, at)[0]
                        - cast(old[col:col + 1], layer.bias_type.frac, at)[0])
        column = cast(at.overflow_codes(acc[:, col] + delta), at.frac, layer.out_type)
        out = self.acts[li + 1]
        n = len(out)
        shaped = column.reshape(n, -1)  # conv: (rows, positions) of the output channel
        before = out.reshape(n, -1, n_out)[:, :, col]
        changed = np.flatnonzero(np.any(shaped != before, axis=1))
        if len(changed) == 0:
            return changed, out[:0]
        new_out = out[changed].copy()
        new_out.reshape(len(changed), -1, n_out)[:, :, col] = shaped[changed]
        return changed, new_out


def _single_blas_thread() -> None:
    """Row costs must not depend on BLAS threading (it changes how a matrix is split), and campaign workers are the
    parallelism anyway: one BLAS thread in every process that evaluates faults."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
