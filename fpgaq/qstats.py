"""Operation and weight-bit statistics of a quantized model (QKeras' ``print_qstats``).

Operation names follow QKeras so that numbers can be compared with existing
reports: ``s``/``u`` for signed/unsigned, the operator the weight and input
kinds call for (``mult``, ``barrel`` for a shift, ``mux``, ``xor``,
``adder``, ``fmult`` for float), then the weight and input bit widths, e.g.
``smult_6_16``.  Unlike QKeras, the pointwise half of a separable
convolution is counted per output position and input channel, which is the
real multiply count.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

import keras
import numpy as np

from fpgaq.quantizers import BaseQuantizer, get_quantizer

__all__ = ["LayerStats", "QuantizerKind", "print_qstats", "qstats", "quantizer_kind"]

# Operator by (weight kind, input kind), QKeras' table: the cheapest circuit
# that multiplies a weight of one kind by an input of the other.
_KINDS = ("fixed", "po2", "ternary", "binary", "binary01", "float")
_OP_TABLE = {
    "fixed": ("mult", "barrel", "mux", "mux", "mux", "fmult"),
    "po2": ("barrel", "adder", "mux", "xor", "mux", "fmult"),
    "ternary": ("mux", "mux", "mux", "mux", "xor", "fmult"),
    "binary": ("mux", "xor", "mux", "xor", "xor", "fmult"),
    "binary01": ("mux", "mux", "xor", "xor", "xor", "fmult"),
    "float": ("fmult",) * 6,
}

_COMPUTE_LAYERS = {
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


@dataclasses.dataclass(frozen=True)
class QuantizerKind:
    kind: str  # one of _KINDS
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


@dataclasses.dataclass
class LayerStats:
    """One compute layer's counts; ``weights`` lists (label, count, bits)."""

    name: str
    layer_class: str
    operation: str
    operations: int
    weights: list[tuple[str, int, int]]
    bias: tuple[int, int]
    sparsity: float
    quantizers: dict[str, str]

    @property
    def weight_bits(self) -> int:
        return sum(count * bits for _, count, bits in self.weights) + self.bias[0] * self.bias[1]


def _prod(values: Any) -> int:
    return int(np.prod([int(v) for v in values])) if len(values) else 1


def _output_quantizer(layer: Any, inputs: list[Any]) -> Any:
    cls = type(layer).__name__
    if cls in ("QActivation", "QAdaptiveActivation"):
        return getattr(layer, "quantizer", None) or getattr(layer, "activation", None)
    if cls in _COMPUTE_LAYERS or cls in ("QAveragePooling2D", "QGlobalAveragePooling2D"):
        act = getattr(layer, "activation", None)
        return act if isinstance(act, BaseQuantizer) else None
    if cls == "Activation" and getattr(layer, "activation", None) is keras.activations.linear:
        return inputs[0] if inputs else None
    if cls in ("Activation", "ReLU", "LeakyReLU", "Softmax", "BatchNormalization", "QBatchNormalization"):
        return None
    # Wiring and order statistics (pooling, flatten, reshape, dropout, merge) keep the type
    # of their (first) input, as QKeras assumes.
    return inputs[0] if inputs else None


def _as_list(t: Any) -> list[Any]:
    return list(t) if isinstance(t, (list, tuple)) else [t]


def _weights_of(layer: Any) -> list[tuple[str, Any, Any]]:
    """(label, variable, quantizer) for each multiplicand weight of a compute layer."""
    cls = type(layer).__name__
    if "Separable" in cls:
        return [
            ("depthwise", layer.depthwise_kernel, getattr(layer, "depthwise_quantizer_internal", None)),
            ("pointwise", layer.pointwise_kernel, getattr(layer, "pointwise_quantizer_internal", None)),
        ]
    if "Depthwise" in cls:
        quantizer = getattr(layer, "depthwise_quantizer_internal", None)
        return [("depthwise", layer.depthwise_kernel, quantizer)]
    return [("kernel", layer.kernel, getattr(layer, "kernel_quantizer_internal", None))]


