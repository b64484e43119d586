"""The model zoo: named designs ready for conversion, fault injection and protection.

==============================  ===========================================================  ===========  ==========
name                            what                                                         metric       dataset
==============================  ===========================================================  ===========  ==========
econt_s / econt_m / econt_l     pre-trained HGCAL ECON-T encoders (+ float decoder for EMD)  emd          hgcal
smartpixel_s / _m / _l          smart-pixel MLPs trained here on data/smartpixel_muc         mispredict   smartpixel
digits_s / _m / _l              quantized CNNs trained here on scikit-learn digits           mispredict   digits
smartpixel_<size>_upstream      the FKeras smart-pixel .h5 files as-is (size = small,        mispredict   smartpixel
                                medium, large, large2; 3 logits of the CMS 3-class task)
cifar10_tiny / cifar10_tiny2    MLPerf-Tiny CIFAR-10 CNNs as-is (no images: use generated    mispredict   synthetic
                                inputs of the model's input shape)
==============================  ===========================================================  ===========  ==========

Pre-trained models are read from the data directory (``models/``). Trained models are cached as HDF5 under
``cache_dir()/zoo/<name>-seed<seed>-<hash>.h5`` (hash of the training recipe, the trainer's and the data loader's
source), with a JSON sidecar holding the recipe and the test accuracy; files are written to a temporary name and
renamed, so concurrent or interrupted runs never leave half files.

Inputs: a model's input = ``dataset x * input_scale`` rounded/saturated to ``input_precision`` (an hls4ml type string;
None = no fixed choice: the model has its own input quantizer or none is known).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from codesign.errors import CodesignError

log = logging.getLogger(__name__)


@dataclass
class ZooModel:
    name: str
    onchip: Any  # keras.Model that goes on chip (the ECON-T encoder or the classifier)
    decoder: Any | None  # float keras.Model turning on-chip outputs into the metric's input (ECON-T) or None
    metric: str  # 'emd' | 'mispredict'
    input_precision: str | None  # e.g. 'ap_fixed<11,4,AP_RND_CONV,AP_SAT>'
    dataset: str  # 'hgcal' | 'smartpixel' | 'digits' | 'synthetic'
    input_scale: float = 1.0  # model input = dataset x * input_scale (a power of two), then quantized
    info: dict = field(default_factory=dict)  # provenance: source file / recipe, test accuracy, cache path


@dataclass(frozen=True)
class _Entry:
    kind: str  # 'econt' | 'trained' | 'file'
    description: str
    arg: str = ""  # size for econt/trained, relative path under the data dir for files
    family: str = ""  # 'smartpixel' | 'digits' for trained models


_UPSTREAM_SMARTPIXEL = {
    "small": "models/smartpixel_small/fkeras_dense_model_16.h5",
    "medium": "models/smartpixel_medium/fkeras_dense_model_58.h5",
    "large": "models/smartpixel_large/fkeras_dense_model_large_32.h5",
    "large2": "models/smartpixel_large2/fkeras_dense_model_512.h5",
}
_CIFAR = {
    "cifar10_tiny": "models/cifar10_tiny/resnet_v1_eembc_quantized_tiny.h5",
    "cifar10_tiny2": "models/cifar10_tiny2/resnet_v1_eembc_quantized_tiny2.h5",
}

REGISTRY: dict[str, _Entry] = {}
for _s, _label in (("s", "small"), ("m", "medium"), ("l", "large")):
    REGISTRY[f"econt_{_s}"] = _Entry("econt", f"ECON-T {_label} autoencoder (pre-trained, FKeras/PrioriFI)", _s)
for _s, _label in (("s", "small"), ("m", "medium"), ("l", "large")):
    REGISTRY[f"smartpixel_{_s}"] = _Entry("trained", f"smart-pixel {_label} MLP trained on smartpixel_muc", _s,
                                          "smartpixel")
for _s, _label in (("s", "small"), ("m", "medium"), ("l", "large")):
    REGISTRY[f"digits_{_s}"] = _Entry("trained", f"digits {_label} quantized CNN trained on sklearn digits", _s,
                                      "digits")
for _label, _path in _UPSTREAM_SMARTPIXEL.items():
    REGISTRY[f"smartpixel_{_label}_upstream"] = _Entry(
        "file", f"upstream FKeras smart-pixel {_label} model (CMS 3-class, loaded as-is)", _path)
for _name, _path in _CIFAR.items():
    REGISTRY[_name] = _Entry("file", f"MLPerf-Tiny CIFAR-10 {_name.split('_')[1]} CNN (loaded as-is)", _path)
del _s, _label, _name, _path


def names() -> list[str]:
    return list(REGISTRY)


def describe() -> dict[str, str]:
    return {name: entry.description for name, entry in REGISTRY.items()}


def get(name: str, data_dir=None, seed: int = 0) -> ZooModel:
    """The zoo design ``name``; trains (or reads from the cache) models that are trained here."""
    entry = REGISTRY.get(str(name))
    if entry is None:
        raise CodesignError(f"unknown zoo model {name!r}; valid names: {', '.join(REGISTRY)}")
    if entry.kind == "econt":
        return _econt(name, entry, data_dir)
    if entry.kind == "file":
        return _file(name, entry, data_dir)
    return _trained(name, entry, data_dir, int(seed))


def _econt(name: str, entry: _Entry, data_dir) -> ZooModel:
    from codesign.models import econt

    encoder, decoder = econt.load_econt(entry.arg, data_dir)
    sp = econt.spec(entry.arg)
    return ZooModel(
        name=name, onchip=encoder, decoder=decoder, metric="emd", input_precision=sp.input_precision,
        dataset="hgcal", info={"source": sp.checkpoint, "sha256": sp.sha256, "pretrained": True},
    )


def _file(name: str, entry: _Entry, data_dir) -> ZooModel:
    from codesign.data import registry
    from codesign.models.loading import load_model

    model = load_model(registry.fetch(entry.arg.removeprefix("models/"), data_dir))  # sha256-checked
    dataset = "synthetic" if name.startswith("cifar10") else "smartpixel"
    info: dict[str, Any] = {"source": entry.arg, "pretrained": True}
    if dataset == "smartpixel":
        info["note"] = ("trained upstream on the CMS 3-class data (not available); the 13 y-profile inputs match "
                        "smartpixel_muc but its binary labels do not: compare against fault-free predictions")
    else:
        info["note"] = "no CIFAR-10 images are provided: use generated inputs of the model's input shape"
    return ZooModel(name=name, onchip=model, decoder=None, metric="mispredict", input_precision=None,
                    dataset=dataset, info=info)


def _family(entry: _Entry):
    if entry.family == "smartpixel":
        from codesign.models import smartpixel as module
    else:
        from codesign.models import digits as module
    return module


def _source_text(module_name: str) -> str:
    try:
        import importlib

        return inspect.getsource(importlib.import_module(module_name))
    except Exception:  # module missing or source unavailable: the hash just does not cover it
        return ""


def recipe_hash(name: str) -> str:
    """Short hash of everything that determines a trained zoo model besides the seed (and the data bytes)."""
    entry = REGISTRY[name]
    module = _family(entry)
    parts = [
        json.dumps(module.recipe(entry.arg), sort_keys=True, default=str),
        inspect.getsource(module),
        _source_text("codesign.models.training"),
        _source_text(f"codesign.data.{entry.family}"),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:10]


def cache_path(name: str, seed: int = 0) -> Path:
    from codesign.paths import cache_dir

    return cache_dir() / "zoo" / f"{name}-seed{int(seed)}-{recipe_hash(name)}.h5"


def _trained(name: str, entry: _Entry, data_dir, seed: int) -> ZooModel:
    from codesign.models.loading import load_model, save_model_atomic

    module = _family(entry)
    path = cache_path(name, seed)
    sidecar = path.with_suffix(".json")
    model = None
    if path.is_file():
        try:
            model = load_model(path)
        except CodesignError as exc:  # should not happen (atomic writes); retrain rather than fail
            log.warning("ignoring unreadable cached zoo model (%s); retraining", exc)
            path.unlink(missing_ok=True)
    if model is not None:
        info = _read_json(sidecar)
        info["cache"] = str(path)
        model.codesign_test_accuracy = info.get("test_accuracy")
    else:
        if entry.family == "smartpixel":
            from codesign.paths import data_dir as resolve

            resolve(data_dir)  # fail early, with the usual message, when no data directory is configured
            train: Callable[[], Any] = lambda: module.train_smartpixel(entry.arg, data_dir=data_dir, seed=seed)
        else:
            train = lambda: module.train_digits(entry.arg, seed=seed)
        start = time.perf_counter()
        log.info("training zoo model %s (seed %d); cached afterwards at %s", name, seed, path)
        model = train()
        info = {
            "name": name, "seed": seed, "recipe": module.recipe(entry.arg),
            "test_accuracy": getattr(model, "codesign_test_accuracy", None),
            "train_seconds": round(time.perf_counter() - start, 2), "pretrained": False,
        }
        _write_json_atomic(sidecar, info)
        save_model_atomic(model, path)
        info["cache"] = str(path)
    return ZooModel(
        name=name, onchip=model, decoder=None, metric="mispredict", input_precision=module.INPUT_PRECISION,
        dataset=entry.family, input_scale=float(getattr(module, "INPUT_SCALE", 1.0)), info=info,
    )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)
