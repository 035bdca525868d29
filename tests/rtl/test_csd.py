"""Constant multiplication: CSD digits, odd parts, shared odd multiples, signed adder trees."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fpgaq.fixed import FixedType
from fpgaq.rtl.csd import csd, layer_terms, multiples, odd_part, signed_sum, use_lut
from fpgaq.rtl.netlist import Netlist, simulate


@functools.cache
def _fewest_digits(c: int) -> int:
    """Fewest non-zero digits of any signed-binary form of c (exhaustive recursion, not CSD)."""
    if c < 0:
        return _fewest_digits(-c)
    if c <= 1:
        return c
    if c % 2 == 0:
        return _fewest_digits(c // 2)
    return 1 + min(_fewest_digits((c - 1) // 2), _fewest_digits((c + 1) // 2))


@pytest.mark.parametrize(
    ("c", "digits"),
    [
        (0, []),
        (1, [(0, 1)]),
        (-1, [(0, -1)]),
        (3, [(0, -1), (2, 1)]),  # 4 - 1
        (7, [(0, -1), (3, 1)]),  # 8 - 1
        (-6, [(1, 1), (3, -1)]),  # 2 - 8
        (11, [(0, -1), (2, -1), (4, 1)]),  # 16 - 4 - 1
        (32, [(5, 1)]),
        (-32, [(5, -1)]),
    ],
)
def test_csd_known_values(c: int, digits: list[tuple[int, int]]) -> None:
    assert csd(c) == digits


@given(st.integers(-(1 << 20), 1 << 20))
def test_csd_is_exact_non_adjacent_and_minimal(c: int) -> None:
    digits = csd(c)
    assert sum(d << p for p, d in digits) == c
    positions = [p for p, _ in digits]
    assert all(b - a >= 2 for a, b in itertools.pairwise(positions))
    assert len(digits) == _fewest_digits(c)


@pytest.mark.parametrize(("c", "expected"), [(1, (1, 0, 1)), (-12, (3, 2, -1)), (40, (5, 3, 1)), (-7, (7, 0, -1))])
def test_odd_part(c: int, expected: tuple[int, int, int]) -> None:
    assert odd_part(c) == expected


def test_odd_part_of_zero_raises() -> None:
    with pytest.raises(ValueError, match="zero"):
        odd_part(0)


@pytest.mark.parametrize(
    ("w", "style", "lut"),
    [(85, "auto", True), (-128, "auto", True), (341, "auto", False), (341, "lut", True), (1, "dsp", False)],
)
def test_use_lut(w: int, style: str, lut: bool) -> None:
    # 85 = 1010101b has 4 CSD digits, 341 = 101010101b has 5 (more than AUTO_DSP_DIGITS)
    assert use_lut(w, style) is lut


def _adders(net: Netlist) -> int:
    return sum(op.kind in ("add", "neg") for op in net.live())


def test_every_odd_multiple_below_32_costs_one_adder_each() -> None:
    net = Netlist()
    (x,) = net.add_input("x", FixedType(8, 8, True), 1)
    odds = list(range(3, 32, 2))
    built = multiples(net, x, odds)
    for o in odds:
        net.add_output(f"x{o}", [built[o]], FixedType(16, 16, True))
    assert _adders(net) == len(odds)  # 15: each from two smaller ones
    xs = np.arange(-128, 128).reshape(-1, 1)
    got = simulate(net, [xs])
    for o, g in zip(odds, got):
        assert np.array_equal(g[:, 0], xs[:, 0] * o)


def test_multiples_rejects_even_constants() -> None:
    net = Netlist()
    (x,) = net.add_input("x", FixedType(4, 4, True), 1)
    with pytest.raises(ValueError, match="odd"):
        multiples(net, x, [6])


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(st.lists(st.integers(-40, 40), min_size=3, max_size=3), min_size=1, max_size=5),
    style=st.sampled_from(["lut", "dsp", "auto"]),
    share=st.booleans(),
    bias=st.integers(-50, 50),
    kfrac=st.integers(-2, 3),
)
def test_signed_sums_equal_the_dot_products(weights, style, share, bias, kfrac) -> None:
    """Every output's value is sum(x * w) * 2**-kfrac + bias, checked on every input corner and at random."""
    net = Netlist()
    tin = FixedType(6, 3, True)  # frac 3
    xs = net.add_input("x", tin, 3)
    w = np.array(weights).T  # (3 inputs, outputs)
    pairs = [[(xs[i], int(w[i, j])) for i in range(3)] for j in range(w.shape[1])]
    terms = layer_terms(net, pairs, kfrac, style, share)
    sums = [signed_sum(net, t, net.const(bias, 0)) for t in terms]
    for j, s in enumerate(sums):
        net.add_output(f"y{j}", [s], FixedType(32, 16, True))
    rng = np.random.default_rng(0)
    x = np.concatenate([np.array([[-32, -32, -32], [31, 31, 31], [-32, 31, 0]]), rng.integers(-32, 32, (50, 3))])
    got = simulate(net, [x])
    for j, s in enumerate(sums):
        # value of the signal: mantissa * 2**-frac; expected value in units of 2**-(3 + kfrac)
        exact = (x @ w[:, j]) + (bias << (3 + kfrac) if 3 + kfrac >= 0 else 0)
        if 3 + kfrac < 0:
            pytest.skip("bias alignment below the integer grid is not exercised here")
        scale = s.frac - (3 + kfrac)
        value = got[j][:, 0]
        assert np.array_equal(value, exact * 2**scale if scale >= 0 else exact // 2 ** (-scale))
        assert s.lo <= value.min() and value.max() <= s.hi


def test_zero_and_power_of_two_weights_need_no_adder_of_their_own() -> None:
    net = Netlist()
    xs = net.add_input("x", FixedType(8, 8, True), 4)
    (terms,) = layer_terms(net, [[(xs[0], 0), (xs[1], 4), (xs[2], -1), (xs[3], 0)]], 0, "lut")
    assert len(terms) == 2  # zeros vanish; +4 and -1 are wiring
    s = signed_sum(net, terms)
    net.add_output("y", [s], FixedType(16, 16, True))
    assert _adders(net) == 1  # 4*x1 - x2: one subtractor
    x = np.array([[1, 2, 3, 4], [-128, -128, 127, 5]])
    assert simulate(net, [x])[0][:, 0].tolist() == [4 * 2 - 3, 4 * -128 - 127]


def test_sharing_builds_each_odd_multiple_once_per_input() -> None:
    """x*3 feeds four outputs (weights 3, 6, -12, 24): one adder for x*3, none per output."""
    net = Netlist()
    (x,) = net.add_input("x", FixedType(8, 8, True), 1)
    terms = layer_terms(net, [[(x, 3)], [(x, 6)], [(x, -12)], [(x, 24)]], 0, "lut")
    outs = [signed_sum(net, t) for t in terms]
    for j, s in enumerate(outs):
        net.add_output(f"y{j}", [s], FixedType(16, 16, True))
    assert _adders(net) == 2  # x*3, and the negation of the lone -12 term
    xs = np.array([[5], [-128]])
    # signals are mantissas: value = mantissa * 2**-frac (a weight 6 = 3 * 2 reads x*3 with frac -1)
    got = [(g[:, 0] * 2.0**-s.frac).tolist() for g, s in zip(simulate(net, [xs]), outs)]
    assert got == [[15, -384], [30, -768], [-60, 1536], [120, -3072]]
    unshared = Netlist()
    (y,) = unshared.add_input("x", FixedType(8, 8, True), 1)
    for j, t in enumerate(layer_terms(unshared, [[(y, 3)], [(y, 6)], [(y, -12)], [(y, 24)]], 0, "lut", share=False)):
        unshared.add_output(f"y{j}", [signed_sum(unshared, t)], FixedType(16, 16, True))
    assert _adders(unshared) == 4  # one subtractor per output


def test_subtractions_never_subtract_from_a_shifted_operand() -> None:
    """The tree puts shifted operands on the side whose low bits pass through."""
    net = Netlist()
    xs = net.add_input("x", FixedType(8, 8, True), 6)
    (terms,) = layer_terms(net, [[(xs[i], w) for i, w in enumerate([-1, 8, -16, 2, -64, 1])]], 0, "lut")
    net.add_output("y", [signed_sum(net, terms)], FixedType(20, 20, True))
    for op in net.live():
        if op.kind == "add":
            sa, _, subtract = op.param
            assert not (subtract and sa > 0)
    x = np.array([[1, 1, 1, 1, 1, 1], [-128, 127, -128, 127, -128, 127]])
    expected = x @ np.array([-1, 8, -16, 2, -64, 1])
    assert np.array_equal(simulate(net, [x])[0][:, 0], expected)
