"""Models saved by qkeras-v3 (the Keras 3 port of QKeras) as ``.keras``, read without qkeras-v3.

A qkeras-v3 ``.keras`` file is a zip of ``config.json`` (Keras 3's serialized model, with
qkeras-v3's registered classes ``qkeras>QDense``, ``qkeras>quantized_bits``, ...) and
``model.weights.h5``.  Keras cannot load it without qkeras-v3 (and qkeras-v3 cannot reload some of
its own files: ``quantized_hswish`` writes a setting its constructor refuses, and the folded
batchnorm layers fail to rebuild).  The layers and quantizers are QKeras', so this module only
reads the Keras 3 layout and hands every layer to :mod:`fpgaq.keras2_format`, which owns the
mapping of QKeras' classes, settings and quantizers onto fpgaq's (and its error messages) for
all three importers.

Why weights are matched by position: Keras 3 stores a layer's variables as ``vars/0``,
``vars/1``, ... under a path made from the layer's class name, not its own name.  The order is the
order in which the qkeras-v3 class creates them (:data:`_VARIABLE_ORDER`, read off qkeras-v3
1.2.1); the folded-batchnorm layers keep their batch normalization as a nested layer.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import zipfile
from typing import Any

import h5py
import keras
import numpy as np

from fpgaq.keras2_format import (
    LayerSpec,
    QKerasImportError,
    Structure,
    batchnorm_weights,
    build,
    class_name_of,
    refs,
    set_weights,
)

__all__ = ["QKerasV3ImportError", "is_qkeras_v3_file", "load_qkeras_v3"]


class QKerasV3ImportError(QKerasImportError):
    """A qkeras-v3 ``.keras`` file, layer or setting that fpgaq cannot map."""


#: Variables each qkeras-v3 class creates, in order; ``None`` marks ones fpgaq does not need.
_VARIABLE_ORDER: dict[str, tuple[str | None, ...]] = {
    "QDense": ("kernel", "bias"),
    "QConv1D": ("kernel", "bias"),
    "QConv2D": ("kernel", "bias"),
    "QConv2DTranspose": ("kernel", "bias"),
    "QDepthwiseConv2D": ("depthwise_kernel", "bias"),
    "QSeparableConv1D": ("depthwise_kernel", "pointwise_kernel", "bias"),
    "QSeparableConv2D": ("depthwise_kernel", "pointwise_kernel", "bias"),
    "QBatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance"),
    "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance"),
    "Dense": ("kernel", "bias"),
    "Conv1D": ("kernel", "bias"),
    "Conv2D": ("kernel", "bias"),
    "DepthwiseConv2D": ("depthwise_kernel", "bias"),
    "QDenseBatchnorm": ("kernel", "bias"),
    "QConv2DBatchnorm": ("kernel", "bias"),
    "QDepthwiseConv2DBatchnorm": ("depthwise_kernel", "bias", None),
}

#: Keras 3 settings fpgaq's layers do not take, at the values where they change nothing.
_KERAS3_INERT: dict[str, tuple[Any, ...]] = {
    "quantization_config": (None,),
    "lora_rank": (None,),
    "lora_alpha": (None,),
    "optional": (False,),
}


def is_qkeras_v3_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a Keras 3 ``.keras`` zip whose config names qkeras-v3 classes."""
    path = os.fspath(path)
    if not (os.path.isfile(path) and zipfile.is_zipfile(path)):
        return False
    with zipfile.ZipFile(path) as z:
        if "config.json" not in z.namelist():
            return False
        text = z.read("config.json").decode("utf8")
    return bool(re.search(r'"(module|registered_name)": "qkeras[.>]', text))


# ----------------------------------------------------------------------------------- structure
def _history(value: Any) -> list[tuple[str, int, int]]:
    """The ``keras_history`` of every tensor in a Keras 3 call argument, in order."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            name, node, index = value["config"]["keras_history"]
            return [(str(name), int(node), int(index))]
        return [ref for v in value.values() for ref in _history(v)]
    if isinstance(value, (list, tuple)):
        return [ref for v in value for ref in _history(v)]
    return []


def _spec(entry: dict[str, Any]) -> LayerSpec:
    config = dict(entry.get("config", {}))
    name = str(entry.get("name") or config.get("name", ""))
    class_name = class_name_of(entry)
    for key, inert in _KERAS3_INERT.items():
        if key in config and config[key] in inert:
            del config[key]
    nodes = []
    for node in entry.get("inbound_nodes", []):
        kwargs = node.get("kwargs", {}) if isinstance(node, dict) else {}
        if _history(kwargs):
            raise QKerasV3ImportError(
                f"layer {name!r} ({class_name}): is called with tensors as keyword arguments {sorted(kwargs)}; "
                "only positional inputs are supported"
            )
        args = node.get("args", []) if isinstance(node, dict) else node
        nodes.append(_history(args))
    return LayerSpec(name, class_name, config, nodes)


def _structure(model_config: dict[str, Any]) -> Structure:
    kind = class_name_of(model_config)
    config = model_config.get("config", {})
    specs = [_spec(e) for e in config.get("layers", [])]
    if kind == "Sequential":
        if not specs or specs[0].class_name != "InputLayer":
            raise QKerasV3ImportError(
                f"Sequential model {config.get('name')!r} has no InputLayer, so its input shape is unknown; build "
                "it with keras.Input(...) as its first entry and save again"
            )
        for previous, spec in itertools.pairwise(specs):
            spec.inbound = [[(previous.name, 0, 0)]]
        return Structure(
            str(config.get("name", "sequential")), specs, [(specs[0].name, 0, 0)], [(specs[-1].name, 0, 0)]
        )
    if kind in ("Functional", "Model"):
        return Structure(
            str(config.get("name", "model")), specs, refs(config["input_layers"]), refs(config["output_layers"])
        )
    raise QKerasV3ImportError(
        f"model class {kind!r} is not supported; the file must hold a Keras 3 Sequential or Functional model"
    )


# ----------------------------------------------------------------------------------- weights
def _snake(name: str) -> str:
    """Keras 3's path name for a class: ``QConv2DBatchnorm`` -> ``q_conv2d_batchnorm``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _numbered(group: h5py.Group | None) -> list[np.ndarray]:
    if group is None or "vars" not in group:
        return []
    found = group["vars"]
    return [np.asarray(found[k]) for k in sorted((k for k in found if k.isdigit()), key=int)]


