"""QKeras' binary, ternary and power-of-two quantizers as activations: the ``step`` op.

Each of these maps its input to one of a few constants chosen by comparing
the input with fixed boundaries, i.e. a step function.  Hardware compares the
input mantissa with integer thresholds and selects a constant, so the IR
records exactly that and the reference computes exactly that.  No rounding
happens anywhere, because the outputs are constants of the output type.

This docstring is the hardware contract.

The op
    ``y = levels[i]``, where ``i`` is the number of ``thresholds`` that are
    ``<= m`` and ``m`` is the input mantissa (an integer on the input type's
    grid).  Precision inference derives both from ``attrs["rule"]`` and the
    input type, and records them as ``attrs["thresholds"]`` (strictly
    increasing input mantissas, all inside the input range) and
    ``attrs["levels"]`` (output mantissas, one more than there are
    thresholds; neighbours differ).  ``attrs["function"]`` is the quantizer's
    name, ``attrs["quantizer"]`` its call string, and ``attrs["po2_type"]``
    the :class:`~fpgaq.hwtypes.Po2Type` of a power-of-two quantizer.  The
    output type holds every value the quantizer can give (for power-of-two
    quantizers, every value of the Po2Type) exactly.

Decision rules
    These are the decisions of fpgaq's quantizers on a float32 input.  When
    the IR input value is a float32 (at most 24 significant bits, as on
    every coarse grid), that input is the IR value itself, and the
    reference agrees with Keras bit for bit.  Each decision below is exact
    for every float32 input, so nothing depends on the input grid.  A wider
    input (e.g. a long accumulator) is decided on its exact value, which
    Keras itself only approximates.

    * ``alpha`` is ``float32(alpha)`` (None means 1).  ``'auto'`` and
      ``'auto_po2'`` are rejected because they would learn a new scale from
      every input tensor.
    * ``binary``, ``stochastic_binary`` (at inference): ``alpha`` for
      ``x >= 0``, else ``-alpha`` (``0`` with ``use_01``).
    * ``binary_tanh``: ``+1`` for ``x > 2**-24``, else ``-1``.  The quantizer
      rounds ``0.5 x + 0.5`` half to even.  In float32, ``0.5 + 2**-25`` is a
      tie that rounds to ``0.5``, and ``round(0.5)`` is 0.  So this is
      ``x > 0`` for inputs with at most 23 fractional bits, and differs from
      it only at ``x = 2**-24`` on finer grids.
    * ``ternary``, ``stochastic_ternary`` (at inference):
      ``alpha * sign(x)`` where ``|x| >= float32(threshold)`` (0.33 when
      None), else 0.
    * ``quantized_po2``: ``sign(x) * 2**E(|x|)``, where ``x = 0`` takes the
      ``+`` sign.  ``quantized_relu_po2``: ``2**E(x)`` for ``x >= 0``.
      Negative inputs give ``2**E(0)``, or ``-2**E(|x| * negative_slope)``
      when the slope is non-zero.  ``E(v)``:

      - ``v < float32(1e-7)`` (Keras' epsilon): the clip range's low end
        ``lo`` (this includes ``v = 0``).
      - otherwise ``v`` is first limited to ``float32(max_value)``, then
        ``k = floor(log2 v)`` or the nearest integer to ``log2 v``
        (``log2_rounding``; no ties, since ``2**(j + 1/2)`` is irrational).
        With ``quadratic_approximation`` the rounding is applied to
        ``log2(sqrt(v))`` instead: ties at odd powers of two go to even.
        Then ``E = f * clip(k, lo, hi)``, with ``f = 2`` for the quadratic
        approximation, else 1.

      ``lo`` and ``hi`` are the quantizer's exponent clip range.  fpgaq's
      quantizer takes these exponents exactly, where QKeras rounds a
      float32 ``log`` (see :mod:`fpgaq.quantizers.po2`).
      ``qnoise_factor != 1`` mixes the float input into the output and is
      rejected.  So is ``max_value`` 0, where every ``v`` becomes 0.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from fractions import Fraction
from typing import Any

import numpy as np

from fpgaq.fixed import FixedType
from fpgaq.hwtypes import Po2Type
from fpgaq.ir.graph import Graph, Node
from fpgaq.ir.ops._common import float32_fraction, hardware_type, like_input, unsupported
from fpgaq.ir.precision import PRECISION_RULES, range_type
from fpgaq.ir.trace import QUANTIZER_ACTIVATIONS, check_declared
from fpgaq.quantizers import EPSILON as QUANTIZER_EPSILON
from fpgaq.quantizers.ternary import DEFAULT_THRESHOLD
from fpgaq.reference import KERNELS

__all__ = ["OP", "Po2Steps", "StepCuts", "emit_step", "fixed_alpha", "levels_type", "step_table"]

OP = "step"

#: Keras' epsilon as float32 compares it: po2 magnitudes below it take the smallest exponent.
EPSILON = Fraction(float(np.float32(QUANTIZER_EPSILON)))

#: The largest ``x`` for which float32 rounds ``0.5 x + 0.5`` to ``0.5``, so binary_tanh gives -1.
BINARY_TANH_CUT = Fraction(1, 2**24)

#: ``(start, level)``: the output is ``level`` from input mantissa ``start`` up to the next start.
Piece = tuple[int, Fraction]


def levels_type(values: list[Fraction]) -> FixedType:
    frac = max(max(v.denominator.bit_length() - 1 for v in values), 0)
    return range_type(min(values), max(values), frac)


# ----------------------------------------------------------------------------- rules
@dataclasses.dataclass(frozen=True)
class StepCuts:
    """``levels[j]``, ``j`` the number of ``cuts`` the input passes.  It
    passes ``(c, True)`` when ``x >= c`` and ``(c, False)`` when ``x > c``.
    The cuts are in increasing order."""

    cuts: tuple[tuple[Fraction, bool], ...]
    levels: tuple[Fraction, ...]

    def output_type(self) -> FixedType:
        return levels_type(list(self.levels))

    def pieces(self, tin: FixedType) -> list[Piece]:
        scale = Fraction(2) ** tin.frac
        pieces: list[Piece] = [(tin.min_int, self.levels[0])]
        for (cut, closed), level in zip(self.cuts, self.levels[1:]):
            scaled = cut * scale
            pieces.append((math.ceil(scaled) if closed else math.floor(scaled) + 1, level))
        return pieces


@dataclasses.dataclass(frozen=True)
class Po2Steps:
    """A power-of-two quantizer's decisions (see the module docstring)."""

    relu: bool
    low: int  # the exponent clip range, as the quantizer holds it
    high: int
    floor: bool
    quadratic: bool
    max_value: Fraction | None
    negative_slope: Fraction
    po2_type: Po2Type

    def output_type(self) -> FixedType:
        t = self.po2_type
        top = Fraction(2) ** t.max_exp
        return range_type(-top if t.signed else Fraction(2) ** t.min_exp, top, -t.min_exp)

    def exponent(self, v: Fraction) -> int:
        """``E(v)`` for a magnitude ``v >= 0``."""
        if v < EPSILON:
            return self.low
        if self.max_value is not None and v >= self.max_value:
            v = self.max_value
        e = v.numerator.bit_length() - v.denominator.bit_length()
        if v < Fraction(2) ** e:
            e -= 1
        m = v / Fraction(2) ** e  # v = m * 2**e, 1 <= m < 2
        if self.quadratic:
            if self.floor:
                k = e // 2
            elif e % 2 == 1 and m > 1:
                k = (e + 1) // 2
            else:
                k = round(Fraction(e, 2))  # half to even, as tf.round
            return 2 * min(max(k, self.low), self.high)
        k = e if self.floor else e + int(m * m > 2)
        return min(max(k, self.low), self.high)

    def runs(self, frac: int, top: int) -> list[tuple[int, int]]:
        """``(first magnitude mantissa, exponent)`` of each run of equal
        exponents over the magnitudes ``0 .. top`` on the ``2**-frac`` grid.

        Beyond the epsilon the exponent never decreases, so each run ends
        where a bisection finds the next larger exponent.
        """
        scale = Fraction(2) ** frac
        runs = [(0, self.exponent(Fraction(0)))]
        a = math.ceil(EPSILON * scale)
        while a <= top:
            e = self.exponent(a / scale)
            runs.append((a, e))
            if self.exponent(top / scale) == e:
                break
            lo, hi = a, top  # E(lo) == e < E(hi)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if self.exponent(mid / scale) > e else (mid, hi)
            a = hi
        return runs

    def pieces(self, tin: FixedType) -> list[Piece]:
        two = Fraction(2)
        positive = [(a, two**e) for a, e in self.runs(tin.frac, tin.max_int)]
        if tin.min_int == 0:
            return positive
        if self.relu and self.negative_slope == 0:
            return [(tin.min_int, two ** self.exponent(Fraction(0))), *positive]
        # magnitudes of negative inputs: |x| (quantized_po2), or |x| * 2**s for negative_slope = 2**s, which
        # is the same mantissa on the 2**-(frac - s) grid
        slope = self.negative_slope if self.relu else Fraction(1)
        s = slope.numerator.bit_length() - slope.denominator.bit_length()
        runs = self.runs(tin.frac - s, -tin.min_int)
        ends = [a for a, _ in runs[1:]] + [-tin.min_int + 1]
        negative = [(-(end - 1), -(two**e)) for (a, e), end in zip(runs, ends) if end - 1 >= max(a, 1)]
        return [*reversed(negative), *positive]


