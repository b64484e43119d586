"""Design files: which model, which data, which cost metric, which seed (and later: rankers, budgets).

Minimal user schema (these keys always work)::

    name: mynet
    model: {path: model.h5}            # or {zoo: digits_s}; optional input_precision: 'ap_fixed<16,6>'
    data: {path: data.npz, x: x, y: y} # or {dataset: digits|smartpixel|hgcal, split: test, file: ttbar_0PU}
    metric: mispredict                 # mispredict | mse | emd
    seed: 0
    samples: 20000                     # optional: evaluate on the first N rows (default: all rows named)

Relative paths are relative to the design file. :class:`Design` is the Python API the CLI is built on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from codesign.errors import CodesignError

METRICS = ("mispredict", "mse", "emd")
DATASETS = ("digits", "smartpixel", "hgcal", "synthetic")


@dataclass
class Data:
    """Evaluation data: model inputs ``x`` (floats, before input quantization) and what the metric needs."""

    x: np.ndarray
    y: np.ndarray | None = None
    x48: np.ndarray | None = None  # ECON-T: normalized 48-cell input, the EMD reference
    source: str = ""


@dataclass
class Design:
    name: str
    model: dict
    data: dict
    metric: str
    seed: int = 0
    samples: int | None = None
    base: Path = field(default_factory=Path.cwd)
    raw: dict = field(default_factory=dict)
    data_dir: str | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    # --- construction ----------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, data_dir: str | None = None) -> "Design":
        path = Path(path)
        if not path.is_file():
            raise CodesignError(f"design file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise CodesignError(f"malformed YAML in {path}: not UTF-8 text") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise CodesignError(f"malformed YAML in {path}{where}: {getattr(exc, 'problem', exc)}") from None
        return cls.from_dict(raw, base=path.parent, data_dir=data_dir, origin=str(path))

    @classmethod
    def from_dict(cls, raw, base: Path | None = None, data_dir: str | None = None, origin: str = "design") -> "Design":
        if not isinstance(raw, dict):
            raise CodesignError(f"{origin}: a design must be a YAML mapping with keys name, model, data, metric")
        missing = [k for k in ("name", "model", "metric") if k not in raw]
        if missing:
            raise CodesignError(f"{origin}: missing key(s) {', '.join(missing)}")
        name = raw["name"]
        if isinstance(name, bool) or not isinstance(name, (str, int)):
            raise CodesignError(f"{origin}: name must be a string")
        name = str(name)
        model = raw["model"]
        if isinstance(model, str):
            model = {"zoo": model} if not model.endswith((".h5", ".hdf5")) else {"path": model}
        if not isinstance(model, dict) or not ({"zoo", "path"} & set(model)):
            raise CodesignError(f"{origin}: model needs 'zoo: NAME' or 'path: FILE.h5'")
        for key in ("zoo", "path", "input_precision"):
            if key in model and not isinstance(model[key], str):
                raise CodesignError(f"{origin}: model.{key} must be a string")
        data = raw.get("data") or {}
        if not isinstance(data, dict):
            raise CodesignError(f"{origin}: data must be a mapping (path/x/y or dataset)")
        for key in ("path", "x", "y", "dataset", "split", "file"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise CodesignError(f"{origin}: data.{key} must be a string")
        metric = raw["metric"]
        if metric not in METRICS:
            raise CodesignError(f"{origin}: unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
        samples = raw.get("samples")
        if samples is not None and (not isinstance(samples, int) or samples <= 0):
            raise CodesignError(f"{origin}: samples must be a positive integer")
        seed = raw.get("seed", 0)
        if not isinstance(seed, int):
            raise CodesignError(f"{origin}: seed must be an integer")
        _check_clip(raw.get("clip"), origin)
        _check_saf(raw.get("saf"), origin)
        return cls(name, model, data, metric, seed, samples, Path(base or Path.cwd()), raw, data_dir)

    # --- model -----------------------------------------------------------------------------------------------

    def zoo_model(self):
        """The loaded model bundle (on-chip Keras model, optional float decoder, input precision). With ``saf:
        {train: ...}`` its on-chip model is the one fine-tuned with the weight tables (cached on disk)."""
        if "model" not in self._cache:
            zm = self._loaded_model()
            spec = self.saf_spec()
            if spec is not None and spec.train is not None:
                from codesign.ir.from_keras import from_keras
                from codesign.mitigate.saf_train import finetuned

                zm = finetuned(zm, from_keras(zm.onchip, self.name, zm.input_precision), spec, self.data_dir,
                               self.seed)
            self._cache["model"] = zm
        return self._cache["model"]

    def _loaded_model(self):
        from codesign.models import zoo

        if "zoo" in self.model:
            zm = zoo.get(self.model["zoo"], data_dir=self.data_dir, seed=self.seed)
        else:
            from codesign.models.loading import load_model

            keras_model = load_model(self._path(self.model["path"]))
            zm = zoo.ZooModel(self.name, keras_model, None, self.metric, None, "user")
        from codesign.ir.from_keras import onchip_part

        zm.onchip = onchip_part(zm.onchip)
        if self.model.get("input_precision"):
            zm.input_precision = self.model["input_precision"]
        return zm

    def base_qnet(self):
        """The QNet of the QKeras model as it is (what QKeras fidelity is checked against)."""
        if "base_qnet" not in self._cache:
            from codesign.ir.from_keras import from_keras

            zm = self.zoo_model()
            self._cache["base_qnet"] = from_keras(zm.onchip, self.name, zm.input_precision)
        return self._cache["base_qnet"]

    def qnet(self):
        """The network every level implements: the model's QNet with the design's mitigations (``clip:``, ``saf:``)."""
        if "qnet" not in self._cache:
            q = self.base_qnet()
            if self.raw.get("clip") is not None:
                from codesign.mitigate.clip import with_clips

                q = with_clips(q, self.clip_codes())
            spec = self.saf_spec()
            if spec is not None:
                from codesign.mitigate.saf import with_spec

                q = with_spec(q, spec, self.zoo_model().info["saf"]["m"] if spec.train is not None else None)
            self._cache["qnet"] = q
        return self._cache["qnet"]

    def saf_spec(self):
        """The design's ``saf:`` setting parsed (:class:`codesign.mitigate.saf.SafSpec`), or None."""
        if self.raw.get("saf") is None:
            return None
        from codesign.mitigate.saf import parse_spec

        return parse_spec(self.raw["saf"], self.name)

    def clip_codes(self) -> dict:
        """Output-code thresholds of the design's ``clip:`` setting (a ClipAct search is cached on disk)."""
        from codesign.mitigate import clip

        spec, base = self.raw.get("clip"), self.base_qnet()
        if isinstance(spec, dict) and "method" not in spec:
            return clip.codes_of(base, spec)
        method = spec if isinstance(spec, str) else spec["method"]
        if method == "actmax":
            return clip.actmax(base, self.dataset().x)
        opts = {k: v for k, v in spec.items() if k != "method"} if isinstance(spec, dict) else {}
        return clip.clipact_cached(self, **opts)["codes"]

    # --- data ------------------------------------------------------------------------------------------------

    def dataset(self) -> Data:
        if "data" not in self._cache:
            self._cache["data"] = self._load_data()
        return self._cache["data"]

    def _load_data(self) -> Data:
        spec = self.data
        n = self.samples or spec.get("n")
        if "path" in spec:
            data = _load_npz(self._path(spec["path"]), spec.get("x", "x"), spec.get("y"), self.metric)
        else:
            kind = spec.get("dataset") or self.zoo_model().dataset
            split = spec.get("split", "test")
            if kind == "digits":
                from codesign.data import digits

                x, y = digits.dataset(split, seed=self.seed)
                data = Data(x, y, source=f"sklearn digits ({split})")
            elif kind == "smartpixel":
                from codesign.data import smartpixel

                x, y = smartpixel.dataset(split, data_dir=self.data_dir, seed=self.seed)
                data = Data(x, y, source=f"smartpixel_muc ({split})")
            elif kind == "hgcal":
                from codesign.data import hgcal

                fname = spec.get("file", "ttbar_0PU")
                x8, x48 = hgcal.load_hgcal(fname, n=n, data_dir=self.data_dir)
                data = Data(x8, None, x48, source=f"HGCAL {fname}")
            elif kind == "synthetic":
                shape = tuple(self.zoo_model().onchip.input_shape[1:])
                rng = np.random.default_rng(self.seed)
                rows = int(n or 1000)
                data = Data(rng.uniform(spec.get("low", 0.0), spec.get("high", 1.0), (rows,) + shape)
                            .astype(np.float32), None, source="synthetic uniform")
            else:
                raise CodesignError(f"unknown dataset {kind!r}; choose one of {', '.join(DATASETS)} or give data.path")
        if n is not None:
            data = Data(data.x[:n], None if data.y is None else data.y[:n],
                        None if data.x48 is None else data.x48[:n], data.source)
        scale = getattr(self.zoo_model(), "input_scale", 1.0)
        if scale != 1.0:
            data.x = (data.x * scale).astype(np.float32)
        return data

    def _path(self, p) -> Path:
        path = Path(p).expanduser()
        return path if path.is_absolute() else self.base / path

    def sha256(self) -> str:
        return hashlib.sha256(yaml.safe_dump(self.raw, sort_keys=True).encode()).hexdigest()


