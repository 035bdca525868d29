"""RTL lowering of the table non-linearities: sigmoid / tanh activations and ``softmax``.

Both follow the contract of :mod:`fpgaq.ir.ops.tables` step by step, with
that module's table contents, as ``rom`` primitives:

* sigmoid, tanh: the index is a shift of the input, clamped to the table;
  the ROM holds the entries already cast into the output type (the cast of
  a constant is a constant), so no rounding logic follows it.  The clamp
  stops where the entries stop changing (the function saturated in the
  output type), which shrinks the ROM.  When the shifted input spans few
  values, a ROM over that whole span (edge entries repeated) replaces the
  clamp, if it costs fewer LUTs.
* softmax, per row: a balanced max tree; the rounding half of the index
  step is added once to the maximum (``(max + h) - x``), not once per
  element; exp ROMs (clamped where the entries reach their last value, or
  over the whole range of the index when that needs no wider index); an
  exact sum; the leading one of the sum selected by a priority chain over
  its possible positions (a small range, known from the sum's exact
  bounds), which picks the reciprocal ROM's index and a shift of the
  reciprocal, shared by the row; one product per element; one cast.
  Shifting the shared reciprocal instead of each product keeps the
  variable shift out of the per-element logic.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Graph, Node
from fpgaq.ir.ops.tables import (
    SOFTMAX_EXP_RANGE,
    TABLE_FUNCTIONS,
    TABLE_RANGES,
    exp_table,
    function_table,
    reciprocal_table,
    reciprocal_type,
)
from fpgaq.rtl.lower import blocks
from fpgaq.rtl.lower.blocks import Builder, elementwise, integer, relabel
from fpgaq.rtl.lower.pooling import max_tree
from fpgaq.rtl.lower.registry import RtlLoweringError, lowering
from fpgaq.rtl.netlist import Netlist, Signal, bits_for_range
from fpgaq.rtl.table_logic import LUT_INPUTS

__all__ = ["TABLE_FUNCTIONS", "softmax_row", "table_activation"]


def _log2(value: Fraction, where: str) -> int:
    k = value.numerator.bit_length() - value.denominator.bit_length()
    if Fraction(2) ** k != value:
        raise RtlLoweringError(f"{where}: table step {1 / value} is not a power of two; run precision inference")
    return k


def _settings(attrs: dict[str, Any], types: dict[str, FixedType], where: str) -> tuple[int, FixedType]:
    size, table = attrs.get("table_size"), types.get("table")
    if size is None or table is None:
        raise RtlLoweringError(
            f"{where}: no table settings (attrs['table_size'], types['table']); lower a graph that went through "
            "fpgaq.convert (precision inference records them), and do not fuse table activations into linear nodes"
        )
    return int(size), table


def _span(entries: Any) -> tuple[int, int]:
    """``(first, last)``: indices outside ``[first, last]`` read the same entry as the nearer end
    (the constant runs where a function saturates), so clamping to them is exact and the ROM
    shrinks to ``last - first + 1`` entries."""
    values = [int(v) for v in entries]
    first, last = 0, len(values) - 1
    while first < last and values[first + 1] == values[0]:
        first += 1
    while last > first and values[last - 1] == values[-1]:
        last -= 1
    return first, last


# ----------------------------------------------------------------------------- sigmoid and tanh
def table_activation(
    net: Netlist,
    attrs: dict[str, Any],
    types: dict[str, FixedType],
    xs: list[Signal],
    tin: FixedType,
    tout: FixedType,
    where: str = "activation",
) -> list[Signal]:
    """``tout <- table[clamp((m >> (f - k)) + offset, 0, N - 1)]`` for each input mantissa ``m``."""
    fn = attrs["function"]
    size, table_t = _settings(attrs, types, where)
    table_range = attrs.get("table_range", TABLE_RANGES[fn])
    lo, hi = Fraction(table_range[0]), Fraction(table_range[1])
    k = _log2(Fraction(size) / (hi - lo), where)
    offset = int(-lo * Fraction(2) ** k)
    entries = tout.cast(function_table(fn, size, table_t, table_range), table_t)
    shift = tin.frac - k

    def index(n: Netlist, x: Signal) -> Signal:
        return n.shr(x, shift) if shift >= 0 else n.shl(x, -shift, x.frac)

    first, last = _span(entries)

    def clamped(n: Netlist, x: Signal) -> Signal:
        i = n.clip(index(n, x), first - offset, last - offset)
        return n.rom(i, entries, -offset, tout.frac)

    def spanning(n: Netlist, x: Signal) -> Signal:  # a ROM over the shifted input's span: no clamp
        i = n.shr(x, max(shift, 0))
        up = max(-shift, 0)
        rows = [min(max((v << up) + offset, 0), size - 1) for v in range(i.lo, i.hi + 1)]
        return n.rom(i, [int(entries[v]) for v in rows], i.lo, tout.frac)

    def candidates(x: Signal) -> list[Builder]:
        span = (x.hi >> max(shift, 0)) - (x.lo >> max(shift, 0))
        return [clamped, spanning] if span < blocks.ROM_LIMIT else [clamped]

    return elementwise(net, xs, candidates)


# ----------------------------------------------------------------------------- softmax
def _exp_entries(net: Netlist, x: Signal, mx: Signal, entries: np.ndarray, s: int, frac: int, u_bound: int) -> Signal:
    """``E[min(N - 1, round-half-up((mx - x) * 2**-s))]`` (``mx`` already holds the half for ``s > 0``);
    ``u_bound`` bounds ``mx - x`` by the input type (see :func:`_clamped_read`)."""
    _, last = _span(entries)  # from ``last`` on, every index reads the same entry
    u = net.sub(mx, x)
    # the true difference is >= 0; its interval is not: keep the low bits that hold it (free)
    u = net.wrap(u, bits_for_range(0, max(u.hi, 0))[0], False)
    if s > 0:
        return _clamped_read(net, net.shr(u, s), [int(v) for v in entries[: last + 1]], frac, u_bound >> s)
    t = -s  # index u * 2**t: only every 2**t-th entry is read, so the ROM holds just those
    top = -(-last // (1 << t))  # the smallest u that reads entry ``last`` or beyond
    return _clamped_read(net, u, [int(entries[min(i << t, last)]) for i in range(top + 1)], frac, u_bound)


#: Index bits a table wider than a LUT may span beyond its own, in place of a clamp, and the most
#: entries it then spans (measured up to 1,024: see _clamped_read).
SPAN_EXTRA_BITS = 3
SPAN_LIMIT = 1024


def _clamped_read(net: Netlist, j: Signal, table: list[int], frac: int, bound: int) -> Signal:
    """``table[min(j, len(table) - 1)]`` for ``0 <= j <= bound``.  Where ``bound`` needs at most one
    index bit more than the table (or no more than a LUT has inputs), or, for a table wider than a
    LUT, at most :data:`SPAN_EXTRA_BITS` more (and at most :data:`SPAN_LIMIT` entries), the ROM spans
    ``[0, bound]`` (its last entry repeated) and there is no clamp: synthesis does not merge a
    clamp into the table behind it well (Yosys 0.23, xc7, the quick demo's softmax: a clamped
    1024-entry exp table took 226 LUTs, the table read directly 117, the table spanning 11 index
    bits 107; a 179-entry exp table clamped from 10 bits: 70 LUTs, spanning the 10 bits 20, a
    softmax of 10 such 1,120 -> 831).  A table of at most six index bits keeps its clamp beyond
    one extra bit: spanning makes its bits wide functions (a pipelined softmax of 8 with 64-entry
    tables spanning 8 bits: 476 -> 615 LUTs).  ``bound`` comes
    from the input type, not from ``j``'s interval, so that the structure (a clamp or not, which
    the pipeline counts as a level) is the same for every element and for the resource model's
    intervals, which can be tighter than the netlist's."""
    top = len(table) - 1
    need, have = bits_for_range(0, top)[0], bits_for_range(0, bound)[0]
    wide = need > LUT_INPUTS and have <= need + SPAN_EXTRA_BITS and bound < SPAN_LIMIT
    if have <= max(need + 1, LUT_INPUTS) or wide:
        return net.rom(j, [table[min(i, top)] for i in range(max(bound, j.hi, top) + 1)], 0, frac)
    return net.rom(net.clip(j, 0, top), table, 0, frac)


