"""The Keras 2 model format, read without tf_keras: the part every fpgaq importer shares.

QKeras (:mod:`fpgaq.qkeras_import`), Larq (:mod:`fpgaq.larq_import`) and qkeras-v3
(:mod:`fpgaq.qkeras_v3_import`) files describe models the same way: a list of layer
entries with class names, configs and inbound nodes, and weights per layer.  This module
holds that shared format once: reading Keras 2 HDF5 and JSON files (:func:`read_model`),
the model structure (:class:`LayerSpec`, :class:`Structure`, :func:`model_structure`),
mapping QKeras' and Keras' layer configs onto fpgaq's Keras 3 layers and wiring them into a
model (:func:`build`), and reading and setting weights (:func:`legacy_weights`,
:func:`layered_weights`, :func:`set_weights`).  Each importer adds only what is its own:
Larq rewrites its layer specs, qkeras-v3 reads Keras 3's zip layout.

Every error is a :class:`QKerasImportError` (the base of the Larq and qkeras-v3 importers'
errors), naming the layer, the setting, what is supported and how to fix it.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import h5py
import keras
import numpy as np

from fpgaq import layers as qlayers
from fpgaq.errors import FpgaqError
from fpgaq.layers.common import activation_from_spec
from fpgaq.quantizers import QUANTIZERS, get_quantizer

__all__ = [
    "FOLDED_DEPTHWISE",
    "KERAS_LAYERS",
    "QKERAS_LAYERS",
    "DepthwiseFold",
    "LayerSpec",
    "QKerasImportError",
    "Structure",
    "as_text",
    "batchnorm_weights",
    "build",
    "class_name_of",
    "h5_model_config",
    "is_layered_weights",
    "layered_weights",
    "legacy_weights",
    "model_structure",
    "owner",
    "read_model",
    "refs",
    "saved_weights",
    "set_weights",
    "supported_layers",
]


class QKerasImportError(FpgaqError, ValueError):
    """A QKeras/Keras 2 file, layer or setting that fpgaq cannot map onto Keras 3."""


# ----------------------------------------------------------------------------------- class tables
KERAS_LAYERS: dict[str, type] = {
    name: getattr(keras.layers, name)
    for name in (
        "Dense",
        "Conv1D",
        "Conv2D",
        "Conv2DTranspose",
        "DepthwiseConv2D",
        "SeparableConv1D",
        "SeparableConv2D",
        "MaxPooling1D",
        "MaxPooling2D",
        "AveragePooling1D",
        "AveragePooling2D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
        "Flatten",
        "Reshape",
        "Add",
        "Concatenate",
        "Activation",
        "ReLU",
        "LeakyReLU",
        "Softmax",
        "BatchNormalization",
        "Dropout",
        "ZeroPadding1D",
        "ZeroPadding2D",
    )
}

#: fpgaq's twins of QKeras' layer classes, by class name (callers add their own classes through ``build``).
QKERAS_LAYERS: Mapping[str, type] = MappingProxyType({name: getattr(qlayers, name) for name in qlayers.__all__})

#: QKeras layers imported as another fpgaq layer (see the module docstring).
FOLDED_DEPTHWISE = "QDepthwiseConv2DBatchnorm"

#: QKeras' recurrent layers, saved in the corpus but not importable until fpgaq has recurrent layers (issue 17).
_RECURRENT = frozenset({"QSimpleRNN", "QLSTM", "QGRU", "QBidirectional", "SimpleRNN", "LSTM", "GRU"})

#: Layers whose call takes a list of tensors, even when the list has one entry.
_MERGE_LAYERS = frozenset({"Add", "Concatenate"})

#: Keras 2 settings that Keras 3 lacks, with the values at which they change nothing.
_INERT: dict[str, tuple[Any, ...]] = {
    "groups": (1,),
    "mask": (None,),  # seen on QConv2D / QConv2DBatchnorm in QKeras files (issue 11), not in the 0.9.0 wheel
    "fused": (None, True, False),
    "renorm": (False,),
    "renorm_clipping": (None,),
    "renorm_momentum": (),  # any value: only read when renorm=True, checked above
    "virtual_batch_size": (None,),
    "adjustment": (None,),
    "synchronized": (False,),
    "filters": (None,),  # Keras 2's DepthwiseConv2D config may carry filters=None
    "ragged": (False,),
    "sparse": (False,),
}

#: Weights QKeras saves that the imported layer does not need.
_IGNORED_WEIGHTS = frozenset(
    {"iteration", "folded_depthwise_kernel_quantized", "folded_bias_quantized", "folded_kernel_quantized"}
)

#: Keras 2 weight names that Keras 3 spells differently (depthwise kernels are ``kernel`` there).
_WEIGHT_ALIASES = {"depthwise_kernel": "kernel"}


def supported_layers() -> list[str]:
    """Every Keras 2 / QKeras class name :func:`load_qkeras` maps (besides ``InputLayer``)."""
    return sorted({*KERAS_LAYERS, *QKERAS_LAYERS, FOLDED_DEPTHWISE})


# ----------------------------------------------------------------------------------- reading files
def as_text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _names(attr: Any) -> list[str]:
    return [as_text(v) for v in np.asarray(attr).reshape(-1)]


def _parse_json(text: str, source: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise QKerasImportError(
            f"{source}: not a Keras model JSON ({err}); give the text of model.to_json() or a full-model .h5"
        ) from None
    if not isinstance(data, dict) or "class_name" not in data or "config" not in data:
        raise QKerasImportError(
            f"{source}: the JSON has no 'class_name'/'config' model entry; give the output of model.to_json()"
        )
    return data


def _check_version(version: str | None, source: str) -> None:
    if version and version.split(".")[0] not in ("1", "2"):
        raise QKerasImportError(
            f"{source}: saved by Keras {version}, not Keras 2; load Keras 3 files with keras.models.load_model "
            "after `import fpgaq`"
        )


def read_model(path: str, weights_path: str | None) -> tuple[dict[str, Any], str, str | None]:
    """``(model_config, weights file, HDF5 group path of the weights)``."""
    if not os.path.exists(path):
        raise QKerasImportError(f"{path}: no such file; give a QKeras full-model .h5 or a model.to_json() file")
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as f:
            if "model_config" not in f.attrs:
                raise QKerasImportError(
                    f"{path}: an HDF5 file without 'model_config' (weights only?); pass the model.to_json() "
                    f"file as path and this file as weights_path"
                )
            _check_version(as_text(f.attrs["keras_version"]) if "keras_version" in f.attrs else None, path)
            config = _parse_json(as_text(f.attrs["model_config"]), path)
            group = "model_weights" if "model_weights" in f else None
        if weights_path is not None:
            return config, weights_path, None
        if group is None:
            raise QKerasImportError(
                f"{path}: the file holds a model config but no 'model_weights'; pass weights_path=<weights .h5>"
            )
        return config, path, group
    with open(path, encoding="utf8") as fh:
        config = _parse_json(fh.read(), path)
    _check_version(config.get("keras_version"), path)
    if weights_path is None:
        raise QKerasImportError(
            f"{path}: a model.to_json() file carries no weights; pass weights_path=<file of model.save_weights('w.h5')>"
        )
    return config, weights_path, None


def h5_model_config(path: str | os.PathLike[str]) -> tuple[str, str] | None:
    """``(model_config JSON text, keras_version)`` of an HDF5 model file (version ``"2"`` when unrecorded), or
    ``None`` when ``path`` is not an HDF5 file holding a model config: what the importers' file tests look at."""
    path = os.fspath(path)
    if not (os.path.exists(path) and h5py.is_hdf5(path)):
        return None
    with h5py.File(path, "r") as f:
        if "model_config" not in f.attrs:
            return None
        return as_text(f.attrs["model_config"]), as_text(f.attrs.get("keras_version", "2"))


