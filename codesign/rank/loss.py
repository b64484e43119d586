"""Loss derivatives with respect to the on-chip parameters: gradient, Hessian-vector products, top-k eigenpairs
(power iteration with deflation) and Hutchinson trace/diagonal — the second-order information of FKeras.

The loss is the design's differentiable training objective on the Keras model: cross-entropy of the logits for
classifiers, reconstruction MSE through the float decoder for the ECON-T autoencoders, MSE to labels or to the
fault-free outputs otherwise. With ``objective="deviation"`` the loss is instead the squared distance of what the
cost metric reads (the decoded image for autoencoders, the logits for classifiers) from its fault-free value: its
gradient vanishes at the trained weights and its Hessian is the Gauss-Newton matrix JᵀJ, so ½·h·Δw² estimates how
far a weight change moves the outputs the cost is computed on. Parameters are the Keras variables of every BitSpace segment (QKeras applies its
quantizers with straight-through gradients, so the derivatives are those of the quantized network). Vectors are
flat float64 numpy arrays in BitSpace segment order (kernel elements in Keras C-order, then bias), one entry per
parameter.
"""

from __future__ import annotations

import numpy as np

from codesign.errors import CodesignError

# Rows the derivatives are averaged over: a Hessian-vector product costs ~0.15 ms per row on ECON-T-L, and 1 000
# rows keep its Hessian ranking (~350 products) within a minute on 2 cores.
ROWS = 1000


