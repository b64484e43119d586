"""Load QKeras models from disk with one-line user errors, plus the FKeras ``FQDense``/``FQConv2D`` shims.

FKeras (the fault-injection library of the FKeras/PrioriFI papers) saves models whose layers are ``FQDense`` and
``FQConv2D``: QKeras ``QDense``/``QConv2D`` with extra constructor arguments (``ber``, ``bit_loc``, ``accum_faults``)
that drive its own fault injection. With ``ber = 0`` they compute exactly what the QKeras layer computes. We inject
faults ourselves (on the integer IR), so the shims accept these arguments, keep them in ``get_config`` for a faithful
round trip, and otherwise ignore them.

Also home of :func:`tf_setup`, the small-and-deterministic TensorFlow runtime setup shared by the zoo trainers.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

from codesign.errors import CodesignError

log = logging.getLogger(__name__)

_FKERAS_ARGS = ("ber", "bit_loc", "accum_faults")
_SHIMS: dict[str, type] | None = None


def _shim_classes() -> dict[str, type]:
    """Create FQDense/FQConv2D lazily so importing this module does not import TensorFlow."""
    global _SHIMS
    if _SHIMS is None:
        from qkeras import QConv2D, QDense

        def make(base: type, name: str) -> type:
            def __init__(self, *args, ber=0.0, bit_loc=0, accum_faults=None, **kwargs):
                base.__init__(self, *args, **kwargs)
                self.ber = ber
                self.bit_loc = bit_loc
                self.accum_faults = accum_faults

            def get_config(self):
                config = base.get_config(self)
                config.update({"ber": self.ber, "bit_loc": self.bit_loc})
                if self.accum_faults is not None:
                    config["accum_faults"] = self.accum_faults
                return config

            doc = (
                f"FKeras ``{name}`` stand-in: a QKeras ``{base.__name__}`` that accepts and ignores "
                "``ber``, ``bit_loc`` and ``accum_faults`` (kept in the config)."
            )
            return type(name, (base,), {"__init__": __init__, "get_config": get_config, "__doc__": doc,
                                        "__module__": __name__, "__qualname__": name})

        _SHIMS = {"FQDense": make(QDense, "FQDense"), "FQConv2D": make(QConv2D, "FQConv2D")}
    return _SHIMS


def __getattr__(name: str) -> Any:  # ``from codesign.models.loading import FQDense`` works without eager TF import
    if name in ("FQDense", "FQConv2D"):
        return _shim_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def custom_objects() -> dict[str, Any]:
    """Every object a QKeras/FKeras model file may name: QKeras layers, quantizers, initializers + FQ shims."""
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict[str, Any] = {}
    _add_supported_quantized_objects(objects)
    objects.update(_shim_classes())
    return objects


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].strip()


def _config_class_names(config: Any) -> list[str]:
    """Every ``class_name`` of a serialized layer in a Keras model config (nested models included), in order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "class_name" in node and isinstance(node.get("config"), dict) and "name" in node["config"]:
                found.append(node["class_name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return found


def _known_class(name: str, objects: dict[str, Any]) -> bool:
    import tensorflow as tf

    if name in objects or name in ("Functional", "Sequential", "Model"):
        return True
    if hasattr(tf.keras.layers, name):
        return True
    try:
        return tf.keras.utils.get_registered_object(name) is not None
    except Exception:  # pragma: no cover - depends on Keras internals
        return False


def _unknown_classes_in_h5(path: Path, objects: dict[str, Any]) -> list[str]:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            raw = h5.attrs.get("model_config")
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        config = json.loads(raw)
    except Exception:
        return []
    layers = config.get("config", {}).get("layers", []) if isinstance(config, dict) else []
    names = _config_class_names(layers)
    return list(dict.fromkeys(n for n in names if not _known_class(n, objects)))


def load_model(path: str | os.PathLike):
    """Load a full Keras model (HDF5 ``.h5``, ``.keras`` zip or SavedModel dir) with QKeras/FKeras objects, uncompiled.

    Raises :class:`CodesignError` with one line for a missing file, an unreadable/corrupt file, a weights-only HDF5
    file and a layer class that neither Keras nor QKeras knows.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise CodesignError(f"model file {p} does not exist")

    import h5py

    objects = custom_objects()
    is_h5 = p.is_file() and h5py.is_hdf5(p)
    if p.is_file() and not is_h5 and not zipfile.is_zipfile(p):
        raise CodesignError(f"cannot read Keras model {p}: not an HDF5 file (corrupt, or a different format)")
    if is_h5:
        try:
            with h5py.File(p, "r") as h5:
                has_config = "model_config" in h5.attrs
                groups = sorted(h5.keys())
        except Exception as exc:
            raise CodesignError(f"cannot read Keras model {p}: {_first_line(exc)}") from None
        if not has_config:
            hint = f" (weight groups: {', '.join(groups[:6])}{', ...' if len(groups) > 6 else ''})" if groups else ""
            raise CodesignError(
                f"cannot read Keras model {p}: weights-only HDF5 file without model_config{hint}; build the "
                "architecture and call load_weights (ECON-T checkpoints load by name via the zoo: econt_s|m|l)"
            )
        unknown = _unknown_classes_in_h5(p, objects)
        if unknown:
            raise CodesignError(
                f"cannot read Keras model {p}: unknown layer class {', '.join(unknown)} (not Keras, QKeras or FKeras)"
            )

    import tensorflow as tf

    try:
        model = tf.keras.models.load_model(str(p), custom_objects=objects, compile=False)
        return _tf_runnable(model, p, is_h5, objects)
    except CodesignError:
        raise
    except Exception as exc:
        message = _first_line(exc)
        match = re.search(r"Unknown (?:layer|object|class)[^:]*: '?([\w.]+)'?", message)
        if match:
            raise CodesignError(
                f"cannot read Keras model {p}: unknown layer class {match.group(1)} (not Keras, QKeras or FKeras)"
            ) from None
        raise CodesignError(f"cannot read Keras model {p}: {message}") from None


def _tf_runnable(model, path: Path, is_h5: bool, objects: dict):
    """The model, or (when TensorFlow cannot run a layer's name, e.g. ``x\\``) the model loaded again under
    TensorFlow-safe names with the user's names attached (:mod:`codesign.ir.keras_names`)."""
    import tempfile

    import tensorflow as tf

    from codesign.ir.keras_names import mark_user_names, renamed_h5, tf_safe_names

    rename = tf_safe_names(model)
    if not rename:
        return model
    if not is_h5:
        name = next(iter(rename))
        raise CodesignError(f"layer name {name!r} in {path} is not one TensorFlow can run; rename the layer (or save "
                            "the model as .h5, which codesign renames for TensorFlow itself)")
    with tempfile.TemporaryDirectory(prefix="codesign-model-") as tmp:
        renamed_h5(path, Path(tmp) / "model.h5", rename)
        copy = tf.keras.models.load_model(str(Path(tmp) / "model.h5"), custom_objects=objects, compile=False)
    return mark_user_names(copy, rename)


def save_model_atomic(model, path: str | os.PathLike) -> Path:
    """``model.save`` as HDF5 to a temporary name in the same directory, then rename (readers never see half files)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings():  # "HDF5 is legacy", "quantizer is not a Constraint": both harmless here
            warnings.simplefilter("ignore", UserWarning)
            model.save(str(tmp), save_format="h5", include_optimizer=False)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def tf_setup(seed: int, threads: int = 1) -> None:
    """Seed Python/NumPy/TF, make ops deterministic and keep TF to ``threads`` threads (the machine is shared).

    Thread limits can only be set before TensorFlow starts its runtime; later calls leave them as they are.
    """
    import tensorflow as tf

    for setter in (tf.config.threading.set_inter_op_parallelism_threads,
                   tf.config.threading.set_intra_op_parallelism_threads):
        try:
            setter(threads)
        except RuntimeError:  # runtime already initialised
            pass
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