# ----------------------------------------------------------------------------------- model structure
@dataclass
class LayerSpec:
    """One Keras 2 layer entry: its class, config and the inputs of each call (node)."""

    name: str
    class_name: str
    config: dict[str, Any]
    inbound: list[list[tuple[str, int, int]]] = field(default_factory=list)


def class_name_of(entry: dict[str, Any]) -> str:
    name = as_text(entry.get("class_name", ""))
    return name.split(">")[-1]  # "package>Class" of registered objects


def _layer_name(entry: dict[str, Any]) -> str:
    return as_text(entry.get("name") or entry.get("config", {}).get("name", ""))


def _inbound(entry: dict[str, Any]) -> list[list[tuple[str, int, int]]]:
    nodes = []
    for node in entry.get("inbound_nodes", []):
        if isinstance(node, dict):
            raise QKerasImportError(
                f"layer {_layer_name(entry)!r}: inbound node {node!r} is in Keras 3's format; this file was not "
                "saved by Keras 2 (load it with keras.models.load_model)"
            )
        refs = []
        for ref in node:
            if not (isinstance(ref, (list, tuple)) and len(ref) >= 3 and isinstance(ref[0], str)):
                raise QKerasImportError(f"layer {_layer_name(entry)!r}: cannot read inbound node entry {ref!r}")
            refs.append((ref[0], int(ref[1]), int(ref[2])))
        nodes.append(refs)
    return nodes


