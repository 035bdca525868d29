"""What a node's RTL is made of, counted without building the whole design: the resource model's input.

The RTL back end decides everything that costs area: which products become
shift-add networks, which adders are shared between outputs, how wide every
adder is, where pipeline registers go.  Guessing those with formulas would
throw away the one exact answer we have, so the features here come from the
back end's own lowering (:mod:`fpgaq.rtl.lower`) and scheduling rule
(:mod:`fpgaq.rtl.pipeline`), run on one node at a time:

* **The dot-product core** of a linear node (its products, shared odd
  multiples and two-term patterns, adder trees, folding multiplexers and
  accumulators) depends on the integer weights, the multiplier style and the
  reuse factor, and on the input type only through its width: every signal
  of the core is a linear function of the inputs, so widening the input by
  ``d`` bits widens every core signal by ``d`` bits.  The core is lowered
  once per (weights, style, reuse, signedness) with the real lowering and
  the real scheduler (cached), and reused at any input width by adding
  ``d`` bits per signal.  That is what makes a sweep of thousands of
  precisions cost milliseconds per point while keeping the exact structure.
* **The rest** (bias, accumulator cast, rounding, saturation, activation;
  and every non-linear node) is small, so it is lowered for real at the
  node's actual types, from the exact ranges of the dot products (computed
  from the weights' positive and negative sums).
* **Registers** follow the scheduler's rule (a signal is registered when
  its depth reaches ``PipelineEvery``; inputs of an op that would exceed it
  are registered instead; ``PipelineEvery: 0`` registers the layer outputs),
  replayed here per element on the core and on the rest (:class:`_Replay`),
  so latencies are the generated RTL's.

A :class:`Features` is a bag of named counts: effective adder bits (result
width less the low bits that pass through), comparison and multiplexer bits,
ROM size, multiplier operand widths, register bits, logic levels.  The
calibrated coefficients in :mod:`fpgaq.resource_model` turn them into LUTs,
FFs and DSPs per device.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from fpgaq.ir.graph import Graph, Node
from fpgaq.ir.opspec import is_linear
from fpgaq.rtl.csd import AUTO_DSP_DIGITS, csd
from fpgaq.rtl.delay import (
    DelayModel,
    Operand,
    count_loads,
    delay_model,
    extra_bits,
    loaded_widths,
    op_arrival,
    sloped_output,
)
from fpgaq.rtl.fold import folded_dot_products
from fpgaq.rtl.lower.blocks import on_binary_point
from fpgaq.rtl.lower.driver import Lowered
from fpgaq.rtl.lower.linear import dot_products, finish, linear_taps
from fpgaq.rtl.lower.registry import LOWERINGS, OWN_BINARY_POINTS, load_families
from fpgaq.rtl.netlist import Netlist, Op, Signal, add3_pass_through, bits_for_range
from fpgaq.rtl.pipeline import (
    LEVELS,
    Scheduler,
    TooSlow,
    clock_period,
    hold_stage,
    read_stage,
    registers_output,
    timed_read_stage,
)
from fpgaq.rtl.table_logic import block_rom_ramb18, table_cones

__all__ = ["FEATURES", "Features", "NodeFeatures", "TableSite", "graph_features", "op_features"]

#: The counted quantities (all additive over ops and nodes).
FEATURES = (
    "add_bits",  # carry-chain bits of adders and subtractors (result width less pass-through low bits)
    "add3_bits",  # of those, bits of ternary adders (three operands, one LUT6_2 per bit on Xilinx)
    "dsp_add_bits",  # of those, two-operand adders fed by a product (a DSP slice's post-adder can take them)
    "carry_bits",  # of the add bits, those above an unsigned operand's top: a carry cell, no LUT
    "adders",  # number of adders
    "cmp_bits",  # bits compared by max/min/clip (per bound)
    "mux_bits",  # bits selected by a multiplexer between two signals
    "cmux_bits",  # bits of a multiplexer between two constants (a LUT per differing bit at most)
    "fold_mux_bits",  # bits of a folded layer's phase multiplexers between held inputs (R-way, one-hot select)
    "rom_bits",  # table entries x output bits
    "rom_luts",  # LUTs of the tables once their logic is minimised (fpgaq.rtl.table_logic.table_luts)
    "rom_wide_luts",  # LUTs of the tables built bit by bit over every index bit each depends on
    "bram_rom_luts",  # of rom_luts, tables with a registered output that Xilinx flows put in block RAM
    "bram_rom_wide_luts",  # of rom_wide_luts, those tables
    "rom_ramb18",  # the RAMB18s those tables take (fpgaq.rtl.table_logic.block_rom_ramb18)
    "bram_reg_bits",  # their output registers (a block RAM's read port), counted in reg_bits
    "mul_bits",  # operand width products of general multipliers (a x b)
    "muls",  # general multipliers and multiplications by a constant spelled as '*'
    "reg_bits",  # register bits (pipeline, delay, hold, accumulator)
    "srl_bits",  # of those, bits in delay chains of SRL_MIN_LENGTH or more (Yosys maps them to SRLs)
    "srl_cells",  # SRL16/SRLC32 cells those chains need: one per bit per 32 stages
    "dsp_reg_bits",  # of the register bits, those at a multiplier's inputs or output (DSP pipeline registers)
)

#: Delay chains at least this long become shift-register LUTs in ``synth_xilinx`` (``shregmap``).
SRL_MIN_LENGTH = 3


def _srl_cells(length: int) -> int:
    """SRLC32 cells per bit of a delay chain of ``length`` stages."""
    return -(-length // 32)


class TableSite(NamedTuple):
    """A table, for what its registers decide (block RAM): its output and index signals, their
    widths, and its share of its cone's LUTs (minimal, wide)."""

    out: int
    index: int
    index_width: int
    width: int
    luts: float
    wide_luts: float


@dataclasses.dataclass
class Features:
    """Additive counts; ``mul_shapes`` keeps each multiplier's signed operand widths and product
    width ``(a, b, y, values, rows)`` for DSP packing and the LUT multiplier's kind (``values``: 0, a
    product by a constant; k, by a weight chosen among k constants, which takes ``rows`` adder rows
    built by shifts and adds; -1, of two signals), ``roms`` each table's :class:`TableSite` until its
    registers are known."""

    counts: dict[str, float] = dataclasses.field(default_factory=lambda: dict.fromkeys(FEATURES, 0.0))
    mul_shapes: list[tuple[int, ...]] = dataclasses.field(default_factory=list)
    roms: list[TableSite] = dataclasses.field(default_factory=list)

    def add(self, other: Features) -> None:
        for k, v in other.counts.items():
            self.counts[k] += v
        self.mul_shapes.extend(other.mul_shapes)
        self.roms.extend(other.roms)

    def __getitem__(self, key: str) -> float:
        return self.counts[key]


@dataclasses.dataclass
class NodeFeatures:
    """A node's logic and timing: ``stages`` register stages it adds, ``depth`` the logic levels
    of its longest register-to-register path, ``out_depth`` the levels its outputs leave with."""

    name: str
    op: str
    features: Features
    stages: int
    depth: float
    out_depth: float
    ii: int = 1
    ns: float = 0.0  # the longest logic delay since a register by the delay model (0: not timed)


