"""Models saved by Larq (tf.keras 2, HDF5), read without Larq: ``load_larq(path)``.

Larq trains binarized and ternary networks on Keras 2; ST Edge AI deploys
them, and fpgaq takes them too.  A Larq layer is a Keras layer whose kernel
is quantized when read (``kernel_quantizer``, ``depthwise_quantizer``) and
whose input is quantized first (``input_quantizer``).  That is exactly an
fpgaq layer with the same kernel quantizer, preceded by a ``QActivation``
holding the input quantizer, so the import rewrites the layer list that way
and then builds and fills the model with :mod:`fpgaq.keras2_format`, the
reader of Keras 2 files the QKeras importer uses too (given this module's
pad-value layer classes as ``extra_layers``).  Larq's quantizers become :mod:`fpgaq.quantizers.larq`.

``pad_values``: Larq pads a ``padding="same"`` convolution with that value
(after quantizing its input) instead of zeros.  Zero, or any value with
``padding="valid"``, is the ordinary convolution and loads silently; another
value on a ``QuantConv2D`` or ``QuantDepthwiseConv2D`` imports as
:class:`~fpgaq.larq_layers.QConv2DPadValues` /
:class:`~fpgaq.larq_layers.QDepthwiseConv2DPadValues`, which convert exactly;
on the other convolutions it is refused with a clear error.

Anything that cannot be mapped raises :class:`LarqImportError` (a
:class:`~fpgaq.qkeras_import.QKerasImportError`), naming the layer, the
setting, the value, what is supported and the fix.
"""

from __future__ import annotations

import json
import os
from typing import Any

import h5py

from fpgaq.keras2_format import (
    LayerSpec,
    QKerasImportError,
    Structure,
    build,
    class_name_of,
    h5_model_config,
    legacy_weights,
    model_structure,
    owner,
    read_model,
    set_weights,
)
from fpgaq.larq_layers import QConv2DPadValues, QDepthwiseConv2DPadValues

__all__ = [
    "LarqImportError",
    "is_larq_config",
    "is_larq_h5",
    "larq_quantizer",
    "load_larq",
    "supported_larq_layers",
    "supported_larq_quantizers",
]


class LarqImportError(QKerasImportError):
    """A Larq layer, quantizer or setting that fpgaq cannot map onto Keras 3."""


#: Larq layer class -> (fpgaq layer class, {Larq quantizer key: fpgaq quantizer key}).
_LAYERS: dict[str, tuple[str, dict[str, str]]] = {
    "QuantDense": ("QDense", {"kernel_quantizer": "kernel_quantizer"}),
    "QuantConv1D": ("QConv1D", {"kernel_quantizer": "kernel_quantizer"}),
    "QuantConv2D": ("QConv2D", {"kernel_quantizer": "kernel_quantizer"}),
    "QuantDepthwiseConv2D": ("QDepthwiseConv2D", {"depthwise_quantizer": "depthwise_quantizer"}),
    "QuantSeparableConv1D": (
        "QSeparableConv1D",
        {"depthwise_quantizer": "depthwise_quantizer", "pointwise_quantizer": "pointwise_quantizer"},
    ),
    "QuantSeparableConv2D": (
        "QSeparableConv2D",
        {"depthwise_quantizer": "depthwise_quantizer", "pointwise_quantizer": "pointwise_quantizer"},
    ),
}

#: fpgaq classes for Larq convolutions padded with a non-zero ``pad_values``.
_PADDED = {"QConv2D": "QConv2DPadValues", "QDepthwiseConv2D": "QDepthwiseConv2DPadValues"}
#: The classes of :data:`_PADDED`, which the shared Keras 2 builder does not know (QKeras never writes them).
_PADDED_CLASSES: dict[str, type] = {
    "QConv2DPadValues": QConv2DPadValues,
    "QDepthwiseConv2DPadValues": QDepthwiseConv2DPadValues,
}

#: Larq layers fpgaq has no hardware for.
_UNSUPPORTED_LAYERS = frozenset(
    {
        "QuantConv3D",
        "QuantConv2DTranspose",
        "QuantConv3DTranspose",
        "QuantLocallyConnected1D",
        "QuantLocallyConnected2D",
    }
)