def _layer_weights(spec: LayerSpec, group: h5py.Group) -> dict[str, np.ndarray]:
    values = _numbered(group)
    if not values:
        return {}
    order = _VARIABLE_ORDER.get(spec.class_name)
    cfg = spec.config
    if order is None:
        raise QKerasV3ImportError(
            f"layer {spec.name!r} ({spec.class_name}): has {len(values)} saved variables but fpgaq does not know "
            f"the order qkeras-v3 saves them in; supported layers with weights: {', '.join(sorted(_VARIABLE_ORDER))}"
        )
    names: list[str | None] = [n for n in order if not (n == "bias" and not cfg.get("use_bias", True))]
    if spec.class_name.endswith("BatchNormalization"):
        names = list(batchnorm_weights(cfg))
    if len(names) != len(values):
        raise QKerasV3ImportError(
            f"layer {spec.name!r} ({spec.class_name}): {len(values)} saved variables, expected {len(names)} "
            f"({', '.join(str(n) for n in names)}); the file does not match qkeras-v3 1.2.1's layout"
        )
    weights = {n: v for n, v in zip(names, values) if n is not None}
    if "iteration" in group.get("vars", {}):
        weights["iteration"] = np.asarray(group["vars"]["iteration"])
    nested = group.get("batchnorm")
    if nested is not None:
        bn = _numbered(nested)
        bn_names = batchnorm_weights(cfg)
        if len(bn) != len(bn_names):
            raise QKerasV3ImportError(
                f"layer {spec.name!r} ({spec.class_name}): its batch normalization has {len(bn)} saved variables, "
                f"expected {len(bn_names)} ({', '.join(bn_names)})"
            )
        weights.update(zip(bn_names, bn))
    return weights


def _saved(structure: Structure, weights_file: h5py.File) -> dict[str, dict[str, np.ndarray]]:
    """``{layer name: {weight name: value}}`` from Keras 3's class-named paths, in config order."""
    layers = weights_file.get("layers")
    used: dict[str, int] = {}
    saved: dict[str, dict[str, np.ndarray]] = {}
    for spec in structure.layers:
        path = _snake(spec.class_name)
        if path in used:
            used[path] += 1
            path = f"{path}_{used[path]}"
        else:
            used[path] = 0
        group = None if layers is None else layers.get(path)
        if group is not None:
            saved[spec.name] = _layer_weights(spec, group)
    return saved


# ----------------------------------------------------------------------------------- public API
def load_qkeras_v3(path: str | os.PathLike[str]) -> keras.Model:
    """The fpgaq model equivalent to a ``.keras`` model saved by qkeras-v3, without qkeras-v3 installed.

    Raises :class:`QKerasV3ImportError` (a ``ValueError``) naming the layer, the setting and the fix
    for anything fpgaq cannot map.
    """
    path = os.fspath(path)
    if not is_qkeras_v3_file(path):
        raise QKerasV3ImportError(
            f"{path}: not a qkeras-v3 .keras file (a zip whose config.json names qkeras classes); load other "
            "Keras 3 files with fpgaq.load_model"
        )
    with zipfile.ZipFile(path) as z:
        model_config = json.loads(z.read("config.json"))
        weights_bytes = z.read("model.weights.h5") if "model.weights.h5" in z.namelist() else None
    if weights_bytes is None:
        raise QKerasV3ImportError(f"{path}: the archive has no model.weights.h5; save the model with model.save")
    try:
        structure = _structure(model_config)
        model, folds = build(structure)
        with h5py.File(io.BytesIO(weights_bytes), "r") as f:
            set_weights(model, folds, _saved(structure, f))
    except QKerasImportError as err:  # the shared QKeras mapping speaks of Keras 2 files; say which file this is
        text = str(err).replace("the Keras 2 model", "the qkeras-v3 model")
        raise QKerasV3ImportError(f"{path}: {text}") from None
    return model
