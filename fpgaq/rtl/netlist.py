"""Exact integer netlists: what the RTL back end builds, simulates and spells.

Every layer is lowered to a flat list of primitive operations on integer
signals.  Each :class:`Signal` carries the exact range ``[lo, hi]`` of the
values it can take, so its width is the minimum that holds them: widths are
derived, never declared, which is where most LUTs are saved.  ``frac`` is
the binary point (value = integer * 2**-frac); hardware only sees integers,
``frac`` lets lowering align operands and cast into the IR's types.

Three properties keep the RTL honest:

* the primitives are few and each has one exact integer meaning, evaluated
  by :func:`simulate` (vectorised NumPy) and spelled in Verilog by the emitter;
  a netlist can be checked bit for bit against the reference in
  milliseconds, before any Verilator build;
* the builder folds constants and shares identical operations (hash
  consing), so repeated sub-expressions cost hardware once;
* ``reg`` is the only sequential primitive of the combinational datapath;
  pipelining is a pass that inserts and balances them.

Primitives (``Op.kind``), with ``a``, ``b``, ``c`` the arguments:

============  ======================================================================
``input``     bits of an input tensor element; ``param`` = (tensor index, element)
``const``     ``param`` = the integer
``add``       ``(a << sa) + (b << sb)``; ``param`` = (sa, sb, subtract) for ``-``
``add3``      ``+-(a << sa) +- (b << sb) +- (c << sc)``; ``param`` = (sa, sb, sc, na, nb, nc), ``n*`` true for
              ``-``; at most two operands negated (a ternary adder: one LUT6_2 per bit on Xilinx)
``neg``       ``-a``
``shl``       ``a * 2**k`` with ``k`` more fractional bits (wiring); ``param`` = k
``shr``       ``floor(a / 2**k)`` (arithmetic shift right); ``param`` = k
``wrap``      the low ``width`` bits of ``a`` read as signed/unsigned; ``param`` = (width, signed)
``clip``      saturate ``a`` to ``[lo, hi]``; ``param`` = (lo, hi, to_lo, to_hi), the
              values given below ``lo`` and above ``hi`` (``to_lo = lo`` for plain saturation)
``max``       ``max(a, b)``
``min``       ``min(a, b)``
``bit``       bit ``k`` of ``a``'s two's complement (0 or 1); ``param`` = k
``mux``       ``b if a != 0 else c`` (``a`` is 1 bit)
``mul``       ``a * b`` (a DSP or LUT multiplier)
``mulc``      ``a * param``: a ``*`` by a constant, for DSPs
``rom``       ``param[0][a - param[1]]``: a constant table indexed by ``a``
``reg``       a pipeline register: ``a`` one enabled clock later
============  ======================================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from fpgaq.fixed import FixedType, Rounding, overflow_rule, rounding_bias

__all__ = ["KINDS", "Netlist", "Op", "Signal", "add3_pass_through", "bits_for_range", "simulate"]

KINDS = (
    "input",
    "const",
    "add",
    "add3",
    "neg",
    "shl",
    "shr",
    "wrap",
    "clip",
    "max",
    "min",
    "bit",
    "mux",
    "mul",
    "mulc",
    "rom",
    "reg",
    "hold",
    "phase",
    "accum",
)

_INT64_SAFE_BITS = 62


def bits_for_range(lo: int, hi: int) -> tuple[int, bool]:
    """Minimal (width, signed) of a two's complement / unsigned integer holding ``[lo, hi]``."""
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    if lo >= 0:
        return max(1, hi.bit_length()), False
    # signed: need -2**(w-1) <= lo and hi <= 2**(w-1) - 1
    width = max((-lo - 1).bit_length(), hi.bit_length()) + 1
    return width, True