#: Larq quantizer (class name or string alias) -> fpgaq quantizer name; ``None``: no quantization.
_QUANTIZERS: dict[str, str | None] = {
    "SteSign": "ste_sign",
    "ApproxSign": "approx_sign",
    "SwishSign": "swish_sign",
    "MagnitudeAwareSign": "magnitude_aware_sign",
    "SteTern": "ste_tern",
    "SteHeaviside": "ste_heaviside",
    "DoReFa": "dorefa_quantizer",
    "DoReFaQuantizer": "dorefa_quantizer",
    "NoOp": None,
    "NoOpQuantizer": None,
    **{name: name for name in ("ste_sign", "approx_sign", "swish_sign", "magnitude_aware_sign", "ste_tern")},
    **{name: name for name in ("ste_heaviside", "dorefa_quantizer")},
}

#: Each Larq quantizer's arguments that change its numbers (Larq's config key -> fpgaq's).
_ARGUMENTS: dict[str, dict[str, str]] = {
    "ste_sign": {"clip_value": "clip_value"},
    "approx_sign": {},
    "swish_sign": {"beta": "beta"},
    "magnitude_aware_sign": {"clip_value": "clip_value"},
    "ste_tern": {
        "threshold_value": "threshold_value",
        "ternary_weight_networks": "ternary_weight_networks",
        "clip_value": "clip_value",
    },
    "ste_heaviside": {"clip_value": "clip_value"},
    "dorefa_quantizer": {"k_bit": "k_bit", "mode": "mode"},
}

#: Keras layer settings every Larq quantizer config carries, and its training metrics: nothing computed depends on them.
_QUANTIZER_LAYER_KEYS = frozenset({"name", "trainable", "dtype", "metrics", "precision"})


def supported_larq_layers() -> list[str]:
    """Larq layer classes :func:`load_larq` maps (other Keras layers go through the QKeras importer's table)."""
    return sorted(_LAYERS)


def supported_larq_quantizers() -> list[str]:
    return sorted({k for k in _QUANTIZERS if k[0].isupper()})


def _quantizer(spec: LayerSpec, key: str, value: Any) -> dict[str, Any] | None:
    """fpgaq's ``{"class_name", "config"}`` for a Larq quantizer as Larq serialized it."""
    if value is None:
        return None
    if isinstance(value, str):
        larq_name, config = value, {}
    elif isinstance(value, dict) and "class_name" in value:
        larq_name, config = class_name_of(value), dict(value.get("config") or {})
    else:
        larq_name, config = repr(value), {}
    if larq_name not in _QUANTIZERS:
        raise LarqImportError(
            f"{owner(spec)}: {key}={value!r} is not a Larq quantizer fpgaq knows; supported: "
            f"{', '.join(supported_larq_quantizers())}; change the quantizer in Larq and save again"
        )
    name = _QUANTIZERS[larq_name]
    if name is None:
        return None
    arguments = _ARGUMENTS[name]
    out: dict[str, Any] = {}
    for k, v in config.items():
        if k in arguments:
            out[arguments[k]] = v
        elif k not in _QUANTIZER_LAYER_KEYS:
            raise LarqImportError(
                f"{owner(spec)}: {key} {larq_name} has setting {k}={v!r}, which fpgaq's {name} does not take; "
                f"supported: {', '.join(sorted(arguments)) or 'none'}"
            )
    return {"class_name": name, "config": out}


def larq_quantizer(value: Any) -> Any:
    """The fpgaq quantizer for a Larq quantizer as Larq serializes it (``{"class_name": "SteSign", "config": ...}``
    or an alias such as ``"ste_sign"``); ``None`` for Larq's ``NoOp``.  Raises :class:`LarqImportError`."""
    from fpgaq.quantizers import get_quantizer

    spec = LayerSpec("(none)", "quantizer", {})
    return get_quantizer(_quantizer(spec, "quantizer", value))


def _activation(spec: LayerSpec, value: Any) -> Any:
    """A Larq quantizer used as ``activation=`` becomes the fpgaq quantizer; Keras activations stay."""
    name = class_name_of(value) if isinstance(value, dict) else value
    if isinstance(name, str) and name in _QUANTIZERS:
        return _quantizer(spec, "activation", value)
    return value


def _pad_values(spec: LayerSpec, target: str) -> str:
    """The fpgaq class for a Larq convolution, given its ``pad_values`` (removed from the config unless used)."""
    value = spec.config.pop("pad_values", 0.0)
    if spec.config.get("padding") != "same" or (not isinstance(value, (list, tuple)) and float(value) == 0.0):
        return target  # Larq pads only 'same' convolutions; zeros are the ordinary padding
    if target not in _PADDED or isinstance(value, (list, tuple)):
        raise LarqImportError(
            f"{owner(spec)}: setting pad_values={value!r} with padding='same' pads the quantized input with "
            f"{value!r} instead of zeros, which fpgaq supports for QuantConv2D and QuantDepthwiseConv2D (one "
            "number) only; supported here: pad_values=0.0, or padding='valid'; retrain with pad_values=0.0, or "
            "use a QuantConv2D"
        )
    spec.config["pad_values"] = float(value)
    return _PADDED[target]