# ----------------------------------------------------------------------------- counting ops
def _zero_low_bits(s: Signal, shift: int) -> int:
    """Low bits of ``s << shift`` that are always zero (a constant's trailing zeros count too)."""
    if s.is_const and s.lo:
        return shift + (s.lo & -s.lo).bit_length() - 1
    return shift


def _effective_add_bits(op: Op) -> int:
    """Result bits that need a carry chain: the low bits where one operand is zero (shifted in, or
    a constant's trailing zeros, as a rounding constant's) pass the other one through; below a
    subtrahend's zeros the minuend passes, below a minuend's the subtrahend must be negated.
    A ternary adder spells exactly its result less :func:`~fpgaq.rtl.netlist.add3_pass_through`."""
    if op.kind == "neg":
        return op.out.width
    if op.kind == "add3":
        return max(op.out.width - add3_pass_through(op.param), 1)
    sa, sb, subtract = op.param
    za, zb = _zero_low_bits(op.args[0], sa), _zero_low_bits(op.args[1], sb)
    through = zb if subtract else max(za, zb)
    return max(op.out.width - through, 1)


def _power_of_two(v: int) -> bool:
    return v > 0 and v & (v - 1) == 0


def _clip_compare_bits(op: Op) -> int:
    """Bits a saturation compares: a range of whole bits (``[0, 2**n - 1]`` or ``[-2**n, 2**n - 1]``,
    what casting into a fixed-point type clips to) is left exactly when the bits above the result's
    are not all copies of its sign, one reduction over those bits; any other bound is a comparator
    over the whole input, per bound."""
    lo, hi = op.param[:2] if isinstance(op.param, tuple) else (None, None)
    a = op.args[0]
    if (hi is None or _power_of_two(hi + 1)) and (lo is None or lo == 0 or _power_of_two(-lo)):
        return max(a.width - op.out.width, 0) + 1
    bounds = sum(x is not None for x in (lo, hi))
    return a.width * max(bounds, 1)


def _top_bit(s: Signal, shift: int) -> int | None:
    """Bits of ``s << shift`` above which it is always zero (None: a signed operand extends its sign)."""
    if s.lo < 0:
        return None
    return shift + (s.hi.bit_length() if s.is_const else s.width)


def _signed_width(sig: Signal) -> int:
    """Bits of ``sig`` as a signed number: an unsigned one needs a zero sign bit."""
    return sig.width + (1 if sig.lo >= 0 else 0)


def _count_phase_mux(c: dict[str, float], op: Op, weights: dict[int, frozenset[int]]) -> None:
    """A folded layer's phase multiplexer (:func:`fpgaq.rtl.fold._select`, a chain of them per slot).
    Selecting held inputs costs a LUT input per phase and bit.  Selecting weights (a chain of
    constants) is a function of the phase bits alone, which synthesis merges into what reads it
    (a DSP's input logic, a LUT multiplier): not counted here, but the constants it selects among
    are kept in ``weights``, and the multiplier reading it is priced by them (``mul_shapes``)."""
    _, one, zero = op.args
    if all(a.is_const or a.id in weights for a in (one, zero)):  # the constants it selects among
        weights[op.out.id] = frozenset().union(*(weights.get(a.id, frozenset({a.lo})) for a in (one, zero)))
    else:
        c["fold_mux_bits"] += op.out.width


def _carry_bits(op: Op) -> int:
    """Add bits above the top of an unsigned operand: the other operand plus a carry, which a carry
    chain propagates with no LUT (the propagate term is the other operand's bit itself); a
    subtraction inverts its subtrahend's zeros into ones, which costs inverters."""
    if op.kind != "add" or op.param[2]:
        return 0
    sa, sb, _ = op.param
    tops = [t for t in (_top_bit(op.args[0], sa), _top_bit(op.args[1], sb)) if t is not None]
    if not tops:
        return 0
    width = op.out.width
    start = width - _effective_add_bits(op)
    return max(0, width - max(min(tops), start))


def _count_tables(f: Features, ops: list[Op]) -> set[int]:
    """Count the tables with the logic the mapper merges into them (:func:`table_cones`); returns
    the outputs of the ops counted so (the others are counted one by one)."""
    signals = {a.id: a for op in ops for a in (*op.args, op.out)}
    counted: set[int] = set()
    for cone in table_cones(ops, signals):
        roms = [op for op in cone.ops if op.kind == "rom"]
        f.counts["rom_luts"] += cone.luts.minimal
        f.counts["rom_wide_luts"] += cone.luts.wide
        for op in roms:
            f.counts["rom_bits"] += len(op.param[0]) * op.out.width
            share = (cone.luts.minimal / len(roms), cone.luts.wide / len(roms))
            f.roms.append(TableSite(op.out.id, op.args[0].id, op.args[0].width, op.out.width, *share))
        counted |= cone.op_ids
    return counted


def op_features(ops: Iterable[Op]) -> Features:
    """Counts of the given ops (inputs, constants and wiring cost nothing)."""
    f = Features()
    c = f.counts
    ops = list(ops)
    in_tables = _count_tables(f, ops) if any(op.kind == "rom" for op in ops) else set()
    products: set[int] = set()  # signals that are a multiplier's product, or wiring of one
    phases = {op.out.id for op in ops if op.kind == "phase"}  # a folded layer's phase bits
    weight_selects: dict[int, frozenset[int]] = {}  # outputs of phase multiplexers between constants
    for op in ops:
        if op.out.id in in_tables:
            continue
        k = op.kind
        if (k == "mul" or (k == "mulc" and not _power_of_two(abs(int(op.param))))) or (
            k in ("shl", "shr", "wrap") and op.args[0].id in products
        ):  # a product by a power of two is a shift: what adds it is an ordinary adder
            products.add(op.out.id)
        if k in ("add", "add3", "neg"):
            bits = _effective_add_bits(op)
            c["add_bits"] += bits
            c["adders"] += 1
            if k == "add3":  # a DSP slice's post-adder takes two operands: a product's too is a LUT6_2 per bit
                c["add3_bits"] += bits
            elif any(a.id in products for a in op.args):
                c["dsp_add_bits"] += bits
            else:
                c["carry_bits"] += _carry_bits(op)
        elif k in ("max", "min"):
            c["cmp_bits"] += max(a.width for a in op.args)
            c["mux_bits"] += op.out.width
        elif k == "clip":
            c["cmp_bits"] += _clip_compare_bits(op)
            c["mux_bits"] += op.out.width
        elif k == "mux":
            if op.args[0].id in phases:
                _count_phase_mux(c, op, weight_selects)
            elif all(a.is_const for a in op.args[1:]):
                c["cmux_bits"] += op.out.width
            else:
                c["mux_bits"] += op.out.width
        elif k in ("mul", "mulc"):
            # Yosys sees both operands sign-extended (the RTL spells a signed product), and its wreduce
            # leaves an unsigned one a zero sign bit: the widths mul2dsp decides on
            a = _signed_width(op.args[0])
            if k == "mul":
                b = _signed_width(op.args[1])
            else:  # synthesis shifts out the constant's trailing zeros; a power of two is wiring (b = 0)
                odd = abs(int(op.param))
                odd //= odd & -odd
                b = 0 if odd == 1 else odd.bit_length() + 1
            c["mul_bits"] += a * b
            c["muls"] += 1
            # how many values the second operand takes: 0 a constant, k a weight chosen among k constants
            # (a folded layer's), -1 any signal; and for a chosen weight, the rows of adders that building
            # each constant product by shifts and adds and choosing one would take
            weights = weight_selects.get(op.args[1].id, frozenset()) if k == "mul" else frozenset()
            values = 0 if k == "mulc" else len(weights) or -1
            rows = sum(max(len(csd(w)) - 1, 0) for w in weights) + max(len(weights) - 1, 0)
            f.mul_shapes.append((a, b, op.out.width, values, rows))
        elif k == "accum":
            c["add_bits"] += op.out.width
            c["adders"] += 1
            _, _, reg_lo, reg_hi, _ = op.param  # the register holds the sums of all phases but the last
            c["reg_bits"] += bits_for_range(reg_lo, max(reg_hi, reg_lo))[0]
        elif k in ("reg", "hold"):
            c["reg_bits"] += op.out.width
    return f


