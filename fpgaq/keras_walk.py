"""The walk over a Keras model that qstats, QTools, the quantization report and AutoQ share.

Each of them reads the same facts from a model: its layers in order with their
input and output tensors, which layers compute (multiply weights by inputs),
a layer's weights and the quantizers applied to them, how many products a
layer makes, and what kind of circuit a quantizer calls for.  They are read
here, once, so that a new layer class or quantizer is taught to all four in
one place.

Quantizer kinds and operator names follow QKeras' qstats, so that counts can
be compared with QKeras' reports: ``s``/``u`` for signed/unsigned, the
operator the weight and input kinds call for (``mult``, ``barrel`` for a
shift, ``mux``, ``xor``, ``adder``, ``fmult`` for float), then the weight and
input bit widths, e.g. ``smult_6_16``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import keras

from fpgaq.quantizers import BaseQuantizer

__all__ = [
    "COMPUTE_LAYERS",
    "KINDS",
    "OP_TABLE",
    "PASS_THROUGH_LAYERS",
    "WEIGHT_QUANTIZERS",
    "LayerVisit",
    "QuantizerKind",
    "activation_name",
    "as_list",
    "layer_calls",
    "layer_io",
    "operation_count",
    "operation_name",
    "prod",
    "quantizer_kind",
    "sample_elements",
    "walk_layers",
    "weight_quantizers",
    "weights_of",
]

#: Layers that only move, drop or select values (no arithmetic on them, no weights):
#: what they output is on the grid of what they read.
PASS_THROUGH_LAYERS = frozenset(
    {
        "Flatten",
        "Reshape",
        "Dropout",
        "MaxPooling1D",
        "MaxPooling2D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "Permute",
    }
)

#: Quantizer kinds, in the column order of :data:`OP_TABLE`.
KINDS = ("fixed", "po2", "ternary", "binary", "binary01", "float")

#: Operator by (weight kind, input kind), QKeras' table: the cheapest circuit
#: that multiplies a weight of one kind by an input of the other.
OP_TABLE = {
    "fixed": ("mult", "barrel", "mux", "mux", "mux", "fmult"),
    "po2": ("barrel", "adder", "mux", "xor", "mux", "fmult"),
    "ternary": ("mux", "mux", "mux", "mux", "xor", "fmult"),
    "binary": ("mux", "xor", "mux", "xor", "xor", "fmult"),
    "binary01": ("mux", "mux", "xor", "xor", "xor", "fmult"),
    "float": ("fmult",) * 6,
}

#: Layer classes that multiply weights by inputs (float Keras and fpgaq/QKeras quantized ones).
COMPUTE_LAYERS = frozenset(
    {
        "QDense",
        "QDenseBatchnorm",
        "QConv1D",
        "QConv2D",
        "QConv2DBatchnorm",
        "QConv2DTranspose",
        "QDepthwiseConv2D",
        "QSeparableConv1D",
        "QSeparableConv2D",
        "Dense",
        "Conv1D",
        "Conv2D",
        "Conv2DTranspose",
        "DepthwiseConv2D",
        "SeparableConv1D",
        "SeparableConv2D",
    }
)

#: Weight variable name -> the layer attribute holding its quantizer (fpgaq's quantized layers).
WEIGHT_QUANTIZERS: dict[str, str] = {
    "kernel": "kernel_quantizer_internal",
    "depthwise_kernel": "depthwise_quantizer_internal",
    "pointwise_kernel": "pointwise_quantizer_internal",
    "bias": "bias_quantizer_internal",
}


@dataclasses.dataclass(frozen=True)
class QuantizerKind:
    """What circuit a quantizer's values call for: its kind (one of :data:`KINDS`), bits and sign."""

    kind: str
    bits: int
    signed: bool


class _Kinded(Protocol):
    kind: str
    bits: int
    signed: bool


def quantizer_kind(q: Any) -> QuantizerKind:
    """Classify a quantizer (or ``None``/a float activation) the way QKeras' qstats does."""
    if not isinstance(q, BaseQuantizer):
        return QuantizerKind("float", 32, True)
    name = q.name
    bits = int(getattr(q, "bits", 32))
    integer = int(getattr(q, "integer", 0) or 0)
    if name in ("binary", "stochastic_binary"):
        if getattr(q, "use_01", False):
            return QuantizerKind("binary01", 1, False)
        return QuantizerKind("binary", 1, True)
    if name == "bernoulli":
        return QuantizerKind("binary01", 1, False)
    if name in ("ternary", "stochastic_ternary"):
        return QuantizerKind("ternary", 2, True)
    if name in ("quantized_po2", "quantized_relu_po2"):
        return QuantizerKind("po2", bits, name == "quantized_po2")
    if name in ("quantized_bits", "quantized_tanh", "quantized_ulaw"):
        # Two bits with one integer bit hold -1, 0, +1: a ternary circuit.
        kind = "ternary" if (bits == 2 and integer == 1) else "fixed"
        return QuantizerKind(kind, bits, True)
    if name == "quantized_relu":
        if bits == 1 and integer == 1:
            return QuantizerKind("binary01", 1, False)
        return QuantizerKind("fixed", bits, bool(getattr(q, "negative_slope", 0.0)))
    if name == "quantized_sigmoid":
        return QuantizerKind("fixed", bits, False)
    return QuantizerKind("fixed", bits, True)


