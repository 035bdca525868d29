"""The one rounding/overflow table in ``fpgaq.fixed`` against the modes' definitions, exhaustively.

The reference, the RTL netlist, the RTL dividers and the table builders all
read :func:`fpgaq.fixed.rounding_bias` and :func:`fpgaq.fixed.overflow_rule`.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from fpgaq.fixed import FixedType, Overflow, Rounding, apply_overflow, overflow_rule, round_divide, rounding_bias


def _defined(value: Fraction, rounding: Rounding) -> int:
    """The mode's definition, read off its name."""
    lo, hi = math.floor(value), math.ceil(value)
    if rounding is Rounding.TRN:
        return lo
    if rounding is Rounding.TRN_ZERO:
        return hi if value < 0 else lo
    if value - lo != Fraction(1, 2):
        return lo if value - lo < Fraction(1, 2) else hi
    tie = {
        Rounding.RND: hi,
        Rounding.RND_MIN_INF: lo,
        Rounding.RND_ZERO: hi if value < 0 else lo,
        Rounding.RND_INF: lo if value < 0 else hi,
        Rounding.RND_CONV: lo if lo % 2 == 0 else hi,
    }
    return tie[rounding]


@pytest.mark.parametrize("rounding", list(Rounding))
def test_bias_then_floor_rounds_every_numerator(rounding: Rounding) -> None:
    for den in range(1, 17):
        table = rounding_bias(rounding, den)
        for n in range(-70, 71):
            bias = table.bias(negative=n < 0, odd=(n // den) % 2 == 1)
            assert (n + bias) // den == _defined(Fraction(n, den), rounding), (rounding, den, n)


@pytest.mark.parametrize("rounding", list(Rounding))
def test_round_divide_reads_the_table(rounding: Rounding) -> None:
    nums = np.arange(-70, 71, dtype=np.int64)
    for den in range(1, 17):
        expected = [_defined(Fraction(int(n), den), rounding) for n in nums]
        assert round_divide(nums, den, rounding).tolist() == expected


@pytest.mark.parametrize(("overflow", "signed"), list(itertools.product(Overflow, (True, False))))
def test_overflow_rule_matches_apply_overflow(overflow: Overflow, signed: bool) -> None:
    t = FixedType(4, 2, signed, overflow=overflow)
    rule = overflow_rule(t)
    m = np.arange(-40, 41, dtype=np.int64)
    if rule.wraps:
        expected = (m - rule.low) % (1 << t.width) + rule.low
    else:
        expected = np.where(m > rule.high, rule.above, np.where(m < rule.low, rule.below, m))
    assert apply_overflow(m, t).tolist() == expected.tolist()
    assert rule.saturates == (overflow in (Overflow.SAT, Overflow.SAT_SYM))