# ----------------------------------------------------------------------------- the scheduling rule
_OP, _HOLD, _MUL = 0, 1, 2  # a step's kind: logic, a fold group's hold register, a multiplier
_MULTIPLIERS = ("mul", "mulc")


@dataclasses.dataclass
class _Program:
    """Ops reduced to what scheduling reads, once per netlist (widths are costly to recompute)."""

    steps: list[tuple[int, int, int, tuple[int, ...], int, int, str, int]]
    # id, kind, levels, args, width, extra, op kind, ROM index bits
    hold_inputs: dict[int, list[int]]
    widths: dict[int, int]

    @functools.cached_property
    def loads(self) -> dict[int, int]:
        """Signal id -> the loads on its net, as :func:`fpgaq.rtl.delay.fanouts` counts them (from the
        steps, which hold every op but inputs and constants); only a model with a fan-out term reads it."""
        return count_loads((sid, op_kind, args) for sid, _, _, args, _, _, op_kind, _ in self.steps)


def _program(ops: Sequence[Op], inputs: Iterable[Signal] = (), outputs: Iterable[Signal] = ()) -> _Program:
    steps = []
    hold_inputs: dict[int, list[int]] = {}
    loaded = loaded_widths(ops, {s.id for s in outputs})
    for op in ops:
        if op.kind in ("input", "const") or op.out.is_const:
            continue
        args = tuple(a.id for a in op.args if not a.is_const)
        width = loaded.get(op.out.id, op.out.width)
        if op.kind == "hold":
            hold_inputs.setdefault(op.param[0], []).append(op.args[0].id)
            steps.append((op.out.id, _HOLD, 0, args, width, op.param[0], op.kind, 0))
        else:
            extra = op.param[1] - 1 if op.kind == "accum" else 0
            kind = _MUL if op.kind in _MULTIPLIERS else _OP
            index_bits = extra_bits(op)
            steps.append((op.out.id, kind, LEVELS.get(op.kind, 0), args, width, extra, op.kind, index_bits))
    return _Program(steps, hold_inputs, {s.id: loaded.get(s.id, s.width) for s in inputs})


@dataclasses.dataclass(frozen=True)
class Timing:
    """How a node is scheduled and timed: ``every`` (PipelineEvery levels) or, with ``clock``, the
    delay model and the logic budget per stage that ``ClockPeriod`` leaves; ``report`` times the
    result in ns (the estimate's device; ``None``: no ns)."""

    every: int = 0
    clock: DelayModel | None = None
    budget: float = 0.0
    report: DelayModel | None = None

    @property
    def model(self) -> DelayModel | None:
        return self.clock or self.report


def _arrival_of(model: DelayModel, kind: str, width: int, index_bits: int) -> Callable[[list], float]:
    return lambda parts: op_arrival(model, kind, width, parts, index_bits)


class _Replay:
    """The scheduler's rule (:mod:`fpgaq.rtl.pipeline`) replayed on a small netlist whose inputs
    arrive at given (stage, depth, ns): counts the register bits it adds and where outputs leave.

    ``depth`` is what the rule compares (levels, or ns under ``ClockPeriod``); ``ns`` is the
    delay model's time since the last register, from which the estimate's Fmax comes."""

    def __init__(self, timing: Timing, boundary: set[int]) -> None:
        self.timing = timing
        self.every = timing.every
        self.boundary = boundary if timing.clock is None else set()
        self.at: dict[int, tuple[int, float, float]] = {}
        self.slope: dict[int, bool] = {}
        self.max_ns = 0.0
        self.delays: dict[int, int] = {}
        self.width: dict[int, int] = {}
        self.reg_bits = 0
        self.regs = 0
        self.dsp_reg_bits = 0  # registers at a multiplier's inputs or output (a DSP slice absorbs them)
        self.max_depth = 0

    def _delay(self, sid: int, stage: int, target: int) -> int:
        need = target - stage
        added = 0
        if need > self.delays.get(sid, 0):
            added = (need - self.delays.get(sid, 0)) * self.width[sid]
            self.reg_bits += added
            self.regs += need - self.delays.get(sid, 0)
            self.delays[sid] = need
        return added

    def run(
        self,
        program: _Program,
        inputs: Sequence[Signal],
        arrive: Sequence[tuple[int, float, float]],
        loads: Mapping[int, int] | None = None,
    ) -> None:
        """Folded layers follow :mod:`fpgaq.rtl.pipeline` too: signals of phases and constants only
        are rebuilt next to each reader (no registers), a fold group's ``hold`` registers load one
        stage after its latest input, and an ``accum`` delivers ``phases - 1`` stages later."""
        n = self.every
        at, width, boundary, slope = self.at, self.width, self.boundary, self.slope
        model, clock = self.timing.model, self.timing.clock
        if model is None or not model.fanout:  # no fan-out term: the loads change nothing
            loads = {}
        elif loads is None:  # (given: a layer's sums, read by its core and its rest)
            loads = program.loads
        for sig, when in zip(inputs, arrive):
            at[sig.id] = when
            width[sig.id] = program.widths.get(sig.id) or sig.width
            slope[sig.id] = when[2] > 0
        holds: dict[int, int] = {}  # fold group -> the stage its hold registers load
        for sid, kind, cost, arg_ids, w, extra, op_kind, index_bits in program.steps:
            if sid in at:
                continue
            width[sid] = w
            args = [i for i in arg_ids if i in at]
            if not args:  # constants and phases only: rebuilt where read
                continue
            if kind == _HOLD:
                if extra not in holds:
                    holds[extra] = hold_stage(at[i][0] for i in program.hold_inputs[extra] if i in at)
                s_a = at[args[0]][0]
                if s_a < holds[extra] - 1:
                    self._delay(args[0], s_a, holds[extra] - 1)
                at[sid] = (holds[extra], 0, 0.0)
                slope[sid] = False
                continue
            if clock is not None:
                latest = max(at[i][0] for i in args)
                parts = [
                    (at[i][0], at[i][2], width[i], slope[i], loads.get(i, 1))
                    if at[i][0] == latest
                    else (latest, 0.0, width[i], False, loads.get(i, 1))
                    for i in args
                ]
                stage, ns = timed_read_stage(parts, _arrival_of(clock, op_kind, w, index_bits), self.timing.budget)
                if ns > self.timing.budget:
                    raise TooSlow(
                        f"ClockPeriod cannot be met: a {w}-bit {op_kind} takes {clock.stage_ns(ns):.2f} ns from "
                        f"register to register on its own by the {clock.flow} delay model; raise ClockPeriod"
                    )
            else:
                stage = read_stage([at[i][:2] for i in args], cost, n)
            depth = 0
            ns_parts = []
            for i in args:
                s_a, d_a, ns_a = at[i]
                if s_a < stage:
                    added = self._delay(i, s_a, stage)
                    if kind == _MUL:
                        self.dsp_reg_bits += added
                    ns_parts.append(Operand(0.0, width[i], False, loads.get(i, 1)))
                else:
                    if d_a > depth:
                        depth = d_a
                    ns_parts.append(Operand(ns_a, width[i], slope[i], loads.get(i, 1)))
            ns = op_arrival(model, op_kind, w, ns_parts, index_bits) if model is not None else 0.0
            depth = ns if clock is not None else depth + cost
            if depth > self.max_depth:
                self.max_depth = depth
            if ns > self.max_ns:
                self.max_ns = ns
            slope[sid] = sloped_output(op_kind, (p[2] for p in ns_parts))
            stage += extra  # an accumulator's phases
            if clock is None and registers_output(depth, cost, n, sid in boundary):
                self.reg_bits += w
                self.regs += 1
                if kind == _MUL:
                    self.dsp_reg_bits += w
                stage, depth, ns = stage + 1, 0, 0.0
                slope[sid] = False
            at[sid] = (stage, depth, ns)

    def chains(self, grows: Callable[[int], bool] = lambda sid: True) -> tuple[float, float, float, float]:
        """(bits, cells, bits per input-width bit, cells per input-width bit) of the delay chains
        long enough to become SRLs."""
        bits = cells = bits_grow = cells_grow = 0.0
        for sid, length in self.delays.items():
            if length >= SRL_MIN_LENGTH:
                n_cells = _srl_cells(length)
                bits += length * self.width[sid]
                cells += n_cells * self.width[sid]
                if grows(sid):
                    bits_grow += length
                    cells_grow += n_cells
        return bits, cells, bits_grow, cells_grow

    def leave(self, outputs: Sequence[Signal], register_inputs: bool) -> list[tuple[int, float, float]]:
        """(stage, depth) of every output; with ``register_inputs`` (PipelineEvery 0 on a layer
        whose outputs were computed before this netlist) outputs still in logic are registered."""
        out = []
        for s in outputs:
            if s.is_const or s.id not in self.at:
                out.append((0, 0, 0.0))
                continue
            stage, depth, ns = self.at[s.id]
            if register_inputs and self.boundary and depth > 0:
                self.reg_bits += self.width[s.id]
                stage, depth, ns = stage + 1, 0, 0.0
                self.at[s.id] = (stage, depth, ns)
            out.append((stage, depth, ns))
        return out


