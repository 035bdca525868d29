"""Writes HDF5 files the way Keras 2 + QKeras save models, with h5py alone (no QKeras, no tf_keras).

The layout follows Keras 2's legacy HDF5 format:

* full model (``model.save("m.h5")``): root attributes ``keras_version``
  ("2.x"), ``backend`` and ``model_config`` (the JSON of
  ``{"class_name": "Sequential" | "Functional", "config": ...}``); a group
  ``model_weights`` with attribute ``layer_names`` and one group per layer,
  whose attribute ``weight_names`` lists datasets such as ``fc1/kernel:0``
  (the ``/`` makes h5py nest them in a subgroup).
* weights only (``model.save_weights("w.h5")``): the ``model_weights``
  layout at the root; the structure then comes from ``model.to_json()``.

Layer configs are those of tf.keras 2.x ``get_config()`` (initializer and
constraint dicts included), and QKeras layers add their quantizers as
``{"class_name": <quantizer>, "config": <QKeras get_config()>}``, QKeras'
``QInitializer`` kernel initializers and ``Clip`` constraints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

KERAS_VERSION = "2.15.0"

# ----------------------------------------------------------------------------------- quantizers
#: QKeras' ``get_config()`` of each quantizer class at its defaults (keys as QKeras writes them).
QKERAS_QUANTIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    "quantized_bits": {
        "bits": 8,
        "integer": 0,
        "symmetric": 0,
        "alpha": None,
        "keep_negative": True,
        "use_stochastic_rounding": False,
        "qnoise_factor": 1.0,
    },
    "quantized_relu": {
        "bits": 8,
        "integer": 0,
        "use_sigmoid": 0,
        "negative_slope": 0.0,
        "use_stochastic_rounding": False,
        "relu_upper_bound": None,
        "qnoise_factor": 1.0,
    },
    "quantized_po2": {
        "bits": 8,
        "max_value": None,
        "use_stochastic_rounding": False,
        "quadratic_approximation": False,
        "qnoise_factor": 1.0,
        "log2_rounding": "rnd",
    },
    "quantized_relu_po2": {
        "bits": 8,
        "max_value": None,
        "negative_slope": 0,
        "use_stochastic_rounding": False,
        "quadratic_approximation": False,
        "qnoise_factor": 1.0,
        "log2_rounding": "rnd",
    },
    "quantized_tanh": {"bits": 8, "symmetric": False, "use_stochastic_rounding": False, "use_real_tanh": False},
    "quantized_sigmoid": {"bits": 8, "symmetric": False, "use_real_sigmoid": False, "use_stochastic_rounding": False},
    "quantized_ulaw": {"bits": 8, "integer": 0, "symmetric": 0, "u": 255.0},
    "binary": {"use_01": False, "alpha": None, "use_stochastic_rounding": False},
    "stochastic_binary": {"alpha": None, "temperature": 6.0, "use_real_sigmoid": True},
    "bernoulli": {"alpha": None, "temperature": 6.0, "use_real_sigmoid": True},
    "ternary": {"alpha": None, "threshold": None, "use_stochastic_rounding": False, "number_of_unrolls": 5},
    "stochastic_ternary": {
        "alpha": None,
        "threshold": None,
        "temperature": 8.0,
        "use_real_sigmoid": True,
        "number_of_unrolls": 5,
    },
    "quantized_hswish": {
        "bits": 8,
        "integer": 0,
        "symmetric": 0,
        "alpha": None,
        "keep_negative": True,
        "use_stochastic_rounding": False,
        "qnoise_factor": 1.0,
        "relu_shift": 3,
        "relu_upper_bound": 6,
    },
    # QKeras' source after 0.9.0 (and qkeras-v3): keys of quantized_linear.get_config()
    "quantized_linear": {
        "bits": 8,
        "integer": 0,
        "symmetric": 1,
        "alpha": None,
        "keep_negative": True,
        "use_stochastic_rounding": False,
        "qnoise_factor": 1.0,
    },
}

#: QKeras quantizers that are plain functions: serialized as their name.
QKERAS_FUNCTION_QUANTIZERS = (
    "binary_sigmoid",
    "binary_tanh",
    "hard_sigmoid",
    "hard_tanh",
    "smooth_sigmoid",
    "smooth_tanh",
)


def quantizer(class_name: str, **config: Any) -> dict[str, Any] | str:
    """A quantizer as QKeras layers serialize it: ``{"class_name", "config"}``, or a function's name."""
    if class_name in QKERAS_FUNCTION_QUANTIZERS:
        return class_name
    return {"class_name": class_name, "config": {**QKERAS_QUANTIZER_DEFAULTS[class_name], **config}}