def add3_pass_through(param: tuple[int, ...]) -> int:
    """Low bits of an ``add3`` result that are wiring, not logic (its ``param`` says): the bits below
    the second-smallest shift, when the one unshifted operand is added rather than subtracted (the
    other two are zero there, so its bits pass through and nothing carries out of them)."""
    shifts, negs = param[:3], param[3:]
    order = sorted(range(3), key=lambda i: shifts[i])
    first, second = order[0], order[1]
    return 0 if negs[first] else shifts[second] - shifts[first]


@dataclasses.dataclass(frozen=True, eq=False)
class Signal:
    """An integer wire or register with its exact range; identity is ``id``."""

    id: int
    lo: int
    hi: int
    frac: int = 0

    @property
    def width(self) -> int:
        return bits_for_range(self.lo, self.hi)[0]

    @property
    def signed(self) -> bool:
        return self.lo < 0

    @property
    def is_const(self) -> bool:
        return self.lo == self.hi

    def __repr__(self) -> str:
        return f"s{self.id}[{self.lo}..{self.hi}]/2^{self.frac}"


@dataclasses.dataclass(frozen=True, eq=False)
class Op:
    kind: str
    out: Signal
    args: tuple[Signal, ...]
    param: Any = None


def _floor_shift(v: int, k: int) -> int:
    return v >> k