# ----------------------------------------------------------------------------- element ranges
#: Per tensor: the exact (lo, hi) mantissa range of every element and their binary point, as the
#: netlist knows them (constants fold, ranges narrower than the type shrink the logic after them).
Ranges = tuple[np.ndarray, np.ndarray, int]


def full_ranges(t: Any, size: int) -> Ranges:
    return np.full(size, t.min_int, dtype=object), np.full(size, t.max_int, dtype=object), t.frac


def element_ranges(t: Any, et: Any) -> Ranges:
    """Each element's own range (an input with per-element types), on the container ``t``'s binary point:
    what :func:`fpgaq.rtl.lower.learned.element_inputs` gives the RTL."""
    f, lo, hi = (a.reshape(-1) for a in (et.frac, et.lo, et.hi))
    # A constant-zero element may keep a finer grid than the container, which takes live elements only.
    lo = np.array([int(a) << (t.frac - int(k)) if a or b else 0 for a, b, k in zip(lo, hi, f)], dtype=object)
    hi = np.array([int(b) << (t.frac - int(k)) if a or b else 0 for a, b, k in zip(lo, hi, f)], dtype=object)
    return lo, hi, t.frac


def _ranges_of(sigs: Sequence[Signal]) -> Ranges:
    frac = max((s.frac for s in sigs if not s.is_const), default=sigs[0].frac if sigs else 0)
    lo = np.array([s.lo << (frac - s.frac) if frac >= s.frac else s.lo >> (s.frac - frac) for s in sigs], dtype=object)
    hi = np.array([s.hi << (frac - s.frac) if frac >= s.frac else s.hi >> (s.frac - frac) for s in sigs], dtype=object)
    return lo, hi, frac


def _ranges_digest(r: Ranges) -> str:
    lo, hi, frac = r
    text = ",".join(map(str, lo)) + "|" + ",".join(map(str, hi)) + f"|{frac}"
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _signals(net: Netlist, index: int, r: Ranges, fracs: Sequence[int] | None = None) -> list[Signal]:
    """Input signals of ``r``'s ranges; ``fracs``: each element on its own (coarser) binary point."""
    lo, hi, frac = r
    if fracs is None:
        return [net._new("input", int(a), int(b), frac, (), (index, i)) for i, (a, b) in enumerate(zip(lo, hi))]
    sigs = []
    for i, (a, b, f) in enumerate(zip(lo, hi, fracs)):
        f = frac if a == b else min(f, frac)  # the ranges are exact multiples of the coarser unit
        sigs.append(net._new("input", int(a) >> (frac - f), int(b) >> (frac - f), f, (), (index, i)))
    return sigs


def _sum_fracs(core: _Core) -> tuple[int, ...] | None:
    """The binary point of each dot product, when they differ (a layer reading per-element grids)."""
    fracs = tuple(s.frac for s in core.sums)
    return fracs if len(set(fracs)) > 1 else None


# ----------------------------------------------------------------------------- the dot-product core
@dataclasses.dataclass
class _Core:
    """A linear node's core lowered at input width ``width``; ``grow`` counts the signals whose
    width follows the input's (for rescaling), per feature."""

    width: int
    frac_drop: int  # the sums' binary point is this many bits coarser than x.frac + kernel frac
    features: Features
    grow: dict[str, float]
    mul_grow: list[bool]  # per multiplier: does operand a follow the input width
    rows: np.ndarray  # the taps as a sparse matrix: output index, input index, weight
    cols: np.ndarray
    weights: np.ndarray
    n_out: int
    timing: dict[tuple[int, str], _CoreTiming]  # (every, arrival digest) -> timing
    net: Netlist
    sums: list[Signal]
    program: _Program
    follows: dict[int, bool]
    name: str
    ii: int


_CORES: dict[tuple[Any, ...], _Core] = {}
#: Schedule cores with the replayed rule (milliseconds) rather than the real scheduler (tens of
#: milliseconds); tests check that both agree.
_REPLAY_CORES = True
_REST: dict[tuple[Any, ...], tuple[Features, float, Arrival, Ranges, float]] = {}
_CACHE_LIMIT = 512  # probed cores keep their netlists: bound the memory of long sweeps


def clear_cache() -> None:
    """Forget probed cores and nodes (the caches are bounded; this is for measurements)."""
    _CORES.clear()
    _REST.clear()
    _LOWERED_REST.clear()


