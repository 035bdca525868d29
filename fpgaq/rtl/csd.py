"""Multiplication by constants without multipliers: CSD digits, shared sub-expressions, signed adder trees.

A product ``x * w`` by a constant weight costs, in LUTs, the adders that
form it; in a fully parallel layer the adders are nearly all the logic.
Four ideas keep their number and width low:

* **Canonical signed digits.**  ``w = sum(s_i * 2**p_i)`` with ``s_i = +-1``
  and no two adjacent non-zero digits has the fewest non-zero digits of any
  signed-binary form (on average a third of the bits), so ``x * w`` needs at
  most one adder per extra digit; a power of two is pure wiring, and binary,
  ternary and po2 weights need no adder at all.
* **Shared odd multiples.**  ``w = +-o * 2**k`` with ``o`` odd: every weight
  of a layer that meets the same input ``x`` with the same odd part reuses
  one signal ``x * o`` (shifted and signed for free).  The odd multiples of
  one input are built in order of their CSD cost, each from two already
  built ones by a single adder when possible (``o = a * 2**i +- b``), which
  is a greedy multiple-constant multiplication; each product then enters
  its output's adder tree as one term.
* **Shared pairs across outputs.**  Terms are ``+-b * 2**e`` with ``b`` an
  input, an odd multiple or an earlier pattern.  The two-term pattern
  ``b1 +- b2 * 2**d`` that the most outputs contain becomes one signal,
  repeatedly, until no pattern occurs twice (the greedy common
  sub-expression elimination that da4ml applies to CSD digits).  Starting
  from single digits or from odd multiples gives different results (digits
  win for wide inputs, multiples for narrow ones): the linear lowering
  builds both and keeps the one with fewer adder bits (:func:`adder_bits`).
* **One signed adder tree per output.**  All remaining terms of an output,
  each with a sign, go into a single balanced tree (terms of similar
  magnitude paired first); a subtraction is placed so that the operand
  shifted by the binary-point alignment is added or subtracted, never
  subtracted from, so its low bits pass through without logic (see
  :mod:`fpgaq.rtl.verilog`).

Measured on the jet tagger (16-64-32-32-5, 6-bit weights): 6065 adders
digit by digit, 4765 with odd multiples, 3714 with shared pairs; Yosys
``synth_xilinx`` puts fc1 at 22.4k LUTs with odd multiples and 19.0k with
shared digit pairs.

``Multiplier: dsp`` spells every product as a ``*`` by a constant
(``mulc``) for a DSP; ``auto`` does that only for weights with more than
:data:`AUTO_DSP_DIGITS` CSD digits.  Why 4: a LUT product with ``d`` digits
costs ``d - 1`` adders of roughly ``width(x) + width(w)`` bits; from five
digits on (weights of nine bits or more) that is above a hundred LUTs for
16-bit inputs, while devices offer one DSP per 100 to 200 LUTs, so the DSP is
the cheaper resource.  Every weight of eight bits or fewer has at most four
digits and always stays in LUTs.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

from fpgaq.config import ADDERS
from fpgaq.rtl.netlist import Netlist, Signal, add3_pass_through

__all__ = [
    "ADDERS",
    "AUTO_DSP_DIGITS",
    "adder_bits",
    "csd",
    "layer_terms",
    "multiples",
    "odd_part",
    "signed_sum",
    "use_lut",
]

#: ``Multiplier: auto`` uses a DSP (``*``) for weights with more CSD digits than this.
AUTO_DSP_DIGITS = 4

Term = tuple[Signal, bool]  # (signal, negated)


def csd(c: int) -> list[tuple[int, int]]:
    """``(position, +-1)`` digits of ``c`` in canonical signed-digit form, lowest first."""
    digits, i, c = [], 0, int(c)
    while c:
        if c & 1:
            d = 2 - (c & 3)  # +1 when c = 1 mod 4, -1 when c = 3 mod 4
            digits.append((i, d))
            c -= d
        c >>= 1
        i += 1
    return digits


def odd_part(c: int) -> tuple[int, int, int]:
    """``(o, k, s)`` with ``c = s * o * 2**k``, ``o`` odd and positive, ``s = +-1``; ``c != 0``."""
    c = int(c)
    if c == 0:
        raise ValueError("zero has no odd part")
    s = 1 if c > 0 else -1
    m = abs(c)
    k = (m & -m).bit_length() - 1
    return m >> k, k, s


def use_lut(w: int, multiplier: str) -> bool:
    """Whether the product by ``w`` is built from shifts and adds (else a ``*`` for a DSP)."""
    if multiplier == "lut":
        return True
    if multiplier == "dsp":
        return False
    return len(csd(w)) <= AUTO_DSP_DIGITS


def _relabel(net: Netlist, a: Signal, frac: int) -> Signal:
    """The same integer read with another binary point (wiring)."""
    return net.shl(a, 0, frac)


def _one_adder(net: Netlist, built: dict[int, Signal], o: int) -> Signal | None:
    """``x * o`` from two built multiples and one adder, if some pair allows it."""
    fx = built[1].frac
    forms = []
    for a in sorted(built):
        i = 1
        while (a << i) < 2 * o + 2:
            b = o - (a << i)
            if b > 0 and b in built:
                forms.append((0, a, i, b))  # (a << i) + b
            if -b in built and b < 0:
                forms.append((2, a, i, -b))  # (a << i) - b: the shifted operand is the minuend
            if (o + (a << i)) in built:
                forms.append((1, a, i, o + (a << i)))  # b - (a << i)
            i += 1
    if not forms:
        return None
    kind, a, i, b = min(forms)
    shifted = _relabel(net, built[a], fx - i)
    if kind == 0:
        return net.add(shifted, built[b])
    if kind == 1:
        return net.sub(built[b], shifted)
    return net.sub(shifted, built[b])


def _chain(net: Netlist, built: dict[int, Signal], o: int) -> Signal:
    """``x * o`` digit by digit from the top; every odd partial result is kept for reuse."""
    x = built[1]
    digits = sorted(csd(o), reverse=True)
    acc_val, prev = 1, digits[0][0]
    acc = x
    for pos, sign in digits[1:]:
        d = prev - pos
        shifted = _relabel(net, acc, x.frac - d)
        acc = net.add(shifted, x) if sign > 0 else net.sub(shifted, x)
        acc_val = (acc_val << d) + sign
        built.setdefault(acc_val, acc)
        prev = pos
    return acc


def multiples(net: Netlist, x: Signal, odds: Iterable[int]) -> dict[int, Signal]:
    """``{o: x * o}`` (same binary point as ``x``) for every odd ``o`` asked for, sharing adders."""
    built: dict[int, Signal] = {1: x}
    for o in sorted(set(odds), key=lambda v: (len(csd(v)), v)):
        if o in built:
            continue
        if o < 1 or o % 2 == 0:
            raise ValueError(f"multiples are built for positive odd constants, got {o}")
        built[o] = _one_adder(net, built, o) or _chain(net, built, o)
    return built


Raw = tuple[Signal, int, bool]  # (base, e, negated): the value +-base * 2**e


def _raw_terms(
    net: Netlist, outputs: Sequence[Sequence[tuple[Signal, int]]], kfrac: int, multiplier: str, share: bool
) -> tuple[list[list[Raw]], list[list[Term]]]:
    """Products as (base, exponent, sign) terms, and the constant terms apart."""
    need: dict[int, set[int]] = {}
    sig_of: dict[int, Signal] = {}
    for pairs in outputs:
        for x, w in pairs:
            if w and not x.is_const and use_lut(w, multiplier):
                need.setdefault(x.id, set()).add(odd_part(w)[0])
                sig_of[x.id] = x
    built = {xid: multiples(net, sig_of[xid], odds) for xid, odds in need.items()} if share else {}
    raws, consts = [], []
    for pairs in outputs:
        raw: list[Raw] = []
        const: list[Term] = []
        for x, w in pairs:
            w = int(w)
            if w == 0 or (x.is_const and x.lo == 0):
                continue
            if x.is_const:
                const.append((net.const(x.lo * w, x.frac + kfrac), False))
            elif not use_lut(w, multiplier):
                raw.append((net.mulc(x, w, kfrac), 0, False))
            elif share:
                o, k, sign = odd_part(w)
                raw.append((built[x.id][o], k - kfrac, sign < 0))
            else:
                raw += [(x, pos - kfrac, d < 0) for pos, d in csd(w)]
        raws.append(raw)
        consts.append(const)
    return raws, consts


class _PairSharing:
    """Greedy common sub-expressions across outputs: the two-term pattern ``b1 +- b2 * 2**d`` that
    the most outputs contain becomes one signal, until no pattern repeats (as da4ml does on CSD digits).

    Each output's terms live in a dict (term id -> (e, base id, negated)) with an index by base;
    ``where[key]`` counts the pattern's occurrences per output and is kept up to date as terms are
    replaced, so one step costs the size of the outputs it changes, not of the layer.
    """

    def __init__(self, net: Netlist, outputs: list[list[Raw]]) -> None:
        self.net = net
        self.base: dict[int, Signal] = {}
        self.terms: list[dict[int, tuple[int, int, bool]]] = []
        self.by_base: list[dict[int, set[int]]] = []
        self.next_id = 0
        self.where: dict[tuple[int, int, int, bool], dict[int, int]] = {}
        self.heap: list[tuple[int, tuple[int, int, int, bool]]] = []
        for j, raw in enumerate(outputs):
            self.terms.append({})
            self.by_base.append({})
            for base, e, negated in raw:
                self.base[base.id] = base
                self._insert(j, (e, base.id, negated))

    def _count(self, j: int, tid: int, t: tuple[int, int, bool], delta: int) -> None:
        where, heap = self.where, self.heap
        t0, t1, t2 = t
        for other_id, (u0, u1, u2) in self.terms[j].items():
            if other_id == tid:
                continue
            # the pattern's key orders the two terms by (exponent, base), as a tuple compare would
            key = (t1, u1, u0 - t0, t2 != u2) if t0 < u0 or (t0 == u0 and t1 <= u1) else (u1, t1, t0 - u0, t2 != u2)
            per = where.get(key)
            if per is None:
                per = where[key] = {}
            n = per.get(j, 0) + delta
            if n:
                per[j] = n
                if n == 1 and len(per) >= 2:  # one more output holds the pattern
                    heapq.heappush(heap, (-len(per), key))
            else:
                del per[j]

    def _insert(self, j: int, t: tuple[int, int, bool]) -> None:
        tid = self.next_id
        self.next_id += 1
        self._count(j, tid, t, +1)
        self.terms[j][tid] = t
        self.by_base[j].setdefault(t[1], set()).add(tid)

    def _remove(self, j: int, tid: int) -> None:
        t = self.terms[j].pop(tid)
        self.by_base[j][t[1]].discard(tid)
        self._count(j, tid, t, -1)

    def _find(self, j: int, key: tuple[int, int, int, bool]) -> tuple[int, int] | None:
        b1, b2, d, opposite = key
        terms = self.terms[j]
        for ia in self.by_base[j].get(b1, ()):
            e, _, negated = terms[ia]
            for ib in self.by_base[j].get(b2, ()):
                u = terms[ib]
                if ib != ia and u[0] == e + d and u[2] == (negated != opposite):
                    return ia, ib
        return None

    def run(self) -> list[list[Raw]]:
        net = self.net
        while self.heap:
            neg_count, key = heapq.heappop(self.heap)
            per = self.where.get(key, {})
            if len(per) < 2:
                continue
            if len(per) != -neg_count:
                heapq.heappush(self.heap, (-len(per), key))
                continue
            b1, b2, d, opposite = key
            pattern: Signal | None = None
            for j in sorted(per):
                found = self._find(j, key)
                if found is None:
                    continue
                e, _, negated = self.terms[j][found[0]]
                if pattern is None:
                    first, second = self.base[b1], self.base[b2]
                    shifted = _relabel(net, second, second.frac - d)
                    pattern = net.sub(first, shifted) if opposite else net.add(first, shifted)
                    self.base[pattern.id] = pattern
                self._remove(j, found[0])
                self._remove(j, found[1])
                self._insert(j, (e, pattern.id, negated))
        return [[(self.base[b], e, negated) for e, b, negated in t.values()] for t in self.terms]


def layer_terms(
    net: Netlist,
    outputs: Sequence[Sequence[tuple[Signal, int]]],
    kfrac: int,
    multiplier: str,
    share: bool = True,
    pairs: bool = True,
) -> list[list[Term]]:
    """Signed terms of every output ``sum(x * w * 2**-kfrac)``, ready for :func:`signed_sum`.

    With ``share`` the odd multiples of each input are built once for the
    whole layer, and with ``pairs`` two-term patterns that several outputs
    contain are built once too (:class:`_PairSharing`); without ``share``
    every CSD digit is its own term (the textbook shift-add, for comparison).
    """
    raws, consts = _raw_terms(net, outputs, kfrac, multiplier, share)
    if pairs and len(raws) > 1:
        raws = _PairSharing(net, raws).run()
    return [
        [(_relabel(net, base, base.frac - e), negated) for base, e, negated in raw] + const
        for raw, const in zip(raws, consts)
    ]


def adder_bits(net: Netlist, sigs: Iterable[Signal], since: int = 0) -> int:
    """Carry-chain bits of the adders that ``sigs`` need among the ops created from ``since`` on:
    each adder's result width less the low bits that pass through it (a LUT-count estimate)."""
    seen: set[int] = set()
    stack = [s.id for s in sigs]
    bits = 0
    while stack:
        sid = stack.pop()
        if sid in seen or sid < since:
            continue
        seen.add(sid)
        op = net.ops[sid]
        stack.extend(a.id for a in op.args)
        if op.kind == "neg":
            bits += op.out.width
        elif op.kind == "add":
            sa, sb, subtract = op.param
            through = 0 if (subtract and sa > 0) else max(sa, sb)
            bits += max(op.out.width - through, 0)
        elif op.kind == "add3":
            bits += max(op.out.width - add3_pass_through(op.param), 0)
    return bits


