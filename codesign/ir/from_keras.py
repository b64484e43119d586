"""QKeras model -> hls4ml ModelGraph -> QNet.

hls4ml parses QKeras, maps ``quantized_bits(n, m)`` to ``ap_fixed<n, m+1>``, removes no-op layers and infers the
accumulator and result types; QNet copies exactly what hls4ml's C++ will compute, so the IR's arithmetic *is* the
hardware's. Our own work here is limited to (1) refusing what cannot go on chip bit-exactly, with the layer named,
(2) choosing the input type and the BatchNormalization constant types that make hls4ml agree with QKeras.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile

import numpy as np

from codesign.errors import CodesignError
from codesign.ir.fixed import FixedType, quantize_float
from codesign.ir.qnet import Activation, BatchNorm, Conv2D, Dense, QNet, Reshape
from codesign.ir.keras_names import cpp_names, renamed_json

log = logging.getLogger(__name__)

# Keras/QKeras classes accepted on chip; anything else is refused with its name.
QUANTIZED_WEIGHT_LAYERS = {"QDense", "QConv2D", "QDenseBatchnorm", "QConv2DBatchnorm"}
PASSIVE_LAYERS = {"InputLayer", "Flatten", "Reshape", "Dropout"}
ACTIVATIONS = {"relu", "linear"}
QUANTIZERS = {"quantized_bits", "quantized_relu"}
# BatchNormalization constants: wide enough that float32 parameters are (almost always) exact.
BN_WIDTH = 32


def _quantizer_name(q) -> str | None:
    if q is None:
        return None
    if isinstance(q, str):
        return q.split("(")[0]
    if isinstance(q, dict):
        return q.get("class_name")
    return type(q).__name__


def _activation_name(layer) -> str:
    act = layer.get_config().get("activation", "linear")
    if isinstance(act, dict):
        act = act.get("class_name") or act.get("config", {}).get("name")
    return _quantizer_name(act) or "linear"


def check_keras(model) -> None:
    """Refuse layers that cannot go on chip bit-exactly, naming the layer and its type."""
    prev = None
    for layer in model.layers:
        cls = type(layer).__name__
        name = layer.name
        if cls in PASSIVE_LAYERS:
            pass
        elif cls in QUANTIZED_WEIGHT_LAYERS or cls in ("FQDense", "FQConv2D"):
            cfg = layer.get_config()
            for key in ("kernel_quantizer", "bias_quantizer"):
                if key == "bias_quantizer" and not cfg.get("use_bias", True):
                    continue
                if _quantizer_name(cfg.get(key)) != "quantized_bits":
                    raise CodesignError(
                        f"layer {name} ({cls}) has {key}={cfg.get(key)!r}: on-chip weights need quantized_bits")
            act = _activation_name(layer)
            if act not in ACTIVATIONS | QUANTIZERS:
                raise CodesignError(f"layer {name} ({cls}) has activation {act!r}, not supported on chip")
        elif cls == "QActivation":
            act = _activation_name(layer)
            if act not in QUANTIZERS | ACTIVATIONS:
                raise CodesignError(f"layer {name} (QActivation) uses {act!r}; supported: quantized_bits, quantized_relu")
        elif cls == "Activation" or cls == "ReLU":
            act = "relu" if cls == "ReLU" else _activation_name(layer)
            cfg = layer.get_config()
            if act not in ACTIVATIONS or (cls == "ReLU" and (cfg.get("max_value") or cfg.get("negative_slope")
                                                             or cfg.get("threshold"))):
                raise CodesignError(f"layer {name} ({cls} {act}) is not supported on chip (only relu and linear)")
        elif cls == "BatchNormalization":
            pcls = type(prev).__name__ if prev is not None else None
            if pcls not in QUANTIZED_WEIGHT_LAYERS | {"FQDense", "FQConv2D"}:
                raise CodesignError(f"layer {name} (BatchNormalization) must follow a quantized Dense/Conv2D layer")
        elif cls in ("Dense", "Conv2D"):
            raise CodesignError(
                f"layer {name} ({cls}) is a float layer on chip: use Q{cls} with kernel_quantizer and bias_quantizer")
        else:
            raise CodesignError(f"layer {name} ({cls}) is not supported on chip")
        prev = layer


def onchip_part(model):
    """Drop a trailing softmax: the chip outputs logits and argmax (the classifier's decision) is unchanged."""
    last = model.layers[-1]
    if type(last).__name__ in ("Activation", "Softmax") and (
            type(last).__name__ == "Softmax" or _activation_name(last) == "softmax"):
        import tensorflow as tf

        log.info("dropping the final softmax %s: it is not on chip (logits out, same argmax)", last.name)
        return tf.keras.Model(model.inputs, last.input, name=model.name)
    return model


def strip_fkeras(model):
    """FKeras' FQDense/FQConv2D are QKeras layers with extra constructor arguments: rebuild them as QDense/QConv2D."""
    if not any(type(l).__name__ in ("FQDense", "FQConv2D") for l in model.layers):
        return model
    import tensorflow as tf
    from qkeras import QConv2D, QDense

    def clone(layer):
        cfg = layer.get_config()
        cls = type(layer).__name__
        if cls in ("FQDense", "FQConv2D"):
            for key in ("ber", "bit_loc", "accum_faults"):
                cfg.pop(key, None)
            return (QDense if cls == "FQDense" else QConv2D).from_config(cfg)
        return layer.__class__.from_config(cfg)

    clone_model = tf.keras.models.clone_model(model, clone_function=clone)
    clone_model.set_weights(model.get_weights())
    return clone_model


def input_type_of(model) -> FixedType:
    """The input port type: the input quantizer of the first layer if there is one (QKeras rounds to nearest-even
    and clips, i.e. AP_RND_CONV/AP_SAT; AP_SAT_SYM when symmetric), else hls4ml's default ``ap_fixed<16,6>``."""
    from qkeras.quantizers import quantized_bits

    for layer in model.layers:
        cls = type(layer).__name__
        if cls in ("InputLayer",):
            continue
        if cls == "QActivation" and isinstance(layer.quantizer, quantized_bits):
            q = layer.quantizer
            if q.alpha not in (None, 1, 1.0):
                break
            signed = bool(q.keep_negative)
            overflow = "SAT_SYM" if getattr(q, "symmetric", 0) else "SAT"  # symmetric drops the most negative code
            return FixedType(int(q.bits), int(q.integer) + int(signed), signed, "RND_CONV", overflow)
        break
    return FixedType(16, 6)


def _bn_type(values: np.ndarray) -> FixedType:
    """A signed type with enough integer bits for ``values`` and the rest of BN_WIDTH as fraction."""
    vmax = float(np.max(np.abs(values))) if values.size else 0.0
    integer = max(1, int(np.floor(np.log2(vmax))) + 2) if vmax > 0 else 1
    return FixedType(BN_WIDTH, integer, True, "RND_CONV", "SAT")


def _codes(var, ty: FixedType) -> np.ndarray:
    """Codes of an hls4ml weight exactly as its C++ header spells them (decimal text with `frac` digits)."""
    text = [var.precision_fmt.format(v) for v in np.asarray(var.data, dtype=np.float64).reshape(-1)]
    vals = np.array([float(t) for t in text], dtype=np.float64).reshape(np.shape(var.data))
    return quantize_float(vals, ty)


def to_hls4ml(model, input_type: FixedType | None = None, output_dir: str | None = None, backend: str = "Vivado",
              project_name: str = "myproject"):
    """hls4ml ModelGraph of a (checked, FKeras-stripped) QKeras model, with codesign's precision choices."""
    input_type = input_type or input_type_of(model)
    return _to_hls4ml(cpp_named(model), input_type, output_dir, backend, project_name)


class _CppNamed:
    """What hls4ml reads of a Keras 2 model (``to_json``, ``get_layer``) with every layer named by its C++
    identifier (:func:`codesign.names.cpp_ident`): hls4ml pastes layer names into C++ type and variable names, and
    Keras accepts names (``a-b``, ``1abc``, ``x\\``) that would not compile. Plain names are unchanged; the QNet,
    built from the hls4ml graph, carries the mangled names (:func:`codesign.names.unmangle` reads them back).

    A view, not a renamed copy: rebuilding the model would have TensorFlow check every name as a name scope (it
    rejects identifiers that start with ``_``), and renaming layers in place desynchronizes Keras' own node table.
    """

    def __init__(self, model, rename: dict):
        self._model, self._rename = model, rename
        self._back = {v: k for k, v in rename.items()}

    def __getattr__(self, attr):
        return getattr(self._model, attr)

    def get_layer(self, name=None, index=None):
        return self._model.get_layer(self._back.get(name, name), index)

    def to_json(self, **kw) -> str:
        return renamed_json(self._model, self._rename)


def cpp_named(model):
    """The model as hls4ml should read it (itself when every layer name is already a C++ identifier)."""
    rename = cpp_names(model)
    return model if all(k == v for k, v in rename.items()) else _CppNamed(model, rename)


def _to_hls4ml(model, input_type, output_dir, backend, project_name):
    import hls4ml

    with quiet_stdout():
        cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    names = cpp_names(model)
    in_name = names[model.layers[0].name]
    cfg["LayerName"].setdefault(in_name, {}).setdefault("Precision", {})["result"] = str(input_type)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            w = layer.get_weights()
            gamma, beta, mean, var = (w if len(w) == 4 else [np.ones_like(w[-2]), *w])
            eps = layer.epsilon
            scale = (gamma / np.sqrt(var + eps)).astype(np.float32)
            bias = (beta - mean * scale).astype(np.float32)
            prec = cfg["LayerName"].setdefault(names[layer.name], {}).setdefault("Precision", {})
            prec["scale"] = str(_bn_type(scale))
            prec["bias"] = str(_bn_type(bias))
    out = output_dir or tempfile.mkdtemp(prefix="codesign-hls4ml-")
    with quiet_stdout():
        try:
            graph = hls4ml.converters.convert_from_keras_model(
                model, hls_config=cfg, output_dir=out, backend=backend, io_type="io_parallel",
                project_name=project_name)
        except Exception as exc:  # hls4ml raises bare Exception for unsupported layers
            raise CodesignError(f"hls4ml cannot convert the model: {exc}") from None
    return graph


@contextlib.contextmanager
def quiet_stdout():
    """hls4ml prints its whole config to stdout; keep the CLI's stdout for results."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _t(layer, name: str) -> FixedType:
    return FixedType.from_hls4ml(layer.types[name].precision)


def from_graph(graph, name: str, keras_model=None) -> QNet:
    """QNet from an hls4ml ModelGraph (io_parallel, channels last)."""
    layers = []
    input_type = input_shape = None
    use_bias = {}
    if keras_model is not None:
        names = cpp_names(keras_model)
        use_bias = {names[l.name]: l.get_config().get("use_bias", True) for l in keras_model.layers}
    for hl in graph.get_layers():
        cls = hl.class_name
        out_var = hl.get_output_variable()
        shape = tuple(int(s) for s in out_var.shape)
        if cls == "Input":
            input_type, input_shape = FixedType.from_hls4ml(out_var.type.precision), shape
            continue
        out_type = FixedType.from_hls4ml(out_var.type.precision)
        if cls in ("Dense", "Conv2D", "Conv2DBatchnorm", "DenseBatchnorm"):
            act = hl.get_attr("activation", "linear")
            if act not in (None, "linear"):
                raise CodesignError(f"layer {hl.name} ({cls}) kept a fused activation {act!r}")
            kt, bt = _t(hl, "weight_t"), _t(hl, "bias_t")
            kw = dict(name=hl.name, out_type=out_type, out_shape=shape,
                      kernel=_codes(hl.weights["weight"], kt), bias=_codes(hl.weights["bias"], bt),
                      kernel_type=kt, bias_type=bt, accum_type=_t(hl, "accum_t"),
                      use_bias=bool(use_bias.get(hl.name, True)))
            if cls.startswith("Conv2D"):
                if hl.get_attr("data_format", "channels_last") != "channels_last":
                    raise CodesignError(f"layer {hl.name}: only channels_last convolutions are supported")
                layers.append(Conv2D(**kw, strides=(hl.get_attr("stride_height"), hl.get_attr("stride_width")),
                                     pads=(hl.get_attr("pad_top"), hl.get_attr("pad_bottom"),
                                           hl.get_attr("pad_left"), hl.get_attr("pad_right"))))
            else:
                layers.append(Dense(**kw))
        elif cls in ("Activation", "ReLU"):
            act = hl.get_attr("activation")
            if act not in ACTIVATIONS:
                raise CodesignError(f"layer {hl.name} ({cls} {act}) is not supported on chip (only relu and linear)")
            layers.append(Activation(hl.name, out_type, shape, function=act))
        elif cls == "BatchNormalization":
            st, bt = _t(hl, "scale_t"), _t(hl, "bias_t")
            layers.append(BatchNorm(hl.name, out_type, shape, scale=_codes(hl.weights["scale"], st),
                                    bias=_codes(hl.weights["bias"], bt), scale_type=st, bias_type=bt))
        elif cls == "Reshape":
            layers.append(Reshape(hl.name, out_type, shape))
        else:
            raise CodesignError(f"layer {hl.name} ({cls}) is not supported on chip")
    if input_type is None:
        raise CodesignError("hls4ml graph has no input layer")
    from codesign.ir.thresholds import fold_batchnorm

    layers = fold_batchnorm(layers, input_type, keras_model)
    for layer in layers:
        if isinstance(layer, Dense) and layer.kernel.shape[-1] != layer.out_shape[-1]:
            raise CodesignError(f"layer {layer.name}: kernel shape {layer.kernel.shape} does not match its output")
    return QNet(name, input_shape, input_type, layers)


def from_keras(model, name: str | None = None, input_type: FixedType | str | None = None,
               backend: str = "Vivado") -> QNet:
    """QNet of a QKeras model (the on-chip part: an encoder or a classifier)."""
    if isinstance(input_type, str):
        input_type = FixedType.parse(input_type)
    model = onchip_part(model)
    check_keras(model)
    model = strip_fkeras(model)
    with tempfile.TemporaryDirectory(prefix="codesign-hls4ml-") as tmp:
        graph = to_hls4ml(model, input_type, output_dir=os.path.join(tmp, "prj"), backend=backend)
        qnet = from_graph(graph, name or model.name, keras_model=model)
    return qnet
