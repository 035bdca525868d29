"""How many LUTs a ``rom`` op's table takes once synthesis has minimised its logic.

A table of ``2**n`` entries is, per output bit, a Boolean function of the
``n`` index bits.  Counted as a raw memory (one LUT6 per 64 entries and
output bit) it is wrong in both directions: the smooth tables of sigmoid,
tanh and exp have high output bits that are thresholds of the index (a LUT
or two, whatever the size) and low bits that need the whole memory plus the
multiplexers that join its 64-entry pieces (``MUXF7``/``MUXF8`` for the first
two levels, LUTs above), while a small table may depend on few index bits.

:func:`table_luts` counts the logic the way ``synth_xilinx``'s ABC maps it,
by Shannon decomposition on the index bits, top bit first (each function
first reduced to its true support, the bits it depends on):

* a function that is constant costs nothing;
* a function of at most six bits is one LUT6;
* a function of seven or eight bits is what ABC's wide LUTs make of it (a
  LUT7 or LUT8: two or four LUT6 joined by the free ``MUXF7``/``MUXF8``)
  unless one half of it is constant, which is an AND/OR gate
  (:data:`GATE_LUTS`: one input of a LUT such gates share) on the other
  half; nothing inside a wide LUT is shared;
* a wider function is its two halves joined by a LUT3 multiplexer
  (:data:`MUX_LUTS`), or by a gate when a half is constant;
* identical functions of six or more than eight bits, within an output bit
  or across the output bits of every exit of a cone, are built once.

Measured against Yosys 0.23 ``synth_xilinx`` on each of the 24 distinct
table cones of the calibration corpus synthesized alone (sigmoid, tanh,
softmax exp and reciprocal tables, 6 to 16 source bits): median error 4 %,
645 LUTs in total against 643 counted (the plain Shannon count with a
multiplexer LUT at every level, and every exit counted apart, gave 1,041;
ABC neither decomposes a seven- or eight-bit function whose halves are
both non-constant nor shares a LUT6 inside it).

The function counted is the one the mapper sees (:func:`table_cones`): the
carry-free logic around a table that depends on one signal only (the clamp
of its index and the shifts before it; a softmax's leading-one selection,
reciprocal table and shift of the reciprocal) is merged with the table (ABC
maps it as one cone; even a register on the index is moved to the table's
output by ``memory_dff``), so the table is counted as a function of that
signal, the cone's source, which is wider than the index (a 12-bit input
clamped to a 9-bit index costs about three times what the 9-bit table alone
would).

The count is a feature, not a cell count: the calibration fits its LUT
coefficient against Yosys (:mod:`fpgaq.calibrate`).

Block RAM.  A table whose output is registered directly (the register
becomes the memory's synchronous read port) is a candidate for block RAM in
``synth_xilinx``: ``memory_libmap`` takes the cheaper of soft logic
(:data:`LOGIC_COST_PER_BIT` per bit of the whole ``2**n``-word address space)
and block RAM (:data:`RAMB18_COST` per RAMB18), the numbers of Yosys'
``synth_xilinx`` and its ``brams_xc4v.txt`` library (the same in Yosys 0.23
and 0.70); :func:`block_rom_ramb18` applies that rule.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from fpgaq.rtl.netlist import Netlist, Op, Signal, simulate

__all__ = [
    "CONE_EXTRA_INPUTS",
    "CONE_KINDS",
    "GATE_LUTS",
    "LOGIC_COST_PER_BIT",
    "LUT_INPUTS",
    "MAX_CONE_BITS",
    "MAX_CONE_SUPPORT",
    "MUX_LUTS",
    "RAMB18_COST",
    "WIDE_LUT_INPUTS",
    "TableCone",
    "TableCost",
    "block_rom_ramb18",
    "table_cones",
    "table_luts",
    "tables_luts",
]

#: Inputs of the LUT a leaf function fits into (LUT6 on 7-series and UltraScale).
LUT_INPUTS = 6
#: Inputs of the widest function ABC maps as one wide LUT (LUT6s joined by MUXF7 and MUXF8).
WIDE_LUT_INPUTS = 8
#: Cost of joining two non-constant halves of a function wider than a wide LUT: a LUT3 multiplexer.
MUX_LUTS = 1.0
#: Cost of joining a half with a constant half: one input of a LUT that five such gates share.
GATE_LUTS = 0.2
#: Carry-free ops that the mapper merges with a table: wiring and the clamp of its index (multiplexer
#: chains, as a softmax's leading-one selection, keep their structure).
CONE_KINDS = ("shr", "shl", "wrap", "clip")
#: A cone's output bit is built as if it read at most its table's index bits and this many more (the
#: clamp merged into a 1024-entry exp table: 29 LUTs per bit in Yosys 0.23, a 10-bit table 16, 11 bits 32).
CONE_EXTRA_INPUTS = 1
#: The widest source a cone is tabulated over (wider sources: each table from its own index).
MAX_CONE_BITS = 16
#: A cone whose output bits depend on more source bits than this is not one function to the mapper:
#: it keeps the cone's structure (a softmax's leading-one selection and shifts), so each table is
#: counted from its own index and the other ops one by one.
MAX_CONE_SUPPORT = 14
#: ``memory_libmap -logic-cost-rom`` as ``synth_xilinx`` sets it: the cost of a ROM bit in soft logic.
LOGIC_COST_PER_BIT = 1 / 64
#: ``cost`` of a RAMB18 (an 18 Kb block RAM) in Yosys' Xilinx block RAM library.
RAMB18_COST = 129
#: Data bits a RAMB18 reads per word at each depth (16K x 1 ... 512 x 36), as configured for a ROM.
_RAMB18_WIDTHS = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))


def block_rom_ramb18(index_width: int, out_width: int) -> int:
    """RAMB18s that ``synth_xilinx`` maps a table with a registered output into (0: it stays in logic)."""
    words = 1 << index_width
    per_block = next((w for depth, w in _RAMB18_WIDTHS if words <= depth), None)
    # deeper than one RAMB18 holds: 16K x 1 blocks side by side
    blocks = -(-words // 16384) * out_width if per_block is None else -(-out_width // per_block)
    return blocks if blocks * RAMB18_COST < words * out_width * LOGIC_COST_PER_BIT else 0


def _support(tt: np.ndarray, n: int) -> list[int]:
    """Index bits (0 = least significant) that the truth table ``tt`` of ``2**n`` entries depends on."""
    used = []
    for i in range(n):
        halves = tt.reshape(-1, 2, 1 << i)
        if not np.array_equal(halves[:, 0, :], halves[:, 1, :]):
            used.append(i)
    return used


def _project(tt: np.ndarray, n: int, keep: list[int]) -> np.ndarray:
    """The truth table over the bits in ``keep`` only (the others do not change the value)."""
    cube = tt.reshape((2,) * n)  # axis 0 is the most significant bit
    index = tuple(slice(None) if (n - 1 - axis) in keep else 0 for axis in range(n))
    return np.ascontiguousarray(cube[index]).reshape(-1)


def _reduced(tt: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    keep = _support(tt, n)
    return (_project(tt, n, keep), len(keep)) if len(keep) < n else (tt, n)


def _halves(tt: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """The function at top index bit 0 and 1, and whether either is constant."""
    half = len(tt) // 2
    low, high = tt[:half], tt[half:]  # the top index bit 0 / 1
    return low, high, low.min() == low.max() or high.min() == high.max()


class _Counter:
    """Shannon decomposition as ABC maps it (see the module docstring), every distinct function of
    six or more than eight bits counted once."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()

    def cost(self, tt: np.ndarray, n: int) -> float:
        if tt.min() == tt.max():
            return 0.0
        tt, n = _reduced(tt, n)
        key = n.to_bytes(1, "little") + np.packbits(tt).tobytes()
        if key in self.seen:
            return 0.0
        self.seen.add(key)
        if n <= LUT_INPUTS:
            return 1.0
        if n <= WIDE_LUT_INPUTS:
            return _wide_lut(tt, n)
        low, high, constant = _halves(tt)
        return self.cost(low, n - 1) + self.cost(high, n - 1) + (GATE_LUTS if constant else MUX_LUTS)