def refs(value: Any) -> list[tuple[str, int, int]]:
    """Keras 2's ``input_layers``/``output_layers``: ``[[name, node, tensor], ...]`` or one flat triple."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
        value = [value]
    return [(str(v[0]), int(v[1]), int(v[2])) for v in value]


@dataclass
class Structure:
    name: str
    layers: list[LayerSpec]
    inputs: list[tuple[str, int, int]]
    outputs: list[tuple[str, int, int]]
    kind: str = "Functional"


def _sequential(config: Any) -> Structure:
    if isinstance(config, list):  # Keras <= 2.2: the config is the layer list itself
        name, entries = "sequential", config
    else:
        name, entries = config.get("name", "sequential"), config.get("layers", [])
    specs: list[LayerSpec] = []
    previous: str | None = None
    first: str | None = None
    for entry in entries:
        spec = LayerSpec(_layer_name(entry), class_name_of(entry), dict(entry.get("config", {})))
        if spec.class_name == "InputLayer":
            if previous is not None:
                raise QKerasImportError(
                    f"Sequential model {name!r}: InputLayer {spec.name!r} is not the first layer; only one input "
                    "at the start is supported"
                )
            specs.append(spec)
            previous = first = spec.name
            continue
        if previous is None:
            shape = spec.config.get("batch_input_shape")
            if shape is None:
                raise QKerasImportError(
                    f"Sequential model {name!r}: first layer {spec.name!r} ({spec.class_name}) has no "
                    "batch_input_shape, so the input shape is unknown; save the model after building it "
                    "(give the first layer input_shape=...)"
                )
            input_name = f"{spec.name}_input"
            specs.append(
                LayerSpec(input_name, "InputLayer", {"batch_input_shape": shape, "dtype": spec.config.get("dtype")})
            )
            previous = first = input_name
        spec.inbound = [[(previous, 0, 0)]]
        specs.append(spec)
        previous = spec.name
    if first is None or previous is None:
        raise QKerasImportError(f"Sequential model {name!r} has no layers")
    return Structure(str(name), specs, [(first, 0, 0)], [(previous, 0, 0)], "Sequential")


def _functional(config: dict[str, Any]) -> Structure:
    specs = [
        LayerSpec(_layer_name(e), class_name_of(e), dict(e.get("config", {})), _inbound(e))
        for e in config.get("layers", [])
    ]
    return Structure(
        str(config.get("name", "model")), specs, refs(config["input_layers"]), refs(config["output_layers"])
    )


def model_structure(model_config: dict[str, Any]) -> Structure:
    kind = class_name_of(model_config)
    if kind == "Sequential":
        return _sequential(model_config["config"])
    if kind in ("Functional", "Model"):
        return _functional(model_config["config"])
    raise QKerasImportError(
        f"model class {kind!r} is not supported; the file must hold a Keras 2 Sequential or Functional model "
        "(subclassed models cannot be saved to HDF5 with a config)"
    )


# ----------------------------------------------------------------------------------- layer configs
def owner(spec: LayerSpec) -> str:
    return f"layer {spec.name!r} ({spec.class_name})"


def _accepted(cls: type) -> set[str]:
    """Keyword arguments ``cls(...)`` takes, following ``**kwargs`` up the MRO to ``keras.layers.Layer``."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters
        names.update(n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        if klass is keras.layers.Layer or not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            break
    names.discard("self")
    return names


def _is_training_only(key: str) -> bool:
    return key.endswith(("_initializer", "_regularizer", "_constraint"))


def _plain_dtype(value: Any) -> Any:
    """Keras 2.13+ writes dtype policies as dicts; Keras 3 takes the policy name."""
    if isinstance(value, dict):
        return value.get("config", {}).get("name", "float32")
    return value


def _strip_object(value: Any) -> Any:
    """``{"module", "class_name", "config", "registered_name"}`` (Keras 2.13+) -> ``{"class_name", "config"}``."""
    if isinstance(value, dict) and "class_name" in value:
        return {"class_name": class_name_of(value), "config": value.get("config", {})}
    return value


def _mapped(spec: LayerSpec, key: str, value: Any, read: Callable[[Any], Any], supported: str) -> Any:
    """``value`` (its Keras 2.13+ object form stripped), once ``read(value)`` accepts it; else the error naming
    the layer, the setting, ``supported`` and the fix."""
    value = _strip_object(value)
    try:
        read(value)
    except (TypeError, ValueError) as err:
        raise QKerasImportError(f"{owner(spec)}: {key}={value!r} cannot be mapped: {err}. {supported}") from None
    return value


def _quantizer(spec: LayerSpec, key: str, value: Any) -> Any:
    supported = (
        f"Supported quantizers: {', '.join(sorted(QUANTIZERS))}; register a custom one with "
        "fpgaq.register_quantizer, or change the layer's quantizer in QKeras and save again"
    )
    return _mapped(spec, key, value, get_quantizer, supported)


def _activation(spec: LayerSpec, key: str, value: Any) -> Any:
    if isinstance(value, dict) and class_name_of(value) == "function":  # Keras 2.13+: a plain Keras function
        value = value.get("config")
    supported = (
        f"Supported: the quantizers {', '.join(sorted(QUANTIZERS))} and Keras' activations; change the "
        "activation in QKeras and save again"
    )
    return _mapped(spec, key, value, activation_from_spec, supported)


def _single_axis(spec: LayerSpec, value: Any) -> Any:
    """Keras 2 batch normalizations save ``axis`` as a one-entry list after building."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise QKerasImportError(
                f"{owner(spec)}: axis={value!r} normalizes over several axes; only one axis is supported"
            )
        return value[0]
    return value


def _translate(spec: LayerSpec, target: type) -> dict[str, Any]:
    """The keyword arguments of ``target`` equivalent to the Keras 2 config of ``spec``."""
    accepted = _accepted(target)
    out: dict[str, Any] = {}
    for key, value in spec.config.items():
        if key in ("batch_input_shape", "input_shape", "batch_size", "input_dim") or _is_training_only(key):
            continue
        if key == "dtype":
            value = _plain_dtype(value)
        elif key.endswith("_quantizer"):
            value = _quantizer(spec, key, value)
        elif key == "activation":
            value = _activation(spec, key, value)
        elif key == "axis" and spec.class_name.endswith(("BatchNormalization", "Batchnorm")):
            value = _single_axis(spec, value)
        elif key == "alpha" and spec.class_name == "LeakyReLU":
            key = "negative_slope"  # Keras 3's name for Keras 2's alpha
        if key in accepted:
            out[key] = value
            continue
        inert = _INERT.get(key)
        if (inert is not None and (not inert or value in inert)) or (key.endswith("_range") and value is None):
            continue
        raise QKerasImportError(
            f"{owner(spec)}: setting {key}={value!r} has no equivalent in {target.__module__}.{target.__name__}; "
            f"supported settings: {', '.join(sorted(accepted - {'self'}))}; remove or reset it in the Keras 2 "
            "model and save again"
        )
    if spec.config.get("renorm"):
        raise QKerasImportError(
            f"{owner(spec)}: renorm={spec.config['renorm']!r} is not supported; only renorm=False (the default) "
            "is; train without batch renormalization and save again"
        )
    return out


# ------------------------------------------------------------------ QDepthwiseConv2DBatchnorm
_BN_KEYS = frozenset(
    {
        "axis",
        "momentum",
        "epsilon",
        "center",
        "scale",
        "renorm",
        "renorm_clipping",
        "renorm_momentum",
        "fused",
        "virtual_batch_size",
        "adjustment",
        "synchronized",
        "ema_freeze_delay",
        "folding_mode",
    }
)


@dataclass
class DepthwiseFold:
    """How to fold a saved QDepthwiseConv2DBatchnorm's weights into the imported QDepthwiseConv2D."""

    epsilon: float
    use_bias: bool
    center: bool
    scale: bool


def _folded_depthwise(spec: LayerSpec) -> tuple[keras.layers.Layer, DepthwiseFold]:
    config = spec.config
    axis = _single_axis(spec, config.get("axis", -1))
    data_format = config.get("data_format") or "channels_last"
    channel_axes = (-1, 3) if data_format == "channels_last" else (1, -3)
    if axis not in channel_axes:
        raise QKerasImportError(
            f"{owner(spec)}: axis={axis!r} is not the channel axis of data_format={data_format!r}; the folded "
            f"batch normalization must normalize output channels (axis={channel_axes[0]})"
        )
    epsilon = float(config.get("epsilon", 1e-3))
    if not epsilon > 0:
        raise QKerasImportError(f"{owner(spec)}: epsilon={epsilon!r} must be positive")
    conv = LayerSpec(spec.name, spec.class_name, {k: v for k, v in config.items() if k not in _BN_KEYS})
    kwargs = _translate(conv, qlayers.QDepthwiseConv2D)
    kwargs["use_bias"] = True  # the folded bias exists even without a conv bias
    kwargs["data_format"] = data_format
    if config.get("renorm") or config.get("virtual_batch_size") is not None:
        raise QKerasImportError(
            f"{owner(spec)}: renorm / virtual_batch_size are not supported in a folded batch normalization; "
            "leave them at their defaults"
        )
    fold = DepthwiseFold(
        epsilon, bool(config.get("use_bias", True)), bool(config.get("center", True)), bool(config.get("scale", True))
    )
    return qlayers.QDepthwiseConv2D(**kwargs), fold


# ----------------------------------------------------------------------------------- building
def _make_layer(spec: LayerSpec, extra_layers: Mapping[str, type]) -> tuple[keras.layers.Layer, DepthwiseFold | None]:
    if spec.class_name in _RECURRENT:
        raise QKerasImportError(
            f"{owner(spec)}: class {spec.class_name!r} is not yet supported: fpgaq has no recurrent layers "
            "(QSimpleRNN, QLSTM, QGRU) until issue 17 lands; keep the recurrent part outside the FPGA model, or "
            "replace it with QConv1D/QDense layers"
        )
    if spec.class_name == FOLDED_DEPTHWISE:
        return _folded_depthwise(spec)
    target = (
        QKERAS_LAYERS.get(spec.class_name) or extra_layers.get(spec.class_name) or KERAS_LAYERS.get(spec.class_name)
    )
    if target is None:
        raise QKerasImportError(
            f"{owner(spec)}: class {spec.class_name!r} cannot be imported; supported: "
            f"{', '.join(supported_layers())}, InputLayer; replace the layer in the Keras 2 model (or split a "
            "nested model into its layers) and save again"
        )
    kwargs = _translate(spec, target)
    try:
        return target(**kwargs), None
    except (TypeError, ValueError) as err:
        raise QKerasImportError(f"{owner(spec)}: cannot build {target.__name__} from its config: {err}") from None


def _input(spec: LayerSpec) -> Any:
    shape = spec.config.get("batch_input_shape") or spec.config.get("batch_shape")
    if shape is None:
        raise QKerasImportError(f"{owner(spec)}: no batch_input_shape; the input shape is unknown")
    dtype = _plain_dtype(spec.config.get("dtype")) or "float32"
    return keras.Input(batch_shape=tuple(shape), name=spec.name, dtype=dtype)


def build(
    structure: Structure, extra_layers: Mapping[str, type] | None = None
) -> tuple[keras.Model, dict[str, DepthwiseFold]]:
    """The Keras 3 model of ``structure``, and the folds :func:`set_weights` applies to its weights.

    ``extra_layers`` maps further class names to fpgaq classes (the Larq importer's pad-value convolutions),
    so that each importer states the classes it adds instead of editing a shared table.
    """
    extra_layers = extra_layers or {}
    tensors: dict[tuple[str, int], list[Any]] = {}
    layers: dict[str, keras.layers.Layer] = {}
    folds: dict[str, DepthwiseFold] = {}
    pending: list[tuple[LayerSpec, int]] = []
    for spec in structure.layers:
        if spec.name in layers or (spec.name, 0) in tensors:
            raise QKerasImportError(f"{owner(spec)}: the name is used twice; layer names must be unique")
        if spec.class_name == "InputLayer":
            tensors[(spec.name, 0)] = [_input(spec)]
            continue
        layers[spec.name], fold = _make_layer(spec, extra_layers)
        if fold is not None:
            folds[spec.name] = fold
        pending.extend((spec, i) for i in range(len(spec.inbound)))
    # Call layers once their inputs exist (Keras 2 lists shared layers before some of their inputs).
    while pending:
        ready = [(s, i) for s, i in pending if all((n, k) in tensors for n, k, _ in s.inbound[i])]
        if not ready:
            missing = sorted({n for s, i in pending for n, k, _ in s.inbound[i] if (n, k) not in tensors})
            raise QKerasImportError(
                f"layers {sorted({s.name for s, _ in pending})} take inputs from {missing}, which no layer of the "
                "model produces; the model config is inconsistent"
            )
        for spec, i in ready:
            args = [tensors[(n, k)][t] for n, k, t in spec.inbound[i]]
            arg = args if len(args) > 1 or spec.class_name in _MERGE_LAYERS else args[0]
            try:
                out = layers[spec.name](arg)
            except (TypeError, ValueError) as err:
                raise QKerasImportError(f"{owner(spec)}: calling the imported layer failed: {err}") from None
            tensors[(spec.name, i)] = list(out) if isinstance(out, (list, tuple)) else [out]
            pending.remove((spec, i))

    def pick(refs: list[tuple[str, int, int]], what: str) -> list[Any]:
        try:
            return [tensors[(n, k)][t] for n, k, t in refs]
        except (KeyError, IndexError):
            raise QKerasImportError(f"model {structure.name!r}: {what} {refs} name tensors no layer produces") from None

    inputs, outputs = pick(structure.inputs, "input_layers"), pick(structure.outputs, "output_layers")
    model = keras.Model(
        inputs[0] if len(inputs) == 1 else inputs, outputs[0] if len(outputs) == 1 else outputs, name=structure.name
    )
    return model, folds


# ----------------------------------------------------------------------------------- weights
def _short(weight_name: str) -> str:
    """``"fc1/kernel:0"`` -> ``"kernel"``; ``"bn/batch_normalization/gamma:0"`` -> ``"gamma"``."""
    return weight_name.split("/")[-1].split(":")[0]


def saved_weights(group: h5py.Group) -> dict[str, dict[str, np.ndarray]]:
    if "layer_names" not in group.attrs:
        raise QKerasImportError(
            f"{group.file.filename}: no 'layer_names' attribute; not a Keras 2 weights file (model.save_weights "
            "to .h5 or model.save to .h5)"
        )
    saved: dict[str, dict[str, np.ndarray]] = {}
    for layer_name in _names(group.attrs["layer_names"]):
        g = group[layer_name]
        weights: dict[str, np.ndarray] = {}
        for weight_name in _names(g.attrs.get("weight_names", [])):
            short = _short(weight_name)
            if short in weights:
                raise QKerasImportError(
                    f"layer {layer_name!r}: two saved weights are named {short!r}; cannot tell them apart"
                )
            weights[short] = np.asarray(g[weight_name])
        saved[layer_name] = weights
    return saved


# Keras 2.13+ (tf_keras) writes ``save_weights("w.weights.h5")`` in the layout of Keras 3's saving library:
# ``layers/<snake_case class>[_<k>]/vars/<i>``, numbered per class in model order, weights by position.
def is_layered_weights(f: h5py.File) -> bool:
    return "layer_names" not in f.attrs and "model_weights" not in f and isinstance(f.get("layers"), h5py.Group)


def _snake(class_name: str) -> str:
    """Keras 2's ``to_snake_case``, which names a layer's entry in a ``.weights.h5`` file."""
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)).lower()
    return name if name[0] != "_" else "private" + name