class LossModel:
    def __init__(self, keras_model, qnet, x, metric: str, y=None, decoder=None, seed: int = 0,
                 objective: str = "task"):
        import tensorflow as tf

        self.tf = tf
        self.seed = seed
        self.segments = qnet.bitspace.segments
        self.variables = []
        for s in self.segments:
            try:
                layer = keras_model.get_layer(s.layer)
            except ValueError:
                raise CodesignError(f"Keras model has no layer {s.layer!r} for BitSpace tensor {s.layer}/{s.tensor}")
            var = getattr(layer, s.tensor, None)
            if var is None or tuple(var.shape) != s.shape:
                raise CodesignError(f"layer {s.layer}: no {s.tensor} of shape {s.shape} in the Keras model")
            self.variables.append(var)
        self.sizes = [s.size for s in self.segments]
        self.n = int(sum(self.sizes))
        x = tf.constant(np.asarray(x, dtype=np.float32))
        model = keras_model
        if objective == "deviation":
            def readout():
                out = model(x, training=False)
                out = decoder(out, training=False) if metric == "emd" else out
                return tf.reshape(out, (len(x), -1))

            ref = tf.constant(readout().numpy())

            def loss():
                return tf.reduce_mean(tf.reduce_sum(tf.square(readout() - ref), axis=1))
        elif metric == "mispredict":
            if y is None:
                raise CodesignError("the classifier loss needs labels")
            labels = tf.constant(np.asarray(y).reshape(-1).astype(np.int64))

            def loss():
                logits = model(x, training=False)
                return tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, logits,
                                                                                     from_logits=True))
        elif metric == "emd":
            if decoder is None:
                raise CodesignError("the autoencoder loss needs the float decoder")

            def loss():
                recon = decoder(model(x, training=False), training=False)
                return tf.reduce_mean(tf.square(tf.reshape(recon, (len(x), -1)) - tf.reshape(x, (len(x), -1))))
        else:
            target = y if y is not None else model(x, training=False).numpy()
            target = tf.constant(np.asarray(target, dtype=np.float32).reshape(len(target), -1))

            def loss():
                out = tf.reshape(model(x, training=False), (len(x), -1))
                return tf.reduce_mean(tf.square(out - target))

        self._loss = loss

        @tf.function(reduce_retracing=True)
        def grad():
            with tf.GradientTape() as tape:
                value = loss()
            return value, tape.gradient(value, self.variables)

        @tf.function(reduce_retracing=True)
        def hvp(vs):
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    value = loss()
                gs = inner.gradient(value, self.variables)
                dot = tf.add_n([tf.reduce_sum(g * tf.cast(v, g.dtype)) for g, v in zip(gs, vs)])
            return outer.gradient(dot, self.variables)

        self._grad, self._hvp = grad, hvp

    # --- flat <-> per-variable ----------------------------------------------------------------------------------

    def _flat(self, tensors) -> np.ndarray:
        return np.concatenate([np.zeros(s) if t is None else np.asarray(t, dtype=np.float64).reshape(-1)
                               for t, s in zip(tensors, self.sizes)])

    def _split(self, v: np.ndarray):
        parts, start = [], 0
        for var, size in zip(self.variables, self.sizes):
            parts.append(self.tf.constant(v[start:start + size].reshape(var.shape), dtype=self.tf.float32))
            start += size
        return parts

    # --- derivatives ----------------------------------------------------------------------------------------------

    def loss(self) -> float:
        return float(self._loss())

    def gradient(self) -> np.ndarray:
        _, g = self._grad()
        return self._flat(g)

    def hvp(self, v: np.ndarray) -> np.ndarray:
        return self._flat(self._hvp(self._split(v)))

    def dense_hessian(self) -> np.ndarray:
        """The exact Hessian column by column (n Hessian-vector products): for tests on tiny models only."""
        eye = np.eye(self.n)
        return np.stack([self.hvp(eye[i]) for i in range(self.n)], axis=1)

    def top_eigen(self, k: int = 8, max_iter: int = 500, tol: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
        """Top-k eigenpairs (largest |λ|) by power iteration, deflating the pairs already found. A pair is done when
        its residual ‖Hv − λv‖ is below ``tol``·|λ| (the eigenvalue itself is then accurate to ~tol²)."""
        if k <= 0:
            raise CodesignError("k must be a positive integer")
        k = min(k, self.n)
        rng = np.random.default_rng(self.seed)
        vals, vecs = [], []
        self.iterations = []
        for _ in range(k):
            v = rng.standard_normal(self.n)
            v /= np.linalg.norm(v)
            lam = 0.0
            for it in range(max_iter):
                hv = self.hvp(v)
                for l_j, v_j in zip(vals, vecs):
                    hv -= l_j * np.dot(v_j, v) * v_j
                lam = float(np.dot(v, hv))
                norm = np.linalg.norm(hv)
                if norm == 0.0 or np.linalg.norm(hv - lam * v) <= tol * abs(lam):
                    break
                v = hv / norm
            self.iterations.append(it + 1)
            vals.append(lam)
            vecs.append(v)
        return np.array(vals), np.array(vecs)

    def diagonal(self, samples: int = 32) -> np.ndarray:
        """Hutchinson estimate of the Hessian diagonal from Rademacher probes: E[v ⊙ Hv] = diag(H)."""
        if samples <= 0:
            raise CodesignError("Hutchinson samples must be a positive integer")
        rng = np.random.default_rng(self.seed + 1)
        acc = np.zeros(self.n)
        for _ in range(samples):
            v = rng.choice([-1.0, 1.0], size=self.n)
            acc += v * self.hvp(v)
        return acc / samples

    def traces(self, samples: int = 32) -> dict:
        """Hutchinson trace per tensor (FKeras reports it per layer), with probes confined to the tensor: a probe
        over every parameter has the same expectation but adds the cross-tensor curvature as variance."""
        if samples <= 0:
            raise CodesignError("Hutchinson samples must be a positive integer")
        rng = np.random.default_rng(self.seed + 2)
        traces, start = {}, 0
        for s, size in zip(self.segments, self.sizes):
            total = 0.0
            for _ in range(samples):
                v = np.zeros(self.n)
                v[start:start + size] = rng.choice([-1.0, 1.0], size=size)
                total += float(np.dot(v, self.hvp(v)))
            traces[f"{s.layer}/{s.tensor}"] = total / samples
            start += size
        return traces

def loss_model(keras_model, qnet, data, metric: str, decoder=None, seed: int = 0, rows: int = ROWS,
               objective: str = "task") -> LossModel:
    """The LossModel on the first ``rows`` rows of ``data`` (inputs quantized as the chip sees them)."""
    from codesign.sim.forward import quantize_input

    if rows <= 0:
        raise CodesignError("rows must be a positive integer")
    x = qnet.input_type.to_float(quantize_input(qnet, data.x[:rows]))
    y = None if data.y is None else np.asarray(data.y)[:rows]
    return LossModel(keras_model, qnet, x, metric, y=y, decoder=decoder, seed=seed, objective=objective)
