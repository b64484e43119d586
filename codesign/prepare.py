"""What a design's flow computes from its spec, once: the model, the network, the data, the cost, the evaluator.

:class:`Prepared` is built by the command layer and the flow from a :class:`codesign.spec.DesignSpec`; each part is
made on first use and kept (``codesign info`` never loads data, a campaign never loads TensorFlow twice). Lower
modules never see it: they receive the network, data, cost or evaluator they need.
"""

from __future__ import annotations

import functools

import numpy as np

from codesign.errors import CodesignError


class Prepared:
    def __init__(self, spec, data_dir=None):
        self.spec = spec
        self.data_dir = data_dir

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def metric(self) -> str:
        return self.spec.metric

    @property
    def seed(self) -> int:
        return self.spec.seed

    # --- model and network ----------------------------------------------------------------------------------------

    @functools.cached_property
    def model(self):
        """The model bundle (:class:`codesign.models.zoo.ZooModel`): with ``saf: {train: ...}`` its on-chip model is
        the one fine-tuned with the weight tables (cached on disk)."""
        zm = self._loaded_model()
        saf = self.spec.saf
        if saf is not None and saf.train is not None:
            from codesign.ir.from_keras import from_keras
            from codesign.mitigate.saf_train import finetuned

            zm = finetuned(zm, from_keras(zm.onchip, self.name, zm.input_precision), saf, self.data_dir, self.seed)
        return zm

    def _loaded_model(self):
        from codesign.ir.from_keras import onchip_part
        from codesign.models import zoo

        m = self.spec.model
        if m.zoo is not None:
            zm = zoo.get(m.zoo, data_dir=self.data_dir, seed=self.seed)
        else:
            from codesign.models.loading import load_model

            zm = zoo.ZooModel(self.name, load_model(m.path), None, self.metric, None, "user")
        zm.onchip = onchip_part(zm.onchip)
        if m.input_precision:
            zm.input_precision = m.input_precision
        return zm

    @functools.cached_property
    def base_qnet(self):
        """The QNet of the QKeras model as it is (what QKeras fidelity is checked against)."""
        from codesign.ir.from_keras import from_keras

        return from_keras(self.model.onchip, self.name, self.model.input_precision)

    @functools.cached_property
    def qnet(self):
        """The network every level implements: the model's QNet with the design's mitigations (``clip:``, ``saf:``)."""
        q = self.base_qnet
        if self.spec.clip is not None:
            from codesign.mitigate.clip import with_clips

            q = with_clips(q, self.clip_codes())
        saf = self.spec.saf
        if saf is not None:
            from codesign.mitigate.saf import with_spec

            q = with_spec(q, saf, self.model.info["saf"]["m"] if saf.train is not None else None)
        return q

    def clip_codes(self) -> dict:
        """Output-code thresholds of the design's ``clip:`` setting (a ClipAct search is cached on disk)."""
        from codesign.mitigate import clip

        spec, base = self.spec.clip, self.base_qnet
        if spec.method == "thresholds":
            return clip.codes_of(base, spec.thresholds)
        if spec.method == "actmax":
            return clip.actmax(base, self.data.x)
        return self.clipact(**spec.options)["codes"]

    def clipact(self, progress=None, **options) -> dict:
        from codesign.mitigate import clip

        rows = options.pop("rows", clip.DEFAULT_ROWS)
        return clip.clipact_cached(self.base_qnet, self.sampled_cost(rows), self.seed, progress=progress,
                                   rows=rows, **options)

    # --- data, cost, evaluator ------------------------------------------------------------------------------------

    @functools.cached_property
    def data(self):
        from codesign.data import load

        zm = self.model
        raw = load.load(self.spec.data, self.metric, self.seed, self.spec.samples, zm.dataset, self.data_dir,
                        tuple(self.base_qnet.input_shape), getattr(zm, "input_scale", 1.0))
        out = self.base_qnet.output_shape
        return load.check(raw, self.metric, int(np.prod(out, dtype=np.int64)), self.base_qnet.input_shape)

    def cost(self, reference=None):
        """The design's cost on all its rows (``reference``: fault-free outputs for ``mse`` without labels)."""
        if reference is None:
            return self._cost
        return self._make_cost(self.data, reference)

    @functools.cached_property
    def _cost(self):
        return self._make_cost(self.data, None)

    def _make_cost(self, data, reference):
        from codesign.metrics.cost import Cost

        return Cost.build(self.metric, data, self.model.decoder, self.data_dir, reference)

    def sampled_cost(self, sample: int | None = None):
        """The cost on all rows, or on ``sample`` rows drawn without replacement (seeded by the design seed, kept
        in data order)."""
        cost = self.cost()
        if sample is None or sample >= len(cost.data.x):
            return cost
        if sample <= 0:
            raise CodesignError(f"a row sample needs at least one row, got {sample}")
        idx = np.sort(np.random.default_rng([self.seed, 7]).choice(len(cost.data.x), sample, replace=False))
        return cost.subset(idx)

    def evaluator(self, sample: int | None = None, qnet=None):
        """The campaign evaluator of ``qnet`` (default: the design's network) on all rows or a row sample."""
        from codesign.campaign.evaluate import Evaluator

        if sample is None and qnet is None:
            return self._evaluator
        return Evaluator(qnet or self.qnet, self.sampled_cost(sample))

    @functools.cached_property
    def _evaluator(self):
        from codesign.campaign.evaluate import Evaluator

        return Evaluator(self.qnet, self.cost())

    def rank_context(self, rows: int | None = None):
        """What rankers may use (:class:`codesign.rank.base.Context`): the network, the loss on the first ``rows``
        rows, evaluators on row samples."""
        from codesign.rank.base import Context
        from codesign.rank.loss import ROWS, loss_model

        rows = ROWS if rows is None else rows
        zm = self.model
        return Context(self.qnet, seed=self.seed, metric=self.metric,
                       loss_factory=lambda obj: loss_model(zm.onchip, self.qnet, self.data, self.metric, zm.decoder,
                                                           self.seed, rows, obj),
                       evaluator_factory=lambda n: self.evaluator(n))

    def dse(self):
        """The design file's ``dse:`` settings resolved for this network's size."""
        return self.spec.dse.for_bits(self.qnet.bitspace.size, self.spec.origin)
