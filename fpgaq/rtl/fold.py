"""``ReuseFactor = R > 1``: a linear layer's multiplications folded in time (II = R).

Architecture of a folded layer (one *fold group* per layer):

* **hold registers** capture the layer's inputs once per sample (``hold``
  ops; loaded when the valid bit of their input stage is set) and keep them
  for the ``R`` cycles the layer works on that sample;
* **phases**: the layer sees phase ``p = 0 .. R-1`` in ``R`` consecutive
  enabled cycles.  There is no counter: samples enter at least ``R`` cycles
  apart (the top level's ``in_ready`` enforces it), so "phase ``p`` at stage
  ``k``" is just the valid bit of stage ``k + p`` (see :mod:`fpgaq.rtl.pipeline`);
* **slots**: every output's taps (its inputs and weights, in the same order
  for all outputs reading the same inputs) are cut into ``R`` consecutive
  slices of ``K = ceil(taps / R)``; slot ``k`` multiplies, in phase ``p``,
  tap ``p*K + k``: a multiplexer picks the held input (shared by every
  output that reads the same inputs), another picks the weight constant, and
  a ``*`` (``mul``: a DSP, or a LUT multiplier) forms the product.  A slot
  whose weight is the same in every phase multiplies by that constant with
  shifts and adds instead (:mod:`fpgaq.rtl.csd`); slots whose taps are all
  zero weights or padding vanish;
* **accumulator**: each output sums its ``K`` products per phase in an adder
  tree and adds that to an accumulator register (``accum``), which is zero
  before phase 0 (a synchronous reset holds it there outside phases
  ``0 .. R-2``); in the last phase the adder's output is the exact
  sum, read by the rest of the layer (bias, accumulator type, activation)
  like the sum of an unfolded layer.

So a layer with ``M`` products uses about ``M / R`` multipliers, ``R``-way
multiplexers, and one accumulator per output; its latency grows by
``R - 1`` cycles.  Bit-exact by construction: the accumulator is as wide as
the largest partial sum over any prefix of phases (each phase's range is
summed exactly from its products' ranges), so it never overflows; the
declared accumulator type (e.g. a narrower WRAP type) is applied to the
final sum exactly as in an unfolded layer.  With LUT multipliers folding
saves little (a general multiplier costs more LUTs than the shift-add
products it replaces); it pays with DSPs.
"""

from __future__ import annotations

from collections.abc import Sequence

from fpgaq.rtl.csd import layer_terms, signed_sum
from fpgaq.rtl.netlist import Netlist, Signal

__all__ = ["folded_dot_products"]

Tap = tuple[Signal | None, int]


def _select(net: Netlist, values: Sequence[Signal], phases: Sequence[Signal]) -> Signal:
    """``values[p]`` during phase ``p`` (a chain of multiplexers on one-hot phase bits)."""
    v = values[0]
    for p in range(1, len(values)):
        v = net.mux(phases[p], values[p], v)
    return v


def folded_dot_products(
    net: Netlist, taps: Sequence[Sequence[Tap]], kfrac: int, multiplier: str, reuse: int, adders: str = "binary"
) -> list[Signal]:
    """Per output ``sum(x * w)`` over its taps, computed over ``reuse`` phases (see the module docstring).

    The sums carry the binary point ``x.frac + kfrac``, as unfolded ones do; ``adders`` is the
    partial sum's tree (:func:`fpgaq.rtl.csd.signed_sum`).
    """
    group = net.fold_group(reuse)
    phases = [net.phase(group, p) for p in range(reuse)]
    held: dict[int, Signal] = {}

    def hold(x: Signal) -> Signal:
        if x.id not in held:
            held[x.id] = net.hold(x, group)
        return held[x.id]

    xfrac = next((x.frac for row in taps for x, _ in row if x is not None), 0)
    frac = xfrac + kfrac
    zero = net.const(0, xfrac)
    sums = []
    for row in taps:
        k_slots = -(-len(row) // reuse) if row else 0
        terms = []
        lo_p, hi_p = [0] * reuse, [0] * reuse
        for k in range(k_slots):
            entries = [row[p * k_slots + k] if p * k_slots + k < len(row) else (None, 0) for p in range(reuse)]
            xs = [zero if x is None else hold(x) for x, _ in entries]
            ws = [0 if x is None else int(w) for x, w in entries]
            if not any(ws):
                continue
            for p, (x, w) in enumerate(zip(xs, ws)):
                ends = (x.lo * w, x.hi * w)
                lo_p[p] += min(ends)
                hi_p[p] += max(ends)
            x_sel = _select(net, xs, phases)  # the real inputs even where w = 0: shared with other outputs
            if len(set(ws)) == 1:
                terms += layer_terms(net, [[(x_sel, ws[0])]], kfrac, multiplier)[0]
            else:
                w_sel = _select(net, [net.const(w, kfrac) for w in ws], phases)
                terms.append((net.mul(x_sel, w_sel), False))
        partial = signed_sum(net, terms, adders=adders)
        if partial.is_const:  # no products at all, or all of constant inputs: the same sum in every phase
            sums.append(net.const(partial.lo * reuse << max(frac - partial.frac, 0), max(frac, partial.frac)))
            continue
        if partial.frac < frac:
            partial = net.shl(partial, frac - partial.frac)
        # the register holds the sums of phases 0 .. R-2 only (the last phase's sum leaves through the adder)
        reg_lo = sum(min(0, v) for v in lo_p[:-1])
        reg_hi = sum(max(0, v) for v in hi_p[:-1])
        sums.append(net.accum(partial, group, sum(lo_p), sum(hi_p), reg_lo, reg_hi))
    return sums
