"""QNet: the bit-exact integer description of a quantized network that every level (sim, HLS, RTL) translates.

Layers are ordered; each holds integer codes for its parameters and a :class:`FixedType` for every tensor. Shapes are
Keras shapes without the batch axis (channels last), and parameter arrays keep the Keras layout (Dense kernel
``(n_in, n_out)``, Conv2D kernel ``(kh, kw, c_in, c_out)``), so a flat index into them is the Keras row-major index.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError
from codesign.ir.fixed import FixedType

FORMAT_VERSION = 1


@dataclass
class Layer:
    name: str
    out_type: FixedType
    out_shape: tuple

    kind = "layer"

    def params(self) -> dict[str, tuple[np.ndarray, FixedType]]:
        """On-chip parameter tensors ``{tensor: (codes, type)}`` that are part of the fault space."""
        return {}

    def attrs(self) -> dict:
        return {}


@dataclass
class Dense(Layer):
    kernel: np.ndarray = field(repr=False, default=None)
    bias: np.ndarray = field(repr=False, default=None)
    kernel_type: FixedType = None
    bias_type: FixedType = None
    accum_type: FixedType = None
    use_bias: bool = True  # a layer built with use_bias=False has no bias registers (zeros, outside BitSpace)
    # Saturated weight transform (SAF): the kernel registers hold stored codes and the multiplier gets
    # kernel_lut[stored word] (a kernel_type code; index = the word's W-bit pattern, two's complement for signed
    # types) — a lookup table between register and multiplier. None = the registers feed the multiplier directly.
    kernel_lut: np.ndarray | None = field(repr=False, default=None)
    saf: str = ""  # the function the LUT was made from (informative)

    kind = "dense"

    def params(self):
        p = {"kernel": (self.kernel, self.kernel_type)}
        if self.use_bias:
            p["bias"] = (self.bias, self.bias_type)
        return p

    def effective_kernel(self, stored: np.ndarray | None = None) -> np.ndarray:
        """The codes the multiplier sees for stored kernel codes ``stored`` (default: the layer's own)."""
        k = self.kernel if stored is None else stored
        if self.kernel_lut is None:
            return k
        return self.kernel_lut[np.asarray(k, dtype=np.int64) & ((1 << self.kernel_type.width) - 1)]

    def attrs(self):
        return {"accum_type": self.accum_type.to_dict(), "use_bias": self.use_bias,
                **({"saf": self.saf} if self.kernel_lut is not None else {})}

    def arrays(self):
        out = {"kernel": self.kernel, "bias": self.bias}
        if self.kernel_lut is not None:
            out["kernel_lut"] = self.kernel_lut
        return out


@dataclass
class Conv2D(Dense):
    strides: tuple = (1, 1)
    pads: tuple = (0, 0, 0, 0)  # top, bottom, left, right (zeros), as hls4ml computes them for Keras padding

    kind = "conv2d"

    def attrs(self):
        return {**super().attrs(), "strides": list(self.strides), "pads": list(self.pads)}


@dataclass
class Activation(Layer):
    """``function`` then the cast to ``out_type`` (the quantizer).

    ``clip``: ClipAct's clipped ReLU (CReLU, SSL paper eq. 1) on the output codes — a code above ``clip`` becomes 0,
    on the hypothesis that a very large activation comes from a fault. None = no clipping. A mitigation chosen by
    codesign (not in the QKeras model), so it is serialized only when set and plain networks keep their fingerprint.
    """

    function: str = "linear"  # relu | linear
    clip: int | None = None

    kind = "activation"

    def attrs(self):
        return {"function": self.function, **({"clip": int(self.clip)} if self.clip is not None else {})}


@dataclass
class BatchNorm(Layer):
    """y = x * scale + bias per channel (last axis): a Keras BatchNormalization after a quantized layer.

    Its scale/bias come from float parameters, stored at a precision chosen at conversion; they are constants of the
    datapath, not part of the weight fault space (FKeras' scope: the quantized layers' weights).
    """

    scale: np.ndarray = field(repr=False, default=None)
    bias: np.ndarray = field(repr=False, default=None)
    scale_type: FixedType = None
    bias_type: FixedType = None

    kind = "batchnorm"

    def attrs(self):
        return {"scale_type": self.scale_type.to_dict(), "bias_type": self.bias_type.to_dict()}


@dataclass
class Threshold(Layer):
    """A BatchNormalization and the quantizing activation after it, as per-channel thresholds on the input codes.

    QKeras evaluates ``quantizer(BN(x))`` in float32; no fixed-point multiply-add reproduces float32 rounding, but
    the composition is a monotonic step function of the integer input code, so it is exactly a set of
    thresholds: ``out = min_code + #{k : direction[c] * x >= thresholds[c, k]}`` (comparators in hardware, as in
    FINN's multi-threshold units). ``bn`` names the Keras BatchNormalization layer.
    """

    thresholds: np.ndarray = field(repr=False, default=None)  # (channels, levels) int64, non-decreasing per row
    direction: np.ndarray = field(repr=False, default=None)  # (channels,) +1 / -1 (negative BN scale)
    bn: str = ""

    kind = "threshold"

    def attrs(self):
        return {"bn": self.bn}

    def arrays(self):
        return {"thresholds": self.thresholds, "direction": self.direction}


@dataclass
class Reshape(Layer):
    kind = "reshape"


LAYER_KINDS = {cls.kind: cls for cls in (Dense, Conv2D, Activation, BatchNorm, Threshold, Reshape)}


@dataclass
class QNet:
    name: str
    input_shape: tuple
    input_type: FixedType
    layers: list[Layer]
    meta: dict = field(default_factory=dict)

    @property
    def output_type(self) -> FixedType:
        return self.layers[-1].out_type if self.layers else self.input_type

    @property
    def output_shape(self) -> tuple:
        return self.layers[-1].out_shape if self.layers else self.input_shape

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise CodesignError(f"no layer named {name!r} in {self.name} (layers: {', '.join(l.name for l in self.layers)})")

    def with_layers(self, layers: list[Layer]) -> "QNet":
        """The same network with ``layers`` in place of its own (transforms copy the layers they change)."""
        return QNet(self.name, self.input_shape, self.input_type, list(layers), dict(self.meta))

    def in_type(self, index: int) -> FixedType:
        return self.layers[index - 1].out_type if index > 0 else self.input_type

    def in_shape(self, index: int) -> tuple:
        return self.layers[index - 1].out_shape if index > 0 else self.input_shape

    @property
    def bitspace(self):
        from codesign.ir.bitspace import BitSpace

        if "_bitspace" not in self.__dict__:
            self.__dict__["_bitspace"] = BitSpace(self)
        return self.__dict__["_bitspace"]

    # --- serialization: one .npz holding a JSON header and the code arrays -------------------------------------

    def header(self) -> dict:
        return {
            "format": FORMAT_VERSION,
            "name": self.name,
            "input_shape": list(self.input_shape),
            "input_type": self.input_type.to_dict(),
            "meta": self.meta,
            "layers": [
                {"kind": l.kind, "name": l.name, "out_type": l.out_type.to_dict(), "out_shape": list(l.out_shape),
                 **({"param_types": {t: ty.to_dict() for t, (_, ty) in _all_params(l).items()}} if _all_params(l) else {}),
                 **l.attrs()}
                for l in self.layers
            ],
        }

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for i, l in enumerate(self.layers):
            arrays = l.arrays() if hasattr(l, "arrays") else {t: c for t, (c, _) in _all_params(l).items()}
            out.update({f"{i}/{t}": np.asarray(a, dtype=np.int64) for t, a in arrays.items()})
        return out

    def fingerprint(self) -> str:
        """sha256 of the network's function (formats, shapes, all codes): a design hash for result stores and plans.
        The name and free-form meta are left out, so the same network read from a .h5 or a saved .npz matches."""
        header = {k: v for k, v in self.header().items() if k not in ("name", "meta")}
        h = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
        for key, arr in sorted(self.arrays().items()):
            h.update(key.encode())
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    def save(self, path: str | Path) -> None:
        buf = io.BytesIO()
        np.savez_compressed(buf, __header__=np.frombuffer(json.dumps(self.header()).encode(), dtype=np.uint8),
                            **self.arrays())
        Path(path).write_bytes(buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "QNet":
        try:
            data = np.load(path)
            header = json.loads(bytes(data["__header__"]).decode())
        except (OSError, ValueError, KeyError) as exc:
            raise CodesignError(f"cannot read QNet file {path}: {exc}") from None
        if header.get("format") != FORMAT_VERSION:
            raise CodesignError(f"QNet file {path} has format {header.get('format')}, expected {FORMAT_VERSION}")
        layers = []
        for i, d in enumerate(header["layers"]):
            kls = LAYER_KINDS[d["kind"]]
            kw = {"name": d["name"], "out_type": FixedType.from_dict(d["out_type"]), "out_shape": tuple(d["out_shape"])}
            for key in data.files:
                if key.startswith(f"{i}/"):
                    kw[key.split("/", 1)[1]] = data[key]
            for t, ty in d.get("param_types", {}).items():
                kw[f"{t}_type"] = FixedType.from_dict(ty)
            if "accum_type" in d:
                kw["accum_type"] = FixedType.from_dict(d["accum_type"])
            if "strides" in d:
                kw["strides"], kw["pads"] = tuple(d["strides"]), tuple(d["pads"])
            if "use_bias" in d:
                kw["use_bias"] = d["use_bias"]
            for key in ("function", "bn", "clip", "saf"):
                if key in d:
                    kw[key] = d[key]
            layers.append(kls(**kw))
        return cls(header["name"], tuple(header["input_shape"]), FixedType.from_dict(header["input_type"]), layers,
                   header.get("meta", {}))

    def summary(self) -> list[dict]:
        """One row per layer: what `codesign info` prints."""
        rows = [{"layer": "(input)", "kind": "input", "shape": list(self.input_shape), "type": str(self.input_type)}]
        bs = self.bitspace
        for l in self.layers:
            row = {"layer": l.name, "kind": l.kind, "shape": list(l.out_shape), "type": str(l.out_type)}
            for t, (codes, ty) in _all_params(l).items():
                row[t] = f"{list(codes.shape)} {ty}"
            if l.params():
                row["weight_bits"] = bs.tensor_bits(l.name, "kernel")
                row["bias_bits"] = bs.tensor_bits(l.name, "bias") if "bias" in l.params() else 0
            rows.append(row)
        return rows


def _all_params(layer: Layer) -> dict[str, tuple[np.ndarray, FixedType]]:
    """Every parameter tensor (fault space or not), for serialization."""
    if isinstance(layer, BatchNorm):
        return {"scale": (layer.scale, layer.scale_type), "bias": (layer.bias, layer.bias_type)}
    if isinstance(layer, Dense):
        return {"kernel": (layer.kernel, layer.kernel_type), "bias": (layer.bias, layer.bias_type)}
    return layer.params()
