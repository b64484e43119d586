"""hls4ml layer for QNet's clipped ReLU (``Activation.clip``), hooked in by the extension API like MultiThreshold.

The C++ lives in ``hls_templates/nnet_clipped_relu.h``; :func:`install` swaps the hls4ml ReLU node of every clipped
QNet activation for a ClippedReLU node carrying the threshold code. The QKeras model has no clipping (it is a
codesign mitigation), so the swap happens on the converted graph.
"""

from __future__ import annotations

from codesign.hls.multithreshold import TEMPLATES

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
    from hls4ml.backends import get_backend
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
    from hls4ml.model.attributes import Attribute
    from hls4ml.model.layers import Layer, register_layer

    class ClippedReLU(Layer):
        _expected_attributes = [Attribute("n_in"), Attribute("clip_code")]

        def initialize(self):
            self.add_output_variable(self.get_input_variable().shape, precision=self.get_attr("result_precision"))

    class ConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(ClippedReLU)
            self.template = config_template

        def format(self, node):
            return self.template.format(**self._default_config_params(node))

    class FunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(ClippedReLU, include_header=["nnet_utils/nnet_clipped_relu.h"])
            self.template = function_template

        def format(self, node):
            return self.template.format(**self._default_function_params(node))

    header = TEMPLATES / "nnet_clipped_relu.h"
    if not header.is_file():
        from codesign.errors import CodesignError

        raise CodesignError(f"{header} is missing: codesign's HLS templates live in the repository; install it "
                            "from a checkout with `pip install -e .`")
    register_layer("ClippedReLU", ClippedReLU)
    for name in ("Vivado", "Vitis"):
        backend = get_backend(name)
        backend.register_template(ConfigTemplate)
        backend.register_template(FunctionTemplate)
        backend.register_source(header)
    _registered = True


def install(graph, qnet) -> None:
    """Replace the ReLU node of every clipped QNet activation by a ClippedReLU node."""
    from hls4ml.model.optimizer import get_optimizer

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
        # Keep the activation's index so its output keeps the C++ name later layers were rendered with.
        next_layer = graph.next_layer
        graph.next_layer = lambda: act.index
        try:
            node = graph.make_node("ClippedReLU", layer.name, attrs, list(act.inputs), list(act.outputs))
        finally:
            graph.next_layer = next_layer
        graph.replace_node(act, node)
        get_optimizer(f"{backend}:transform_types").transform(graph, node)
    graph.apply_flow(f"{backend}:apply_templates", reapply="single")