def _wide_lut(tt: np.ndarray, n: int) -> float:
    """LUT6s of a function of at most :data:`WIDE_LUT_INPUTS` bits: a whole wide LUT unless a half is
    constant (then a gate on the other half)."""
    if tt.min() == tt.max():
        return 0.0
    tt, n = _reduced(tt, n)
    if n <= LUT_INPUTS:
        return 1.0
    low, high, constant = _halves(tt)
    if not constant:
        return 2.0 ** (n - LUT_INPUTS)
    return _wide_lut(low, n - 1) + _wide_lut(high, n - 1) + GATE_LUTS


class TableCost(NamedTuple):
    """Two counts of a table's logic: ``minimal`` by the decomposition above, ``wide`` as a mapper
    that builds each output bit from LUT6s and wide multiplexers over all the index bits it depends
    on (``2**(k - 6)`` LUT6 for ``k > 6`` of them), which is what Yosys' ABC does with many tables."""

    minimal: float
    wide: float
    support: int  # the most index bits any output bit depends on


@functools.lru_cache(maxsize=4096)
def _cached(columns: tuple[tuple[tuple[int, ...], int], ...], base: int, index_width: int, cap: int) -> TableCost:
    size = 1 << index_width
    addresses = (base + np.arange(len(columns[0][0]))) % size
    counter = _Counter()  # one for every column: a bit that two exits share is built once
    minimal = wide = 0.0
    support = 0
    distinct: set[bytes] = set()
    for entries, out_width in columns:
        values = np.full(size, entries[0], dtype=np.int64)  # unlisted addresses read the first entry
        values[addresses] = np.asarray(entries, dtype=np.int64)
        for bit in range(out_width):
            tt = ((values >> bit) & 1).astype(np.uint8)
            minimal += counter.cost(tt, index_width)
            key = np.packbits(tt).tobytes()
            if tt.min() != tt.max() and key not in distinct:
                distinct.add(key)
                k = len(_support(tt, index_width))
                support = max(support, k)
                wide += 2.0 ** max(min(k, cap) - LUT_INPUTS, 0)
    return TableCost(minimal, wide, support)