def _check_clip(spec, origin: str) -> None:
    """``clip:`` is ``actmax``, ``clipact``, ``{method: clipact, rates, trials, iterations}`` or ``{LAYER: VALUE}``."""
    if spec is None or spec in ("actmax", "clipact"):
        return
    if isinstance(spec, dict) and "method" in spec:
        extra = sorted(set(spec) - {"method", "rates", "trials", "iterations", "rows"})
        if spec["method"] not in ("actmax", "clipact") or extra or (spec["method"] == "actmax" and len(spec) > 1):
            raise CodesignError(f"{origin}: clip.method must be actmax or clipact (clipact options: rates, trials, "
                                f"iterations, rows){'; unknown ' + ', '.join(extra) if extra else ''}")
        for key in ("trials", "iterations", "rows"):
            v = spec.get(key, 1)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise CodesignError(f"{origin}: clip.{key} must be a positive integer")
        rates = spec.get("rates", [1e-3])
        if not isinstance(rates, list) or not rates or any(
                isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r < 1 for r in rates):
            raise CodesignError(f"{origin}: clip.rates must be a list of bit error rates in (0, 1)")
        return
    if isinstance(spec, dict) and spec:
        for k, v in spec.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise CodesignError(f"{origin}: clip.{k} must be a threshold >= 0, got {v!r}")
        return
    raise CodesignError(f"{origin}: clip must be actmax, clipact, {{method: clipact, ...}} or {{LAYER: THRESHOLD}}")


