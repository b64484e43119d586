"""Keras layer names as TensorFlow and hls4ml need them, and the user's names behind them.

Keras accepts layer names that TensorFlow cannot run (``x\\``: a node name must match :data:`TF_NODE_NAME`) and
names that hls4ml pastes into C++ unchanged (``a-b``, ``1abc``). A model whose names TensorFlow rejects is rebuilt
once, at load time, under TensorFlow-safe names (:func:`tf_safe_names`, :func:`renamed_h5`); the user's names stay
attached to it
(:func:`user_name`), and every C++ or Verilog identifier is made from the user's name
(:func:`codesign.names.cpp_ident`), so :func:`codesign.names.unmangle` reads the user's name back from any output.
"""

from __future__ import annotations

import json
import re

from codesign.names import cpp_ident

# TensorFlow's own rule for node names (a layer name becomes one when the model runs); Keras does not check it.
TF_NODE_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\-/>]*")
_USER_NAMES = "_codesign_user_names"


def user_name(model, name: str) -> str:
    """The name the user gave the layer now called ``name``."""
    return getattr(model, _USER_NAMES, {}).get(name, name)


def renamed_json(model, rename: dict) -> str:
    """The model's JSON architecture with layers renamed (references between layers included)."""
    return json.dumps(_renamed_arch(json.loads(model.to_json()), rename))


def _renamed_arch(arch: dict, rename: dict) -> dict:
    cfg = arch["config"]
    for layer in cfg["layers"]:
        layer["config"]["name"] = rename.get(layer["config"]["name"], layer["config"]["name"])
        if "name" in layer:
            layer["name"] = layer["config"]["name"]
        for node in layer.get("inbound_nodes", []):
            for ref in node:
                ref[0] = rename.get(ref[0], ref[0])
    for key in ("input_layers", "output_layers"):
        refs = cfg.get(key, [])
        for ref in refs if refs and isinstance(refs[0], list) else [refs] if refs else []:
            ref[0] = rename.get(ref[0], ref[0])
    return arch


def tf_safe_names(model) -> dict:
    """{layer name TensorFlow cannot run: a TensorFlow-safe name} (empty when every name is usable)."""
    taken = {layer.name for layer in model.layers}
    rename = {}
    for layer in model.layers:
        if TF_NODE_NAME.fullmatch(layer.name):
            continue
        new = cpp_ident(layer.name).lstrip("_") or "layer"  # TensorFlow: no leading '_' in a root name scope
        while new in taken:
            new += "_"
        taken.add(new)
        rename[layer.name] = new
    return rename


def renamed_h5(src, dst, rename: dict) -> None:
    """A copy of the HDF5 model file ``src`` whose architecture has the layers renamed. The weights stay where they
    are: Keras loads a full model's weights layer by layer in order, not by name."""
    import shutil

    import h5py

    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as h5:
        raw = h5.attrs["model_config"]
        arch = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        h5.attrs["model_config"] = json.dumps(_renamed_arch(arch, rename))


def mark_user_names(model, rename: dict):
    """Attach the user's names (``rename``: user name -> name in ``model``) to a renamed model."""
    object.__setattr__(model, _USER_NAMES, {new: old for old, new in rename.items()})  # past Keras' tracking
    return model


def cpp_names(model) -> dict:
    """{layer name in ``model``: C++ identifier of the user's name}."""
    return {layer.name: cpp_ident(user_name(model, layer.name)) for layer in model.layers}
