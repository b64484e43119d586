"""Fine-tuning a zoo classifier with its saturated weight tables in the loop (SAF paper: train with the transform).

The table of a layer is fixed first (:func:`codesign.mitigate.saf.lut_for`, edge ``m`` from the network before
fine-tuning, or ``level`` x the format's largest code). During training each chosen QDense/QConv2D kernel goes
through QKeras' quantizer and then through the table: the forward pass uses exactly the table's operand (what the
hardware multiplies), the backward pass the slope of the smooth ``a f(v / a)`` (straight through the rounding), so
weights deep in saturation learn slowly, as with the paper's tanh. After training the quantized kernels *are* the
stored codes (no nearest-entry search): ``with_saf(..., m, stored=True)`` puts the same tables behind them.

Only the zoo's classifiers (digits, smart-pixel) are fine-tuned: they have a train split and a training recipe
here. ECON-T's encoder was trained by its authors with a decoder and a loss this project does not reproduce.
The result (model + edges + accuracies) is cached under ``$CODESIGN_CACHE/saf/``, keyed by the model's QNet, the
options and this code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError
from codesign.mitigate.saf import SafSpec, chosen_layers, edges, lut_for, stored_codes, transform_scale

log = logging.getLogger(__name__)

EPOCHS = 10
LEARNING_RATE = 1e-3
_TF = {"tanh": "tanh", "softsign": "softsign", "arctan": "atan"}


class TableQuantizer:
    """QKeras' kernel quantizer followed by a layer's table: forward = the exact table entry of the quantized code,
    backward = the smooth transform's slope."""

    def __init__(self, inner, layer, function: str, m_code: int):
        import tensorflow as tf

        ty = layer.kernel_type
        self.inner, self.frac, self.width, self.function = inner, ty.frac, ty.width, function
        step = 2.0 ** -ty.frac
        self.table = tf.constant(lut_for(layer, function, m_code).astype(np.float64) * step, tf.float32)
        self.m = float(m_code) * step
        a = transform_scale(ty, function, m_code)
        self.a = None if a is None else a * step
        self.identity = function != "hardtanh" and a is None and m_code > 0

    def smooth(self, v):
        import tensorflow as tf

        if self.identity:
            return v
        if self.a is None:
            return tf.clip_by_value(v, -self.m, self.m)
        return self.a * getattr(tf.math, _TF[self.function])(v / self.a)

    def __call__(self, w):
        import tensorflow as tf

        q = self.inner(w)
        code = tf.cast(tf.round(q * (2.0 ** self.frac)), tf.int32)
        exact = tf.gather(self.table, tf.math.floormod(code, 1 << self.width))
        smooth = self.smooth(q)
        return smooth + tf.stop_gradient(exact - smooth)


def install(model, qnet, spec: SafSpec, m: dict[str, int]) -> dict:
    """Put a :class:`TableQuantizer` on every chosen layer of the Keras ``model`` (names as in ``qnet``); returns
    {layer: original quantizer} for :func:`uninstall`."""
    originals = {}
    for name in chosen_layers(qnet, spec.layers):
        try:
            kl = model.get_layer(name)
        except ValueError:
            kl = None
        if kl is None or getattr(kl, "kernel_quantizer_internal", None) is None:
            raise CodesignError(f"cannot fine-tune with weight tables: Keras layer {name!r} has no QKeras kernel "
                                "quantizer")
        layer = next(l for l in qnet.layers if l.name == name)
        originals[name] = kl.kernel_quantizer_internal
        kl.kernel_quantizer_internal = TableQuantizer(originals[name], layer, spec.function, int(m[name]))
    model.predict_function = None  # a predict function traced before would still use the old quantizers
    return originals


def uninstall(model, originals: dict) -> None:
    for name, q in originals.items():
        model.get_layer(name).kernel_quantizer_internal = q
    model.predict_function = None


def _training_data(zm, data_dir, seed: int):
    if zm.metric != "mispredict" or zm.dataset not in ("digits", "smartpixel"):
        raise CodesignError(f"saf.train fine-tunes the zoo's classifiers (digits, smart-pixel); {zm.name} "
                            f"({zm.dataset}) has no training recipe here")
    if zm.dataset == "digits":
        from codesign.models.digits import BATCH_SIZE, training_arrays

        return training_arrays(seed) + (BATCH_SIZE,)
    from codesign.models.smartpixel import BATCH_SIZE, load_split

    (xt, yt), (xv, yv) = load_split("train", data_dir, seed), load_split("test", data_dir, seed)
    return xt, np.asarray(yt).astype(np.int64).reshape(-1), xv, np.asarray(yv).astype(np.int64).reshape(-1), \
        BATCH_SIZE


