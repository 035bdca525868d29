"""RTL lowering of element-wise functions: ``activation``, ``piecewise_linear`` and ``step``.

The integer building blocks they share with the pooling and table
lowerings (constant multiplication and division, comparisons, selection
trees, the choice between arithmetic and a ROM) live in
:mod:`fpgaq.rtl.lower.blocks`.  ROM contents come from the reference
kernel, the one numeric truth.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

import fpgaq.ir.ops  # noqa: F401  (registers the reference kernels the ROM candidates read)
from fpgaq.fixed import FixedType, Overflow, apply_overflow, overflow_rule, round_divide
from fpgaq.ir.graph import Graph, Node
from fpgaq.ir.ops.activations import evaluate_pieces
from fpgaq.ir.ops.quantized_activations import step_table
from fpgaq.reference import KERNELS
from fpgaq.rtl.lower.blocks import (
    divide,
    elementwise,
    integer,
    relabel,
    rom_candidate,
    select,
    times_const,
)
from fpgaq.rtl.lower.registry import RtlLoweringError, lowering
from fpgaq.rtl.lower.tables import TABLE_FUNCTIONS, table_activation
from fpgaq.rtl.netlist import Netlist, Signal, bits_for_range

__all__ = ["apply_activation"]

#: Functions of the ``activation`` op lowered here (sigmoid and tanh: fpgaq.rtl.lower.tables).
FUNCTIONS = ("linear", "relu", "leaky_relu", "hard_sigmoid", "hard_tanh")


def _in_type(net: Netlist, x: Signal, t: FixedType) -> Signal:
    """``x``'s integer as a mantissa of ``t`` (a no-op when the producer set frac, as lowerings do)."""
    return x if x.frac == t.frac else relabel(net, x, t.frac)


def _cast_const(value: int, frac: int, tout: FixedType) -> int:
    """The mantissa ``tout`` assigns to the constant ``value * 2**-frac``."""
    width = bits_for_range(min(value, 0), max(value, 0))[0] + 1
    src = FixedType(width, width - frac, True)
    return int(tout.cast(np.array([value], dtype=object), src)[0])


def _dsp(options: dict[str, Any] | None) -> bool:
    return bool(options) and options.get("multiplier") == "dsp"


# ----------------------------------------------------------------------------- activation
def _nonneg(net: Netlist, x: Signal) -> Signal:
    """``x`` where ``x >= 0`` (anything elsewhere): its low bits read unsigned, free wiring.
    Callers select another value for negative ``x``."""
    if x.hi <= 0:
        return net.const(0, x.frac)
    return net.wrap(x, bits_for_range(0, x.hi)[0], False)


def _relu(net: Netlist, x: Signal, attrs: dict[str, Any], tin: FixedType, tout: FixedType) -> Signal:
    if (not tout.signed and tout.overflow is not Overflow.WRAP) or x.lo >= 0:
        return net.cast(x, tout)  # an unsigned saturating output already sends negatives to 0
    zero = net.cast(net.const(0, x.frac), tout)
    # cast(max(x, 0)): the cast of x's non-negative part, and 0 for negative x
    return net.mux(net.sign(x), zero, net.cast(_nonneg(net, x), tout))


def _leaky_relu(net: Netlist, x: Signal, attrs: dict[str, Any], tin: FixedType, tout: FixedType) -> Signal:
    pos_t, neg_t, s = attrs["positive_type"], attrs["negative_type"], int(attrs["shift"])
    pos = net.cast(net.cast(_nonneg(net, x), pos_t), tout)
    if x.lo >= 0:
        return pos
    # negative part, read with s more fractional bits: the value times 2**-s
    neg_in = relabel(net, net.min(x, net.const(0, x.frac)), x.frac + s)
    neg = net.cast(net.cast(neg_in, neg_t), tout)
    return net.mux(net.sign(x), neg, pos)


def _hard(net: Netlist, x: Signal, attrs: dict[str, Any], tin: FixedType, tout: FixedType) -> Signal:
    """clip(x/2 + 1/2, 0, 1) or clip(x, -1, 1) exactly, then the output cast.  A side of the clip
    is left out where the output's saturation gives the same result (the cast is monotone)."""
    sig = attrs["function"] == "hard_sigmoid"
    up = max(-tin.frac, 0)
    frac = x.frac + up + int(sig)  # x/2 for hard_sigmoid: the same bits, one more fractional bit
    v = net.shl(x, up, frac)
    one = 1 << frac
    if sig:
        v = net.add(v, net.const(one >> 1, frac))
    lo, hi = (0 if sig else -one), one
    rule = overflow_rule(tout)
    if rule.saturates:
        if _cast_const(lo, frac, tout) == rule.low:
            lo = min(lo, v.lo)
        if _cast_const(hi, frac, tout) == rule.high:
            hi = max(hi, v.hi)
    return net.cast(net.clip(v, lo, hi), tout)