class Netlist:
    """A builder of exact integer operations with constant folding and sharing.

    ``inputs[t]`` lists the signals of graph input ``t`` element by element;
    ``outputs`` is filled by the lowering with (tensor name, signals, type).
    """

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.inputs: list[tuple[str, list[Signal], FixedType]] = []
        self.outputs: list[tuple[str, list[Signal], FixedType]] = []
        self._shared: dict[tuple[Any, ...], Signal] = {}
        self._consts: dict[tuple[int, int], Signal] = {}
        self._producer: dict[int, Op] = {}
        #: fold group id -> number of phases (ReuseFactor), see :meth:`fold_group`
        self.fold_groups: dict[int, int] = {}

    # ------------------------------------------------------------ plumbing
    def _new(self, kind: str, lo: int, hi: int, frac: int, args: Sequence[Signal] = (), param: Any = None) -> Signal:
        if lo == hi and kind not in ("input", "const", "reg", "hold"):
            return self.const(lo, frac)  # a single possible value is a constant, whatever computes it
        key = (kind, tuple(a.id for a in args), param, frac) if kind not in ("input", "reg") else None
        if key is not None and key in self._shared:
            return self._shared[key]
        sig = Signal(len(self.ops), lo, hi, frac)
        op = Op(kind, sig, tuple(args), param)
        self.ops.append(op)
        self._producer[sig.id] = op
        if key is not None:
            self._shared[key] = sig
        return sig

    def producer(self, s: Signal) -> Op:
        return self._producer[s.id]

    def signal(self, sid: int) -> Signal:
        return self.ops[sid].out

    # ------------------------------------------------------------ sources
    def add_input(self, name: str, t: FixedType, elements: int) -> list[Signal]:
        """Signals of one graph input tensor, each holding ``t``'s mantissa range."""
        index = len(self.inputs)
        sigs = [self._new("input", t.min_int, t.max_int, t.frac, (), (index, i)) for i in range(elements)]
        self.inputs.append((name, sigs, t))
        return sigs

    def const(self, value: int, frac: int = 0) -> Signal:
        value = int(value)
        key = (value, frac)
        if key not in self._consts:
            self._consts[key] = self._new("const", value, value, frac, (), value)
        return self._consts[key]

    # ------------------------------------------------------------ arithmetic
    def add(self, a: Signal, b: Signal, subtract: bool = False) -> Signal:
        """``a + b`` (or ``a - b``) exactly, aligning binary points by left shifts."""
        frac = max(a.frac, b.frac)
        sa, sb = frac - a.frac, frac - b.frac
        if b.is_const and b.lo == 0:
            return self.shl(a, sa, frac)
        if a.is_const and a.lo == 0:
            return self.shl(self.neg(b), sb, frac) if subtract else self.shl(b, sb, frac)
        alo, ahi = a.lo << sa, a.hi << sa
        blo, bhi = b.lo << sb, b.hi << sb
        if a.is_const and b.is_const:
            return self.const(alo - blo if subtract else alo + blo, frac)
        folded = self._fold_offsets(a, b, subtract)
        if folded is not None:  # same value; same binary point, which callers count on
            return self.shl(folded, frac - folded.frac) if folded.frac < frac else folded
        if subtract:
            lo, hi = alo - bhi, ahi - blo
        else:
            lo, hi = alo + blo, ahi + bhi
        if not subtract and b.id < a.id and sa == sb:  # canonical order so that a+b and b+a are shared
            a, b = b, a
        return self._new("add", lo, hi, frac, (a, b), (sa, sb, subtract))

    def add3(self, terms: Sequence[tuple[Signal, bool]]) -> Signal:
        """``sum(-t if negated else t)`` of three terms as one ternary adder, binary points aligned.

        A constant operand (or two) gives an ordinary adder instead: a ternary adder is only worth
        its LUT per bit when it replaces two adders of variable operands.  At most two operands
        may be negated (the ternary adder adds the ``+1`` of each complemented operand through its
        two spare carry inputs); callers flip the signs of all three to get there.
        """
        if len(terms) != 3:
            raise ValueError(f"add3 takes three terms, got {len(terms)}")
        if sum(bool(n) for _, n in terms) > 2:
            raise ValueError("add3: at most two operands may be negated; negate the result instead")
        if any(s.is_const for s, _ in terms):
            (a, na), (b, nb), (c, nc) = sorted(terms, key=lambda t: (t[0].is_const, t[1]))
            first = self.sub(self.neg(a) if na else a, b) if nb else self.add(self.neg(a) if na else a, b)
            return self.sub(first, c) if nc else self.add(first, c)
        frac = max(s.frac for s, _ in terms)
        # canonical order (sharing): by signal id, so a permutation of the same terms is one op
        ordered = sorted(((s, bool(n)) for s, n in terms), key=lambda t: (t[0].id, t[1]))
        shifts = tuple(frac - s.frac for s, _ in ordered)
        negs = tuple(n for _, n in ordered)
        lo = hi = 0
        for (s, n), k in zip(ordered, shifts):
            tlo, thi = (-(s.hi << k), -(s.lo << k)) if n else (s.lo << k, s.hi << k)
            lo, hi = lo + tlo, hi + thi
        return self._new("add3", lo, hi, frac, tuple(s for s, _ in ordered), shifts + negs)

    def _offset_of(self, s: Signal) -> tuple[Signal, bool, Signal] | None:
        """``(term, negated, c)`` with ``s == (-term if negated else term) + c`` exactly, when ``s``
        is an adder with a constant operand (seen through value-preserving left shifts)."""
        op = self._producer.get(s.id)
        while op is not None and op.kind == "shl" and op.out.frac == op.args[0].frac + op.param:
            op = self._producer.get(op.args[0].id)
        if op is None or op.kind != "add":
            return None
        x, y = op.args
        subtract = op.param[2]
        if y.is_const and not x.is_const:
            return x, False, self.neg(y) if subtract else y
        if x.is_const and not y.is_const:
            return y, subtract, x
        return None

    def _fold_offsets(self, a: Signal, b: Signal, subtract: bool) -> Signal | None:
        """``(t + c1) +- c2`` as ``t + (c1 +- c2)``: one adder instead of two, so that a rounding
        constant rides on the bias adder before it (and constants never stack up in a chain)."""
        if b.is_const:
            inner = self._offset_of(a)
            if inner is None:
                return None
            term, negated, c1 = inner
            c = self.add(c1, b, subtract)
            return self.sub(c, term) if negated else self.add(term, c)
        if a.is_const:
            inner = self._offset_of(b)
            if inner is None:
                return None
            term, negated, c1 = inner
            c = self.add(a, c1, subtract)
            return self.add(c, term) if negated == subtract else self.sub(c, term)
        return None

    def sub(self, a: Signal, b: Signal) -> Signal:
        return self.add(a, b, subtract=True)

    def shl(self, a: Signal, k: int, frac: int | None = None) -> Signal:
        """``a * 2**k`` with ``k`` more fractional bits: the same value, free wiring in hardware."""
        frac = a.frac + k if frac is None else frac
        if k == 0 and frac == a.frac:
            return a
        if a.is_const:
            return self.const(a.lo << k, frac)
        return self._new("shl", a.lo << k, a.hi << k, frac, (a,), k)

    def neg(self, a: Signal) -> Signal:
        if a.is_const:
            return self.const(-a.lo, a.frac)
        return self._new("neg", -a.hi, -a.lo, a.frac, (a,))

    def shr(self, a: Signal, k: int) -> Signal:
        """``floor(a / 2**k)``: drops ``k`` fractional bits (rounding toward minus infinity)."""
        if k == 0:
            return a
        if k < 0:
            raise ValueError("shr needs k >= 0; use shl")
        if a.is_const:
            return self.const(a.lo >> k, a.frac - k)
        return self._new("shr", a.lo >> k, a.hi >> k, a.frac - k, (a,), k)

    def mul(self, a: Signal, b: Signal) -> Signal:
        corners = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
        if a.is_const and b.is_const:
            return self.const(corners[0], a.frac + b.frac)
        return self._new("mul", min(corners), max(corners), a.frac + b.frac, (a, b))

    def mulc(self, a: Signal, c: int, frac: int = 0) -> Signal:
        """``a * c`` spelled as a ``*`` by a constant (what a DSP does best)."""
        c = int(c)
        if c == 0:
            return self.const(0, a.frac + frac)
        if c == 1:
            return a if frac == 0 else self.shl(a, 0, a.frac + frac)
        corners = [a.lo * c, a.hi * c]
        if a.is_const:
            return self.const(corners[0], a.frac + frac)
        return self._new("mulc", min(corners), max(corners), a.frac + frac, (a,), c)

    def max(self, a: Signal, b: Signal) -> Signal:
        a, b = self._aligned(a, b)
        if a.lo >= b.hi:
            return a
        if b.lo >= a.hi:
            return b
        if a.id > b.id:
            a, b = b, a
        return self._new("max", max(a.lo, b.lo), max(a.hi, b.hi), a.frac, (a, b))

    def min(self, a: Signal, b: Signal) -> Signal:
        a, b = self._aligned(a, b)
        if a.hi <= b.lo:
            return a
        if b.hi <= a.lo:
            return b
        if a.id > b.id:
            a, b = b, a
        return self._new("min", min(a.lo, b.lo), min(a.hi, b.hi), a.frac, (a, b))

    def _aligned(self, a: Signal, b: Signal) -> tuple[Signal, Signal]:
        frac = max(a.frac, b.frac)
        return self.shl(a, frac - a.frac), self.shl(b, frac - b.frac)

    def bit(self, a: Signal, k: int) -> Signal:
        if a.is_const:
            return self.const((a.lo >> k) & 1)
        if k >= a.width - 1 and not a.signed:
            return self.const(0) if k >= a.width else self._new("bit", 0, 1, 0, (a,), k)
        return self._new("bit", 0, 1, 0, (a,), min(k, a.width - 1))

    def sign(self, a: Signal) -> Signal:
        """1 where ``a < 0``."""
        if a.lo >= 0:
            return self.const(0)
        if a.hi < 0:
            return self.const(1)
        return self.bit(a, a.width - 1)

    def mux(self, sel: Signal, if_one: Signal, if_zero: Signal) -> Signal:
        if sel.is_const:
            return if_one if sel.lo else if_zero
        if_one, if_zero = self._aligned(if_one, if_zero)
        if if_one is if_zero:
            return if_one
        return self._new(
            "mux", min(if_one.lo, if_zero.lo), max(if_one.hi, if_zero.hi), if_one.frac, (sel, if_one, if_zero)
        )

    def wrap(self, a: Signal, width: int, signed: bool) -> Signal:
        lo = -(1 << (width - 1)) if signed else 0
        hi = (1 << (width - 1)) - 1 if signed else (1 << width) - 1
        if lo <= a.lo and a.hi <= hi:
            return a
        if a.is_const:
            return self.const((a.lo - lo) % (1 << width) + lo, a.frac)
        return self._new("wrap", lo, hi, a.frac, (a,), (width, signed))

    def clip(self, a: Signal, lo: int, hi: int, to_lo: int | None = None, to_hi: int | None = None) -> Signal:
        """Values below ``lo`` become ``to_lo`` (default ``lo``), above ``hi`` become ``to_hi`` (default ``hi``)."""
        to_lo = lo if to_lo is None else to_lo
        to_hi = hi if to_hi is None else to_hi
        if a.is_const:
            v = a.lo
            return self.const(to_lo if v < lo else to_hi if v > hi else v, a.frac)
        below, above = a.lo < lo, a.hi > hi
        if not below and not above:
            return a
        # keep only the comparisons that can fire, so the spelled logic is minimal
        p = (lo if below else None, hi if above else None, to_lo, to_hi)
        values = [max(a.lo, lo), min(a.hi, hi)]
        if below:
            values.append(to_lo)
        if above:
            values.append(to_hi)
        return self._new("clip", min(values), max(values), a.frac, (a,), p)

    def rom(self, index: Signal, table: Sequence[int], base: int, frac: int) -> Signal:
        """``table[index - base]``; the table must cover every value ``index`` can take."""
        if index.lo < base or index.hi - base >= len(table):
            raise ValueError(f"table of {len(table)} entries from {base} does not cover [{index.lo}, {index.hi}]")
        entries = tuple(int(v) for v in table[index.lo - base : index.hi - base + 1])
        if index.is_const:
            return self.const(entries[0], frac)
        return self._new("rom", min(entries), max(entries), frac, (index,), (entries, index.lo))

    def reg(self, a: Signal) -> Signal:
        if a.is_const:
            return a
        return self._new("reg", a.lo, a.hi, a.frac, (a,))

    # ------------------------------------------------------------ folding (ReuseFactor > 1)
    def fold_group(self, phases: int) -> int:
        """A new fold group of ``phases`` phases; its id goes into ``hold``, ``phase`` and ``accum``."""
        gid = len(self.fold_groups)
        self.fold_groups[gid] = int(phases)
        return gid

    def hold(self, a: Signal, group: int) -> Signal:
        """``a`` held for the phases of ``group`` (a register loaded once per sample)."""
        if a.is_const:
            return a
        return self._new("hold", a.lo, a.hi, a.frac, (a,), (group, None))

    def phase(self, group: int, p: int) -> Signal:
        """1 during phase ``p`` of ``group``."""
        phases = self.fold_groups[group]
        if phases == 1:
            return self.const(1)
        return self._new("phase", 0, 1, 0, (), (group, p, phases, None))

    def accum(self, a: Signal, group: int, lo: int, hi: int, reg_lo: int, reg_hi: int) -> Signal:
        """Sum of ``a`` over the phases of ``group``; [lo, hi] bounds the total, [reg_lo, reg_hi]
        the sums of every phase but the last (what the accumulator register holds)."""
        phases = self.fold_groups[group]
        if a.is_const:
            return self.const(a.lo * phases, a.frac)
        return self._new("accum", lo, hi, a.frac, (a,), (group, phases, reg_lo, reg_hi, None))

    # ------------------------------------------------------------ composites
    def sum(self, terms: Iterable[Signal]) -> Signal:
        """A balanced adder tree: pairs the narrowest operands first (Huffman-like), which
        keeps intermediate widths small and the tree shallow."""
        items = [t for t in terms if not (t.is_const and t.lo == 0)]
        if not items:
            return self.const(0)
        consts = [t for t in items if t.is_const]
        items = [t for t in items if not t.is_const]
        if consts:
            total = consts[0]
            for c in consts[1:]:
                total = self.add(total, c)
            if not items:
                return total
        level = items
        while len(level) > 1:
            level = sorted(level, key=lambda s: (s.width, s.id))
            nxt = [self.add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        result = level[0]
        if consts:
            result = self.add(result, total)
        return result

    def cast(self, a: Signal, t: FixedType) -> Signal:
        """``a`` assigned into ``t`` exactly as ac_fixed does: rounding, then overflow."""
        k = a.frac - t.frac
        if k < 0:
            a = self.shl(a, -k)
        elif k > 0:
            a = self._round(a, k, t.rounding)
        return self._overflow(a, t)

    def _round(self, a: Signal, k: int, rounding: Rounding) -> Signal:
        """``a / 2**k`` rounded: add the mode's bias from :func:`fpgaq.fixed.rounding_bias`, drop ``k`` bits."""
        if rounding is Rounding.TRN:  # nothing to add
            return self.shr(a, k)
        table = rounding_bias(rounding, 1 << k)
        if table.decided_by is None:
            return self.shr(self.add(a, self.const(table.picked, a.frac)), k)
        # the sign of a, or bit k of a: the parity of the truncated result
        fact = self.sign(a) if table.decided_by == "negative" else self.bit(a, k)
        bias = self.mux(fact, self.const(table.picked, a.frac), self.const(table.otherwise, a.frac))
        return self.shr(self.add(a, bias), k)

    def _overflow(self, a: Signal, t: FixedType) -> Signal:
        """``a`` brought into ``t``'s range by :func:`fpgaq.fixed.overflow_rule`."""
        rule = overflow_rule(t)
        if rule.wraps:
            return self.wrap(a, t.width, t.signed)
        return self.clip(a, rule.low, rule.high, rule.below, rule.above)

    # ------------------------------------------------------------ outputs
    def add_output(self, name: str, sigs: list[Signal], t: FixedType) -> None:
        self.outputs.append((name, list(sigs), t))

    def live(self, roots: Iterable[Signal] | None = None) -> list[Op]:
        """Ops that some output (or one of ``roots``) depends on, in order (dead code removed)."""
        needed: set[int] = set()
        stack = [s.id for _, sigs, _ in self.outputs for s in sigs] if roots is None else [s.id for s in roots]
        while stack:
            sid = stack.pop()
            if sid in needed:
                continue
            needed.add(sid)
            stack.extend(a.id for a in self.ops[sid].args)
        return [op for op in self.ops if op.out.id in needed]


# ---------------------------------------------------------------- simulation
def _dtype_for(ops: Sequence[Op]) -> Any:
    widest = max((max(abs(op.out.lo), abs(op.out.hi)).bit_length() for op in ops), default=0)
    for op in ops:
        if op.kind == "accum":
            widest = max(widest, abs(op.param[2]).bit_length() + 1, abs(op.param[3]).bit_length() + 1)
        if op.kind == "add":
            sa, sb, _ = op.param
            widest = max(widest, *(max(abs(a.lo), abs(a.hi)).bit_length() + s for a, s in zip(op.args, (sa, sb))))
        if op.kind == "add3":
            widest = max(widest, *(max(abs(a.lo), abs(a.hi)).bit_length() + s for a, s in zip(op.args, op.param)))
    return np.int64 if widest < _INT64_SAFE_BITS else object


class _Phased(list):
    """Values of a phase-dependent signal, one array per phase of its fold group."""


class _PhaseBit(_Phased):
    """A ``phase`` signal: 1 in phase ``p`` only (lets a multiplexer pick without computing)."""

    p: int = 0


def _at_phase(value: Any, q: int) -> Any:
    return value[q] if isinstance(value, _Phased) else value


def _apply(op: Op, args: list[Any], n: int, dtype: Any, arrays: Sequence[np.ndarray]) -> Any:
    """One primitive on argument values (NumPy arrays over samples)."""
    k = op.kind
    if k == "input":
        t, e = op.param
        return arrays[t][:, e]
    if k == "const":
        return np.full(n, op.param, dtype=dtype)
    if k == "add":
        sa, sb, subtract = op.param
        x, y = args
        x = x << sa if sa else x
        y = y << sb if sb else y
        return x - y if subtract else x + y
    if k == "add3":
        total = None
        for x, shift, negated in zip(args, op.param[:3], op.param[3:]):
            x = x << shift if shift else x
            total = (-x if negated else x) if total is None else (total - x if negated else total + x)
        return total
    if k == "neg":
        return -args[0]
    if k == "shl":
        return args[0] << op.param
    if k == "shr":
        return args[0] >> op.param
    if k == "wrap":
        width, signed = op.param
        lo = -(1 << (width - 1)) if signed else 0
        return (args[0] - lo) % (1 << width) + lo
    if k == "clip":
        lo, hi, to_lo, to_hi = op.param
        v = args[0]
        if hi is not None:
            v = np.where(v > hi, to_hi, v)
        if lo is not None:
            v = np.where(args[0] < lo, to_lo, v)
        return v.astype(dtype)
    if k == "max":
        return np.maximum(args[0], args[1])
    if k == "min":
        return np.minimum(args[0], args[1])
    if k == "bit":
        return (args[0] >> op.param) & 1
    if k == "mux":
        return np.where(args[0] != 0, args[1], args[2]).astype(dtype)
    if k == "mul":
        return args[0] * args[1]
    if k == "mulc":
        return args[0] * op.param
    if k == "rom":
        entries, base = op.param
        table = np.array(entries, dtype=dtype)
        return table[(args[0] - base).astype(np.int64)]
    if k in ("reg", "hold"):
        return args[0]
    raise ValueError(f"unknown op kind {k!r}")  # pragma: no cover - KINDS is closed


def simulate(net: Netlist, inputs: Sequence[np.ndarray], ops: Sequence[Op] | None = None) -> list[np.ndarray]:
    """Evaluate the netlist on integer mantissas, one array ``(N, elements)`` per input.

    Registers are transparent here (they delay, they do not change values),
    so this is the design's function; timing is checked in co-simulation.
    Folded logic is evaluated once per phase and summed by its ``accum``.
    Returns one ``(N, elements)`` array per output.
    """
    ops = net.live() if ops is None else ops
    dtype = _dtype_for(ops)
    arrays = [np.asarray(x).reshape(len(x), -1).astype(dtype) for x in inputs]
    n = len(arrays[0]) if arrays else 1
    val: dict[int, Any] = {}
    for op in ops:
        args = [val[a.id] for a in op.args]
        if op.kind == "phase":
            _, p, phases, _ = op.param
            v: Any = _PhaseBit(np.full(n, int(q == p), dtype=dtype) for q in range(phases))
            v.p = p
        elif op.kind == "mux" and isinstance(args[0], _PhaseBit):
            v = _Phased(_at_phase(args[1] if q == args[0].p else args[2], q) for q in range(len(args[0])))
        elif op.kind == "accum":
            x = args[0]
            v = sum(x[1:], x[0].copy()) if isinstance(x, _Phased) else x * op.param[1]
        elif any(isinstance(a, _Phased) for a in args):
            phases = max(len(a) for a in args if isinstance(a, _Phased))
            v = _Phased(_apply(op, [_at_phase(a, q) for a in args], n, dtype, arrays) for q in range(phases))
        else:
            v = _apply(op, args, n, dtype, arrays)
        val[op.out.id] = v
    for _, sigs, _ in net.outputs:
        if any(isinstance(val[s.id], _Phased) for s in sigs):
            raise ValueError("a netlist output depends on a fold phase without an accum")
    return [
        np.stack([val[s.id] for s in sigs], axis=1) if sigs else np.zeros((n, 0), dtype) for _, sigs, _ in net.outputs
    ]
