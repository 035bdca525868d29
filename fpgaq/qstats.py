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

from fpgaq.keras_walk import (
    COMPUTE_LAYERS,
    QuantizerKind,
    operation_count,
    operation_name,
    quantizer_kind,
    walk_layers,
    weights_of,
)
from fpgaq.quantizers import BaseQuantizer, get_quantizer

# QuantizerKind and quantizer_kind live in fpgaq.keras_walk; they stay importable from here.
__all__ = ["LayerStats", "QuantizerKind", "format_qstats", "print_qstats", "qstats", "quantizer_kind"]


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


def _output_quantizer(layer: Any, inputs: list[Any]) -> Any:
    cls = type(layer).__name__
    if cls in ("QActivation", "QAdaptiveActivation"):
        return getattr(layer, "quantizer", None) or getattr(layer, "activation", None)
    if cls in COMPUTE_LAYERS or cls in ("QAveragePooling2D", "QGlobalAveragePooling2D"):
        act = getattr(layer, "activation", None)
        return act if isinstance(act, BaseQuantizer) else None
    if cls == "Activation" and getattr(layer, "activation", None) is keras.activations.linear:
        return inputs[0] if inputs else None
    if cls in ("Activation", "ReLU", "LeakyReLU", "Softmax", "BatchNormalization", "QBatchNormalization"):
        return None
    # Wiring and order statistics (pooling, flatten, reshape, dropout, merge) keep the type
    # of their (first) input, as QKeras assumes.
    return inputs[0] if inputs else None


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
    for visit in walk_layers(model):
        layer, inputs = visit.layer, visit.inputs
        in_qs = [tensor_q.get(id(t), in_q) for t in inputs]
        for out in visit.outputs:
            tensor_q[id(out)] = _output_quantizer(layer, in_qs)
        if visit.cls not in COMPUTE_LAYERS:
            continue
        weights = weights_of(layer)
        # QKeras names the operator after the first multiplicand (depthwise for separable layers).
        op_name = operation_name(quantizer_kind(weights[0][2]), quantizer_kind(in_qs[0]))
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
                operations=operation_count(layer, tuple(inputs[0].shape), tuple(visit.outputs[0].shape)),
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
