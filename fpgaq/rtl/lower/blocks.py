"""Integer building blocks the element-wise, pooling and table lowerings share.

Multiplication by a constant, comparison with a constant, a balanced
selection tree, and exact rounded division by a constant: none of them
needs a new netlist primitive.  Integer arithmetic runs on integer-valued
signals (frac <= 0): a power of two stays in the binary point rather than
in explicit zero bits, so adders align their operands and pass low bits
through without logic.

Where an element-wise function of a narrow input could also be a ROM,
:func:`elementwise` builds each candidate circuit in a scratch netlist,
estimates its LUTs (:func:`cheapest`), and keeps the cheapest.

They live apart from the lowerings that use them so that those import
this module and never each other in a circle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fpgaq.fixed import FixedType, Overflow, Rounding, rounding_bias
from fpgaq.rtl.csd import csd, multiples, odd_part
from fpgaq.rtl.netlist import Netlist, Op, Signal, bits_for_range

__all__ = [
    "ROM_LIMIT",
    "Builder",
    "below",
    "cheapest",
    "divide",
    "elementwise",
    "integer",
    "on_binary_point",
    "relabel",
    "rom_candidate",
    "select",
    "times_const",
]

Builder = Callable[[Netlist, Signal], Signal]

#: An input spanning fewer values than this may become a ROM over its whole range, where cheaper.
ROM_LIMIT = 4096


# ----------------------------------------------------------------------------- integer building blocks
def on_binary_point(net: Netlist, sigs: list[Signal], t: FixedType) -> list[Signal]:
    """``sigs`` on ``t``'s binary point: signals with fewer fractional bits (per-element grids of a
    ``quantize`` node) are shifted left, which is wiring; the others are returned as they are."""
    return [net.shl(s, t.frac - s.frac) if s.frac < t.frac else s for s in sigs]


def relabel(net: Netlist, a: Signal, frac: int) -> Signal:
    """The same mantissa read with another binary point: wiring, no logic."""
    op = net.producer(a)
    if op.kind == "shl" and op.param == 0:  # relabel the original, not a relabelling of it
        a = op.args[0]
    return net.shl(a, 0, frac)


def integer(net: Netlist, a: Signal) -> Signal:
    """``a``'s mantissa as an integer-valued signal (frac 0)."""
    return relabel(net, a, 0)


def _frac0(net: Netlist, a: Signal) -> Signal:
    """An integer-valued ``a`` with frac 0 (its value as the mantissa), for bit-level use."""
    assert a.frac <= 0, a
    return net.shl(a, -a.frac, 0)


def _floor(net: Netlist, a: Signal) -> Signal:
    """``floor(a)`` as an integer-valued signal: drops the fractional bits."""
    return net.shr(a, a.frac) if a.frac > 0 else a


def times_const(net: Netlist, x: Signal, c: int, frac: int = 0, dsp: bool = False) -> Signal:
    """``x * c * 2**-frac`` (value; the mantissa keeps ``x``'s scale): the odd part of ``c`` as
    shift-and-add (:func:`fpgaq.rtl.csd.multiples`), its power of two in the binary point, or
    a ``*`` for a DSP with ``dsp``."""
    if dsp:
        return net.mulc(x, c, frac)
    if c == 0:
        return net.const(0, x.frac + frac)
    o, k, sign = odd_part(c)
    y = relabel(net, multiples(net, x, [o])[o], x.frac + frac - k)
    return net.neg(y) if sign < 0 else y


def below(net: Netlist, x: Signal, t: int) -> Signal:
    """1 where ``x``'s mantissa is below ``t``.

    The sign of ``x - t``; trailing zero bits of ``t`` are compared by
    dropping the same low bits of ``x`` (``x < t`` iff ``x >> z < t >> z``),
    which shortens the subtractor.  Decided comparisons fold to constants.
    """
    if x.hi < t:
        return net.const(1)
    if x.lo >= t:
        return net.const(0)
    if t == 0:
        return net.sign(x)
    z = (t & -t).bit_length() - 1
    y = net.shr(x, z)
    return net.sign(net.sub(y, net.const(t >> z, y.frac)))


def select(net: Netlist, x: Signal, starts: Sequence[int], outs: Sequence[Signal]) -> Signal:
    """``outs[i]`` where ``i`` is the number of ``starts`` that are ``<= x`` (mantissas): a balanced
    tree of comparisons with constants, so depth grows with the log of the number of outputs."""

    def pick(lo: int, hi: int) -> Signal:
        if lo == hi:
            return outs[lo]
        mid = (lo + hi + 1) // 2
        return net.mux(below(net, x, starts[mid - 1]), pick(lo, mid - 1), pick(mid, hi))

    return pick(0, len(outs) - 1)


def _is_zero(net: Netlist, z: Signal) -> Signal:
    """1 where the non-negative ``z`` is 0."""
    return net.sign(net.sub(z, net.const(1, z.frac)))