_ACTIVATIONS: dict[str, Callable[[Netlist, Signal, dict[str, Any], FixedType, FixedType], Signal]] = {
    "linear": lambda net, x, attrs, tin, tout: net.cast(x, tout),
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "hard_sigmoid": _hard,
    "hard_tanh": _hard,
}


def apply_activation(
    net: Netlist,
    attrs: dict[str, Any],
    xs: list[Signal],
    tin: FixedType,
    tout: FixedType,
    types: dict[str, FixedType] | None = None,
    options: dict[str, Any] | None = None,
    where: str = "activation",
) -> list[Signal]:
    """What the ``activation`` op with ``attrs`` computes on ``xs`` (mantissas of ``tin``), in ``tout``.

    Serves activation nodes and activations fused into dense and convolution
    nodes alike (the reference evaluates both with the same kernel).  Table
    functions (sigmoid, tanh) also need the node's ``types``; ``options``
    (the node's implementation settings) are accepted for uniformity, these
    functions have no multiplier to place; ``where`` names the node in errors.
    """
    fn = attrs.get("function")
    xs = [_in_type(net, x, tin) for x in xs]
    if fn in TABLE_FUNCTIONS:
        return table_activation(net, attrs, types or {}, xs, tin, tout, where)
    build = _ACTIVATIONS.get(fn)
    if build is None:
        raise RtlLoweringError(
            f"{where}: activation function {fn!r} has no RTL implementation; supported: "
            f"{', '.join((*FUNCTIONS, *TABLE_FUNCTIONS))}; use one of them or the HLS back end"
        )
    view = Node("rom", "activation", [], "rom", dict(attrs))

    def table(m: np.ndarray) -> np.ndarray:
        return KERNELS["activation"](view, [m], [tin], tout)

    def arith(n: Netlist, x: Signal) -> Signal:
        return build(n, x, attrs, tin, tout)

    return elementwise(net, xs, lambda x: [arith, *rom_candidate(x, None if tout.wide else table, tout.frac)])


def _types(graph: Graph, node: Node) -> tuple[FixedType, FixedType]:
    return graph.tensors[node.inputs[0]].type, graph.tensors[node.output].type


@lowering("activation")
def _activation(net: Netlist, node: Node, graph: Graph, inputs: list[list[Signal]]) -> list[Signal]:
    tin, tout = _types(graph, node)
    return apply_activation(net, node.attrs, inputs[0], tin, tout, node.types, node.options, node.where())


# ----------------------------------------------------------------------------- piecewise_linear
class _Piece:
    """``y = overflow(round((a*m + b) / den))`` in integers, for input mantissas ``m``."""

    def __init__(self, slope: Fraction, offset: Fraction, tin: FixedType, tout: FixedType) -> None:
        a = slope * Fraction(2) ** (tout.frac - tin.frac)
        b = offset * Fraction(2) ** tout.frac
        self.den = math.lcm(a.denominator, b.denominator)
        self.a, self.b = int(a * self.den), int(b * self.den)
        self.tout = tout

    def at(self, m: int) -> int:
        num = np.array([self.a * m + self.b], dtype=object)
        return int(apply_overflow(round_divide(num, self.den, self.tout.rounding), self.tout)[0])

    def build(self, net: Netlist, x: Signal, dsp: bool) -> Signal:
        prod = times_const(net, integer(net, x), abs(self.a), dsp=dsp)
        if self.a < 0:
            q = divide(net, net.sub(net.const(self.b), prod), self.den, self.tout.rounding, dsp)
        else:  # the offset joins the divider's own constants
            q = divide(net, prod, self.den, self.tout.rounding, dsp, self.b)
        return net.cast(relabel(net, q, self.tout.frac), self.tout)


@dataclasses.dataclass
class _Group:
    """Inputs ``first..last`` output ``value`` (a constant mantissa) or the sloped piece's formula.
    Inputs below ``clip_lo`` (above ``clip_hi``) read the formula at that bound."""

    first: int
    last: int
    value: _Piece | int
    clip_lo: int | None = None
    clip_hi: int | None = None

    def out(self, m: int) -> int:
        if not isinstance(self.value, _Piece):
            return self.value
        if self.clip_lo is not None:
            m = max(m, self.clip_lo)
        if self.clip_hi is not None:
            m = min(m, self.clip_hi)
        return self.value.at(m)


def _score(b: int) -> int:
    """How cheap ``x < b`` is: the sign bit for 0, else fewer subtractor bits per trailing zero."""
    return 1 << 30 if b == 0 else (b & -b).bit_length()