def operation_name(weight: _Kinded, x: _Kinded) -> str:
    """QKeras' name of the product of a weight and an input of these kinds, e.g. ``smult_6_16``."""
    sign = "s" if (weight.signed or x.signed) else "u"
    return f"{sign}{OP_TABLE[weight.kind][KINDS.index(x.kind)]}_{weight.bits}_{x.bits}"


@dataclasses.dataclass(frozen=True)
class LayerVisit:
    """One layer of the walk with its class name and its input and output tensors (as lists)."""

    layer: Any
    cls: str
    inputs: list[Any]
    outputs: list[Any]


def as_list(t: Any) -> list[Any]:
    """A layer's input or output as a list, whether Keras gives one tensor or several."""
    return list(t) if isinstance(t, (list, tuple)) else [t]


def layer_calls(model: keras.Model, layer: Any) -> list[Any]:
    """The calls (Keras nodes) of ``layer`` that belong to ``model``'s graph.

    ``layer.input`` is the layer's first call, which is not always the model's: a
    Sequential model loaded from a ``.keras`` file has its first layer called once while
    it is rebuilt and once more in the graph the model runs, and only the second counts.
    """
    calls = list(getattr(layer, "_inbound_nodes", []))
    graph = getattr(getattr(model, "_functional", None) or model, "_nodes", None)
    if not graph:
        return calls
    return [node for i, node in enumerate(calls) if f"{id(layer)}_ib-{i}" in graph]


def layer_io(model: keras.Model, layer: Any) -> tuple[list[Any], list[Any]]:
    """The input and output tensors of ``layer``'s one call in ``model`` (several calls: a ValueError)."""
    calls = layer_calls(model, layer)
    if len(calls) > 1:
        raise ValueError(f"layer {layer.name!r} is called {len(calls)} times in model {model.name!r}")
    if not calls:
        return as_list(layer.input), as_list(layer.output)
    return list(calls[0].input_tensors), list(calls[0].output_tensors)


def walk_layers(model: keras.Model) -> Iterator[LayerVisit]:
    """The model's layers in order, without its ``InputLayer``s (they hold nothing to count)."""
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "InputLayer":
            continue
        yield LayerVisit(layer, cls, *layer_io(model, layer))


def activation_name(act: Any) -> str | None:
    """The name of a Keras activation (``"relu"``, ``"linear"``, ...), or ``None`` for no activation."""
    if act is None:
        return None
    return getattr(act, "__name__", None) or str(act)


def prod(values: Sequence[Any]) -> int:
    """The product of a shape's entries as an int (1 for an empty shape)."""
    return math.prod(int(v) for v in values)


def sample_elements(shape: Sequence[Any]) -> int:
    """Elements of one sample of a tensor of ``shape`` (the batch dimension dropped)."""
    return prod(shape[1:]) if len(shape) > 1 else 1


def weight_quantizers(layer: Any) -> dict[str, Any]:
    """Weight variable name (``kernel``, ``bias``, ...) -> the quantizer the layer applies to it (or ``None``)."""
    return {label: getattr(layer, attr, None) for label, attr in WEIGHT_QUANTIZERS.items()}


def weights_of(layer: Any) -> list[tuple[str, Any, Any]]:
    """(label, variable, quantizer) for each multiplicand weight of a compute layer."""
    cls = type(layer).__name__
    quantizers = weight_quantizers(layer)
    if "Separable" in cls:
        return [
            ("depthwise", layer.depthwise_kernel, quantizers["depthwise_kernel"]),
            ("pointwise", layer.pointwise_kernel, quantizers["pointwise_kernel"]),
        ]
    if "Depthwise" in cls:
        return [("depthwise", layer.depthwise_kernel, quantizers["depthwise_kernel"])]
    return [("kernel", layer.kernel, quantizers["kernel"])]


def operation_count(layer: Any, in_shape: tuple, out_shape: tuple) -> int:
    """Products a compute layer makes per sample (the separable pointwise half counted per position)."""
    cls = type(layer).__name__
    if "Dense" in cls:
        return prod(in_shape[1:]) * int(out_shape[-1])
    kernel = tuple(layer.kernel_size)
    c_in = int(in_shape[-1])
    spatial_out = prod(out_shape[1:-1])
    if "Separable" in cls:
        dm = int(layer.depth_multiplier)
        return spatial_out * prod(kernel) * c_in * dm + spatial_out * c_in * dm * int(out_shape[-1])
    if "Depthwise" in cls:
        return spatial_out * prod(kernel) * c_in * int(layer.depth_multiplier)
    if "Transpose" in cls:
        return prod(in_shape[1:-1]) * prod(kernel) * c_in * int(out_shape[-1])
    groups = int(getattr(layer, "groups", 1) or 1)
    return spatial_out * prod(kernel) * (c_in // groups) * int(out_shape[-1])