def table_luts(
    entries: Sequence[int], base: int, index_width: int, out_width: int, cap: int | None = None
) -> TableCost:
    """LUTs of the logic that reads ``entries[i]`` (two's complement, ``out_width`` bits) at index
    ``base + i`` of an ``index_width``-bit index, the other addresses reading ``entries[0]``
    (as the generated ``case`` statement's default does).  ``cap`` bounds the inputs a bit counts
    with in ``wide`` (a cone's: see :data:`CONE_EXTRA_INPUTS`)."""
    return tables_luts([(entries, out_width)], base, index_width, cap)


def tables_luts(
    columns: Sequence[tuple[Sequence[int], int]], base: int, index_width: int, cap: int | None = None
) -> TableCost:
    """:func:`table_luts` of several tables of the same index (``(entries, out_width)`` each) built
    together: the bits they have in common (a table and shifted copies of it) are counted once."""
    cap = index_width if cap is None else min(cap, index_width)
    key = tuple((tuple(int(v) for v in entries), int(width)) for entries, width in columns)
    return _cached(key, int(base), int(index_width), int(cap))


@dataclasses.dataclass
class TableCone:
    """Logic that a table and the carry-free ops around it compute from one source signal: the
    mapper builds it as one function of that signal (``luts``: :func:`table_luts` of each exit)."""

    source: int
    ops: list[Op]
    exits: list[Signal]
    luts: TableCost

    @property
    def op_ids(self) -> set[int]:
        return {op.out.id for op in self.ops}


def _cone_sources(ops: Sequence[Op]) -> dict[int, int]:
    """For each output of a :data:`CONE_KINDS` op (or a ``rom``), the one signal its value depends
    on through such ops; an op of several such signals starts its own."""
    source: dict[int, int] = {}
    for op in ops:
        if op.kind not in CONE_KINDS and op.kind != "rom":
            continue
        roots = {source.get(a.id, a.id) for a in op.args if not a.is_const}
        source[op.out.id] = roots.pop() if len(roots) == 1 else op.out.id
    return source


def table_cones(ops: Sequence[Op], signals: Mapping[int, Signal]) -> list[TableCone]:
    """The cones of ``ops`` (in topological order) that hold a table, each counted as a function of
    its source when the source has at most :data:`MAX_CONE_BITS` bits (else its tables alone are
    their own cones, from their index)."""
    source = _cone_sources(ops)
    groups: dict[int, list[Op]] = {}
    for op in ops:
        if op.out.id in source and source[op.out.id] != op.out.id:
            groups.setdefault(source[op.out.id], []).append(op)
    readers: dict[int, set[int]] = {}
    for op in ops:
        for a in op.args:
            readers.setdefault(a.id, set()).add(op.out.id)
    cones = []
    for src, members in groups.items():
        if not any(op.kind == "rom" for op in members):
            continue
        feed = signals.get(src)
        if feed is None or feed.width > MAX_CONE_BITS:  # too wide to tabulate
            cones += _own_tables(members)
            continue
        ids = {op.out.id for op in members}
        exits = [op.out for op in members if not readers.get(op.out.id) or readers[op.out.id] - ids]
        cost = _tabulated_luts(feed, members, exits)
        if cost.support <= MAX_CONE_SUPPORT:
            cones.append(TableCone(src, members, exits, cost))
        else:
            cones += _own_tables(members)
    return cones


def _own_tables(members: Sequence[Op]) -> list[TableCone]:
    """Each table of ``members`` as a cone of its own, counted from its index."""
    cones = []
    for op in members:
        if op.kind == "rom":
            entries, base = op.param
            cost = table_luts(entries, base, op.args[0].width, op.out.width)
            cones.append(TableCone(op.args[0].id, [op], [op.out], cost))
    return cones


def _tabulated_luts(feed: Signal, members: list[Op], exits: list[Signal]) -> TableCost:
    """:func:`tables_luts` of the cone's exits together, evaluated over the source's whole range."""
    cap = max(op.args[0].width for op in members if op.kind == "rom") + CONE_EXTRA_INPUTS
    scratch = Netlist()
    scratch.outputs.append(("exits", list(exits), None))
    values = np.arange(feed.lo, feed.hi + 1, dtype=np.int64).reshape(-1, 1)
    table = simulate(scratch, [values], [Op("input", feed, (), (0, 0)), *members])[0]
    columns = [([int(v) for v in table[:, k]], exit.width) for k, exit in enumerate(exits)]
    return tables_luts(columns, feed.lo, feed.width, cap)
