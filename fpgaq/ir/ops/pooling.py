"""Pooling with ``padding='same'`` and fpgaq's quantized average pooling.

Keras (TensorFlow) pools a ``'same'`` border window over the cells inside
the input only: max pooling ignores the padded cells, average pooling
divides by the number of inside cells.  Those are the ``padded_*`` ops; a
``'same'`` layer that needs no padding keeps the plain op.

QAveragePooling2D and QGlobalAveragePooling2D with an ``average_quantizer``
multiply the window sum by ``average_quantizer(1 / area)`` (a border window
of ``count`` cells by ``area / count`` times that, as QKeras scales its
average), then apply their activation.  The multiplier is a binary fraction
whenever ``area / count`` is one, and the ``scaled_avgpool2d`` node computes
the product exactly; other border factors (``4 / 3``) have no exact value
and are refused.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Any

import numpy as np

from fpgaq.fixed import FixedType, Rounding, apply_overflow, round_divide
from fpgaq.ir.graph import Graph, Node, Weight
from fpgaq.ir.ops._common import as_ints, channels_last, like_input, unsupported
from fpgaq.ir.precision import PRECISION_RULES, range_type
from fpgaq.ir.trace import HANDLERS, explicit_padding
from fpgaq.ir.weights import fit_type
from fpgaq.layers.pooling import same_padding_counts
from fpgaq.reference import KERNELS

__all__ = ["window_counts"]


def window_counts(in_spatial: tuple[int, ...], pool: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    """Cells inside the input for each output window of ``padding='same'`` (shape: output spatial)."""
    axes = [same_padding_counts(n, p, s) for n, p, s in zip(in_spatial, pool, strides)]
    return functools.reduce(np.multiply.outer, axes).astype(np.int64)


def _is_linear(act: Any) -> bool:
    return act is None or getattr(act, "__name__", "") == "linear"


# ----------------------------------------------------------------------------- trace
def _pool_node(
    t: Any,
    layer: Any,
    kind: str,
    ins: list[str],
    out_shape: tuple[int, ...],
    lc: Any,
    name: str,
    result: FixedType | None,
) -> str:
    """A Keras max/average pool (valid or same) named ``name``."""
    channels_last(layer)
    in_shape = t.tensors[ins[0]].shape
    ndim = len(in_shape) - 1
    if layer.padding not in ("valid", "same"):
        raise unsupported(layer, f"padding={layer.padding!r} is not supported for pooling", "use 'valid' or 'same'")
    pads = explicit_padding(layer, in_shape, ndim)
    attrs: dict[str, Any] = {"pool_size": tuple(layer.pool_size), "strides": tuple(layer.strides), "padding": pads}
    op = f"{kind}{ndim}d"
    if any(p != (0, 0) for p in pads):
        op = f"padded_{op}"
        if kind == "avgpool":
            attrs["counts"] = window_counts(in_shape[:-1], attrs["pool_size"], attrs["strides"])
    node = Node(name, op, ins[:1], name, attrs, options=t.options(lc), source=layer.name)
    return t.add(node, out_shape, result)


def _keras_pool(kind: str, original: Any) -> Any:
    def handler(t: Any, layer: Any, ins: list[str], out_shape: tuple[int, ...], lc: Any) -> str:
        if getattr(layer, "padding", "valid") == "valid":
            return original(t, layer, ins, out_shape, lc)
        return _pool_node(t, layer, kind, ins, out_shape, lc, layer.name, t.explicit(lc, "result"))

    return handler


def _multiplier(layer: Any, counts: np.ndarray, area: int) -> Weight:
    """``area / count * average_quantizer(1 / area)`` per output position, exactly."""
    q = layer.average_quantizer_internal
    recip = float(np.asarray(layer.quantized_reciprocal(area)))
    values = np.empty(counts.shape, dtype=np.float64)
    for idx, count in np.ndenumerate(counts):
        factor = Fraction(area, int(count))
        if factor.denominator & (factor.denominator - 1):
            raise unsupported(
                layer,
                f"padding='same' makes border windows of {count} cells, which QKeras scales by "
                f"pool_area / {count} = {area}/{count}: not a binary fraction, so no hardware matches it exactly",
                "use padding='valid', or pool and input sizes whose border windows hold a power-of-two "
                "fraction of the pool (pool_size=(2, 2) always does)",
            )
        values[idx] = float(factor * Fraction(recip))
    return Weight(values, fit_type(values, f"layer {layer.name!r} average multiplier"), None, str(q))


def _finish(t: Any, layer: Any, src: str, lc: Any) -> str:
    if _is_linear(layer.activation):
        return src
    return t.activation(layer, layer.activation, src, layer.name, lc)


def _qaverage(t: Any, layer: Any, ins: list[str], out_shape: tuple[int, ...], lc: Any) -> str:
    channels_last(layer)
    linear = _is_linear(layer.activation)
    name = layer.name if linear else f"{layer.name}_pool"
    result = t.explicit(lc, "result") if linear else None
    if layer.average_quantizer_internal is None:
        return _finish(t, layer, _pool_node(t, layer, "avgpool", ins, out_shape, lc, name, result), lc)
    in_shape = t.tensors[ins[0]].shape
    if layer.padding not in ("valid", "same"):
        raise unsupported(layer, f"padding={layer.padding!r} is not supported for pooling", "use 'valid' or 'same'")
    pool, strides = tuple(layer.pool_size), tuple(layer.strides)
    pads = explicit_padding(layer, in_shape, 2)
    area = int(np.prod(pool))
    if layer.padding == "same":
        counts = window_counts(in_shape[:-1], pool, strides)
    else:
        counts = np.full(out_shape[:-1], area, dtype=np.int64)
    attrs = {"pool_size": pool, "strides": strides, "padding": pads, "counts": counts}
    weights = {"multiplier": _multiplier(layer, counts, area)}
    node = Node(name, "scaled_avgpool2d", ins[:1], name, attrs, weights, options=t.options(lc), source=layer.name)
    return _finish(t, layer, t.add(node, out_shape, result), lc)


def _qglobal_average(t: Any, layer: Any, ins: list[str], out_shape: tuple[int, ...], lc: Any) -> str:
    channels_last(layer)
    if getattr(layer, "keepdims", False):
        raise unsupported(layer, "keepdims=True is not supported", "use keepdims=False and a Reshape")
    linear = _is_linear(layer.activation)
    name = layer.name if linear else f"{layer.name}_pool"
    result = t.explicit(lc, "result") if linear else None
    in_shape = t.tensors[ins[0]].shape
    area = int(np.prod(in_shape[:-1]))
    if layer.average_quantizer_internal is None:
        node = Node(name, "global_avgpool2d", ins[:1], name, {}, options=t.options(lc), source=layer.name)
    else:
        counts = np.array(area, dtype=np.int64)
        attrs = {"counts": counts}
        weights = {"multiplier": _multiplier(layer, counts, area)}
        node = Node(
            name, "global_scaled_avgpool2d", ins[:1], name, attrs, weights, options=t.options(lc), source=layer.name
        )
    return _finish(t, layer, t.add(node, out_shape, result), lc)


# ----------------------------------------------------------------------------- precision
def _padded_max_rule(graph: Graph, node: Node, ins: list[FixedType], config: Any) -> FixedType:
    return ins[0]


def _padded_avg_rule(graph: Graph, node: Node, ins: list[FixedType], config: Any) -> FixedType:
    """The mean of ``count`` inputs: exact when every count is a power of two, else rounded
    to nearest-even one bit below the largest count's, as precision inference does for
    average pools."""
    tin = ins[0]
    counts = {int(c) for c in np.asarray(node.attrs["counts"]).reshape(-1)}
    if all(c & (c - 1) == 0 for c in counts):
        return FixedType(tin.width + max(counts).bit_length() - 1, tin.integer, tin.signed)
    k = math.ceil(math.log2(max(counts)))
    return FixedType(tin.width + k + 1, tin.integer, tin.signed, Rounding.RND_CONV)


def _scaled_rule(graph: Graph, node: Node, ins: list[FixedType], config: Any) -> FixedType:
    """Window sums (``accum``) exactly, times the multiplier exactly (``exact``)."""
    tin = ins[0]
    m = node.weights["multiplier"]
    counts = np.asarray(node.attrs["counts"]).reshape(-1)
    mults = np.asarray(m.values, dtype=np.float64).reshape(-1)
    ends = []
    for count, mult in {(int(c), float(v)) for c, v in zip(counts, mults)}:
        ends += [Fraction(mult) * count * tin.min, Fraction(mult) * count * tin.max]
    frac = tin.frac + m.type.frac
    exact = range_type(min(ends), max(ends), frac)
    top = int(counts.max())
    node.types["accum"] = range_type(top * tin.min, top * tin.max, tin.frac)
    node.types["exact"] = exact
    return exact


# ----------------------------------------------------------------------------- reference
def _windows(x: np.ndarray, node: Node, fill: int) -> np.ndarray:
    """(N, out..., C, pool...) windows over ``x`` padded with ``fill``."""
    pool, strides = node.attrs["pool_size"], node.attrs["strides"]
    ndim = len(pool)
    padded = np.pad(x, [(0, 0), *node.attrs["padding"], (0, 0)], constant_values=fill)
    win = np.lib.stride_tricks.sliding_window_view(padded, pool, axis=tuple(range(1, ndim + 1)))
    return win[(slice(None), *[slice(None, None, s) for s in strides])]


def _spatial_axes(node: Node) -> tuple[int, ...]:
    ndim = len(node.attrs["pool_size"])
    return tuple(range(-ndim, 0))


def _padded_max(node: Node, xs: list[np.ndarray], tins: list[FixedType], tout: FixedType) -> np.ndarray:
    tin = tins[0]
    x = as_ints(xs[0], tin.width + 1)
    best = np.max(_windows(x, node, tin.min_int), axis=_spatial_axes(node))
    return like_input(tout.cast(best, tin), xs[0])


def _padded_avg(node: Node, xs: list[np.ndarray], tins: list[FixedType], tout: FixedType) -> np.ndarray:
    tin = tins[0]
    counts = np.asarray(node.attrs["counts"])
    shift = tout.frac - tin.frac
    bits = tin.width + int(counts.max()).bit_length() + abs(shift) + 2
    x = as_ints(xs[0], bits)
    total = np.sum(_windows(x, node, 0), axis=_spatial_axes(node))
    den = counts[..., None].astype(total.dtype)
    num = total << shift if shift >= 0 else total
    if shift < 0:
        den = den << (-shift)
    return like_input(apply_overflow(round_divide(num, den, tout.rounding), tout), xs[0])


def _scaled_avg(node: Node, xs: list[np.ndarray], tins: list[FixedType], tout: FixedType) -> np.ndarray:
    exact = node.types["exact"]
    x = as_ints(xs[0], exact.width + 2)
    if node.op.startswith("global_"):
        total = np.sum(x, axis=tuple(range(1, x.ndim - 1)))
        mult = as_ints(node.weights["multiplier"].mantissa, exact.width + 2)
    else:
        total = np.sum(_windows(x, node, 0), axis=_spatial_axes(node))
        mult = as_ints(node.weights["multiplier"].mantissa, exact.width + 2)[..., None]
    return like_input(tout.cast(total * mult, exact), xs[0])


for _cls, _kind in (
    ("MaxPooling1D", "maxpool"),
    ("MaxPooling2D", "maxpool"),
    ("AveragePooling1D", "avgpool"),
    ("AveragePooling2D", "avgpool"),
):
    HANDLERS[_cls] = _keras_pool(_kind, HANDLERS[_cls])
HANDLERS["QAveragePooling2D"] = _qaverage
HANDLERS["QGlobalAveragePooling2D"] = _qglobal_average
for _n in (1, 2):
    PRECISION_RULES[f"padded_maxpool{_n}d"] = _padded_max_rule
    PRECISION_RULES[f"padded_avgpool{_n}d"] = _padded_avg_rule
    KERNELS[f"padded_maxpool{_n}d"] = _padded_max
    KERNELS[f"padded_avgpool{_n}d"] = _padded_avg
PRECISION_RULES["scaled_avgpool2d"] = _scaled_rule
PRECISION_RULES["global_scaled_avgpool2d"] = _scaled_rule
KERNELS["scaled_avgpool2d"] = _scaled_avg
KERNELS["global_scaled_avgpool2d"] = _scaled_avg