# ----------------------------------------------------------------------------------- layer configs
def _init(class_name: str, **config: Any) -> dict[str, Any]:
    return {"class_name": class_name, "config": config}


GLOROT = _init("GlorotUniform", seed=None)
ZEROS = _init("Zeros")
ONES = _init("Ones")


def q_initializer(q: Any) -> dict[str, Any]:
    """QKeras' ``QInitializer`` wrapping he_normal, as saved for quantized kernels."""
    return _init(
        "QInitializer",
        initializer=_init("HeNormal", seed=None),
        use_scale=True,
        quantizer=q,
    )


def clip(bound: float = 1.0) -> dict[str, Any]:
    return _init("Clip", min_value=-bound, max_value=bound)


def _conv_base(rank: int) -> dict[str, Any]:
    one = [1] * rank
    return {
        "strides": one,
        "padding": "valid",
        "data_format": "channels_last",
        "dilation_rate": one,
        "groups": 1,
        "activation": "linear",
        "use_bias": True,
        "kernel_initializer": GLOROT,
        "bias_initializer": ZEROS,
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    }


def _bn_base() -> dict[str, Any]:
    return {
        "axis": [-1],
        "momentum": 0.99,
        "epsilon": 0.001,
        "center": True,
        "scale": True,
        "beta_initializer": ZEROS,
        "gamma_initializer": ONES,
        "moving_mean_initializer": ZEROS,
        "moving_variance_initializer": ONES,
        "beta_regularizer": None,
        "gamma_regularizer": None,
        "beta_constraint": None,
        "gamma_constraint": None,
    }


def _depthwise_base() -> dict[str, Any]:
    base = _conv_base(2)
    for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
        base.pop(key)
    base.update(
        {
            "depth_multiplier": 1,
            "depthwise_initializer": GLOROT,
            "depthwise_regularizer": None,
            "depthwise_constraint": None,
        }
    )
    return base


def _separable_base(rank: int) -> dict[str, Any]:
    base = _conv_base(rank)  # Keras 2 keeps the unused kernel_* entries of its Conv base (QKeras 0.9.0 files do)
    base.update(
        {
            "depth_multiplier": 1,
            "depthwise_initializer": GLOROT,
            "pointwise_initializer": GLOROT,
            "depthwise_regularizer": None,
            "pointwise_regularizer": None,
            "depthwise_constraint": None,
            "pointwise_constraint": None,
        }
    )
    return base


_DENSE = {
    "activation": "linear",
    "use_bias": True,
    "kernel_initializer": GLOROT,
    "bias_initializer": ZEROS,
    "kernel_regularizer": None,
    "bias_regularizer": None,
    "activity_regularizer": None,
    "kernel_constraint": None,
    "bias_constraint": None,
}

#: tf.keras 2.x ``get_config()`` entries of each class at its defaults (besides name/trainable/dtype).
KERAS2_DEFAULTS: dict[str, dict[str, Any]] = {
    "Dense": _DENSE,
    "Conv1D": _conv_base(1),
    "Conv2D": _conv_base(2),
    "Conv2DTranspose": {**_conv_base(2), "output_padding": None},
    "DepthwiseConv2D": _depthwise_base(),
    "SeparableConv1D": _separable_base(1),
    "SeparableConv2D": _separable_base(2),
    "BatchNormalization": _bn_base(),
    "MaxPooling1D": {"pool_size": [2], "padding": "valid", "strides": [2], "data_format": "channels_last"},
    "MaxPooling2D": {"pool_size": [2, 2], "padding": "valid", "strides": [2, 2], "data_format": "channels_last"},
    "AveragePooling2D": {"pool_size": [2, 2], "padding": "valid", "strides": [2, 2], "data_format": "channels_last"},
    "GlobalAveragePooling2D": {"data_format": "channels_last", "keepdims": False},
    "Flatten": {"data_format": "channels_last"},
    "Reshape": {},
    "Add": {},
    "Concatenate": {"axis": -1},
    "Activation": {},
    "ReLU": {"max_value": None, "negative_slope": 0.0, "threshold": 0.0},
    "LeakyReLU": {"alpha": 0.3},
    "Dropout": {"rate": 0.5, "noise_shape": None, "seed": None},
    "ZeroPadding1D": {"padding": [1, 1]},
    "ZeroPadding2D": {"padding": [[1, 1], [1, 1]], "data_format": "channels_last"},
}