def _groups(pieces: list[Any], x: Signal, tin: FixedType, tout: FixedType) -> list[_Group]:
    """The pieces over ``x``'s range as few, cheaply separated groups.

    A piece on one grid point, or with slope 0, is a constant; equal
    neighbouring constants merge.  A constant next to a sloped piece joins
    it when the piece, clipped at the boundary, gives that constant (ReLU's
    0, relu6's 6, hard_tanh's +-1): a clip instead of a comparison and a
    multiplexer.  A boundary between the remaining groups moves by one grid
    point where both sides agree there and the comparison gets cheaper
    (LeakyReLU: ``x < 0``, the sign bit, instead of ``x < 1``).
    """
    scale = Fraction(2) ** tin.frac
    cuts = [math.floor(lower * scale) for lower, _, _ in pieces[1:]]  # piece i: cuts[i-1] < m <= cuts[i]
    groups: list[_Group] = []
    for i, (_, slope, offset) in enumerate(pieces):
        first = x.lo if i == 0 else max(x.lo, cuts[i - 1] + 1)
        last = x.hi if i == len(pieces) - 1 else min(x.hi, cuts[i])
        if first > last:
            continue
        piece = _Piece(slope, offset, tin, tout)
        value = piece.at(first) if piece.a == 0 or first == last else piece
        if groups and not isinstance(value, _Piece) and groups[-1].value == value:
            groups[-1].last = last
        else:
            groups.append(_Group(first, last, value))
    gone: set[int] = set()
    for g, group in enumerate(groups):
        if not isinstance(group.value, _Piece):
            continue
        if g > 0 and g - 1 not in gone and not isinstance(groups[g - 1].value, _Piece):
            for bound in (group.first - 1, group.first):
                if group.value.at(bound) == groups[g - 1].value:
                    group.first, group.clip_lo = groups[g - 1].first, bound
                    gone.add(g - 1)
                    break
        if g + 1 < len(groups) and not isinstance(groups[g + 1].value, _Piece):
            for bound in (group.last, group.last + 1):
                if group.value.at(bound) == groups[g + 1].value:
                    group.last, group.clip_hi = groups[g + 1].last, bound
                    gone.add(g + 1)
                    break
    groups = [group for g, group in enumerate(groups) if g not in gone]
    for below_, above in itertools.pairwise(groups):
        s = above.first
        options = [s]
        if below_.first < s - 1 and above.out(s - 1) == below_.out(s - 1):
            options.append(s - 1)
        if above.last > s and below_.out(s) == above.out(s):
            options.append(s + 1)
        b = max(options, key=_score)
        below_.last, above.first = b - 1, b
    return groups


def _piecewise(net: Netlist, x: Signal, pieces: list[Any], tin: FixedType, tout: FixedType, dsp: bool) -> Signal:
    groups = _groups(pieces, x, tin, tout)
    outs = []
    for group in groups:
        if not isinstance(group.value, _Piece):
            outs.append(net.const(group.value, tout.frac))
            continue
        lo = group.first if group.clip_lo is None else group.clip_lo
        hi = group.last if group.clip_hi is None else group.clip_hi
        v = net.clip(x, x.lo if group.clip_lo is None else lo, x.hi if group.clip_hi is None else hi)
        # towards neighbours the multiplexer picks another group: keeping the low bits that hold
        # [lo, hi] narrows the range for free, where a clip would cost comparators
        outs.append(group.value.build(net, net.wrap(v, *bits_for_range(lo, hi)), dsp))
    return select(net, x, [group.first for group in groups[1:]], outs)


@lowering("piecewise_linear")
def _piecewise_linear(net: Netlist, node: Node, graph: Graph, inputs: list[list[Signal]]) -> list[Signal]:

    tin, tout = _types(graph, node)
    pieces = list(node.attrs["pieces"])
    dsp = _dsp(node.options)

    def arith(n: Netlist, x: Signal) -> Signal:
        return _piecewise(n, x, pieces, tin, tout, dsp)

    def table(m: np.ndarray) -> np.ndarray:
        return evaluate_pieces(pieces, m, tin, tout)

    xs = [_in_type(net, x, tin) for x in inputs[0]]
    return elementwise(net, xs, lambda x: [arith, *rom_candidate(x, None if tout.wide else table, tout.frac)])


# ----------------------------------------------------------------------------- step
@lowering("step")
def _step(net: Netlist, node: Node, graph: Graph, inputs: list[list[Signal]]) -> list[Signal]:
    """``levels[number of thresholds <= m]``: comparisons with constants selecting constants."""
    tin, tout = _types(graph, node)
    thresholds, levels = step_table(node.attrs["rule"], tin, tout)

    def arith(n: Netlist, x: Signal) -> Signal:
        return select(n, x, thresholds, [n.const(v, tout.frac) for v in levels])

    def table(m: np.ndarray) -> np.ndarray:
        return np.array(levels, dtype=object)[np.searchsorted(np.array(thresholds, dtype=np.int64), m, side="right")]

    xs = [_in_type(net, x, tin) for x in inputs[0]]
    return elementwise(net, xs, lambda x: [arith, *rom_candidate(x, table, tout.frac)])