def _operation_count(layer: Any, in_shape: tuple, out_shape: tuple) -> int:
    cls = type(layer).__name__
    if "Dense" in cls:
        return _prod(in_shape[1:]) * int(out_shape[-1])
    kernel = tuple(layer.kernel_size)
    c_in = int(in_shape[-1])
    spatial_out = _prod(out_shape[1:-1])
    if "Separable" in cls:
        dm = int(layer.depth_multiplier)
        return spatial_out * _prod(kernel) * c_in * dm + spatial_out * c_in * dm * int(out_shape[-1])
    if "Depthwise" in cls:
        return spatial_out * _prod(kernel) * c_in * int(layer.depth_multiplier)
    if "Transpose" in cls:
        return _prod(in_shape[1:-1]) * _prod(kernel) * c_in * int(out_shape[-1])
    groups = int(getattr(layer, "groups", 1) or 1)
    return spatial_out * _prod(kernel) * (c_in // groups) * int(out_shape[-1])


def _quantized_values(var: Any, q: Any) -> np.ndarray:
    w = keras.ops.convert_to_numpy(var)
    if isinstance(q, BaseQuantizer):
        w = keras.ops.convert_to_numpy(q(keras.ops.convert_to_tensor(w)))
    return np.asarray(w)


def qstats(model: keras.Model, input_quantizer: Any = "quantized_relu(8,0)") -> dict[str, Any]:
    """Per-layer operation counts and types, weight bits and sparsity.

    ``input_quantizer`` is the type assumed for the model's inputs when no
    ``QActivation`` follows them (QKeras assumes 8-bit unsigned).
    """
    in_q = get_quantizer(input_quantizer)
    tensor_q: dict[int, Any] = {id(t): in_q for t in model.inputs}
    layers: list[LayerStats] = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        inputs = _as_list(layer.input)
        in_qs = [tensor_q.get(id(t), in_q) for t in inputs]
        for out in _as_list(layer.output):
            tensor_q[id(out)] = _output_quantizer(layer, in_qs)
        if type(layer).__name__ not in _COMPUTE_LAYERS:
            continue
        x_kind = quantizer_kind(in_qs[0])
        weights = _weights_of(layer)
        # QKeras names the operator after the first multiplicand (depthwise for separable layers).
        w_kind = quantizer_kind(weights[0][2])
        op = _OP_TABLE[w_kind.kind][_KINDS.index(x_kind.kind)]
        sign = "s" if (w_kind.signed or x_kind.signed) else "u"
        op_name = f"{sign}{op}_{w_kind.bits}_{x_kind.bits}"
        counts, zeros, total = [], 0, 0
        for label, var, q in weights:
            values = _quantized_values(var, q)
            zeros += int(np.sum(values == 0))
            total += values.size
            counts.append((label, int(values.size), quantizer_kind(q).bits))
        bias_q = getattr(layer, "bias_quantizer_internal", None)
        bias = getattr(layer, "bias", None)
        bias_count = int(np.prod(bias.shape)) if (bias is not None and getattr(layer, "use_bias", True)) else 0
        described = {
            label: (str(q) if q is not None else "float") for label, _, q in [*weights, ("bias", None, bias_q)]
        }
        act = getattr(layer, "activation", None)
        if isinstance(act, BaseQuantizer):
            described["activation"] = str(act)
        layers.append(
            LayerStats(
                name=layer.name,
                layer_class=type(layer).__name__,
                operation=op_name,
                operations=_operation_count(layer, tuple(inputs[0].shape), tuple(_as_list(layer.output)[0].shape)),
                weights=counts,
                bias=(bias_count, quantizer_kind(bias_q).bits if bias_count else 0),
                sparsity=zeros / total if total else 0.0,
                quantizers=described,
            )
        )
    by_type: dict[str, int] = defaultdict(int)
    for s in layers:
        by_type[s.operation] += s.operations
    total_weights = sum(c for s in layers for _, c, _ in s.weights)
    zero_weights = sum(round(s.sparsity * sum(c for _, c, _ in s.weights)) for s in layers)
    return {
        "layers": {s.name: dataclasses.asdict(s) | {"weight_bits": s.weight_bits} for s in layers},
        "operations": dict(sorted(by_type.items())),
        "total_operations": sum(by_type.values()),
        "total_weight_bits": sum(s.weight_bits for s in layers),
        "total_sparsity": zero_weights / total_weights if total_weights else 0.0,
    }


def format_qstats(stats: dict[str, Any]) -> str:
    lines = ["", "Number of operations in model:"]
    for name, s in stats["layers"].items():
        lines.append(f"    {name:30}: {s['operations']:>8} ({s['operation']})")
    lines += ["", "Number of operation types in model:"]
    for op, n in stats["operations"].items():
        lines.append(f"    {op:30}: {n:>8}")
    lines += ["", "Weight profiling:"]
    for name, s in stats["layers"].items():
        for label, count, bits in s["weights"]:
            lines.append(f"    {name + '_' + label:30}: {count:>8} ({bits}-bit unit)")
        lines.append(f"    {name + '_bias':30}: {s['bias'][0]:>8} ({s['bias'][1]}-bit unit)")
    lines += ["    " + "-" * 40, f"    {'Total Bits':30}: {stats['total_weight_bits']:>8}", "", "Weight sparsity:"]
    for name, s in stats["layers"].items():
        lines.append(f"    {name:30}: {s['sparsity']:.4f}")
    lines += ["    " + "-" * 40, f"    {'Total Sparsity':30}: {stats['total_sparsity']:.4f}"]
    return "\n".join(lines)


def print_qstats(model: keras.Model, input_quantizer: Any = "quantized_relu(8,0)") -> dict[str, Any]:
    """Print QKeras' qstats tables and return the numbers behind them."""
    stats = qstats(model, input_quantizer)
    print(format_qstats(stats))
    return stats