def _digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    return hashlib.blake2b(a.tobytes() + str(a.shape).encode(), digest_size=16).hexdigest()


def _weight_digest(w: Any) -> str:
    """A weight's mantissa digest, kept on the Weight (sweeps share weights between points)."""
    cached = w.__dict__.get("_fpgaq_digest")
    if cached is None or cached[0] is not w.values or cached[1] != w.type:
        cached = (w.values, w.type, _digest(w.mantissa))
        w.__dict__["_fpgaq_digest"] = cached
    return cached[2]


def _multiplier(node: Node) -> str:
    return str(node.options.get("multiplier", "auto")).lower()


def _reuse(node: Node) -> int:
    return max(1, int(node.options.get("reuse_factor", 1) or 1))


def _every(node: Node) -> int:
    return int(node.options.get("pipeline_every", 0) or 0)


def node_timing(node: Node, report: DelayModel | None = None) -> Timing:
    """How ``node`` is scheduled (its PipelineEvery, or the design's ClockPeriod) and timed."""
    period, device = clock_period([node])
    if period is None:
        return Timing(_every(node), report=report)
    clock = delay_model(device)
    return Timing(0, clock, clock.budget(period), report)


def _constants(r: Ranges) -> tuple[tuple[int, int], ...]:
    lo, hi, _ = r
    return tuple((i, int(a)) for i, (a, b) in enumerate(zip(lo, hi)) if a == b)


def _core_key(node: Node, graph: Graph, consts: tuple[tuple[int, int], ...]) -> tuple[Any, ...]:
    kernel = node.weights["kernel"]
    xt = graph.tensors[node.inputs[0]]
    structural = tuple(sorted((k, _spelled(v)) for k, v in node.attrs.items() if k != "activation"))
    grids = None
    if _own_grids(xt, _reuse(node)):
        grids = tuple(_digest(a) for a in (xt.elements.frac, xt.elements.lo, xt.elements.hi))
    return (
        node.op,
        _weight_digest(kernel),
        xt.shape,
        xt.type.signed,
        grids,
        structural,
        _structural_multiplier(node),
        _adders(node),
        _reuse(node),
        consts,
    )


def _adders(node: Node) -> str:
    return str(node.options.get("adders", "binary")).lower()


def _structural_multiplier(node: Node) -> str:
    """``auto`` builds exactly what ``lut`` builds when no weight has more than
    :data:`~fpgaq.rtl.csd.AUTO_DSP_DIGITS` CSD digits (every weight of 8 bits or fewer)."""
    style = _multiplier(node)
    if style != "auto":
        return style
    values = np.unique(np.asarray(node.weights["kernel"].mantissa))
    if all(len(csd(int(v))) <= AUTO_DSP_DIGITS for v in values):
        return "lut"
    return style


def _own_grids(xt: Any, reuse: int) -> bool:
    """Whether a linear node reads ``xt``'s elements on their own grids (a ``quantize`` node's
    per-element types, unfolded: see fpgaq.rtl.lower.linear), as the core probe must then too."""
    return xt.elements is not None and reuse == 1


def _probe_core(node: Node, graph: Graph, consts: tuple[tuple[int, int], ...]) -> _Core:
    xt = graph.tensors[node.inputs[0]]
    t = xt.type
    net = Netlist()
    xs = net.add_input("x", t, xt.size)
    reuse = _reuse(node)
    if _own_grids(xt, reuse):  # each element its own range and binary point, as the RTL builds it
        et = xt.elements
        grids = zip(et.lo.reshape(-1), et.hi.reshape(-1), et.frac.reshape(-1))
        xs = [net._new("input", int(lo), int(hi), int(f), (), (0, i)) for i, (lo, hi, f) in enumerate(grids)]
        net.inputs[0] = ("x", xs, t)  # the scheduler's replay starts from these (arrivals per element)
    for i, v in consts:
        xs[i] = net.const(v, t.frac)
    taps = linear_taps(node, graph, xs)
    kfrac = node.weights["kernel"].type.frac
    if reuse > 1:
        sums = folded_dot_products(net, taps, kfrac, _multiplier(node), reuse, adders=_adders(node))
    else:
        sums = dot_products(net, taps, kfrac, _multiplier(node), adders=_adders(node))
    dead = node.attrs.get("dead_outputs")
    roots = sums if dead is None or reuse > 1 else [s for s, d in zip(sums, dead) if not d]
    ops = [op for op in net.live(roots) if op.kind not in ("input", "const")]  # what the RTL keeps
    features = op_features(ops)
    x_ids = {s.id for s in xs if not s.is_const}
    follows = _follows_input(ops, x_ids)
    grow = dict.fromkeys(FEATURES, 0.0)
    mul_grow = []
    phases = {op.out.id for op in ops if op.kind == "phase"}
    for op in ops:
        k = op.kind
        if k in ("mul", "mulc"):
            mul_grow.append(follows.get(op.args[0].id, False))
        if not follows.get(op.out.id, False):
            continue
        if k in ("add", "add3", "neg"):
            grow["add_bits"] += 1
            if k == "add3":
                grow["add3_bits"] += 1
        elif k == "accum":
            grow["add_bits"] += 1
            grow["reg_bits"] += 1
        elif k in ("reg", "hold"):
            grow["reg_bits"] += 1
        elif k == "mux":
            grow["fold_mux_bits" if op.args[0].id in phases else "mux_bits"] += 1
    # constants of equal value share one signal; any of their indices has the same range
    index = {s.id: i for i, s in enumerate(xs)}
    rows, cols, ws = [], [], []
    for j, row in enumerate(taps):
        for x, w in row:
            if x is not None and w:
                rows.append(j)
                cols.append(index[x.id])
                ws.append(int(w))
    live_sums = [s for s in sums if not s.is_const]
    frac_drop = (t.frac + kfrac) - (live_sums[0].frac if live_sums else t.frac + kfrac)
    if _own_grids(xt, reuse):  # sums on several binary points: their ranges are taken on the finest
        frac_drop = 0
    return _Core(
        width=t.width,
        frac_drop=frac_drop,
        features=features,
        grow=grow,
        mul_grow=mul_grow,
        rows=np.array(rows, dtype=np.int64),
        cols=np.array(cols, dtype=np.int64),
        weights=np.array(ws, dtype=object),
        n_out=len(taps),
        timing={},
        net=net,
        sums=list(sums),
        program=_program(ops, xs, sums),
        follows=follows,
        name=node.name,
        ii=reuse,
    )


def _follows_input(ops: Sequence[Op], x_ids: set[int]) -> dict[int, bool]:
    follows = dict.fromkeys(x_ids, True)
    for op in ops:
        if op.kind in ("phase", "const"):
            follows[op.out.id] = False
        else:
            follows[op.out.id] = any(follows.get(a.id, False) for a in op.args)
    return follows


Arrival = list[tuple[int, float, float]]  # per element: (stage, depth, ns) at which it is available


@dataclasses.dataclass
class _CoreTiming:
    sums: Arrival  # per dot product, relative to the inputs' earliest stage
    deepest: float
    reg_bits: float
    regs: float  # registers whose width follows the input width
    srl: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # see _Replay.chains
    dsp_reg_bits: float = 0.0
    max_ns: float = 0.0