def _clone(model):
    import tensorflow as tf

    from codesign.models.loading import custom_objects

    with tf.keras.utils.custom_object_scope(custom_objects()):
        clone = tf.keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _key(zm, qnet, spec: SafSpec, seed: int) -> str:
    from codesign.mitigate import saf

    src = Path(saf.__file__).read_text() + Path(__file__).read_text()
    opts = {"function": spec.function, "layers": spec.layers, "level": spec.level, "train": spec.train,
            "seed": seed, "model": zm.name, "qnet": qnet.fingerprint()}
    return hashlib.sha256((json.dumps(opts, sort_keys=True) + src).encode()).hexdigest()[:16]


def finetuned(zm, qnet, spec: SafSpec, data_dir=None, seed: int = 0):
    """``zm`` (a classifier ZooModel whose QNet is ``qnet``) fine-tuned with ``spec``'s tables: a copy of the
    ZooModel whose ``onchip`` holds the fine-tuned weights (plain QKeras quantizers: its quantized kernels are the
    stored codes) and whose ``info["saf"]`` has the edges ``m`` and the accuracies."""
    from codesign.models.loading import load_model, save_model_atomic
    from codesign.paths import cache_dir

    path = cache_dir() / "saf" / f"{zm.name}-{spec.label}-{_key(zm, qnet, spec, seed)}.h5"
    sidecar = path.with_suffix(".json")
    if path.is_file() and sidecar.is_file():
        info = json.loads(sidecar.read_text())
        return dataclasses.replace(zm, onchip=load_model(path), info={**zm.info, "saf": info})
    info = _fit(zm, qnet, spec, data_dir, seed)
    model = info.pop("model")
    path.parent.mkdir(parents=True, exist_ok=True)
    part = sidecar.with_name(f".{sidecar.name}.part")
    part.write_text(json.dumps(info, indent=1))
    save_model_atomic(model, path)
    part.replace(sidecar)
    return dataclasses.replace(zm, onchip=model, info={**zm.info, "saf": info})


def _fit(zm, qnet, spec: SafSpec, data_dir, seed: int) -> dict:
    from codesign.models.loading import tf_setup
    from codesign.models.training import accuracy, fit_classifier

    xt, yt, xv, yv, batch = _training_data(zm, data_dir, seed)
    tf_setup(seed)
    model = _clone(zm.onchip)
    chosen = chosen_layers(qnet, spec.layers)
    m = edges(qnet, chosen, spec.level)
    before = accuracy(model, xv, yv)
    for layer in (l for l in qnet.layers if l.name in chosen):  # start from the post-training stored codes
        codes = stored_codes(lut_for(layer, spec.function, m[layer.name]), layer.effective_kernel(), layer.kernel_type)
        kernel = model.get_layer(layer.name).kernel
        kernel.assign(codes.reshape(kernel.shape).astype(np.float32) * np.float32(2.0 ** -layer.kernel_type.frac))
    originals = install(model, qnet, spec, m)
    at_start = accuracy(model, xv, yv)  # the post-training tables: what fine-tuning starts from
    epochs = int(spec.train.get("epochs", EPOCHS))
    lr = float(spec.train.get("learning_rate", LEARNING_RATE))
    t0 = time.perf_counter()
    fit_classifier(model, xt, yt, xv, yv, epochs, lr, batch, f"{zm.name} with {spec.label} tables")
    seconds = time.perf_counter() - t0
    after = model.codesign_test_accuracy
    uninstall(model, originals)
    model = _clone(model)  # fresh traced functions: none of them may keep the tables
    log.info("%s fine-tuned with %s tables: test accuracy %.4f -> %.4f (table before fine-tuning %.4f), %.1f s",
             zm.name, spec.label, before, after, at_start, seconds)
    return {"model": model, "m": {k: int(v) for k, v in m.items()}, "test_accuracy_original": before,
            "test_accuracy_table_untrained": at_start, "test_accuracy_finetuned": after, "epochs": epochs,
            "learning_rate": lr, "train_seconds": round(seconds, 2)}


def finetuned_net(zm, base_qnet, spec: SafSpec, data_dir=None, seed: int = 0):
    """(the QNet of ``zm``'s model — whose QNet is ``base_qnet`` — fine-tuned with ``spec``'s tables, tables behind
    its stored codes; the fine-tuning record): a design-space point next to the design's own network."""
    from codesign.ir.from_keras import from_keras
    from codesign.mitigate.saf import with_spec

    tuned = finetuned(zm, base_qnet, spec, data_dir, seed)
    base = from_keras(tuned.onchip, base_qnet.name, tuned.input_precision)
    info = tuned.info["saf"]
    return with_spec(base, spec, info["m"]), info