def batchnorm_weights(config: Mapping[str, Any]) -> list[str]:
    """A batch normalization's saved weights, in saving order: ``gamma`` and ``beta`` only when it scales and
    centres (Keras 2 and Keras 3 agree)."""
    names = ["gamma"] * bool(config.get("scale", True)) + ["beta"] * bool(config.get("center", True))
    return [*names, "moving_mean", "moving_variance"]


def _weight_order(spec: LayerSpec) -> tuple[list[str], list[str]]:
    """Names of the layer's own weights and of its inner ``batchnorm`` layer's, in Keras 2's saving order
    (trainable weights first, each group in creation order)."""
    c = spec.config
    bias = ["bias"] if c.get("use_bias", True) else []
    batchnorm = batchnorm_weights(c)
    name = spec.class_name
    if name.endswith("BatchNormalization"):
        return batchnorm, []
    if name == "QConv2DBatchnorm":
        return ["kernel", *bias, "iteration"], batchnorm
    if name == FOLDED_DEPTHWISE:
        return ["depthwise_kernel", *bias, "iteration"], batchnorm
    if name.startswith(("Separable", "QSeparable")):
        return ["depthwise_kernel", "pointwise_kernel", *bias], []
    if name.startswith(("DepthwiseConv", "QDepthwiseConv")):
        return ["depthwise_kernel", *bias], []
    return ["kernel", *bias], []