def _top(s: Signal) -> tuple[int, int]:
    """Where a term's most significant bit sits, in value terms (for pairing similar terms)."""
    return max(abs(s.lo), abs(s.hi)).bit_length() - s.frac, s.id


def _combine(net: Netlist, a: Term, b: Term, positive: bool = False) -> Term:
    """``a + b`` as one adder; ``positive`` asks for a non-negated result (the root of a tree with
    nothing left to subtract it from, where a negation would cost a second adder)."""
    (sa, na), (sb, nb) = a, b
    if na == nb:
        return net.add(sa, sb), na
    pos, neg = (sa, sb) if not na else (sb, sa)
    if pos.frac < neg.frac and not positive:
        # pos would be the shifted operand: subtract it (its low bits pass through) and negate the term
        return net.sub(neg, pos), True
    return net.sub(pos, neg), False


def _pass_through(terms: Sequence[Term]) -> int:
    """Low result bits an adder of ``terms`` would pass through without logic (the add3 op's own rule)."""
    frac = max(s.frac for s, _ in terms)
    return add3_pass_through(tuple(frac - s.frac for s, _ in terms) + tuple(bool(n) for _, n in terms))


def _combine3(net: Netlist, terms: Sequence[Term], positive: bool = False) -> Term:
    """``t0 + t1 + t2`` as one ternary adder, signs arranged so that at most two operands are
    negated (complementing an operand is free inside the adder's LUTs), preferring (for the root,
    ``positive``) a non-negated result, then the most low bits passed through, then a non-negated
    result anyway (a negated one may cost a negation further up)."""
    flipped = [(s, not n) for s, n in terms]
    options = []
    for ops, result_negated in ((list(terms), False), (flipped, True)):
        negated = sum(n for _, n in ops)
        if negated <= 2:
            options.append(((positive and result_negated, -_pass_through(ops), result_negated), ops, result_negated))
    _, ops, result_negated = min(options, key=lambda o: o[0])
    return net.add3(ops), result_negated