_Q_KERNEL = {"kernel_quantizer": None, "bias_quantizer": None, "kernel_range": None, "bias_range": None}
KERAS2_DEFAULTS.update(
    {
        "QDense": {**_DENSE, **_Q_KERNEL},
        "QConv1D": {**_conv_base(1), **_Q_KERNEL},
        "QConv2D": {**_conv_base(2), **_Q_KERNEL},
        "QConv2DTranspose": {**KERAS2_DEFAULTS["Conv2DTranspose"], "kernel_quantizer": None, "bias_quantizer": None},
        "QDepthwiseConv2D": {
            **_depthwise_base(),
            "depthwise_quantizer": None,
            "bias_quantizer": None,
            "depthwise_range": None,
            "bias_range": None,
        },
        "QSeparableConv1D": {
            **_separable_base(1),
            "depthwise_quantizer": None,
            "pointwise_quantizer": None,
            "bias_quantizer": None,
        },
        "QSeparableConv2D": {
            **_separable_base(2),
            "depthwise_quantizer": None,
            "pointwise_quantizer": None,
            "bias_quantizer": None,
        },
        "QActivation": {},
        "QBatchNormalization": {
            **_bn_base(),
            "beta_quantizer": None,
            "gamma_quantizer": None,
            "mean_quantizer": None,
            "variance_quantizer": None,
            "beta_range": None,
            "gamma_range": None,
        },
        "QAveragePooling2D": {**KERAS2_DEFAULTS["AveragePooling2D"], "average_quantizer": None, "activation": None},
        "QGlobalAveragePooling2D": {
            **KERAS2_DEFAULTS["GlobalAveragePooling2D"],
            "average_quantizer": None,
            "activation": None,
        },
    }
)
_FOLDING = {"ema_freeze_delay": None, "folding_mode": "ema_stats_folding"}
KERAS2_DEFAULTS["QDenseBatchnorm"] = {**KERAS2_DEFAULTS["QDense"], **_bn_base(), **_FOLDING}
KERAS2_DEFAULTS["QConv2DBatchnorm"] = {**KERAS2_DEFAULTS["QConv2D"], **_bn_base(), **_FOLDING}
KERAS2_DEFAULTS["QDepthwiseConv2DBatchnorm"] = {**KERAS2_DEFAULTS["QDepthwiseConv2D"], **_bn_base(), **_FOLDING}

_QUANTIZED_WEIGHT = {
    "kernel_quantizer": ("kernel_initializer", "kernel_constraint"),
    "depthwise_quantizer": ("depthwise_initializer", "depthwise_constraint"),
    "bias_quantizer": (None, "bias_constraint"),
}


def layer(class_name: str, name: str, **config: Any) -> dict[str, Any]:
    """A layer entry ``{"class_name", "config"}`` as Keras 2 writes it, with QKeras' extras.

    Unknown class names get only the base keys, so tests can write layers the
    importer must reject.
    """
    full = {"name": name, "trainable": True, "dtype": "float32", **KERAS2_DEFAULTS.get(class_name, {}), **config}
    # QKeras wraps the initializer of a quantized weight and adds Clip constraints (when none was given).
    for key, (init_key, constraint_key) in _QUANTIZED_WEIGHT.items():
        q = full.get(key)
        if q is not None and class_name.startswith("Q"):
            if (
                init_key
                and init_key in full
                and not (isinstance(q, dict) and isinstance(q["config"].get("alpha"), str))
            ):
                full[init_key] = q_initializer(q)
            if constraint_key in full and full[constraint_key] is None:
                full[constraint_key] = clip(1.0)
    return {"class_name": class_name, "config": full}