def _rewrite(spec: LayerSpec) -> list[LayerSpec]:
    """The fpgaq layer specs for one Larq layer spec: ``[QActivation(input_quantizer)?, layer]``."""
    if spec.class_name in _UNSUPPORTED_LAYERS:
        raise LarqImportError(
            f"{owner(spec)}: Larq class {spec.class_name!r} has no fpgaq equivalent; supported Larq layers: "
            f"{', '.join(supported_larq_layers())}; replace the layer in Larq and save again"
        )
    if spec.class_name not in _LAYERS:
        config = dict(spec.config)
        if "activation" in config:
            config["activation"] = _activation(spec, config["activation"])
        return [LayerSpec(spec.name, spec.class_name, config, spec.inbound)]
    target, keys = _LAYERS[spec.class_name]
    config = dict(spec.config)
    config.pop("metrics", None)  # Larq's training metrics (flip_ratio) change nothing the model computes
    converted = LayerSpec(spec.name, spec.class_name, config)
    if spec.class_name != "QuantDense":
        target = _pad_values(converted, target)
    for larq_key, fpgaq_key in keys.items():
        config[fpgaq_key] = _quantizer(converted, larq_key, config.pop(larq_key, None))
    if "activation" in config:
        config["activation"] = _activation(converted, config["activation"])
    input_quantizer = _quantizer(converted, "input_quantizer", config.pop("input_quantizer", None))
    inbound = spec.inbound
    out: list[LayerSpec] = []
    if input_quantizer is not None:
        qname = f"{spec.name}_input_quantizer"
        out.append(LayerSpec(qname, "QActivation", {"name": qname, "activation": input_quantizer}, spec.inbound))
        inbound = [[(qname, i, 0)] for i in range(len(spec.inbound))]
    out.append(LayerSpec(spec.name, target, config, inbound))
    return out


def _larq_structure(structure: Structure) -> Structure:
    layers: list[LayerSpec] = []
    for spec in structure.layers:
        layers.extend(_rewrite(spec))
    return Structure(structure.name, layers, structure.inputs, structure.outputs)


def load_larq(path: str | os.PathLike[str], weights_path: str | os.PathLike[str] | None = None) -> Any:
    """The fpgaq Keras 3 model equivalent to a Larq model saved with ``model.save("m.h5")``, or as
    ``model.to_json()`` in a file with ``weights_path`` the ``.h5`` of ``model.save_weights``.

    Larq layers become fpgaq layers with :mod:`fpgaq.quantizers.larq`'s
    quantizers (an ``input_quantizer`` becomes a ``QActivation`` named
    ``<layer>_input_quantizer`` in front of the layer); other Keras layers
    import as :func:`fpgaq.load_qkeras` imports them.  Neither Larq nor
    tf_keras is needed.  Raises :class:`LarqImportError` for what cannot be
    mapped.
    """
    path, weights_file = os.fspath(path), None if weights_path is None else os.fspath(weights_path)
    model_config, weights_file, group_path = read_model(path, weights_file)
    model, folds = build(_larq_structure(model_structure(model_config)), extra_layers=_PADDED_CLASSES)
    with h5py.File(weights_file, "r") as f:
        saved = legacy_weights(f, group_path)
    set_weights(model, folds, saved)
    return model


def is_larq_h5(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a Keras 2 HDF5 model with at least one Larq layer (or Larq quantizer)."""
    found = h5_model_config(path)
    return found is not None and is_larq_config(found[0])


def is_larq_config(text: str) -> bool:
    """Whether a Keras 2 model config (``model.to_json()`` text) has at least one Larq layer (or Larq quantizer)."""
    try:
        layers = json.loads(text).get("config", {})
    except (json.JSONDecodeError, AttributeError):
        return False
    entries = layers.get("layers", []) if isinstance(layers, dict) else layers
    larq = any(class_name_of(e) in _LAYERS or class_name_of(e) in _UNSUPPORTED_LAYERS for e in entries)
    return larq or '"larq.' in text