def _core_timing(core: _Core, timing: Timing, arrive: Arrival, sum_loads: tuple[int, ...] = ()) -> _CoreTiming:
    """The scheduler on the core alone, inputs arriving as given (relative stages): the rule
    replayed (:class:`_Replay`), or with ``_REPLAY_CORES`` off the real scheduler, which the tests
    use to check the replay."""
    key = (timing, hashlib.blake2b(repr((arrive, sum_loads)).encode(), digest_size=12).hexdigest())
    if key in core.timing:
        return core.timing[key]
    loads = _with_sum_loads(core.program.loads, core.sums, sum_loads) if sum_loads else None
    if _REPLAY_CORES:
        core.timing[key] = _replayed_core_timing(core, timing, arrive, loads)
        return core.timing[key]
    net, name = core.net, core.name
    net.outputs = [("sums", list(core.sums), None)]  # type: ignore[list-item]
    owner = {op.out.id: name for op in net.ops if op.kind != "input"}
    options: dict[str, Any] = {"pipeline_every": timing.every}
    if timing.clock is not None:
        options["clock_period"] = timing.clock.stage_ns(timing.budget)
    fake_graph = types.SimpleNamespace(nodes=[types.SimpleNamespace(name=name, options=options)])
    low = Lowered(fake_graph, net, owner, {}, {})  # type: ignore[arg-type]
    scheduler = Scheduler(low, [(st, d) for st, d, _ in arrive], clock=timing.clock, loads=loads)
    p = scheduler.run()
    net.outputs = []
    live = p.net.live()
    producer = {op.out.id: op for op in live}
    regs = [
        op
        for op in live
        if op.kind == "reg"
        and not (op.args and producer.get(op.args[0].id) and producer[op.args[0].id].kind == "input")
    ]
    # the scheduler delays every output to the last stage; a layer's sums are not aligned in the
    # design, so read each sum where it was computed (before that alignment)
    sums: Arrival = []
    for s in core.sums:
        if s.is_const:
            sums.append((0, 0, 0.0))
            continue
        st, d = p.stage[scheduler.scheduled(s).id]
        sums.append((st - 1, d, 0.0))
    align = [op for op in regs if op.out.id >= scheduler.aligning_from]
    bits = float(sum(op.out.width for op in regs)) - float(sum(op.out.width for op in align))
    deepest = max((d for _, d in p.stage.values()), default=0)
    result = _CoreTiming(sums, deepest, bits, float(len(regs) - len(align)))
    core.timing[key] = result
    return result


def _with_sum_loads(loads: Mapping[int, int], sums: Sequence[Signal], sum_loads: Sequence[int]) -> dict[int, int]:
    """``loads`` with each layer sum's counted in the whole layer: ``sum_loads`` (see :func:`_sum_loads`)."""
    out = dict(loads)
    for s, n in zip(sums, sum_loads):
        if not s.is_const:
            out[s.id] = n
    return out


def _sum_loads(core: _Core, rest_inputs: Sequence[Signal], rest: _Program) -> tuple[int, ...]:
    """Each dot product's loads in the whole layer: its readers in the core (a sum that is also a
    shared term of another) and in the rest (bias, rounding), which are lowered apart."""
    return tuple(
        core.program.loads.get(s.id, 0) + (0 if r.is_const else rest.loads.get(r.id, 0))
        for s, r in zip(core.sums, rest_inputs)
    )


def _replayed_core_timing(core: _Core, timing: Timing, arrive: Arrival, loads: Mapping[int, int] | None) -> _CoreTiming:
    inputs = [sig for sig in core.net.inputs[0][1] if not sig.is_const]
    when = [arrive[i] for i, sig in enumerate(core.net.inputs[0][1]) if not sig.is_const]
    replay = _Replay(timing, set())
    replay.run(core.program, inputs, when, loads)
    sums = [(0, 0, 0.0) if s.is_const else replay.at.get(s.id, (0, 0, 0.0)) for s in core.sums]
    srl = replay.chains(lambda sid: core.follows.get(sid, False))
    return _CoreTiming(
        sums, replay.max_depth, float(replay.reg_bits), float(replay.regs), srl, replay.dsp_reg_bits, replay.max_ns
    )


def _core(node: Node, graph: Graph, consts: tuple[tuple[int, int], ...]) -> _Core:
    key = _core_key(node, graph, consts)
    core = _CORES.get(key)
    if core is None:
        if len(_CORES) >= _CACHE_LIMIT:
            _CORES.clear()
        core = _CORES[key] = _probe_core(node, graph, consts)
    return core


def _rescaled(core: _Core, delta: int) -> Features:
    f = Features(dict(core.features.counts), [])
    for k, g in core.grow.items():
        f.counts[k] += g * delta
    shapes = []
    for (a, b, y, *kind), grows in zip(core.features.mul_shapes, core.mul_grow):
        shapes.append((a + delta, b, y + delta, *kind) if grows else (a, b, y, *kind))
    f.counts["mul_bits"] = float(sum(a * b for a, b, *_ in shapes))
    f.mul_shapes = shapes
    return f


# ----------------------------------------------------------------------------- the rest of a node
def _sum_ranges(core: _Core, x: Ranges, node: Node) -> Ranges:
    """Exact ranges of the dot products from the inputs' element ranges (interval sums)."""
    lo_x, hi_x, xfrac = x
    w = core.weights
    pick_lo = np.where(w > 0, lo_x[core.cols], hi_x[core.cols]) if len(w) else w
    pick_hi = np.where(w > 0, hi_x[core.cols], lo_x[core.cols]) if len(w) else w
    lo = np.zeros(core.n_out, dtype=object)
    hi = np.zeros(core.n_out, dtype=object)
    np.add.at(lo, core.rows, w * pick_lo)
    np.add.at(hi, core.rows, w * pick_hi)
    drop = core.frac_drop
    frac = xfrac + node.weights["kernel"].type.frac - drop
    if drop:
        lo = np.array([int(v) >> drop for v in lo], dtype=object)
        hi = np.array([int(v) >> drop for v in hi], dtype=object)
    return lo, hi, frac


def _bias(node: Node, n_out: int) -> list[int] | None:
    b = node.weights.get("bias")
    if b is None:
        return None
    m = np.asarray(b.mantissa).reshape(-1)
    return [int(m[i % len(m)]) for i in range(n_out)]


def _spelled(value: Any) -> str:
    """A cache-key spelling of an attribute: arrays by digest (their repr is slow and elided)."""
    if isinstance(value, np.ndarray):
        return _digest(value)
    if isinstance(value, dict):
        return repr(sorted((k, _spelled(v)) for k, v in value.items()))
    return repr(value)


def _node_key(node: Node, graph: Graph) -> tuple[Any, ...]:
    weights = tuple((k, _weight_digest(w), w.type.frac) for k, w in sorted(node.weights.items()))
    return (
        node.op,
        tuple(sorted((k, _spelled(v)) for k, v in node.attrs.items())),
        tuple((graph.tensors[t].shape, repr(graph.tensors[t].type)) for t in node.inputs),
        repr(graph.tensors[node.output].type),
        tuple(sorted((k, repr(v)) for k, v in node.types.items())),
        node.options.get("multiplier") == "dsp",  # all that the rest of a node reads from its options
        weights,
    )


