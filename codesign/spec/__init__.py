"""Design files as typed, frozen specs, validated once before anything is computed or written.

Minimal user schema (these keys always work)::

    name: mynet
    model: {path: model.h5}            # or {zoo: digits_s}; optional input_precision: 'ap_fixed<16,6>'
    data: {path: data.npz, x: x, y: y} # or {dataset: digits|smartpixel|hgcal|synthetic, split: test, file: ttbar_0PU}
    metric: mispredict                 # mispredict | mse | emd
    seed: 0
    samples: 20000                     # optional: evaluate on the first N rows (default: all rows named)

plus the optional sections ``clip``, ``saf`` (:mod:`codesign.mitigate`), ``rtl`` (``{simulator: icarus|verilator}``,
the simulator of every RTL run: ``verify --levels rtl``, ``inject --level rtl``, the DSE's masking runs unless
``dse.simulator`` says otherwise), ``dse`` and ``limits`` (:mod:`codesign.spec.dse`). Every mapping accepts only
its known keys: a typo is a one-line error naming it. Relative
paths are relative to the design file. Command-line overrides (``--samples``, ``--input-precision``) are applied to
the file's contents before validation (:func:`load`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from codesign.errors import CodesignError
from codesign.names import check_design_name
from codesign.spec.dse import DseSpec, parse_spec as parse_dse

METRICS = ("mispredict", "mse", "emd")
DATASETS = ("digits", "smartpixel", "hgcal", "synthetic")
TOP_KEYS = ("name", "model", "data", "metric", "seed", "samples", "clip", "saf", "rtl", "dse", "limits")
RTL_KEYS = ("simulator",)
MODEL_KEYS = ("zoo", "path", "input_precision")
DATA_KEYS = ("path", "x", "y", "dataset", "split", "file", "n", "low", "high")
CLIP_OPTIONS = ("rates", "trials", "iterations", "rows")


@dataclass(frozen=True)
class ModelSpec:
    zoo: str | None = None
    path: Path | None = None
    input_precision: str | None = None

    def to_dict(self) -> dict:
        return {k: str(v) for k, v in (("zoo", self.zoo), ("path", self.path),
                                        ("input_precision", self.input_precision)) if v is not None}


@dataclass(frozen=True)
class DataSpec:
    path: Path | None = None  # an .npz file (arrays x, y)
    x: str = "x"
    y: str | None = None
    dataset: str | None = None  # a registered dataset (default: the zoo model's)
    split: str = "test"
    file: str = "ttbar_0PU"  # HGCAL file
    n: int | None = None  # rows of a synthetic data set / HGCAL rows to read
    low: float = 0.0  # synthetic inputs: uniform in [low, high)
    high: float = 1.0


@dataclass(frozen=True)
class ClipSpec:
    """``clip:`` — ``actmax``, ``clipact`` (options: rates, trials, iterations, rows) or per-layer thresholds."""

    method: str  # actmax | clipact | thresholds
    options: dict = field(default_factory=dict, hash=False)
    thresholds: dict = field(default_factory=dict, hash=False)  # layer -> threshold in real units


@dataclass(frozen=True)
class RtlSpec:
    """``rtl:`` — how the generated Verilog is simulated."""

    simulator: str | None = None  # icarus | verilator (codesign.rtl.simulators); None: the default

    def options(self, simulator: str | None = None) -> dict:
        """Options of the ``rtl`` level (:class:`codesign.level.Target`): ``simulator`` (a command line's) wins."""
        chosen = simulator or self.simulator
        return {"simulator": chosen} if chosen else {}


@dataclass(frozen=True)
class DesignSpec:
    name: str
    model: ModelSpec
    data: DataSpec
    metric: str
    seed: int = 0
    samples: int | None = None
    clip: ClipSpec | None = None
    saf: object = None  # codesign.mitigate.saf.SafSpec
    rtl: RtlSpec = field(default_factory=RtlSpec)
    dse: DseSpec | None = None  # dse: and limits:
    origin: str = "design"
    sha256: str = ""  # of the design file's contents (before command-line overrides)


# --- reading ------------------------------------------------------------------------------------------------------


def load(path: str | Path, overrides: dict | None = None) -> DesignSpec:
    """A design file, with command-line ``overrides`` (dotted keys, e.g. ``model.input_precision``) applied."""
    path = Path(path)
    if not path.is_file():
        raise CodesignError(f"design file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CodesignError(f"malformed YAML in {path}: not UTF-8 text") from None
    except OSError as exc:
        raise CodesignError(f"cannot read design file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise CodesignError(f"malformed YAML in {path}{where}: {getattr(exc, 'problem', exc)}") from None
    return from_dict(raw, base=path.parent, origin=str(path), overrides=overrides)


def for_model(spec: str, overrides: dict | None = None) -> DesignSpec:
    """A design file, a Keras ``.h5`` path or a zoo name (``codesign info`` / ``verify --model``)."""
    path = Path(spec)
    if spec.endswith((".yaml", ".yml")):
        return load(path, overrides)
    if spec.endswith((".h5", ".hdf5")) or path.exists():
        raw = {"name": path.stem, "model": {"path": str(path.resolve())}, "metric": "mse"}
    else:
        raw = {"name": spec, "model": {"zoo": spec}, "metric": "mse"}
    return from_dict(raw, origin=spec, overrides=overrides)


def from_dict(raw, base: Path | None = None, origin: str = "design", overrides: dict | None = None) -> DesignSpec:
    if not isinstance(raw, dict):
        raise CodesignError(f"{origin}: a design must be a YAML mapping with keys name, model, data, metric")
    digest = hashlib.sha256(yaml.safe_dump(raw, sort_keys=True).encode()).hexdigest()
    raw = _overridden(raw, overrides or {})
    _known(raw, TOP_KEYS, origin)
    missing = [k for k in ("name", "model", "metric") if k not in raw]
    if missing:
        raise CodesignError(f"{origin}: missing key(s) {', '.join(missing)}")
    try:
        name = check_design_name(raw["name"])
    except CodesignError as exc:
        raise CodesignError(f"{origin}: {exc}") from None
    metric = raw["metric"]
    if metric not in METRICS:
        raise CodesignError(f"{origin}: unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    base = Path(base or Path.cwd())
    rtl, dse = _rtl(raw.get("rtl"), origin), parse_dse(raw, origin)
    if dse.simulator is None and rtl.simulator is not None:  # the design's simulator for the masking runs too
        dse = replace(dse, simulator=rtl.simulator)
    return DesignSpec(
        name=name, model=_model(raw["model"], base, origin), data=_data(raw.get("data"), base, origin),
        metric=metric, seed=_count(raw.get("seed", 0), "seed", origin, 0),
        samples=None if raw.get("samples") is None else _count(raw["samples"], "samples", origin, 1),
        clip=_clip(raw.get("clip"), origin), saf=_saf(raw.get("saf"), origin), rtl=rtl, dse=dse,
        origin=origin, sha256=digest)


def _overridden(raw: dict, overrides: dict) -> dict:
    out = dict(raw)
    for key, value in overrides.items():
        if value is None:
            continue
        section, _, sub = key.partition(".")
        if sub:
            inner = out.get(section)
            inner = {"zoo": inner} if isinstance(inner, str) else dict(inner or {})
            inner[sub] = value
            out[section] = inner
        else:
            out[section] = value
    return out


def _known(mapping: dict, keys, origin: str, where: str = "") -> None:
    unknown = [k for k in mapping if k not in keys]
    if unknown:
        raise CodesignError(f"{origin}: unknown key {where}{unknown[0]!r}; known: {', '.join(keys)}")


def _count(value, key: str, origin: str, lo: int) -> int:
    """An integer >= lo (``true`` is not a number of rows, a seed below 0 is not a numpy seed)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        what = "a non-negative integer" if lo == 0 else "a positive integer"
        raise CodesignError(f"{origin}: {key} must be {what}, got {value!r}")
    return value


def _model(model, base: Path, origin: str) -> ModelSpec:
    if isinstance(model, str):
        model = {"path": model} if model.endswith((".h5", ".hdf5")) else {"zoo": model}
    if not isinstance(model, dict) or not ({"zoo", "path"} & set(model)):
        raise CodesignError(f"{origin}: model needs 'zoo: NAME' or 'path: FILE.h5'")
    _known(model, MODEL_KEYS, origin, "model.")
    for key in MODEL_KEYS:
        if key in model and not isinstance(model[key], str):
            raise CodesignError(f"{origin}: model.{key} must be a string")
    if model.get("input_precision") is not None:
        from codesign.ir.fixed import FixedType

        FixedType.parse(model["input_precision"])  # a one-line error now, not after the model is loaded
    path = None if model.get("path") is None else _path(model["path"], base)
    return ModelSpec(model.get("zoo"), path, model.get("input_precision"))


def _data(data, base: Path, origin: str) -> DataSpec:
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise CodesignError(f"{origin}: data must be a mapping (path/x/y or dataset)")
    _known(data, DATA_KEYS, origin, "data.")
    for key in ("path", "x", "y", "dataset", "split", "file"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise CodesignError(f"{origin}: data.{key} must be a string")
    if data.get("dataset") is not None and data["dataset"] not in DATASETS:
        raise CodesignError(f"{origin}: unknown dataset {data['dataset']!r}; choose one of {', '.join(DATASETS)} "
                            "or give data.path")
    for key in ("low", "high"):
        v = data.get(key, 0.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise CodesignError(f"{origin}: data.{key} must be a number, got {v!r}")
    n = None if data.get("n") is None else _count(data["n"], "data.n", origin, 1)
    return DataSpec(None if data.get("path") is None else _path(data["path"], base), data.get("x", "x"),
                    data.get("y"), data.get("dataset"), data.get("split", "test"), data.get("file", "ttbar_0PU"), n,
                    float(data.get("low", 0.0)), float(data.get("high", 1.0)))


def _path(p: str, base: Path) -> Path:
    path = Path(p).expanduser()
    return path if path.is_absolute() else base / path


def _clip(spec, origin: str) -> ClipSpec | None:
    """``clip:`` is ``actmax``, ``clipact``, ``{method: clipact, rates, trials, iterations}`` or ``{LAYER: VALUE}``."""
    if spec is None:
        return None
    if spec in ("actmax", "clipact"):
        return ClipSpec(spec)
    if isinstance(spec, dict) and "method" in spec:
        extra = sorted(set(spec) - {"method", *CLIP_OPTIONS})
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
        return ClipSpec(spec["method"], {k: v for k, v in spec.items() if k != "method"})
    if isinstance(spec, dict) and spec:
        for k, v in spec.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v != v or v == float("inf"):
                raise CodesignError(f"{origin}: clip.{k} must be a threshold >= 0, got {v!r}")
        return ClipSpec("thresholds", thresholds=dict(spec))
    raise CodesignError(f"{origin}: clip must be actmax, clipact, {{method: clipact, ...}} or {{LAYER: THRESHOLD}}")


def _rtl(spec, origin: str) -> RtlSpec:
    """``rtl:`` is ``{simulator: icarus|verilator}``."""
    from codesign.rtl.simulators import check_name

    if spec is None:
        return RtlSpec()
    if not isinstance(spec, dict):
        raise CodesignError(f"{origin}: rtl must be a mapping ({', '.join(RTL_KEYS)})")
    _known(spec, RTL_KEYS, origin, "rtl.")
    return RtlSpec(check_name(spec.get("simulator"), f"{origin}: rtl.simulator"))


def _saf(spec, origin: str):
    """``saf:`` is a function name or ``{function, layers, level, train}`` (:func:`codesign.mitigate.saf.parse_spec`)."""
    if spec is None:
        return None
    from codesign.mitigate.saf import parse_spec

    return parse_spec(spec, origin)