def _vars(group: h5py.Group | None) -> list[np.ndarray]:
    if group is None or "vars" not in group:
        return []
    variables = group["vars"]
    return [np.asarray(variables[str(i)]) for i in range(len(variables))]


def layered_weights(f: h5py.File, structure: Structure) -> dict[str, dict[str, np.ndarray]]:
    """``{layer name: {weight name: value}}`` of a ``.weights.h5`` file, matched to the config by position."""
    counts: dict[str, int] = {}
    saved: dict[str, dict[str, np.ndarray]] = {}
    for spec in structure.layers:
        if spec.class_name == "InputLayer" and structure.kind == "Sequential":
            continue  # a Sequential model's layers exclude its input
        snake = _snake(spec.class_name)
        key = snake if snake not in counts else f"{snake}_{counts[snake]}"
        counts[snake] = counts.get(snake, 0) + 1
        entry = f["layers"].get(key)
        own, inner = _weight_order(spec)
        values = _vars(entry)
        inner_values = _vars(entry.get("batchnorm") if entry is not None else None)
        if not values and not inner_values:
            continue
        if len(values) != len(own) or len(inner_values) != len(inner):
            expected = ", ".join([*own, *(f"batchnorm/{n}" for n in inner)])
            raise QKerasImportError(
                f"{owner(spec)}: the weights file holds {len(values) + len(inner_values)} weights under "
                f"layers/{key} (expected {len(own) + len(inner)}: {expected}); the model config and the weights "
                "file do not match"
            )
        saved[spec.name] = dict(zip(own, values)) | dict(zip(inner, inner_values))
    return saved


