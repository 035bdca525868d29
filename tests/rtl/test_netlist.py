"""The exact integer netlist: ranges, widths, folding, sharing, casts and simulation."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.rtl.netlist import Netlist, bits_for_range, simulate

ROUNDINGS = list(Rounding)
OVERFLOWS = list(Overflow)


def _assign(value: Fraction, t: FixedType) -> int:
    """ac_fixed assignment by hand: rounding on exact rationals, then overflow."""
    scaled = value * Fraction(2) ** t.frac
    floor = scaled.numerator // scaled.denominator
    rem = scaled - floor
    half = Fraction(1, 2)
    r = t.rounding
    if r is Rounding.TRN:
        q = floor
    elif r is Rounding.TRN_ZERO:
        q = floor + 1 if scaled < 0 and rem else floor
    else:
        up = rem > half
        tie = rem == half
        if r is Rounding.RND:
            up |= tie
        elif r is Rounding.RND_ZERO:
            up |= tie and scaled < 0
        elif r is Rounding.RND_INF:
            up |= tie and scaled > 0
        elif r is Rounding.RND_CONV:
            up |= tie and floor % 2 == 1
        q = floor + int(up)
    lo, hi = t.min_int, t.max_int
    if t.overflow is Overflow.WRAP:
        return (q - lo) % (1 << t.width) + lo
    if t.overflow is Overflow.SAT:
        return min(max(q, lo), hi)
    if t.overflow is Overflow.SAT_ZERO:
        return q if lo <= q <= hi else 0
    low = -hi if t.signed else lo
    return min(max(q, low), hi)


@pytest.mark.parametrize(
    ("lo", "hi", "width", "signed"),
    [(0, 0, 1, False), (0, 1, 1, False), (0, 255, 8, False), (0, 256, 9, False), (-1, 0, 1, True),
     (-128, 127, 8, True), (-129, 127, 9, True), (-128, 128, 9, True), (-3, 100, 8, True)],
)  # fmt: skip
def test_bits_for_range(lo: int, hi: int, width: int, signed: bool) -> None:
    assert bits_for_range(lo, hi) == (width, signed)


def test_ranges_and_widths_follow_the_values() -> None:
    net = Netlist()
    a, b = net.add_input("x", FixedType(8, 8, True), 2)  # integers -128..127
    s = net.add(a, b)
    assert (s.lo, s.hi, s.width) == (-256, 254, 9)
    d = net.sub(a, b)
    assert (d.lo, d.hi) == (-255, 255)
    shifted = net.add(a, net.shl(b, 3))  # a + 8 b: the shift moves the binary point
    assert (shifted.lo, shifted.hi, shifted.frac) == (-128 * 8 - 128 * 8, 127 * 8 + 127 * 8, 3)
    assert net.shr(a, 3).lo == -16 and net.shr(a, 3).hi == 15
    assert net.max(a, net.const(0)).lo == 0


def test_constants_fold_and_identical_ops_are_shared() -> None:
    net = Netlist()
    a, b = net.add_input("x", FixedType(6, 6, True), 2)
    start = len(net.ops)
    assert net.add(a, b) is net.add(b, a)
    assert len(net.ops) == start + 1
    assert net.add(a, net.const(0)) is a
    c = net.add(net.const(3), net.const(4))
    assert c.is_const and c.lo == 7
    before = len(net.ops)
    assert net.sum([a, b, net.const(0)]) is net.sum([b, a]) is net.add(a, b)  # the adder is shared
    assert len(net.ops) == before


def test_sum_tree_is_balanced() -> None:
    net = Netlist()
    xs = net.add_input("x", FixedType(4, 4, False), 16)
    total = net.sum(xs)

    def depth(s) -> int:
        op = net.producer(s)
        return 0 if op.kind == "input" else 1 + max(depth(a) for a in op.args)

    assert depth(total) == 4
    assert (total.lo, total.hi) == (0, 16 * 15)


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("overflow", OVERFLOWS)
def test_cast_matches_hand_rounding_on_every_source_value(rounding: Rounding, overflow: Overflow) -> None:
    src = FixedType(10, 4, True)  # 6 fraction bits
    dests = [
        FixedType(5, 2, True, rounding, overflow),  # drops 3 fraction bits, narrower range
        FixedType(4, 1, False, rounding, overflow),  # unsigned: negatives overflow
        FixedType(7, 9, True, rounding, overflow),  # negative frac: drops 8 bits
        FixedType(12, 4, True, rounding, overflow),  # widening: exact
    ]
    m = np.arange(src.min_int, src.max_int + 1)
    for dst in dests:
        net = Netlist()
        (x,) = net.add_input("x", src, 1)
        net.add_output("y", [net.cast(x, dst)], dst)
        got = simulate(net, [m.reshape(-1, 1)])[0][:, 0]
        want = [_assign(Fraction(int(v), 2**src.frac), dst) for v in m]
        assert got.tolist() == want, dst


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(2, 70),
    frac=st.integers(-4, 40),
    dst_w=st.integers(1, 40),
    dst_f=st.integers(-6, 45),
    signed=st.booleans(),
    rounding=st.sampled_from(ROUNDINGS),
    overflow=st.sampled_from(OVERFLOWS),
    data=st.data(),
)
def test_cast_random_types_including_wide_ones(width, frac, dst_w, dst_f, signed, rounding, overflow, data) -> None:
    src = FixedType(width, width - frac, True)
    dst = FixedType(dst_w, dst_w - dst_f, signed, rounding, overflow)
    values = data.draw(st.lists(st.integers(src.min_int, src.max_int), min_size=1, max_size=30))
    half = 1 << max(src.frac - dst.frac - 1, 0)
    values += [
        v for v in (half, -half, 3 * half, -3 * half, src.min_int, src.max_int) if src.min_int <= v <= src.max_int
    ]
    net = Netlist()
    (x,) = net.add_input("x", src, 1)
    y = net.cast(x, dst)
    net.add_output("y", [y], dst)
    got = simulate(net, [np.array(values, dtype=object).reshape(-1, 1)])[0][:, 0]
    want = [_assign(Fraction(v, 1) / Fraction(2) ** src.frac, dst) for v in values]
    assert [int(g) for g in got] == want
    assert dst.min_int <= y.lo and y.hi <= dst.max_int  # the range claim holds


def test_rom_mux_clip_and_dead_code() -> None:
    net = Netlist()
    (a,) = net.add_input("a", FixedType(3, 3, False), 1)  # 0..7
    table = [v * v for v in range(8)]
    sq = net.rom(a, table, 0, 0)
    odd = net.bit(a, 0)
    picked = net.mux(odd, sq, net.neg(sq))
    clipped = net.clip(picked, -20, 30)
    net.add(a, a)  # dead: no output reads it
    net.add_output("y", [clipped], FixedType(8, 8, True))
    m = np.arange(8).reshape(-1, 1)
    got = simulate(net, [m])[0][:, 0].tolist()
    want = [min(max(v * v if v % 2 else -v * v, -20), 30) for v in range(8)]
    assert got == want
    assert all(op.kind != "add" for op in net.live())
    with pytest.raises(ValueError, match="does not cover"):
        net.rom(a, table[:5], 0, 0)


# ----------------------------------------------------------------------------- constant offsets fold
def _exact(net: Netlist, sig, xs: np.ndarray) -> list[Fraction]:
    out = simulate(net, [xs])[-1]
    return [Fraction(int(v), 2**sig.frac) for v in out[:, 0]]


@pytest.mark.parametrize("seed", range(40))
def test_constant_offsets_fold_into_one_adder(seed: int) -> None:
    """(x + c1) +- c2, through value-preserving shifts and in either operand order, is one adder over x;
    its value and binary point are those of the chain written out."""
    rng = np.random.default_rng(seed)
    net = Netlist()
    x = net.add_input("x", FixedType(8, 4, True), 1)[0]
    xs = np.arange(-128, 128).reshape(-1, 1)
    want = [Fraction(int(v), 16) for v in xs[:, 0]]
    s = x
    for _ in range(4):
        if rng.random() < 0.3:
            s = net.shl(s, int(rng.integers(0, 3)))
        value, frac = int(rng.integers(-40, 41)), int(rng.integers(0, 7))
        c, cr = net.const(value, frac), Fraction(value, 2**frac)
        subtract, first = bool(rng.random() < 0.4), bool(rng.random() < 0.5)
        expected_frac = max(s.frac, frac)
        s = net.add(s, c, subtract) if first else net.add(c, s, subtract)
        assert s.frac == expected_frac
        want = [(w - cr if subtract else w + cr) if first else (cr - w if subtract else cr + w) for w in want]
    net.add_output("y", [s], FixedType(8, 4))
    assert _exact(net, s, xs) == want
    assert sum(op.kind in ("add", "neg") for op in net.live()) <= 2  # one adder (and a negation at most)
    assert sum(op.kind == "add" for op in net.live()) <= 1


def test_rounding_rides_on_the_bias_adder() -> None:
    """sum + bias, then a RND cast: the half-LSB joins the bias constant (one adder, bit-exact)."""
    net = Netlist()
    a, b = net.add_input("x", FixedType(8, 4, True), 2)
    total = net.add(net.add(a, b), net.const(-3, 3))
    y = net.cast(total, FixedType(6, 4, True, "RND", "SAT"))
    net.add_output("y", [y], FixedType(6, 4, True, "RND", "SAT"))
    assert sum(op.kind == "add" for op in net.live()) == 2
    grid = np.array([(i, j) for i in range(-128, 128) for j in range(-128, 128)])
    got = simulate(net, [grid])[0][:, 0]
    t = FixedType(6, 4, True, "RND", "SAT")
    exact = (grid[:, 0] + grid[:, 1]) / 16 - 3 / 8
    assert np.any(exact * 4 % 1 == 0.5)  # midpoints, where RND decides
    assert np.array_equal(got, t.to_int(exact))  # exact in float64
    assert got.min() == t.min_int and got.max() == t.max_int  # the grid saturates both ways