# ----------------------------------------------------------------------------- tables
@functools.lru_cache(maxsize=256)
def step_table(rule: StepCuts | Po2Steps, tin: FixedType, tout: FixedType) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(thresholds, levels)``: input mantissas where the output changes, and the output mantissas."""
    merged: dict[int, Fraction] = {}
    for start, level in rule.pieces(tin):
        if start <= tin.max_int:
            merged[max(start, tin.min_int)] = level  # a later piece starting at the same point wins
    starts, levels = [], []
    for start in sorted(merged):
        if not levels or merged[start] != levels[-1]:
            starts.append(start)
            levels.append(merged[start])
    scale = Fraction(2) ** tout.frac
    mantissas = []
    for level in levels:
        m = level * scale
        if m.denominator != 1 or not tout.min_int <= m <= tout.max_int:
            raise ValueError(f"step output {level} is not a value of {tout.ap_fixed()}; use the quantizer's own type")
        mantissas.append(int(m))
    return tuple(starts[1:]), tuple(mantissas)


# ----------------------------------------------------------------------------- trace
def fixed_alpha(layer: Any, q: Any) -> Fraction:
    alpha = q.alpha
    if isinstance(alpha, str):
        raise unsupported(
            layer,
            f"activation quantizer {q} learns its scale alpha={alpha!r} from the tensor it quantizes, which for an "
            "activation is every new input, so the hardware has no fixed scale",
            "use alpha=1 (or None), or a number",
        )
    if isinstance(alpha, tuple):
        raise unsupported(
            layer,
            f"activation quantizer {q} has one alpha per channel, which is not supported for activations",
            "use one number for alpha",
        )
    return Fraction(1) if alpha is None else float32_fraction(alpha)


def emit_step(t: Any, layer: Any, q: Any, src: str, name: str, lc: Any, rule: StepCuts | Po2Steps, **extra: Any) -> str:
    out_type = rule.output_type()
    check_declared(layer, "result", t.explicit(lc, "result"), out_type, q)
    attrs = {"function": q.name, "quantizer": str(q), "rule": rule, **extra}
    node = Node(name, OP, [src], name, attrs, options=t.options(lc), source=layer.name)
    return t.add(node, t.tensors[src].shape, out_type)


def _binary(t: Any, layer: Any, q: Any, src: str, name: str, lc: Any) -> str:
    scale = fixed_alpha(layer, q)
    rule = StepCuts(((Fraction(0), True),), (Fraction(0) if q.use_01 else -scale, scale))
    return emit_step(t, layer, q, src, name, lc, rule)


def _binary_tanh(t: Any, layer: Any, q: Any, src: str, name: str, lc: Any) -> str:
    return emit_step(t, layer, q, src, name, lc, StepCuts(((BINARY_TANH_CUT, False),), (Fraction(-1), Fraction(1))))


def _ternary(t: Any, layer: Any, q: Any, src: str, name: str, lc: Any) -> str:
    scale = fixed_alpha(layer, q)
    th = float32_fraction(DEFAULT_THRESHOLD if q.threshold is None else q.threshold)
    # |x| >= th; a threshold <= 0 keeps every non-zero input, and sign(0) = 0
    cuts = ((-th, False), (th, True)) if th > 0 else ((Fraction(0), True), (Fraction(0), False))
    return emit_step(t, layer, q, src, name, lc, StepCuts(cuts, (-scale, Fraction(0), scale)))


def _po2(t: Any, layer: Any, q: Any, src: str, name: str, lc: Any) -> str:
    if q.qnoise_factor != 1.0:
        raise unsupported(
            layer,
            f"activation quantizer {q} has qnoise_factor={q.qnoise_factor}, which mixes the unquantized input "
            "into the output",
            "set qnoise_factor=1.0 (fully quantized) for inference",
        )
    max_value = None if q.max_value is None else float32_fraction(q.max_value)
    if max_value == 0:
        raise unsupported(
            layer,
            f"activation quantizer {q} has max_value={q.max_value!r}, which limits every magnitude to 0 before "
            "taking its log2",
            "use a max_value > 0, or None",
        )
    hw = hardware_type(layer, q)
    rule = Po2Steps(
        relu=q.name == "quantized_relu_po2",
        low=int(q._min_exp),
        high=int(q._max_exp),
        floor=q.log2_rounding == "floor",
        quadratic=bool(q.quadratic_approximation),
        max_value=max_value,
        negative_slope=float32_fraction(getattr(q, "negative_slope", 0)),
        po2_type=hw,
    )
    return emit_step(t, layer, q, src, name, lc, rule, po2_type=hw)


def _rejected(fix: str, why: str) -> Any:
    def handler(t: Any, layer: Any, q: Any, src: str, name: str, lc: Any) -> str:
        raise unsupported(layer, f"activation quantizer {q} is not supported: {why}", fix)

    return handler


# ----------------------------------------------------------------------------- precision and reference
def step_rule(graph: Graph, node: Node, ins: list[FixedType], config: Any) -> FixedType:
    """The quantizer's type; records the thresholds and levels for this input type."""
    rule = node.attrs["rule"]
    tout = graph.tensors[node.output].type or rule.output_type()
    node.attrs["thresholds"], node.attrs["levels"] = step_table(rule, ins[0], tout)
    return tout