def softmax_row(
    net: Netlist,
    xs: list[Signal],
    tin: FixedType,
    tout: FixedType,
    size: int,
    table_t: FixedType,
    exp_range: Any = SOFTMAX_EXP_RANGE,
    where: str = "softmax",
) -> list[Signal]:
    """Steps 1-7 of the softmax contract for one row of input mantissas."""
    n = size.bit_length() - 1
    k = _log2(Fraction(size) / Fraction(exp_range), where)
    entries = exp_table(size, table_t, exp_range)
    rtype = reciprocal_type(table_t, where)
    recip = reciprocal_table(size, rtype)
    big_f = table_t.frac
    s = tin.frac - k
    # 1-3: exp of the differences to the maximum
    if len(xs) == 1:
        es = [net.const(int(entries[0]), big_f)]
    else:
        mx = max_tree(net, xs)
        if s > 0:
            mx = net.add(mx, net.const(1 << (s - 1), mx.frac))
        u_bound = tin.max_int + (1 << (s - 1) if s > 0 else 0) - tin.min_int  # (mx + h) - x by the type
        es = [_exp_entries(net, x, mx, entries, s, big_f, u_bound) for x in xs]
    # 4: the exact sum; it is at least E[0] > 0, since the maximum reads E[0]
    total = net.sum(es)
    p_lo = max(total.lo, int(entries[0])).bit_length() - 1
    p_hi = total.hi.bit_length() - 1
    # 5-6: the n bits after the leading one index the reciprocal; its position p shifts it
    r_frac = rtype.frac + p_hi - big_f  # so that e * R' has rtype.frac + p_hi fractional bits
    r = None
    for p in range(p_lo, p_hi + 1):
        lead = net.shr(total, p - n) if p >= n else net.shl(total, n - p, total.frac)
        cand = integer(net, net.wrap(lead, n, False))
        r = cand if r is None else net.mux(net.bit(total, p), cand, r)
    assert r is not None
    recip_sig = net.rom(r, recip, 0, r_frac)
    shifted = None
    for p in range(p_lo, p_hi + 1):
        cand = net.shl(recip_sig, p_hi - p, r_frac)  # R * 2**(p_hi - p): the same binary point
        shifted = cand if shifted is None else net.mux(net.bit(total, p), cand, shifted)
    assert shifted is not None
    # 7: y = tout <- e * R * 2**-(Fr + p) = e * R' * 2**-(Fr + p_hi)
    return [net.cast(net.mul(e, shifted), tout) for e in es]


@lowering("softmax")
def _softmax(net: Netlist, node: Node, graph: Graph, inputs: list[list[Signal]]) -> list[Signal]:
    where = node.where()
    tin, tout = graph.tensors[node.inputs[0]].type, graph.tensors[node.output].type
    size, table_t = _settings(node.attrs, node.types, where)
    shape = graph.tensors[node.inputs[0]].shape
    axis = node.attrs.get("axis", -1)
    if axis not in (-1, len(shape) - 1):
        raise RtlLoweringError(f"{where}: softmax over axis {axis} is not supported; only the last axis (-1) is")
    lo, _ = node.attrs.get("table_range", (-SOFTMAX_EXP_RANGE, 0))
    xs = [x if x.frac == tin.frac else relabel(net, x, tin.frac) for x in inputs[0]]
    k = shape[-1] if shape else 1
    out: list[Signal] = []
    for start in range(0, len(xs), k):
        out += softmax_row(net, xs[start : start + k], tin, tout, size, table_t, -Fraction(lo), where)
    return out