_LoweredRest = tuple[list[list[Signal]], list[Signal], _Program, Features, Ranges, set[int]]
_LOWERED_REST: dict[tuple[Any, ...], _LoweredRest] = {}

#: Ops that, read only by a linear node, are lowered with its rest (one netlist, as the RTL builds
#: the design): a ``quantize`` node's rounding constant then folds into the bias adder before it.
TAIL_OPS = frozenset({"quantize"})


def _tail(node: Node, graph: Graph) -> Node | None:
    """The node lowered with linear ``node``'s rest: its only reader, when that is a single-input
    :data:`TAIL_OPS` node (and ``node``'s output is no design output)."""
    if not is_linear(node.op) or node.output in graph.outputs:
        return None
    readers = [n for n in graph.nodes if node.output in n.inputs]
    if len(readers) != 1 or readers[0].op not in TAIL_OPS or len(readers[0].inputs) != 1:
        return None
    return readers[0]


def _lowered_rest(
    node: Node, graph: Graph, ins: list[Ranges], core: _Core | None, tail: Node | None = None
) -> _LoweredRest:
    """The rest of ``node`` (and of its ``tail``) lowered at the inputs' exact ranges: the input
    groups, the outputs, the program to schedule, the features, the output ranges and the
    signals that are layer outputs (registered under ``PipelineEvery: 0``)."""
    tail_key = None if tail is None else _node_key(tail, graph)
    sum_fracs = None if core is None else _sum_fracs(core)
    key = (_node_key(node, graph), tuple(_ranges_digest(r) for r in ins), core is None, tail_key, sum_fracs)
    hit = _LOWERED_REST.get(key)
    if hit is not None:
        return hit
    if len(_LOWERED_REST) >= _CACHE_LIMIT:
        _LOWERED_REST.clear()
    net = Netlist()
    groups = [_signals(net, k, r, sum_fracs if core is not None else None) for k, r in enumerate(ins)]
    if core is not None:
        bias = node.weights.get("bias")
        out_t = graph.tensors[node.output].type
        outs = finish(net, node, groups[0], _bias(node, len(groups[0])), bias.type.frac if bias else 0, out_t)
    else:
        outs = LOWERINGS[node.op](net, node, graph, groups)
    boundary = {s.id for s in outs}
    if tail is not None:
        t_in = outs if tail.op in OWN_BINARY_POINTS else on_binary_point(net, outs, graph.tensors[node.output].type)
        outs = LOWERINGS[tail.op](net, tail, graph, [t_in])
        boundary |= {s.id for s in outs}
    dead = node.attrs.get("dead_outputs") if core is not None else None
    live_outs = outs if dead is None else [o for o, d in zip(outs, dead) if not d]
    ops = [op for op in net.live(live_outs) if op.kind not in ("input", "const")]
    inputs = [sig for g in groups for sig in g]
    result = (groups, list(outs), _program(ops, inputs, outs), op_features(ops), _ranges_of(outs), boundary)
    _LOWERED_REST[key] = result
    return result


def _rest(
    node: Node,
    graph: Graph,
    ins: list[Ranges],
    arrive: list[Arrival],
    core: _Core | None,
    tail: Node | None = None,
    timing: Timing | None = None,
    sum_loads: tuple[int, ...] = (),
) -> tuple[Features, float, Arrival, Ranges, float]:
    """(features, deepest path, output arrivals, output ranges, longest ns) of everything but the
    core (and of ``tail``, see :func:`_tail`: then the outputs are the tail's); arrivals are
    relative to the earliest input's stage."""
    timing = node_timing(node) if timing is None else timing
    layer_registers = timing.clock is None and timing.every == 0
    tail_key = None if tail is None else _node_key(tail, graph)
    sum_fracs = None if core is None else _sum_fracs(core)
    key = (_node_key(node, graph), tuple(_ranges_digest(r) for r in ins), repr(arrive), timing, tail_key, sum_fracs)
    key += (core is None, sum_loads)
    hit = _REST.get(key)
    if hit is not None:
        return hit
    if len(_REST) >= _CACHE_LIMIT:
        _REST.clear()
    groups, outs, program, lowered_features, out_ranges, boundary = _lowered_rest(node, graph, ins, core, tail)
    inputs, when = [], []
    for g, arr in zip(groups, arrive):
        for sig, a in zip(g, arr):
            if not sig.is_const:
                inputs.append(sig)
                when.append(a)
    replay = _Replay(timing, boundary if layer_registers else set())
    if tail is not None and layer_registers:  # the linear node's own outputs, where they are the sums, are
        read = {i for step in program.steps for i in step[3]}  # its layer boundary before the tail
        for k, sig in enumerate(inputs):
            if sig.id in boundary and sig.id in read and when[k][1] > 0:
                replay.reg_bits += program.widths.get(sig.id) or sig.width
                replay.regs += 1
                when[k] = (when[k][0] + 1, 0, 0.0)
    loads = _with_sum_loads(program.loads, groups[0], sum_loads) if core is not None and sum_loads else None
    replay.run(program, inputs, when, loads)
    leave = replay.leave(outs, register_inputs=core is not None)
    features = Features(dict(lowered_features.counts), list(lowered_features.mul_shapes))
    features.counts["reg_bits"] += replay.reg_bits
    srl_bits, srl_cells, _, _ = replay.chains()
    features.counts["srl_bits"] += srl_bits
    features.counts["srl_cells"] += srl_cells
    features.counts["dsp_reg_bits"] += replay.dsp_reg_bits
    _count_registered_tables(features, lowered_features.roms, replay.at, program)
    result = (features, replay.max_depth, leave, out_ranges, replay.max_ns)
    _REST[key] = result
    return result


def _count_registered_tables(
    features: Features,
    tables: Sequence[TableSite],
    at: dict[int, tuple[int, float, float]],
    program: _Program,
) -> None:
    """What the registers next to a table make of it in ``synth_xilinx`` (depth 0 after the
    scheduler's replay: the signal is a register's output).  A registered output becomes a
    synchronous read port, and the table goes to block RAM when that is cheaper than logic
    (:func:`~fpgaq.rtl.table_logic.block_rom_ramb18`).  A registered index costs nothing more: the
    RTL gives such registers an initial value, so Yosys does not merge them into the read port
    (:func:`fpgaq.rtl.verilog._table_index_registers`)."""
    c = features.counts
    if not tables:
        return
    wired: dict[int, list[int]] = {}  # signal -> the wiring (no logic level) that reads it alone
    for sid, kind, cost, args, *_ in program.steps:
        if kind == _OP and cost == 0 and len(args) == 1:
            wired.setdefault(args[0], []).append(sid)

    def registered(sid: int) -> bool:  # the signal, or wiring of it, leaves in a register
        return at.get(sid, (0, 1))[1] == 0 or any(registered(w) for w in wired.get(sid, ()))

    for t in tables:
        if registered(t.out):
            ramb18 = block_rom_ramb18(t.index_width, t.width)
            if ramb18:
                c["rom_ramb18"] += ramb18
                c["bram_rom_luts"] += t.luts
                c["bram_rom_wide_luts"] += t.wide_luts
                c["bram_reg_bits"] += t.width