def _step_kernel(node: Node, xs: list[np.ndarray], tins: list[FixedType], tout: FixedType) -> np.ndarray:
    thresholds, levels = step_table(node.attrs["rule"], tins[0], tout)
    x = np.asarray(xs[0])
    # float64 mantissas (the reference's fast path) stay below 2**50, where float64 compares integers exactly
    bounds = np.array(thresholds, dtype=x.dtype if x.dtype.kind in "fO" else np.int64)
    index = np.searchsorted(bounds, x, side="right")
    out = np.array(levels, dtype=object if tout.wide else np.int64)[index]
    return like_input(out, x)


for _name in ("binary", "stochastic_binary"):
    QUANTIZER_ACTIVATIONS[_name] = _binary
QUANTIZER_ACTIVATIONS["binary_tanh"] = _binary_tanh
for _name in ("ternary", "stochastic_ternary"):
    QUANTIZER_ACTIVATIONS[_name] = _ternary
for _name in ("quantized_po2", "quantized_relu_po2"):
    QUANTIZER_ACTIVATIONS[_name] = _po2
QUANTIZER_ACTIVATIONS["bernoulli"] = _rejected(
    "use binary(use_01=1), its deterministic form (alpha for x >= 0, else 0)",
    "it draws a random output at inference too, which hardware cannot reproduce",
)
PRECISION_RULES[OP] = step_rule
KERNELS[OP] = _step_kernel
