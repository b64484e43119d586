"""Shared glue for codesign's own hls4ml layers (MultiThreshold, ClippedReLU): registration through hls4ml's
extension API and the swap of a converted node for one of them."""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "hls_templates"


def register_kind(kind: str, layer_cls, config_template: str, function_template: str, header: str,
                  function_params=None) -> None:
    """Register layer class ``layer_cls`` as ``kind`` with its config and call templates and its C++ header
    (``hls_templates/<header>``) for the Vivado and Vitis backends. ``function_params(node, params)`` may add
    names to the call template's parameters."""
    from hls4ml.backends import get_backend
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
    from hls4ml.model.layers import register_layer

    class ConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(layer_cls)
            self.template = config_template

        def format(self, node):
            return self.template.format(**self._default_config_params(node))

    class FunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(layer_cls, include_header=[f"nnet_utils/{header}"])
            self.template = function_template

        def format(self, node):
            params = self._default_function_params(node)
            if function_params is not None:
                function_params(node, params)
            return self.template.format(**params)

    path = TEMPLATES / header
    if not path.is_file():
        from codesign.errors import CodesignError

        raise CodesignError(f"{path} is missing: codesign's HLS templates live in the repository; install it "
                            "from a checkout with `pip install -e .`")
    register_layer(kind, layer_cls)
    for name in ("Vivado", "Vitis"):
        backend = get_backend(name)
        backend.register_template(ConfigTemplate)
        backend.register_template(FunctionTemplate)
        backend.register_source(path)


def swap_node(graph, old, kind: str, name: str, attrs: dict, inputs: list):
    """Replace node ``old`` by a new ``kind`` node reading ``inputs``, with ``old``'s outputs and index: its output
    keeps the C++ name (layerN_out) that later layers and in-place aliases (io_parallel Reshape/Flatten) were
    rendered with. Call ``graph.apply_flow('<backend>:apply_templates', reapply='single')`` after the last swap."""
    from hls4ml.model.optimizer import get_optimizer

    next_layer = graph.next_layer
    graph.next_layer = lambda: old.index
    try:
        node = graph.make_node(kind, name, attrs, list(inputs), list(old.outputs))
    finally:
        graph.next_layer = next_layer
    graph.replace_node(old, node)
    get_optimizer(f"{graph.config.backend.name.lower()}:transform_types").transform(graph, node)
    return node
