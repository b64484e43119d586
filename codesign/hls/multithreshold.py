"""hls4ml layer for QNet's Threshold (BatchNorm + quantizer as exact thresholds), hooked in by the extension API.

The C++ lives in ``hls_templates/nnet_multithreshold.h``; :func:`install` swaps each BatchNormalization +
Activation pair of a converted ModelGraph for one MultiThreshold node carrying QNet's thresholds.
"""

from __future__ import annotations

import numpy as np

from codesign.hls.extension import register_kind, swap_node
from codesign.ir.fixed import FixedType
_registered = False

config_template = """struct config{index} : nnet::multithreshold_config {{
    static const unsigned n_in = {n_in};
    static const unsigned n_filt = {n_filt};
    static const unsigned n_levels = {n_levels};
    static const int min_code = {min_code};
    typedef {thresholds_t.name} threshold_t;
    typedef {direction_t.name} direction_t;
}};\n"""

function_template = "nnet::multithreshold<{input_t}, {output_t}, {config}>({input}, {output}, {thresholds}, {direction});"


def _register():
    global _registered
    if _registered:
        return
    from hls4ml.model.attributes import Attribute, TypeAttribute, WeightAttribute
    from hls4ml.model.layers import Layer

    class MultiThreshold(Layer):
        _expected_attributes = [
            Attribute("n_in"), Attribute("n_filt"), Attribute("n_levels"), Attribute("min_code"),
            WeightAttribute("thresholds"), WeightAttribute("direction"),
            TypeAttribute("thresholds"), TypeAttribute("direction"),
        ]

        def initialize(self):
            self.add_output_variable(self.get_input_variable().shape, precision=self.get_attr("result_precision"))
            self.add_weights_variable(name="thresholds", var_name="t{index}", data=self.get_attr("thresholds_data"),
                                      precision=self.get_attr("thresholds_precision"))
            self.add_weights_variable(name="direction", var_name="d{index}", data=self.get_attr("direction_data"),
                                      precision=self.get_attr("direction_precision"))

    def weight_names(node, params):
        params["thresholds"] = node.get_weights("thresholds").name
        params["direction"] = node.get_weights("direction").name

    register_kind("MultiThreshold", MultiThreshold, config_template, function_template, "nnet_multithreshold.h",
                  weight_names)
    _registered = True


def _precision(t: FixedType):
    from hls4ml.model.types import FixedPrecisionType

    return FixedPrecisionType(t.width, t.integer, t.signed, t.rounding, t.overflow)


def install(graph, qnet) -> None:
    """Replace BatchNormalization + Activation pairs of ``graph`` by MultiThreshold nodes from ``qnet``."""
    from hls4ml.model.types import IntegerPrecisionType

    from codesign.ir.qnet import Threshold

    layers = [l for l in qnet.layers if isinstance(l, Threshold)]
    if not layers:
        return
    _register()
    backend = graph.config.backend.name.lower()
    for i, layer in enumerate(qnet.layers):
        if not isinstance(layer, Threshold):
            continue
        bn, act = graph.graph[layer.bn], graph.graph[layer.name]
        in_type = qnet.in_type(i)
        # Room for the "never"/"always" sentinels just outside the input range, and for negated thresholds.
        thr_type = FixedType(in_type.width + 2, in_type.integer + 2, True)
        codes = layer.thresholds * layer.direction[:, None]  # x' >= t  <=>  x <= -t for negative slopes
        attrs = {
            "n_in": int(np.prod(layer.out_shape)), "n_filt": int(layer.thresholds.shape[0]),
            "n_levels": int(layer.thresholds.shape[1]), "min_code": int(layer.out_type.min_code),
            "thresholds_data": thr_type.to_float(codes.reshape(-1)),
            "thresholds_precision": _precision(thr_type),
            "direction_data": layer.direction.astype(np.float64),
            "direction_precision": IntegerPrecisionType(2, signed=True),
            "result_precision": act.get_output_variable().type.precision,
        }
        graph.remove_node(bn)
        swap_node(graph, act, "MultiThreshold", layer.name, attrs, bn.inputs)
    # Downstream calls name their input variable by layer index: re-render every layer's C++ from its template.
    graph.apply_flow(f"{backend}:apply_templates", reapply="single")