def _check_saf(spec, origin: str) -> None:
    """``saf:`` is a function name or ``{function, layers, level, train}`` (:func:`codesign.mitigate.saf.parse_spec`)."""
    if spec is not None:
        from codesign.mitigate.saf import parse_spec

        parse_spec(spec, origin)


def _load_npz(path: Path, xkey: str, ykey: str | None, metric: str) -> Data:
    if not path.is_file():
        raise CodesignError(f"data file not found: {path}")
    try:
        arrays = np.load(path, allow_pickle=False)
        keys = set(arrays.files)
    except Exception as exc:  # numpy raises several types for a bad archive
        raise CodesignError(f"cannot read {path} as .npz: {str(exc).splitlines()[0]}") from None
    if xkey not in keys:
        raise CodesignError(f"{path} has no array {xkey!r} (has: {', '.join(sorted(keys))})")
    if ykey and ykey not in keys:
        raise CodesignError(f"{path} has no array {ykey!r} (has: {', '.join(sorted(keys))})")
    if metric == "mispredict" and not ykey:
        raise CodesignError("metric mispredict needs labels: set data.y in the design")
    x = np.asarray(arrays[xkey], dtype=np.float32)
    y = np.asarray(arrays[ykey]) if ykey else None
    if y is not None and len(y) != len(x):
        raise CodesignError(f"{path}: {xkey} has {len(x)} rows but {ykey} has {len(y)}")
    return Data(x, y, source=str(path))
