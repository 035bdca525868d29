"""RTL lowering of pooling: max, average, padded ('same') and QKeras' scaled average pools.

Windows are reduced row by row (along the last spatial axis), then over the
rows.  For overlapping windows (stride < pool) the netlist's sharing then
reuses a row's maximum or sum in every window that contains the row, and
for disjoint windows it costs nothing extra.  Maxima are balanced trees of
``max``; sums are balanced adder trees.

An average is the exact window sum divided by the pool area (or by the
number of cells inside the input, for ``padded_avgpool``), rounded by the
output type's mode as :func:`fpgaq.fixed.round_divide` does.  Powers of
two in the divisor and in the output's extra fractional bits cancel first.
What remains is a rounded shift, or a division by an odd constant ``d``:
a multiplication by ``M`` (``ceil`` or ``floor`` of ``2**s / d``), one
constant and a shift by ``s``, with ``s`` chosen so that the result is
provably ``floor(n / d)`` over the sum's whole exact range (the proof is in
:func:`fpgaq.rtl.lower.blocks._reciprocal`; ties to even add a
remainder test, see :func:`~fpgaq.rtl.lower.blocks.divide`).  When
the sum spans few values, a ROM of the rounded quotients is used instead
if it costs fewer LUTs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from fpgaq.fixed import FixedType, Rounding, round_divide
from fpgaq.ir.graph import Graph, Node
from fpgaq.rtl.lower import blocks
from fpgaq.rtl.lower.blocks import (
    Builder,
    cheapest,
    divide,
    relabel,
    rom_candidate,
    times_const,
)
from fpgaq.rtl.lower.registry import RtlLoweringError, lowering
from fpgaq.rtl.netlist import Netlist, Signal

__all__ = ["average", "max_tree", "window_rows"]

_GLOBAL = ("global_maxpool1d", "global_maxpool2d", "global_avgpool1d", "global_avgpool2d", "global_scaled_avgpool2d")


def max_tree(net: Netlist, sigs: Sequence[Signal]) -> Signal:
    """The maximum of ``sigs`` as a balanced tree of two-input ``max``."""
    level = list(sigs)
    while len(level) > 1:
        nxt = [net.max(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def window_rows(node: Node, in_shape: tuple[int, ...]) -> np.ndarray:
    """``(outputs, rows, cells)``: flat input indices of each output's window (C order of the
    output tensor), row by row along the last spatial axis; -1 marks a padded cell."""
    channels = in_shape[-1]
    idx = np.arange(int(np.prod(in_shape))).reshape(in_shape)
    if node.op in _GLOBAL:  # one window per channel: every position
        per_channel = np.moveaxis(idx, -1, 0)
        return per_channel.reshape(channels, -1, in_shape[-2] if len(in_shape) > 1 else 1)
    pool, strides = tuple(node.attrs["pool_size"]), tuple(node.attrs["strides"])
    ndim = len(pool)
    pads = node.attrs.get("padding", [(0, 0)] * ndim)
    padded = np.pad(idx, [*pads, (0, 0)], constant_values=-1)
    win = np.lib.stride_tricks.sliding_window_view(padded, pool, axis=tuple(range(ndim)))  # (S'..., C, pool...)
    win = win[tuple(slice(None, None, s) for s in strides)]
    return win.reshape(-1, int(np.prod(pool[:-1])), pool[-1])


def _checked_rows(node: Node, graph: Graph) -> np.ndarray:
    rows = window_rows(node, graph.tensors[node.inputs[0]].shape)
    expected = graph.tensors[node.output].size
    if rows.shape[0] != expected:
        raise RtlLoweringError(
            f"node {node.name!r} ({node.op}): its windows give {rows.shape[0]} outputs but the output tensor has "
            f"{expected}; the node's pool_size, strides or padding disagree with its shapes"
        )
    return rows


def _row_sums(net: Netlist, xs: list[Signal], window: np.ndarray) -> Signal:
    """The exact window sum (padded cells are zeros): row sums, then their sum."""
    return net.sum([net.sum([xs[i] for i in row if i >= 0]) for row in window])


def _dsp(node: Node) -> bool:
    return node.options.get("multiplier") == "dsp"


@lowering("maxpool1d", "maxpool2d", "padded_maxpool1d", "padded_maxpool2d", "global_maxpool1d", "global_maxpool2d")
def _maxpool(net: Netlist, node: Node, graph: Graph, inputs: list[list[Signal]]) -> list[Signal]:
    """``tout <- max(window)``.  Plain pools read padded cells as 0 (as the reference pads them);
    ``padded_*`` pools ignore them (the reference pads with the input's minimum)."""
    tin, tout = graph.tensors[node.inputs[0]].type, graph.tensors[node.output].type
    xs = inputs[0]
    ignore_padding = node.op.startswith("padded_")
    out = []
    for window in _checked_rows(node, graph):
        maxima = []
        for row in window:
            cells = [xs[i] for i in row if i >= 0]
            if not ignore_padding and len(cells) < len(row):
                cells.append(net.const(0, tin.frac))
            if cells:
                maxima.append(max_tree(net, cells))
        best = max_tree(net, maxima) if maxima else net.const(tin.min_int, tin.frac)
        out.append(net.cast(best, tout))
    return out


def average(net: Netlist, total: Signal, den: int, tin: FixedType, tout: FixedType, dsp: bool = False) -> Signal:
    """``tout`` of ``total * 2**-tin.frac / den``: ``round_divide`` in ``tout``'s rounding, then its overflow."""
    shift = tout.frac - tin.frac
    if shift < 0:
        den <<= -shift
        shift = 0
    if total.is_const and total.lo == 0:  # all cells constant zero: net.sum's 0 has no binary point of its own
        total = net.const(0, tin.frac)
    cancel = min(shift, (den & -den).bit_length() - 1)  # common powers of two
    shift, den = shift - cancel, den >> cancel
    num = relabel(net, total, total.frac - tin.frac - shift)  # the integer sum * 2**shift (free)
    q = _divider(num.lo, num.hi, num.frac, den, tout.rounding, dsp, blocks.ROM_LIMIT)(net, num)
    return net.cast(relabel(net, q, tout.frac), tout)


@functools.lru_cache(maxsize=1024)
def _divider(lo: int, hi: int, frac: int, den: int, rounding: Rounding, dsp: bool, rom_limit: int) -> Builder:
    """The cheaper circuit for ``round_divide(n, den)`` over ``n`` in ``[lo, hi]``: arithmetic, or
    (``den`` not a power of two, few values) a ROM of the quotients.  Chosen once per range, not
    once per output of a layer; ``rom_limit`` (the current ROM_LIMIT) is part of the cache key."""

    def arith(n: Netlist, s: Signal) -> Signal:
        return divide(n, s, den, rounding, dsp)

    def table(m: np.ndarray) -> np.ndarray:  # mantissas m of the numerator, whose value is m * 2**-frac
        return round_divide(m.astype(object) << -frac, den, rounding)

    stand_in = Signal(-1, lo, hi, frac)
    builders: list[Builder] = [arith]
    if den & (den - 1):
        builders += rom_candidate(stand_in, table, 0)
    return cheapest(stand_in, builders)


@lowering("avgpool1d", "avgpool2d", "padded_avgpool1d", "padded_avgpool2d", "global_avgpool1d", "global_avgpool2d")
def _avgpool(net: Netlist, node: Node, graph: Graph, inputs: list[list[Signal]]) -> list[Signal]:
    tin, tout = graph.tensors[node.inputs[0]].type, graph.tensors[node.output].type
    rows = _checked_rows(node, graph)
    channels = graph.tensors[node.inputs[0]].shape[-1]
    if node.op.startswith("padded_"):
        counts = np.asarray(node.attrs["counts"]).reshape(-1)
        dens = [int(counts[i // channels]) for i in range(len(rows))]
    else:
        dens = [rows.shape[1] * rows.shape[2]] * len(rows)  # the whole window, padded cells included
    return [average(net, _row_sums(net, inputs[0], w), d, tin, tout, _dsp(node)) for w, d in zip(rows, dens)]


@lowering("scaled_avgpool2d", "global_scaled_avgpool2d")
def _scaled_avgpool(net: Netlist, node: Node, graph: Graph, inputs: list[list[Signal]]) -> list[Signal]:
    """``tout <- sum(window) * multiplier[position]``, the product exact in ``types['exact']``."""
    tin, tout = graph.tensors[node.inputs[0]].type, graph.tensors[node.output].type
    exact = node.types["exact"]
    rows = _checked_rows(node, graph)
    channels = graph.tensors[node.inputs[0]].shape[-1]
    mult = np.asarray(node.weights["multiplier"].mantissa).reshape(-1)
    out = []
    for i, window in enumerate(rows):
        c = int(mult[0] if node.op.startswith("global_") else mult[i // channels])
        total = _row_sums(net, inputs[0], window)
        mantissa = relabel(net, total, total.frac - tin.frac)  # the integer sum, as the reference holds it
        out.append(net.cast(times_const(net, mantissa, c, exact.frac, _dsp(node)), tout))
    return out
