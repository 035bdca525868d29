"""Fold a per-channel ``scale`` node (an unfolded batch normalization) into the
dense or convolution node before it.

``(x @ k + b) * s + t == x @ (k * s) + (b * s + t)`` holds exactly in
rational arithmetic, and the products of dyadic numbers are dyadic, so the
folded node computes the very same exact result as the pair did and casts it
once into the scale node's output type.  The fold is skipped whenever that
argument does not hold: if the linear node's result or accumulator type is
declared (the pair would round or wrap in between), if the scale node has
internal types of its own, or if a folded weight would not be exactly
representable (float64, or the 2**-80 grid limit of ``fit_type``).
"""

from __future__ import annotations

import numpy as np

from fpgaq.ir.graph import Graph, Node, Weight
from fpgaq.ir.opspec import is_fusable
from fpgaq.ir.weights import fit_type

__all__ = ["fold_batchnorm"]

# ldexp of a float64 stays exact while the result is a normal number
_MAX_FRAC = 900


def _per_channel(w: Weight, channels: int) -> np.ndarray | None:
    """Mantissas of a per-channel weight (or of one value for all channels) as Python ints."""
    m = np.asarray(w.mantissa).reshape(-1).astype(object)
    if m.size == 1:
        return np.repeat(m, channels)
    return m if m.size == channels else None


def _exact_weight(mantissa: np.ndarray, frac: int, what: str) -> Weight | None:
    """A Weight with values ``mantissa * 2**-frac``, or None if float64 cannot hold them exactly."""
    if abs(frac) > _MAX_FRAC:
        return None
    flat = mantissa.reshape(-1)
    if any(abs(int(v)).bit_length() > 1000 for v in flat):
        return None  # float() would overflow
    floats = np.array([float(v) for v in flat], dtype=np.float64)
    if any(int(f) != v for f, v in zip(floats, flat)):
        return None  # more significant bits than float64 holds
    values = np.ldexp(floats, -frac).reshape(mantissa.shape)
    try:
        return Weight(values, fit_type(values, what))
    except ValueError:
        return None


def _folded_weights(linear: Node, scale: Node, channels: int) -> dict[str, Weight] | None:
    kernel = linear.weights["kernel"]
    s_w, t_w = scale.weights["scale"], scale.weights["shift"]
    s, t = _per_channel(s_w, channels), _per_channel(t_w, channels)
    if s is None or t is None:
        return None
    km = np.asarray(kernel.mantissa).astype(object)
    s_b = s.reshape(km.shape[-2], km.shape[-1]) if linear.op.startswith("depthwise") else s
    new_kernel = _exact_weight(km * s_b, kernel.type.frac + s_w.type.frac, f"node {linear.name!r} folded kernel")
    bias = linear.weights.get("bias")
    if bias is None:
        frac = t_w.type.frac
        bias_m = t
    else:
        frac = max(bias.type.frac + s_w.type.frac, t_w.type.frac)
        bm = np.asarray(bias.mantissa).reshape(-1).astype(object)
        bias_m = (bm * s) * (1 << (frac - bias.type.frac - s_w.type.frac)) + t * (1 << (frac - t_w.type.frac))
    new_bias = _exact_weight(bias_m, frac, f"node {linear.name!r} folded bias")
    if new_kernel is None or new_bias is None:
        return None
    return {"kernel": new_kernel, "bias": new_bias}


def _foldable_linear(graph: Graph, scale: Node) -> Node | None:
    """The linear node whose result only ``scale`` reads, if folding keeps every value."""
    if scale.op != "scale" or scale.types or set(scale.weights) != {"scale", "shift"}:
        return None
    rank = len(graph.tensors[scale.output].shape)
    if scale.attrs.get("axis", -1) not in (-1, rank - 1):
        return None
    src = scale.inputs[0]
    linear = graph.producer(src)
    if linear is None or not is_fusable(linear.op) or "activation" in linear.attrs or linear.types:
        return None
    if graph.tensors[src].type is not None or src in graph.outputs or len(graph.consumers(src)) != 1:
        return None
    return linear


def fold_batchnorm(graph: Graph) -> tuple[Graph, bool]:
    """Fold one scale node into its linear producer; report whether one was folded."""
    for node in graph.nodes:
        linear = _foldable_linear(graph, node)
        if linear is None:
            continue
        channels = graph.tensors[linear.output].shape[-1]
        weights = _folded_weights(linear, node, channels)
        if weights is None:
            continue
        g = graph.copy()
        folded = g.node(linear.name)
        folded.weights = weights
        folded.output = node.output
        g.nodes = [n for n in g.nodes if n.name != node.name]
        g.tensors.pop(linear.output)
        return g, True
    return graph, False
