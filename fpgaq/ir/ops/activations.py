"""Keras' piecewise-linear activations as one ``piecewise_linear`` op.

LeakyReLU, ReLU with ``max_value`` / ``negative_slope`` / ``threshold``,
``relu6``, ``hard_tanh``, ``hard_sigmoid`` and ``leaky_relu`` are each a few
pieces ``y = slope * x + offset``.  The node holds them as exact rationals
(Keras' float32 constants, or ``1/6``), evaluates the piece exactly and
rounds once, into the output type.  A function that only clips and shifts
(slopes 0 and 1) gets the exact output type; one that multiplies needs a
type to round into: the layer's ``Precision.result``, else the config's
default precision (round to nearest even, saturate) with a warning.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction
from typing import Any

import numpy as np

from fpgaq.fixed import FixedType, apply_overflow, round_divide
from fpgaq.ir.graph import Graph, Node
from fpgaq.ir.ops._common import as_ints, float32_fraction, like_input
from fpgaq.ir.precision import PRECISION_RULES, range_type
from fpgaq.ir.trace import HANDLERS
from fpgaq.ir.weights import UnquantizedWarning
from fpgaq.reference import KERNELS

__all__ = ["KERAS_FUNCTIONS", "Piece", "evaluate_pieces", "relu_pieces"]

#: ``(lower, slope, offset)``: ``y = slope * x + offset`` where ``x > lower`` (``None``: no lower bound)
#: and ``x`` is at most the next piece's ``lower``; pieces in increasing order of ``lower``.
Piece = tuple[Fraction | None, Fraction, Fraction]

_ZERO, _ONE = Fraction(0), Fraction(1)


def relu_pieces(negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0) -> list[Piece]:
    """Keras' ``relu(x, negative_slope, max_value, threshold)``:
    ``slope * (x - threshold)`` up to the threshold, then ``min(x, max_value)``."""
    s, t = float32_fraction(negative_slope), float32_fraction(threshold)
    pieces: list[Piece] = [(None, s, -s * t)]
    if max_value is None:
        return [*pieces, (t, _ONE, _ZERO)]
    m = float32_fraction(max_value)
    if t < 0:  # x in (t, 0] is clipped up to 0
        pieces.append((t, _ZERO, _ZERO))
        t = _ZERO
    if t < m:
        return [*pieces, (t, _ONE, _ZERO), (m, _ZERO, m)]
    return [*pieces, (t, _ZERO, m)]


#: Keras activation functions (by ``__name__``) that are piecewise linear.
KERAS_FUNCTIONS: dict[str, list[Piece]] = {
    "relu6": relu_pieces(max_value=6.0),
    "hard_tanh": [(None, _ZERO, -_ONE), (-_ONE, _ONE, _ZERO), (_ONE, _ZERO, _ONE)],
    "hard_sigmoid": [(None, _ZERO, _ZERO), (Fraction(-3), Fraction(1, 6), Fraction(1, 2)), (Fraction(3), _ZERO, _ONE)],
    "leaky_relu": relu_pieces(negative_slope=0.2),  # keras.activations.leaky_relu's default slope
}


def _only_clips(pieces: list[Piece]) -> bool:
    return all(slope in (_ZERO, _ONE) and _dyadic(offset) for _, slope, offset in pieces)


def _dyadic(v: Fraction) -> bool:
    return v.denominator & (v.denominator - 1) == 0


# ----------------------------------------------------------------------------- trace
def _emit(t: Any, layer: Any, function: str, pieces: list[Piece], src: str, lc: Any) -> str:
    result = t.explicit(lc, "result")
    if result is None and not _only_clips(pieces):
        result = t.config.default_precision.replace(rounding="RND_CONV", overflow="SAT")
        warnings.warn(
            f"layer {layer.name!r} ({type(layer).__name__}): {function} multiplies by a constant, so its output "
            f"must round; using the default precision {result.ap_fixed()} (set Precision.result for this layer in "
            "the config, or follow it with a quantizer)",
            UnquantizedWarning,
            stacklevel=3,
        )
    attrs = {"function": function, "pieces": tuple(pieces)}
    node = Node(layer.name, "piecewise_linear", [src], layer.name, attrs, options=t.options(lc), source=layer.name)
    return t.add(node, t.tensors[src].shape, result)


def _leaky_relu(t: Any, layer: Any, ins: list[str], out_shape: tuple[int, ...], lc: Any) -> str:
    return _emit(t, layer, "leaky_relu", relu_pieces(negative_slope=float(layer.negative_slope)), ins[0], lc)


def _with_plain_relu(original: Any) -> Any:
    def handler(t: Any, layer: Any, ins: list[str], out_shape: tuple[int, ...], lc: Any) -> str:
        slope, top, threshold = float(layer.negative_slope), layer.max_value, float(layer.threshold)
        if slope == 0.0 and top is None and threshold == 0.0:
            return original(t, layer, ins, out_shape, lc)
        pieces = relu_pieces(slope, None if top is None else float(top), threshold)
        return _emit(t, layer, "relu", pieces, ins[0], lc)

    return handler


def _with_keras_functions(original: Any) -> Any:
    def handler(t: Any, layer: Any, ins: list[str], out_shape: tuple[int, ...], lc: Any) -> str:
        act = getattr(layer, "activation", None)
        name = getattr(act, "__name__", None)
        if callable(act) and name in KERAS_FUNCTIONS and getattr(act, "__module__", "").startswith("keras"):
            return _emit(t, layer, name, KERAS_FUNCTIONS[name], ins[0], lc)
        return original(t, layer, ins, out_shape, lc)

    return handler


# ----------------------------------------------------------------------------- precision
def _grid_extremes(pieces: list[Piece], tin: FixedType) -> list[Fraction]:
    """Outputs at the first and last input grid point of every piece (linear in between)."""
    scale = Fraction(2) ** tin.frac
    values = []
    for i, (lower, slope, offset) in enumerate(pieces):
        upper = pieces[i + 1][0] if i + 1 < len(pieces) else None
        first = tin.min_int if lower is None else max(tin.min_int, math.floor(lower * scale) + 1)
        last = tin.max_int if upper is None else min(tin.max_int, math.floor(upper * scale))
        if first <= last:
            values += [slope * Fraction(first) / scale + offset, slope * Fraction(last) / scale + offset]
    return values


def piecewise_rule(graph: Graph, node: Node, ins: list[FixedType], config: Any) -> FixedType:
    """The declared output type, or (slopes 0 and 1 only) the exact one."""
    declared = graph.tensors[node.output].type
    if declared is not None:
        return declared
    tin, pieces = ins[0], list(node.attrs["pieces"])
    if not all(_dyadic(s) and _dyadic(o) for _, s, o in pieces):
        raise ValueError(
            f"node {node.name!r}: {node.attrs.get('function')} has non-binary constants and needs an output type; "
            f"set Precision.result for layer {node.source!r} in the config"
        )
    frac = tin.frac
    for _, slope, offset in pieces:
        frac = max(frac, tin.frac + _frac_bits(slope), _frac_bits(offset))
    values = _grid_extremes(pieces, tin)
    return range_type(min(values), max(values), frac)


def _frac_bits(v: Fraction) -> int:
    return v.denominator.bit_length() - 1


# ----------------------------------------------------------------------------- reference
def evaluate_pieces(pieces: list[Piece], m: np.ndarray, tin: FixedType, tout: FixedType) -> np.ndarray:
    """Output mantissas in ``tout`` for input mantissas ``m`` of ``tin``: exact, then one rounding."""
    scale_in = Fraction(2) ** tin.frac
    scale_out = Fraction(2) ** tout.frac
    x = as_ints(m, tin.width + 1)
    piece = np.zeros(x.shape, dtype=np.int64)
    for lower, _, _ in pieces[1:]:
        piece += np.asarray(x > math.floor(lower * scale_in), dtype=np.int64)
    out = np.zeros(x.shape, dtype=object if tout.wide else np.int64)
    for i, (_, slope, offset) in enumerate(pieces):
        mask = piece == i
        if not mask.any():
            continue
        # y * 2**fout = (A * x + B) / den with integers A, B, den
        a, b = slope * scale_out / scale_in, offset * scale_out
        den = math.lcm(a.denominator, b.denominator)
        big_a, big_b = a.numerator * (den // a.denominator), b.numerator * (den // b.denominator)
        bits = max(abs(big_a).bit_length() + tin.width, abs(big_b).bit_length(), den.bit_length()) + 2
        xm = as_ints(x[mask], bits)
        q = apply_overflow(round_divide(xm * big_a + big_b, den, tout.rounding), tout)
        out[mask] = q
    return out


def _piecewise_kernel(node: Node, xs: list[np.ndarray], tins: list[FixedType], tout: FixedType) -> np.ndarray:
    return like_input(evaluate_pieces(list(node.attrs["pieces"]), xs[0], tins[0], tout), xs[0])


HANDLERS["LeakyReLU"] = _leaky_relu
HANDLERS["ReLU"] = _with_plain_relu(HANDLERS["ReLU"])
HANDLERS["Activation"] = _with_keras_functions(HANDLERS["Activation"])
HANDLERS["QActivation"] = _with_keras_functions(HANDLERS["QActivation"])
PRECISION_RULES["piecewise_linear"] = piecewise_rule
KERNELS["piecewise_linear"] = _piecewise_kernel
