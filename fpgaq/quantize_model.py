"""Turn a float Keras model into its quantized twin (QKeras' ``model_quantize``).

The config maps layer selectors to quantizer settings, looked up in this
order for each layer: its exact name, a regular expression that fully
matches its name, its quantized class name (``"QDense"``), its float class
name (``"Dense"``).  Activation layers and activation arguments are mapped
through the ``"QActivation"`` entry, a dict from Keras activation names to
quantizers (``{"relu": "quantized_relu(4)"}``).  Layers without a matching
entry stay as they are, and the result says which ones.
"""

from __future__ import annotations

import re
from typing import Any

import keras

from fpgaq.keras_walk import activation_name
from fpgaq.layers import (
    QActivation,
    QBatchNormalization,
    QConv1D,
    QConv2D,
    QConv2DTranspose,
    QDense,
    QDepthwiseConv2D,
    QSeparableConv1D,
    QSeparableConv2D,
)

__all__ = ["quantize_model"]

# float class -> (quantized class, keys of the quantizer arguments it takes)
_MAPPING: dict[str, tuple[type, tuple[str, ...]]] = {
    "Dense": (QDense, ("kernel_quantizer", "bias_quantizer")),
    "Conv1D": (QConv1D, ("kernel_quantizer", "bias_quantizer")),
    "Conv2D": (QConv2D, ("kernel_quantizer", "bias_quantizer")),
    "Conv2DTranspose": (QConv2DTranspose, ("kernel_quantizer", "bias_quantizer")),
    "DepthwiseConv2D": (QDepthwiseConv2D, ("depthwise_quantizer", "bias_quantizer")),
    "SeparableConv1D": (QSeparableConv1D, ("depthwise_quantizer", "pointwise_quantizer", "bias_quantizer")),
    "SeparableConv2D": (QSeparableConv2D, ("depthwise_quantizer", "pointwise_quantizer", "bias_quantizer")),
    "BatchNormalization": (
        QBatchNormalization,
        ("gamma_quantizer", "beta_quantizer", "mean_quantizer", "variance_quantizer"),
    ),
}
_ACTIVATION_LAYERS = ("Activation", "ReLU")
_ALLOWED_KEYS = {"activation", *(k for _, keys in _MAPPING.values() for k in keys)}


def _activation_name(act: Any) -> str | None:
    """The activation's name, ``None`` for none or linear (nothing to quantize)."""
    name = activation_name(act)
    return None if name == "linear" else name


def _find_entry(layer: keras.layers.Layer, config: dict[str, Any], qclass: str | None) -> tuple[str, Any] | None:
    if layer.name in config:
        return layer.name, config[layer.name]
    for key, value in config.items():
        if key in ("QActivation",) or key in _MAPPING or (qclass and key == qclass):
            continue
        try:
            if re.fullmatch(key, layer.name):
                return key, value
        except re.error:
            continue
    cls = type(layer).__name__
    for key in (qclass, cls):
        if key and key in config:
            return key, config[key]
    return None


def _validate(entry_key: str, entry: Any, layer: keras.layers.Layer, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ValueError(
            f"quantize_model: config entry {entry_key!r} for layer {layer.name!r} must be a dict of quantizer "
            f"arguments, e.g. {{'kernel_quantizer': 'quantized_bits(6,0,alpha=1)'}}, got {entry!r}"
        )
    unknown = set(entry) - set(allowed) - {"activation"}
    if unknown:
        raise ValueError(
            f"quantize_model: config entry {entry_key!r} gives {sorted(unknown)} for layer {layer.name!r} "
            f"({type(layer).__name__}); it takes {sorted((*allowed, 'activation'))}"
        )
    return entry


def quantize_model(
    model: keras.Model, config: dict[str, Any], transfer_weights: bool = True
) -> tuple[keras.Model, dict[str, str]]:
    """Clone ``model`` with quantized layers; returns the new model and, per layer,
    what happened to it (``"QDense"``, ``"unchanged"``, ...).

    With ``transfer_weights`` the float weights are copied, so the quantized
    twin starts from the trained float model (the usual QAT recipe).
    """
    if not isinstance(config, dict):
        raise TypeError(f"quantize_model: config must be a dict, got {type(config).__name__}")
    act_map: dict[str, Any] = dict(config.get("QActivation", {}) or {})
    report: dict[str, str] = {}

    def quantized_activation(act: Any, entry: dict[str, Any] | None) -> Any:
        if entry and "activation" in entry:
            return entry["activation"]
        name = _activation_name(act)
        if name is None:
            return None
        return act_map.get(name, act)

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        cls = type(layer).__name__
        layer_config = layer.get_config()
        if cls in _MAPPING:
            qclass, keys = _MAPPING[cls]
            found = _find_entry(layer, config, qclass.__name__)
            if found is None:
                report[layer.name] = "unchanged (no config entry)"
                return layer.__class__.from_config(layer_config)
            entry = _validate(found[0], found[1], layer, keys)
            kwargs = {k: v for k, v in entry.items() if k in keys}
            if "activation" in layer_config:
                layer_config["activation"] = quantized_activation(layer.activation, entry)
            layer_config.pop("quantization_config", None)
            new = qclass(**{**layer_config, **kwargs})
            report[layer.name] = qclass.__name__
            return new
        if cls in _ACTIVATION_LAYERS:
            name = "relu" if cls == "ReLU" else _activation_name(layer.activation)
            found = _find_entry(layer, config, "QActivation")
            spec = None
            if found is not None and isinstance(found[1], dict) and "activation" in found[1]:
                spec = found[1]["activation"]
            elif found is not None and isinstance(found[1], str):
                spec = found[1]
            elif name in act_map:
                spec = act_map[name]
            if spec is None or (cls == "ReLU" and spec == "relu"):
                report[layer.name] = "unchanged (no activation quantizer)"
                return layer.__class__.from_config(layer_config)
            report[layer.name] = "QActivation"
            return QActivation(spec, name=layer.name)
        report[layer.name] = "unchanged"
        return layer.__class__.from_config(layer_config)

    qmodel = keras.models.clone_model(model, clone_function=clone)
    if transfer_weights:
        for old, new in zip(model.layers, qmodel.layers):
            old_w = old.get_weights()
            new_w = new.get_weights()
            if len(old_w) == len(new_w) and all(a.shape == b.shape for a, b in zip(old_w, new_w)):
                new.set_weights(old_w)
            elif old_w:
                raise ValueError(
                    f"quantize_model: cannot transfer weights of layer {old.name!r}: float weights "
                    f"{[w.shape for w in old_w]} vs quantized {[w.shape for w in new_w]}; pass transfer_weights=False"
                )
    return qmodel, report