def _assign(layer: keras.layers.Layer, name: str, variable: Any, value: np.ndarray) -> None:
    if tuple(variable.shape) != tuple(value.shape):
        raise QKerasImportError(
            f"layer {layer.name!r} ({type(layer).__name__}): saved weight {name!r} has shape {value.shape}, the "
            f"imported layer expects {tuple(variable.shape)}; the model config and the weights file do not match"
        )
    variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype)))


def _fold_depthwise(layer: keras.layers.Layer, fold: DepthwiseFold, w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """QKeras' inference weights of QDepthwiseConv2DBatchnorm: the kernel and bias with the BN folded in."""
    need = ["depthwise_kernel", "moving_mean", "moving_variance"]
    need += ["bias"] * fold.use_bias + ["gamma"] * fold.scale + ["beta"] * fold.center
    missing = [n for n in need if n not in w]
    if missing:
        raise QKerasImportError(
            f"layer {layer.name!r} (QDepthwiseConv2DBatchnorm): the weights file lacks {missing}; it has {sorted(w)}"
        )
    kernel = w["depthwise_kernel"].astype(np.float64)
    inv = 1.0 / np.sqrt(w["moving_variance"].astype(np.float64) + fold.epsilon)
    if fold.scale:
        inv = w["gamma"].astype(np.float64) * inv
    bias = w["bias"].astype(np.float64) if fold.use_bias else 0.0
    folded_bias = inv * (bias - w["moving_mean"].astype(np.float64))
    if fold.center:
        folded_bias = folded_bias + w["beta"].astype(np.float64)
    if inv.size != kernel.shape[2] * kernel.shape[3]:
        raise QKerasImportError(
            f"layer {layer.name!r} (QDepthwiseConv2DBatchnorm): {inv.size} batchnorm channels for a depthwise "
            f"kernel of shape {kernel.shape}; the weights do not belong to this layer"
        )
    folded_kernel = kernel * inv.reshape(kernel.shape[2], kernel.shape[3])
    return {"kernel": folded_kernel.astype(np.float32), "bias": folded_bias.astype(np.float32)}


def legacy_weights(f: h5py.File, group_path: str | None) -> dict[str, dict[str, np.ndarray]]:
    """``{layer name: {weight name: value}}`` in Keras 2's legacy layout: the ``group_path`` group of a
    full-model file, a ``save_weights("w.h5")`` file, or a full-model file given as the weights file."""
    group = f[group_path] if group_path else f
    if group_path is None and "model_weights" in f and "layer_names" not in f.attrs:
        group = f["model_weights"]  # a full-model file given as weights_path
    return saved_weights(group)


def set_weights(
    model: keras.Model, folds: Mapping[str, DepthwiseFold], saved: dict[str, dict[str, np.ndarray]]
) -> None:
    """Assign ``{layer name: {weight name: value}}`` to the imported model (every importer's, and QTools')."""
    by_name = {layer.name: layer for layer in model.layers}
    for layer_name, weights in saved.items():
        if weights and layer_name not in by_name:
            raise QKerasImportError(
                f"the weights file has weights for layer {layer_name!r}, which the model config does not have; "
                "pass the weights saved from this model"
            )
    for layer in model.layers:
        variables = {v.name: v for v in layer.weights}
        if not variables:
            continue
        if layer.name not in saved:
            raise QKerasImportError(
                f"layer {layer.name!r} ({type(layer).__name__}): the weights file has no entry for it; pass the "
                "weights saved from this model"
            )
        weights = saved[layer.name]
        if layer.name in folds:
            weights = _fold_depthwise(layer, folds[layer.name], weights)
        done: set[str] = set()
        for short, value in weights.items():
            target = short if short in variables else _WEIGHT_ALIASES.get(short)
            if target is None or target not in variables:
                if short in _IGNORED_WEIGHTS:
                    continue
                raise QKerasImportError(
                    f"layer {layer.name!r} ({type(layer).__name__}): saved weight {short!r} has no counterpart; "
                    f"the imported layer has {sorted(variables)}"
                )
            _assign(layer, short, variables[target], value)
            done.add(target)
        missing = sorted(set(variables) - done)
        if missing:
            raise QKerasImportError(
                f"layer {layer.name!r} ({type(layer).__name__}): the weights file lacks {missing} (it has "
                f"{sorted(weights)}); pass the weights saved from this model"
            )
