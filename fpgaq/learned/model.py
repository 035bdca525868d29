"""A float Keras model's learned-precision twin, ready for quantization-aware training.

Every Dense/Conv layer becomes its fpgaq twin with ``learned_bits`` on the kernel and
bias (one width per weight by default), every ReLU an unsigned ``learned_bits`` (a
quantized ReLU), and the inputs get a ``learned_bits`` of their own, so that the
training decides how many bits each input feature is worth.  Initial integer bits
come from calibration data (each tensor's largest magnitude), initial fractional
bits from ``bits``; the float weights are copied, so training starts from the float
model (or from a post-training calibration of it).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from fpgaq.errors import FpgaqError
from fpgaq.keras_walk import PASS_THROUGH_LAYERS, activation_name, layer_calls, layer_io
from fpgaq.layers import QActivation, QConv1D, QConv2D, QDense, QDepthwiseConv2D
from fpgaq.layers.common import quantized_variable
from fpgaq.quantizers.learned import learned_bits

__all__ = ["LearnedPrecisionError", "calibrate_ranges", "learned_quantizers", "tighten_ranges", "to_learned"]

_TWINS = {"Dense": QDense, "Conv1D": QConv1D, "Conv2D": QConv2D, "DepthwiseConv2D": QDepthwiseConv2D}
_KEPT = (*sorted(PASS_THROUGH_LAYERS), "Softmax")


class LearnedPrecisionError(FpgaqError, ValueError):
    """A model that the learned-precision flow cannot take as it is."""


def _q(
    bits: float, granularity: str, signed: bool = True, overflow: str = "SAT", rounding: str = "RND"
) -> learned_bits:
    return learned_bits(bits, 0, keep_negative=signed, granularity=granularity, overflow=overflow, rounding=rounding)


def to_learned(
    model: keras.Model,
    weight_bits: float = 8,
    activation_bits: float = 8,
    input_bits: float = 12,
    granularity: str = "element",
    activation_granularity: str | None = None,
    quantize_output: bool = True,
    overflow: str = "SAT",
    rounding: str = "RND",
) -> keras.Model:
    """The learned-precision twin of a float model (Dense, Conv1D/2D, DepthwiseConv2D, ReLU, pooling, flatten).

    ``granularity`` applies to weights, ``activation_granularity`` (default: the same) to
    activations and inputs.  ``quantize_output`` gives the last layer a signed learned
    output type too (otherwise its output is the exact accumulator).
    """
    act_gran = activation_granularity or granularity
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise LearnedPrecisionError(
            f"model {model.name!r} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
            "the learned-precision twin supports one of each: wrap the part to quantize in a single-input model"
        )
    old_in = model.inputs[0]
    new_in = keras.Input(shape=tuple(old_in.shape[1:]), name=getattr(old_in, "name", None) or "input")
    x = QActivation(_q(input_bits, act_gran, True, overflow, rounding), name="input_quantizer")(new_in)
    tensors = {id(old_in): x}
    last = model.outputs[0]
    pairs: list[tuple[Any, Any]] = []
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "InputLayer":
            continue
        calls = layer_calls(model, layer)
        if len(calls) != 1:
            raise LearnedPrecisionError(
                f"layer {layer.name!r} is called {len(calls)} times; the twin needs each layer "
                "called once (no shared layers)"
            )
        ins, outs = layer_io(model, layer)
        if len(ins) != 1:
            raise LearnedPrecisionError(
                f"layer {layer.name!r} ({cls}) has {len(ins)} inputs; the twin supports chains of one-input layers"
            )
        src = tensors[id(ins[0])]
        out = outs[0]
        is_last = out is last
        config = layer.get_config()
        if cls in _TWINS:
            act = activation_name(layer.activation)
            if act not in ("linear", "relu", None):
                raise LearnedPrecisionError(
                    f"layer {layer.name!r}: activation {act!r} is not supported by the learned-precision twin; "
                    "supported: linear and relu (put softmax in its own layer)"
                )
            if act == "relu":
                activation: Any = _q(activation_bits, act_gran, False, overflow, rounding)
            elif is_last and quantize_output:
                activation = _q(activation_bits + 4, act_gran, True, overflow, rounding)
            else:
                activation = None
            for key in ("activation", "quantization_config", "kernel_constraint", "bias_constraint"):
                config.pop(key, None)
            weights: dict[str, Any] = {"bias_quantizer": _q(weight_bits + 4, granularity)}
            if cls == "DepthwiseConv2D":
                weights["depthwise_quantizer"] = _q(weight_bits, granularity)
            else:
                weights["kernel_quantizer"] = _q(weight_bits, granularity)
            new = _TWINS[cls](**config, activation=activation, **weights)
            y = new(src)
            pairs.append((layer, new))
        elif cls in ("ReLU", "Activation"):
            act = "relu" if cls == "ReLU" else activation_name(layer.activation)
            if act == "relu" and (cls != "ReLU" or _plain_relu(layer)):
                y = QActivation(_q(activation_bits, act_gran, False, overflow, rounding), name=layer.name)(src)
            elif act in ("linear", None):
                y = src
            elif act == "softmax":
                y = keras.layers.Activation("softmax", name=layer.name)(src)
            else:
                raise LearnedPrecisionError(
                    f"layer {layer.name!r}: activation {act!r} is not supported by the learned-precision twin; "
                    "supported: relu, linear, softmax"
                )
        elif cls in _KEPT:
            y = type(layer).from_config(config)(src)
        else:
            raise LearnedPrecisionError(
                f"layer {layer.name!r} has class {cls}, which the learned-precision twin does not take; supported: "
                f"{', '.join([*_TWINS, 'ReLU', 'Activation', *_KEPT])} (fold BatchNormalization into the "
                "previous layer before learning precision)"
            )
        tensors[id(out)] = y
    twin = keras.Model(new_in, tensors[id(last)], name=f"{model.name}_learned")
    for old, new in pairs:
        for name in ("kernel", "depthwise_kernel", "bias"):
            source = getattr(old, name, None)
            if source is not None and getattr(new, name, None) is not None:
                getattr(new, name).assign(source)
    return twin


def _plain_relu(layer: Any) -> bool:
    return (
        getattr(layer, "max_value", None) is None
        and not float(getattr(layer, "negative_slope", 0.0) or 0.0)
        and not float(getattr(layer, "threshold", 0.0) or 0.0)
    )


def _learned(model: keras.Model) -> list[tuple[Any, str, str, learned_bits]]:
    """(layer, role, the layer's public quantizer argument or "activation", quantizer) of every learned quantizer."""
    found = []
    for layer in model.layers:
        for public, attr in getattr(layer, "_quantizer_attrs", ()):
            q = getattr(layer, attr, None)
            if isinstance(q, learned_bits):
                found.append((layer, public.removesuffix("_quantizer"), public, q))
        act = getattr(layer, "activation", None)
        if isinstance(act, learned_bits):
            found.append((layer, "activation", "activation", act))
    return found


def learned_quantizers(model: keras.Model) -> list[tuple[str, str, learned_bits]]:
    """(layer name, role, quantizer) of every learned-precision quantizer of the model."""
    return [(layer.name, role, q) for layer, role, _, q in _learned(model)]


def calibrate_ranges(model: keras.Model, x: np.ndarray, percentile: float = 100.0) -> None:
    """Integer bits that hold what each learned quantizer sees on ``x`` (weights: their largest magnitude).

    Activations are calibrated in order, each on the output of the already-calibrated
    layers before it, in one eager pass.
    """
    for layer, role, public, q in _learned(model):
        if role != "activation" and q.fbits is not None:
            variable = quantized_variable(layer, public)
            weight = np.abs(np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float64))
            peak = float(weight.max(initial=0.0))
            need = np.ceil(np.log2(max(peak, 2.0**-8))) if peak > 0 else 0.0
            shift = need - np.asarray(keras.ops.convert_to_numpy(q.integer_bits()), dtype="float32")
            q.set_bits(np.asarray(keras.ops.convert_to_numpy(q.frac_bits()), dtype="float32") - shift, need)
    hooks = [q for _, role, q in learned_quantizers(model) if role == "activation"]
    try:
        for q in hooks:
            q.calibrating = percentile
        model(np.asarray(x[:4096], dtype="float32"), training=False)
    finally:
        for q in hooks:
            q.calibrating = None


def tighten_ranges(model: keras.Model, x: np.ndarray, batch_size: int = 4096) -> None:
    """Every activation's integer bits cut to what its outputs on ``x`` use (see ``learned_bits.tighten``).

    The model's outputs on ``x`` stay exactly the same; one eager pass suffices, since
    tightening a layer changes none of the values the layers after it see on ``x``.
    """
    hooks = [q for _, role, q in learned_quantizers(model) if role == "activation"]
    try:
        for q in hooks:
            q.observing = True
        for start in range(0, len(x), batch_size):
            model(np.asarray(x[start : start + batch_size], dtype="float32"), training=False)
    finally:
        for q in hooks:
            q.observing = False
    for q in hooks:
        q.tighten()