def sequential(layers: list[dict[str, Any]], name: str = "sequential") -> dict[str, Any]:
    return {"class_name": "Sequential", "config": {"name": name, "layers": layers}}


def input_layer(name: str, shape: tuple[int, ...]) -> dict[str, Any]:
    return {
        "class_name": "InputLayer",
        "config": {
            "batch_input_shape": [None, *shape],
            "dtype": "float32",
            "sparse": False,
            "ragged": False,
            "name": name,
        },
    }


def functional(
    layers: list[tuple[dict[str, Any], list[list[str | tuple[str, int, int]]]]],
    inputs: list[str],
    outputs: list[str],
    name: str = "model",
) -> dict[str, Any]:
    """A Keras 2 Functional config: each layer with its ``inbound_nodes``.

    ``layers`` pairs an entry with its calls, each call a list of the layers
    it reads (a name means ``[name, 0, 0, {}]``, Keras 2's nested-list form).
    """
    entries = []
    for entry, calls in layers:
        nodes = [[[*((r, 0, 0) if isinstance(r, str) else r), {}] for r in call] for call in calls]
        entries.append({**entry, "name": entry["config"]["name"], "inbound_nodes": nodes})
    return {
        "class_name": "Functional",
        "config": {
            "name": name,
            "layers": entries,
            "input_layers": [[n, 0, 0] for n in inputs],
            "output_layers": [[n, 0, 0] for n in outputs],
        },
    }


def to_json(model_config: dict[str, Any]) -> str:
    """What ``model.to_json()`` returns in Keras 2."""
    return json.dumps({**model_config, "keras_version": KERAS_VERSION, "backend": "tensorflow"})


# ----------------------------------------------------------------------------------- HDF5
Weights = dict[str, list[tuple[str, np.ndarray]]]


def _layer_names(model_config: dict[str, Any]) -> list[str]:
    config = model_config["config"]
    entries = config if isinstance(config, list) else config["layers"]  # Keras <= 2.2 Sequential: a bare list
    names = [e["config"]["name"] for e in entries]
    if model_config["class_name"] == "Sequential":  # Sequential's model.layers omits its InputLayer
        names = [n for n, e in zip(names, entries) if e["class_name"] != "InputLayer"]
    return names


def _write_weights(group: h5py.Group, layer_names: list[str], weights: Weights) -> None:
    group.attrs["layer_names"] = np.array([n.encode("utf8") for n in layer_names])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
    for name in layer_names:
        g = group.create_group(name)
        entries = weights.get(name, [])
        full = [w if "/" in w else f"{name}/{w}:0" for w, _ in entries]
        g.attrs["weight_names"] = np.array([w.encode("utf8") for w in full], dtype="S")
        for weight_name, (_, value) in zip(full, entries):
            value = np.asarray(value)
            g.create_dataset(weight_name, data=value.astype(np.int64 if value.dtype.kind == "i" else np.float32))


def write_model_h5(
    path: str | Path, model_config: dict[str, Any], weights: Weights, keras_version: str = KERAS_VERSION
) -> Path:
    """A full-model file, as ``model.save("m.h5")`` writes it in Keras 2."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = keras_version.encode("utf8")
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        _write_weights(f.create_group("model_weights"), _layer_names(model_config), weights)
    return Path(path)


def write_weights_h5(path: str | Path, model_config: dict[str, Any], weights: Weights) -> Path:
    """A weights-only file, as ``model.save_weights("w.h5")`` writes it in Keras 2."""
    with h5py.File(path, "w") as f:
        _write_weights(f, _layer_names(model_config), weights)
    return Path(path)


def write_json_and_weights(directory: Path, model_config: dict[str, Any], weights: Weights) -> tuple[Path, Path]:
    """``model.to_json()`` saved to a file, plus ``model.save_weights``."""
    json_path = directory / "model.json"
    json_path.write_text(to_json(model_config))
    return json_path, write_weights_h5(directory / "weights.h5", model_config, weights)