# ----------------------------------------------------------------------------- whole graphs
def _aligned(arrive: list[Arrival]) -> list[Arrival]:
    """Every element as late as the latest one (the fast timing mode)."""
    flat = [a for arr in arrive for a in arr]
    last = max((st for st, _, _ in flat), default=0)
    depth = max((d for st, d, _ in flat if st == last), default=0)
    ns = max((t for st, _, t in flat if st == last), default=0.0)
    return [[(last, depth, ns)] * len(arr) for arr in arrive]


def node_features(
    node: Node,
    graph: Graph,
    ins: list[Ranges],
    arrive: list[Arrival],
    exact_timing: bool = True,
    tail: Node | None = None,
    report: DelayModel | None = None,
) -> tuple[NodeFeatures, Ranges, Arrival]:
    """One node's features, its output ranges and when its outputs are ready, given its inputs'
    ranges and the (stage, depth) at which each input element arrives.

    ``exact_timing=False`` treats every input element as arriving with the
    latest one: the scheduler then runs once per (layer, PipelineEvery,
    depth) instead of once per arrival pattern, which is what makes sweeps
    fast; latencies can then exceed the exact ones by up to a cycle per layer
    (never fall short), and register counts move by a few percent.

    ``tail`` (a linear node's only reader, see :func:`_tail`) is counted with the node, and the
    ranges and arrivals returned are the tail's outputs.  ``report``: the delay model that times
    the node (``NodeFeatures.ns``) when it is not scheduled by ``ClockPeriod``'s own.
    """
    load_families()
    if not exact_timing:
        arrive = _aligned(arrive)
    flat = [a for arr in arrive for a in arr]
    base = min((st for st, _, _ in flat), default=0)
    rel = [[(st - base, d, t) for st, d, t in arr] for arr in arrive]
    rule = node_timing(node, report)
    if is_linear(node.op):
        x = ins[0]
        core = _core(node, graph, _constants(x))
        sums_in = [_sum_ranges(core, x, node)]
        sum_loads: tuple[int, ...] = ()
        if rule.model is not None and rule.model.fanout:
            rest_inputs, _, rest_program, *_ = _lowered_rest(node, graph, sums_in, core, tail)
            sum_loads = _sum_loads(core, rest_inputs[0], rest_program)
        timing = _core_timing(core, rule, rel[0], sum_loads)
        delta = graph.tensors[node.inputs[0]].type.width - core.width
        features = _rescaled(core, delta)
        features.counts["reg_bits"] += timing.reg_bits + timing.regs * delta
        srl_bits, srl_cells, srl_bits_grow, srl_cells_grow = timing.srl
        features.counts["srl_bits"] += srl_bits + srl_bits_grow * delta
        features.counts["srl_cells"] += srl_cells + srl_cells_grow * delta
        features.counts["dsp_reg_bits"] += timing.dsp_reg_bits
        rest, deepest_r, leave, out, ns_r = _rest(node, graph, sums_in, [timing.sums], core, tail, rule, sum_loads)
        features.add(rest)
        depth = max(timing.deepest, deepest_r)
        carry = rule.model.carry * max(delta, 0) if rule.model is not None else 0.0
        ns = max(timing.max_ns + carry, ns_r)
        ii = core.ii
    else:
        rest, depth, leave, out, ns = _rest(node, graph, ins, rel, None, None, rule)
        features = Features(dict(rest.counts), list(rest.mul_shapes))
        ii = 1
    absolute = [(st + base, d, t) for st, d, t in leave]
    last_in = max((st for st, _, _ in flat), default=base)
    last_out = max((st for st, _, _ in absolute), default=last_in)
    stages = max(last_out - last_in, 0)
    out_depth = max((d for st, d, _ in absolute if st == last_out), default=0)
    nf = NodeFeatures(node.name, node.op, features, stages=stages, depth=depth, out_depth=out_depth, ii=ii, ns=ns)
    return nf, out, absolute


def _input_bits(graph: Graph, name: str, t: Any) -> int:
    """Register bits of a design input that something reads: the port's width per used element, or,
    with per-element types, each used element's own width (its other port bits have no load)."""
    used = _used_inputs(graph, name, t.size)
    if t.elements is None:
        return t.type.width * int(used.sum())
    return int(np.asarray(t.elements.width).reshape(-1)[used].sum())


def _used_inputs(graph: Graph, name: str, size: int) -> np.ndarray:
    """Elements of a design input that some node reads: the registers of the others have no
    load, and synthesis removes them (pruned first layers leave many)."""
    used = np.zeros(size, dtype=bool)
    for node in graph.nodes:
        if name not in node.inputs:
            continue
        if node.op == "dense":
            w = np.asarray(node.weights["kernel"].mantissa)
            n_in = w.shape[0]
            rows = np.any(w.reshape(n_in, -1) != 0, axis=1)
            used |= np.resize(rows, size)
        else:
            return np.ones(size, dtype=bool)
    return used


def graph_features(
    graph: Graph, exact_timing: bool = True, report: DelayModel | None = None
) -> tuple[list[NodeFeatures], int, int]:
    """Per-node features in graph order, the design's latency in cycles and its input register bits.

    Every element of every tensor carries the (stage, depth) at which it is
    ready, as in the scheduler: a layer starts on the elements of the previous
    one as they come, and only the design's outputs are aligned, to the last
    one's stage, which is the latency.  ``exact_timing=False``: see
    :func:`node_features`; ``report``: the delay model that times each node
    (``NodeFeatures.ns``; a ``ClockPeriod`` design is timed by its own).
    """
    load_families()
    ranges: dict[str, Ranges] = {}
    ready: dict[str, Arrival] = {}
    input_bits = 0
    for name in graph.inputs:
        t = graph.tensors[name]
        ranges[name] = full_ranges(t.type, t.size) if t.elements is None else element_ranges(t.type, t.elements)
        ready[name] = [(1, 0, 0.0)] * t.size
        input_bits += _input_bits(graph, name, t)
    result = []
    fused: set[str] = set()
    counted_in: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "input":
            continue
        if node.name in fused:  # counted with the linear node before it
            result.append(NodeFeatures(node.name, node.op, Features(), stages=0, depth=0, out_depth=0))
            continue
        ins = [ranges[t] for t in node.inputs]
        tail = _tail(node, graph)
        nf, out, when = node_features(node, graph, ins, [ready[t] for t in node.inputs], exact_timing, tail, report)
        if tail is not None:
            fused.add(tail.name)
            node = tail
        ranges[node.output] = out
        ready[node.output] = when
        counted_in[node.output] = len(result)  # a fused tail's output: counted with its linear node
        result.append(nf)
    finals = [(st, ranges[t][0][i] != ranges[t][1][i]) for t in graph.outputs for i, (st, _, _) in enumerate(ready[t])]
    latency = max((st for st, live in finals if live), default=1)
    for t in graph.outputs:  # outputs that are ready early wait in delay registers
        lo, hi, _ = ranges[t]
        for i, (st, _, _) in enumerate(ready[t]):
            if lo[i] != hi[i] and st < latency and result:
                width, wait = bits_for_range(int(lo[i]), int(hi[i]))[0], latency - st
                counts = result[counted_in.get(t, len(result) - 1)].features.counts
                counts["reg_bits"] += wait * width
                if wait >= SRL_MIN_LENGTH:
                    counts["srl_bits"] += wait * width
                    counts["srl_cells"] += _srl_cells(wait) * width
    return result, latency, input_bits
