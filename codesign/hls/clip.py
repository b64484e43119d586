"""hls4ml layer for QNet's clipped ReLU (``Activation.clip``), hooked in by the extension API like MultiThreshold.

The C++ lives in ``hls_templates/nnet_clipped_relu.h``; :func:`install` swaps the hls4ml ReLU node of every clipped
QNet activation for a ClippedReLU node carrying the threshold code. The QKeras model has no clipping (it is a
codesign mitigation), so the swap happens on the converted graph.
"""

from __future__ import annotations

from codesign.hls.extension import register_kind, swap_node

_registered = False

config_template = """struct config{index} : nnet::clipped_relu_config {{
    static const unsigned n_in = {n_in};
    static const long clip_code = {clip_code};
}};\n"""

function_template = "nnet::clipped_relu<{input_t}, {output_t}, {config}>({input}, {output});"


def _register():
    global _registered
    if _registered:
        return
    from hls4ml.model.attributes import Attribute
    from hls4ml.model.layers import Layer

    class ClippedReLU(Layer):
        _expected_attributes = [Attribute("n_in"), Attribute("clip_code")]

        def initialize(self):
            self.add_output_variable(self.get_input_variable().shape, precision=self.get_attr("result_precision"))

    register_kind("ClippedReLU", ClippedReLU, config_template, function_template, "nnet_clipped_relu.h")
    _registered = True


def install(graph, qnet) -> None:
    """Replace the ReLU node of every clipped QNet activation by a ClippedReLU node."""
    from codesign.ir.qnet import Activation

    clipped = [l for l in qnet.layers if isinstance(l, Activation) and l.clip is not None]
    if not clipped:
        return
    _register()
    backend = graph.config.backend.name.lower()
    for layer in clipped:
        act = graph.graph[layer.name]
        if act.get_attr("activation") != "relu":
            raise RuntimeError(f"{layer.name}: a clipped activation must be a ReLU in the hls4ml graph")
        attrs = {"n_in": int(act.get_attr("n_in")), "clip_code": int(layer.clip),
                 "result_precision": act.get_output_variable().type.precision}
        swap_node(graph, act, "ClippedReLU", layer.name, attrs, act.inputs)
    graph.apply_flow(f"{backend}:apply_templates", reapply="single")