def signed_sum(net: Netlist, terms: Iterable[Term], const: Signal | None = None, adders: str = "binary") -> Signal:
    """``sum(+-t) + const`` as one balanced tree of adders and subtractors.

    ``adders="ternary"`` groups three terms of similar magnitude per adder (``add3``), which on
    Xilinx costs one LUT per bit like a two-input adder, so a tree of ``n`` terms needs about
    ``n / 2`` adders instead of ``n - 1``; two leftover terms at the top get a two-input adder.
    """
    if adders not in ADDERS:
        raise ValueError(f"adders {adders!r} is not one of {', '.join(ADDERS)}")
    items: list[Term] = []
    total = const if const is not None else net.const(0)
    for s, negated in terms:
        if s.is_const:
            total = net.sub(total, s) if negated else net.add(total, s)
        else:
            items.append((s, negated))
    if not items:
        return total
    zero = total.is_const and total.lo == 0
    while len(items) > 1:
        items.sort(key=lambda t: _top(t[0]))
        if adders == "ternary" and len(items) > 2:
            root = len(items) == 3 and zero
            groups = len(items) // 3
            nxt = [_combine3(net, items[3 * i : 3 * i + 3], root) for i in range(groups)]
            nxt += items[3 * groups :]
        else:
            root = len(items) == 2 and zero
            nxt = [_combine(net, items[i], items[i + 1], root) for i in range(0, len(items) - 1, 2)]
            if len(items) % 2:
                nxt.append(items[-1])
        items = nxt
    s, negated = items[0]
    if negated:
        return net.neg(s) if zero else net.sub(total, s)
    return s if zero else net.add(s, total)