def _value_range(n: Signal) -> tuple[int, int]:
    """The values of an integer-valued signal."""
    return n.lo << -n.frac, n.hi << -n.frac


def _round_shift(net: Netlist, n: Signal, k: int, rounding: Rounding) -> Signal:
    """``n / 2**k`` rounded by ``rounding``: the netlist's own cast into a type that cannot overflow."""
    lo, hi = _value_range(n)
    width = bits_for_range(lo >> k, -((-hi) >> k))[0] + 1
    return _frac0(net, relabel(net, net.cast(n, FixedType(width, width + k, True, rounding, Overflow.WRAP)), 0))


def _reciprocal(k: int, top: int, d: int) -> tuple[int, int, int]:
    """``(s, M, C)`` with ``floor((n*M + C) / 2**s) == floor(n / d)`` for every ``n`` in
    ``[-k*d, top - k*d]`` (so that ``n' = n + k*d`` runs over ``[0, top]``), for an odd ``d > 1``.

    Two exact forms, for ``n'`` in ``[0, top]``:

    * ``M = ceil(2**s / d)``, ``e = M*d - 2**s``, valid when ``top * e < 2**s``:
      ``n'*M / 2**s = n'/d + n'*e / (d * 2**s)`` adds less than ``1/d``, which
      never carries ``n'/d`` past the next integer.  ``C = k*e``.
    * ``M = floor(2**s / d)``, ``e = 2**s - M*d``, valid when ``(top + 1) * e <= 2**s``:
      ``(n' + 1)*M / 2**s = (n' + 1)/d - delta`` with ``0 < delta <= 1/d``,
      which lies in ``[floor(n'/d), floor(n'/d) + 1)``.  ``C = (k*d + 1)*M - k*2**s``.

    The offset is folded into ``C``: ``floor((v + k*2**s) / 2**s) = floor(v / 2**s) + k``.
    Of the first few valid ``s``, the ``M`` with the fewest CSD digits wins (fewest adders).
    """

    def forms(s: int) -> list[tuple[int, int]]:
        out = []
        m = -(-(1 << s) // d)
        if top * (m * d - (1 << s)) < (1 << s):
            out.append((m, k * (m * d - (1 << s))))
        m = (1 << s) // d
        if m and (top + 1) * ((1 << s) - m * d) <= (1 << s):
            out.append((m, (k * d + 1) * m - k * (1 << s)))
        return out

    s0 = 0
    while not forms(s0):
        s0 += 1
    options = [(len(csd(m)) + int(c != 0), s, m, c) for s in range(s0, s0 + 4) for m, c in forms(s)]
    _, s, m, c = min(options, key=lambda o: (o[0], o[1]))
    return s, m, c


def _floor_div_odd(net: Netlist, n: Signal, d: int, dsp: bool, extra: int = 0) -> Signal:
    """``floor((n + extra) / d)`` (frac 0) for an integer-valued ``n`` and an odd ``d > 1``: a
    multiplication by a reciprocal constant, one constant, a shift; exact over ``n``'s whole range
    (see :func:`_reciprocal`).  ``extra`` joins that constant, so it costs no adder."""
    lo, hi = (v + extra for v in _value_range(n))
    if lo == hi:
        return net.const(lo // d)
    k = -(lo // d) if lo < 0 else 0
    s, m, c = _reciprocal(k, hi + k * d, d)
    p = net.add(times_const(net, n, m, dsp=dsp), net.const(extra * m + c))
    return _frac0(net, _floor(net, relabel(net, p, p.frac + s)))


def _bias(den: int, rounding: Rounding) -> int | None:
    """What to add to ``n`` so that ``floor((n + bias) / den)`` rounds ``n / den`` by ``rounding``
    (:func:`fpgaq.fixed.rounding_bias`; ties to even add the ties-up bias and still need the
    correction in :func:`divide`); None where it depends on the sign."""
    if rounding is Rounding.TRN_ZERO:  # negatives round up, whatever the divisor
        return None
    table = rounding_bias(rounding, den)
    if table.picked == table.otherwise or table.decided_by == "odd":
        return table.picked
    return None  # RND_ZERO, RND_INF with an even divisor


def _sign_bias(net: Netlist, n: Signal, den: int, rounding: Rounding) -> Signal:
    """The bias of the modes that treat negative numerators differently (TRN_ZERO, RND_ZERO, RND_INF)."""
    negative, const = net.sign(n), net.const
    table = rounding_bias(rounding, den)
    return net.mux(negative, const(table.picked), const(table.otherwise))


def divide(net: Netlist, num: Signal, den: int, rounding: Rounding, dsp: bool = False, offset: int = 0) -> Signal:
    """``fpgaq.fixed.round_divide(num + offset, den, rounding)`` exactly, for an integer-valued
    ``num`` (frac <= 0); the quotient has frac 0.

    ``den = d * 2**k`` with ``d`` odd: add the offset and the mode's bias
    (one constant where the bias does not depend on the sign), drop ``k``
    bits (``floor`` nests), divide by ``d`` with :func:`_floor_div_odd`.  For
    an odd ``den`` with a constant bias, offset and bias join the divider's
    own constant.  Ties to even with an even ``den`` subtract 1 from an odd
    quotient where the division was exact (low ``k`` bits zero and
    remainder 0); a power of two leaves that, and the sign-dependent modes,
    to the netlist's rounded cast.
    """
    if num.frac > 0:
        raise ValueError(f"divide needs an integer-valued numerator (frac <= 0), got {num}")
    k = (den & -den).bit_length() - 1
    d = den >> k
    bias = _bias(den, rounding)
    if d == 1 and (bias is None or rounding is Rounding.RND_CONV):  # the netlist's own rounded shift
        return _round_shift(net, net.add(num, net.const(offset)), k, rounding)
    if bias is not None and k == 0:  # an odd divisor (or 1)
        if d == 1:
            return _frac0(net, net.add(num, net.const(offset)))
        return _floor_div_odd(net, num, d, dsp, offset + bias)
    if bias is None:
        n = net.add(num, net.const(offset))
        n2 = net.add(n, _sign_bias(net, n, den, rounding))
    else:
        n2 = net.add(num, net.const(offset + bias))
    n3 = _floor(net, relabel(net, n2, n2.frac + k))
    q = _frac0(net, n3) if d == 1 else _floor_div_odd(net, n3, d, dsp)
    if rounding is Rounding.RND_CONV and k > 0 and d > 1 and not q.is_const:
        # the true remainder lies in [0, d-1]: its low bits are exact and free to take
        rem = net.wrap(_frac0(net, net.sub(n3, times_const(net, q, d, dsp=dsp))), bits_for_range(0, d - 1)[0], False)
        low_bits = k + n2.frac  # n2's value has -n2.frac zero bits of its own
        low = integer(net, net.wrap(n2, low_bits, False)) if low_bits > 0 else net.const(0)
        tie = _is_zero(net, net.add(low, rem))
        q = net.sub(q, net.mux(tie, net.bit(q, 0), net.const(0)))
    return q


# ----------------------------------------------------------------------------- choosing circuits
def _cost(op: Op) -> int:
    """Rough LUT estimate of one primitive: one LUT per result bit of an adder or mux, half a LUT
    per bit of a comparison, 64 entries per LUT and output bit of a ROM; wiring is free."""
    w = op.out.width
    if op.kind in ("add", "neg", "mux"):
        return w
    if op.kind in ("max", "min"):
        return w + op.args[0].width // 2
    if op.kind == "clip":
        lo, hi, _, _ = op.param
        return w + (op.args[0].width // 2) * ((lo is not None) + (hi is not None))
    if op.kind == "rom":
        return w * -(-len(op.param[0]) // 64)
    if op.kind == "mul":
        return op.args[0].width * op.args[1].width
    return 0


def _scratch_cost(x: Signal, build: Builder) -> int:
    scratch = Netlist()
    width, signed = bits_for_range(x.lo, x.hi)
    t = FixedType(width, width - x.frac, signed)
    stand_in = scratch.clip(scratch.add_input("x", t, 1)[0], x.lo, x.hi)
    mark = len(scratch.ops)
    scratch.add_output("y", [build(scratch, stand_in)], t)
    return sum(_cost(op) for op in scratch.live() if op.out.id >= mark)


def cheapest(x: Signal, builders: Sequence[Builder]) -> Builder:
    """The builder whose circuit for an input of ``x``'s range costs the fewest LUTs (first on ties)."""
    if len(builders) == 1 or x.is_const:
        return builders[0]
    costs = [_scratch_cost(x, b) for b in builders]
    return builders[costs.index(min(costs))]


def rom_candidate(x: Signal, table: Callable[[np.ndarray], np.ndarray] | None, frac: int) -> list[Builder]:
    """A ROM over ``x``'s whole range holding ``table(mantissas)``, if the range is small enough."""
    if table is None or x.hi - x.lo >= ROM_LIMIT or x.is_const:
        return []

    def build(net: Netlist, s: Signal) -> Signal:
        values = table(np.arange(s.lo, s.hi + 1, dtype=np.int64))
        return net.rom(s, [int(v) for v in np.asarray(values).reshape(-1)], s.lo, frac)

    return [build]


def elementwise(net: Netlist, xs: Sequence[Signal], candidates: Callable[[Signal], list[Builder]]) -> list[Signal]:
    """Each element through the cheapest of its candidate circuits, chosen once per input range."""
    chosen: dict[tuple[int, int, int], Builder] = {}
    out = []
    for x in xs:
        key = (x.lo, x.hi, x.frac)
        if key not in chosen:
            chosen[key] = cheapest(x, candidates(x))
        out.append(chosen[key](net, x))
    return out
