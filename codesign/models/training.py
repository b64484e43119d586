"""The one training loop of the zoo's classifiers (digits, smart-pixel): deterministic for a given seed."""

from __future__ import annotations

import logging
import time

import numpy as np

log = logging.getLogger(__name__)


def accuracy(model, x, y) -> float:
    logits = model.predict(x, batch_size=4096, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == np.asarray(y).reshape(-1)))


def fit_classifier(model, x_train, y_train, x_test, y_test, epochs: int, learning_rate: float, batch_size: int,
                   label: str):
    """Adam with cosine decay to 0 on sparse categorical cross-entropy over logits; stores the test accuracy in
    ``model.codesign_test_accuracy``. The caller seeds TensorFlow first (``loading.tf_setup``)."""
    import tensorflow as tf

    steps = epochs * int(np.ceil(len(x_train) / batch_size))
    schedule = tf.keras.optimizers.schedules.CosineDecay(learning_rate, max(steps, 1))
    model.compile(
        optimizer=tf.keras.optimizers.Adam(schedule),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0)
    acc = accuracy(model, x_test, y_test)
    model.codesign_test_accuracy = acc
    log.info("%s: test accuracy %.4f after %d epochs (%.1f s)", label, acc, epochs, time.perf_counter() - start)
    return model
