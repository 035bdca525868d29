"""FixedType against exact rational arithmetic, mode by mode."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fpgaq.fixed import FixedType, Overflow, Rounding

ROUNDINGS = list(Rounding)
OVERFLOWS = list(Overflow)


def exact_round(v: Fraction, mode: Rounding) -> int:
    """Rounding of an exact rational, written from the mode definitions."""
    lo = math.floor(v)
    hi = lo + 1
    if v == lo:
        return lo
    if mode is Rounding.TRN:
        return lo
    if mode is Rounding.TRN_ZERO:
        return lo if v > 0 else hi
    d_lo, d_hi = v - lo, hi - v
    if d_lo < d_hi:
        return lo
    if d_hi < d_lo:
        return hi
    # exactly half-way
    return {
        Rounding.RND: hi,
        Rounding.RND_ZERO: lo if v > 0 else hi,
        Rounding.RND_INF: hi if v > 0 else lo,
        Rounding.RND_MIN_INF: lo,
        Rounding.RND_CONV: lo if lo % 2 == 0 else hi,
    }[mode]


def exact_overflow(m: int, t: FixedType) -> int:
    lo, hi = t.min_int, t.max_int
    if lo <= m <= hi and not (t.overflow is Overflow.SAT_SYM and t.signed and m == lo):
        return m
    if t.overflow is Overflow.WRAP:
        span = 2**t.width
        r = m % span
        return r - span if (t.signed and r > hi) else r
    if t.overflow is Overflow.SAT:
        return hi if m > hi else lo
    if t.overflow is Overflow.SAT_ZERO:
        return 0
    return hi if m > hi else (-hi if t.signed else 0)


def exact_assign(value: Fraction, t: FixedType) -> int:
    return exact_overflow(exact_round(value * Fraction(2) ** t.frac, t.rounding), t)


def edge_values(t: FixedType) -> list[float]:
    """Grid points, half-way points, just-off-half points and out-of-range values."""
    lsb = t.lsb_value
    vals = [0.0, lsb, -lsb, t.max_value, t.min_value, t.max_value + lsb, t.min_value - lsb]
    for k in range(-9, 10):
        vals += [(k + 0.5) * lsb, (k + 0.25) * lsb, (k + 0.75) * lsb, k * lsb]
        vals += [np.nextafter((k + 0.5) * lsb, np.inf), np.nextafter((k + 0.5) * lsb, -np.inf)]
    vals += [t.max_value + 0.5 * lsb, t.min_value - 0.5 * lsb, 1e6, -1e6]
    return vals


# Values that force the exact Python-integer path (beyond int64, or sub-normal
# once scaled); tested apart so the vectorised path is exercised on its own.
EXTREME_VALUES = [1e30, -1e30, 5e-324, -5e-324, 2.0**70 + 2.0**18, -(2.0**65)]


TYPES = [
    FixedType(4, 1, True),
    FixedType(6, 0, False),
    FixedType(8, 3, True),
    FixedType(5, 7, True),  # lsb of 4
    FixedType(4, -2, True),  # all fractional, below 1/4
    FixedType(1, 1, True),
    FixedType(1, 0, False),
    FixedType(16, 6, True),
    FixedType(40, 20, False),
    FixedType(80, 30, True),  # wider than int64: Python-int path
]


@pytest.mark.parametrize("base", TYPES, ids=str)
@pytest.mark.parametrize("rounding", ROUNDINGS, ids=lambda r: r.value)
@pytest.mark.parametrize("overflow", OVERFLOWS, ids=lambda o: o.value)
def test_to_int_matches_exact_arithmetic_on_edges(base: FixedType, rounding: Rounding, overflow: Overflow) -> None:
    t = base.replace(rounding=rounding, overflow=overflow)
    values = edge_values(t)
    got = t.to_int(values)
    want = [exact_assign(Fraction(v), t) for v in values]
    assert [int(g) for g in got] == want
    extreme = t.to_int(EXTREME_VALUES + values)
    assert [int(g) for g in extreme] == [exact_assign(Fraction(v), t) for v in EXTREME_VALUES] + want


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(1, 70),
    integer=st.integers(-8, 40),
    signed=st.booleans(),
    rounding=st.sampled_from(ROUNDINGS),
    overflow=st.sampled_from(OVERFLOWS),
    values=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=20),
    near=st.lists(st.tuples(st.integers(-(2**12), 2**12), st.sampled_from([-1, 0, 1])), max_size=20),
)
def test_to_int_random(width, integer, signed, rounding, overflow, values, near) -> None:
    t = FixedType(width, integer, signed, rounding, overflow)
    # Quarter-lsb points and their float neighbours: ties and near-ties.
    for k, step in near:
        v = float(np.ldexp(float(k), -t.frac - 2))
        values = [*values, v if step == 0 else float(np.nextafter(v, step * np.inf))]
    got = t.to_int(values)
    assert [int(g) for g in got] == [exact_assign(Fraction(v), t) for v in values]


@settings(max_examples=200, deadline=None)
@given(
    src_w=st.integers(1, 70),
    src_i=st.integers(-6, 30),
    dst_w=st.integers(1, 70),
    dst_i=st.integers(-6, 30),
    signed=st.tuples(st.booleans(), st.booleans()),
    rounding=st.sampled_from(ROUNDINGS),
    overflow=st.sampled_from(OVERFLOWS),
    data=st.data(),
)
def test_cast_between_types_is_exact(src_w, src_i, dst_w, dst_i, signed, rounding, overflow, data) -> None:
    src = FixedType(src_w, src_i, signed[0])
    dst = FixedType(dst_w, dst_i, signed[1], rounding, overflow)
    mant = data.draw(st.lists(st.integers(src.min_int, src.max_int), min_size=1, max_size=20))
    arr = np.array(mant, dtype=object if src.wide else np.int64)
    got = dst.cast(arr, src)
    want = [exact_assign(Fraction(m) * src.lsb, dst) for m in mant]
    assert [int(g) for g in got] == want


def test_cast_half_way_cases_by_hand() -> None:
    src = FixedType(8, 4, True)  # lsb 1/16
    dst = FixedType(8, 7, True, Rounding.RND_CONV)  # lsb 1/2
    # 0.25 -> 0 (tie to even), 0.75 -> 1.0 (tie to even), -0.25 -> 0, -0.75 -> -1.0
    got = dst.cast(np.array([4, 12, -4, -12]), src)
    assert list(got) == [0, 2, 0, -2]
    dst = dst.replace(rounding=Rounding.RND_INF)
    assert list(dst.cast(np.array([4, 12, -4, -12]), src)) == [1, 2, -1, -2]


def test_round_trip_of_representable_values(rng: np.random.Generator) -> None:
    for t in TYPES[:-1]:
        if t.width > 53:
            continue
        mant = rng.integers(t.min_int, t.max_int + 1, size=500)
        values = t.from_int(mant)
        assert np.array_equal(t.to_int(values), mant)
        assert np.array_equal(t.quantize(values), values)


def test_wide_values_as_fractions() -> None:
    t = FixedType(80, 30, True)
    m = t.to_int([-(2.0**29), 1.5])
    assert list(t.to_fractions(m)) == [Fraction(-(2**29)), Fraction(3, 2)]
    with pytest.raises(ValueError, match="more than float64 holds exactly"):
        t.from_int(m)


def test_range_properties() -> None:
    t = FixedType(6, 2, True)
    assert (t.min, t.max, t.lsb) == (Fraction(-2), Fraction(31, 16), Fraction(1, 16))
    u = FixedType(6, 2, False)
    assert (u.min, u.max, u.frac) == (Fraction(0), Fraction(63, 16), 4)
    assert FixedType(8, 4).contains(FixedType(6, 3))
    assert not FixedType(8, 4).contains(FixedType(6, 3, False).replace(width=9))
    assert not FixedType(8, 4).contains(FixedType(8, 3))


def test_sat_sym_never_gives_most_negative_code() -> None:
    t = FixedType(4, 4, True, Rounding.TRN, Overflow.SAT_SYM)
    assert list(t.to_int([-8.0, -9.0, -7.0, 8.0])) == [-7, -7, -7, 7]


def test_rejects_nan_and_infinity() -> None:
    with pytest.raises(ValueError, match="NaN or infinity"):
        FixedType(8, 4).to_int([1.0, np.nan])
    with pytest.raises(ValueError, match="NaN or infinity"):
        FixedType(8, 4).to_int([np.inf])


def test_spellings() -> None:
    t = FixedType(16, 6, True, "RND_CONV", "SAT")
    assert t.ac_fixed() == "ac_fixed<16, 6, true, AC_RND_CONV, AC_SAT>"
    assert t.ap_fixed() == "ap_fixed<16, 6, AP_RND_CONV, AP_SAT>"
    assert t.verilog("acc") == "wire signed [15:0] acc"
    u = FixedType(8, 0, False)
    assert u.ap_fixed() == "ap_ufixed<8, 0, AP_TRN, AP_WRAP>"
    assert u.verilog("y", "reg") == "reg [7:0] y"
    assert str(u) == "ufixed<8,0>" and str(t) == "fixed<16,6,RND_CONV,SAT>"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ap_fixed<16,6>", FixedType(16, 6, True)),
        ("ap_ufixed<8, 0, AP_RND, AP_SAT>", FixedType(8, 0, False, "RND", "SAT")),
        ("ac_fixed<10, 2, false, AC_RND_CONV, AC_SAT_SYM>", FixedType(10, 2, False, "RND_CONV", "SAT_SYM")),
        ("ac_fixed<10, 2>", FixedType(10, 2, True)),
        ("fixed<8,3,RND,SAT>", FixedType(8, 3, True, "RND", "SAT")),
        ("ap_int<8>", FixedType(8, 8, True)),
        ("ap_uint<4>", FixedType(4, 4, False)),
        ("ac_int<12, false>", FixedType(12, 12, False)),
    ],
)
def test_parse(text: str, expected: FixedType) -> None:
    assert FixedType.parse(text) == expected
    assert FixedType.parse(expected.ac_fixed()) == expected
    assert FixedType.parse(expected.ap_fixed()) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("float", "cannot read fixed-point type 'float'"),
        ("ap_fixed<16>", "takes 2 to 5 parameters"),
        ("ap_fixed<16,6,AP_ROUND>", "unknown rounding mode 'AP_ROUND'; supported: TRN, TRN_ZERO"),
        ("ac_fixed<8,3,maybe>", "signedness must be true or false"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FixedType.parse(text)


def test_invalid_construction() -> None:
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        FixedType(0, 0)
    with pytest.raises(ValueError, match="unknown overflow mode 'CLIP'"):
        FixedType(8, 0, True, "TRN", "CLIP")


@settings(max_examples=200, deadline=None)
@given(
    src_w=st.integers(1, 46),
    src_i=st.integers(-6, 20),
    dst_w=st.integers(1, 46),
    dst_i=st.integers(-6, 20),
    signed=st.tuples(st.booleans(), st.booleans()),
    rounding=st.sampled_from(ROUNDINGS),
    overflow=st.sampled_from(OVERFLOWS),
    data=st.data(),
)
def test_cast_of_float_mantissas_is_exact(src_w, src_i, dst_w, dst_i, signed, rounding, overflow, data) -> None:
    """The reference's float64 fast path (integer-valued float mantissas below 2**50)."""
    src = FixedType(src_w, src_i, signed[0])
    dst = FixedType(dst_w, dst_i, signed[1], rounding, overflow)
    mant = data.draw(st.lists(st.integers(src.min_int, src.max_int), min_size=1, max_size=30))
    got = dst.cast(np.array(mant, dtype=np.float64), src)
    assert got.dtype == np.float64
    want = [exact_assign(Fraction(m) * src.lsb, dst) for m in mant]
    assert [int(g) for g in got] == want


@settings(max_examples=200, deadline=None)
@given(
    num=st.lists(st.integers(-(2**70), 2**70), min_size=1, max_size=20),
    den=st.integers(1, 1000),
    rounding=st.sampled_from(ROUNDINGS),
    wide=st.booleans(),
)
def test_round_divide_is_exact(num, den, rounding, wide) -> None:
    from fpgaq.fixed import round_divide

    if not wide:
        num = [n % (2**40) - 2**39 for n in num]
    arr = np.array(num, dtype=object if wide else np.int64)
    got = round_divide(arr, den, rounding)
    assert [int(g) for g in got] == [exact_round(Fraction(n, den), rounding) for n in num]


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_huge_integer_valued_floats_never_round(rounding) -> None:
    # Scaled to 2**52 and beyond, float64 values are integers; the midpoint
    # comparison must not mistake them for ties (found by hypothesis in CI).
    t = FixedType(1, -3, False, rounding, Overflow.WRAP)
    values = [2.0**48, 2.0**48 + 2.0**-4 * 3, -(2.0**49), 2.0**57]
    assert [int(g) for g in t.to_int(values)] == [exact_assign(Fraction(v), t) for v in values]
