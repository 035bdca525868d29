"""Fixed-point types with the exact meaning of ``ac_fixed<W, I, S, Q, O>``.

This module is fpgaq's single source of numeric truth: the IR gives every
tensor a :class:`FixedType`, the reference evaluates with it, and the back
ends only spell it.  Every conversion here is exact.  Floats are dyadic
rationals, so scaling by a power of two, ``floor`` and the remainder are exact
in float64; anything that could leave the exact range (values beyond 2**62,
sub-normal intermediates, widths over 62 bits) falls back to Python integers.
"""

from __future__ import annotations

import dataclasses
import re
from enum import Enum
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = [
    "FixedType",
    "Overflow",
    "OverflowRule",
    "Rounding",
    "RoundingBias",
    "apply_overflow",
    "overflow_rule",
    "round_divide",
    "round_float",
    "round_shift",
    "rounding_bias",
    "saturate",
]

# Mantissas up to this many bits are held in int64 with headroom for one
# shift and one addition; wider ones use numpy object arrays of Python ints.
_INT64_SAFE_BITS = 61


class Rounding(str, Enum):
    """Quantization (rounding) modes, named as in ac_fixed without ``AC_``."""

    TRN = "TRN"  # toward minus infinity (drop bits)
    TRN_ZERO = "TRN_ZERO"  # toward zero
    RND = "RND"  # nearest, ties toward plus infinity
    RND_ZERO = "RND_ZERO"  # nearest, ties toward zero
    RND_INF = "RND_INF"  # nearest, ties away from zero
    RND_MIN_INF = "RND_MIN_INF"  # nearest, ties toward minus infinity
    RND_CONV = "RND_CONV"  # nearest, ties to even (convergent)

    @classmethod
    def parse(cls, value: str | Rounding) -> Rounding:
        return _parse_enum(cls, value, "rounding")


class Overflow(str, Enum):
    """Overflow modes, named as in ac_fixed without ``AC_``."""

    WRAP = "WRAP"  # two's complement wrap-around (drop high bits)
    SAT = "SAT"  # clip to [min, max]
    SAT_ZERO = "SAT_ZERO"  # out of range becomes zero
    SAT_SYM = "SAT_SYM"  # clip to [-max, max]: the most negative code is never produced

    @classmethod
    def parse(cls, value: str | Overflow) -> Overflow:
        return _parse_enum(cls, value, "overflow")


def _parse_enum(cls: Any, value: Any, what: str) -> Any:
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        key = value.strip().upper()
        for prefix in ("AC_", "AP_"):
            if key.startswith(prefix):
                key = key[len(prefix) :]
        if key in cls.__members__:
            return cls[key]
    allowed = ", ".join(cls.__members__)
    raise ValueError(f"unknown {what} mode {value!r}; supported: {allowed} (an AC_ or AP_ prefix is accepted)")


# ------------------------------------------------------- the rounding table
@dataclasses.dataclass(frozen=True)
class RoundingBias:
    """``floor((n + bias) / den)`` is ``n / den`` rounded by one mode, for every integer ``n``.

    ``bias`` is ``picked`` where the fact named by ``decided_by`` holds and
    ``otherwise`` where it does not: ``None`` (one constant, ``picked ==
    otherwise``), ``"negative"`` (``n < 0``) or ``"odd"`` (``floor(n / den)``
    is odd, which for ``den = 2**k`` is bit ``k`` of ``n``).  Hardware adds
    the bias (a constant, or a multiplexer on the sign or that bit) and drops
    bits; the reference asks the same question of the remainder.
    """

    decided_by: str | None
    picked: Any  # an int, or an array for an array of divisors
    otherwise: Any

    def bias(self, negative: bool, odd: bool) -> int:
        """The bias for one numerator, given its sign and the parity of its floor quotient."""
        fact = {None: False, "negative": negative, "odd": odd}[self.decided_by]
        return self.picked if fact else self.otherwise


# How each mode treats the remainder ``r`` of ``n / den`` (``0 <= r < den``), as the bias that
# carries it into the next quotient: "never" 0, "nonzero" den - 1 (every r > 0 rounds up),
# "half" den // 2 (r >= den/2 rounds up: ties up), "above_half" (den - 1) // 2 (ties down).
# Per mode: the fact that picks between two treatments, the treatment where it holds, and otherwise.
_ROUNDING_TABLE: dict[Rounding, tuple[str | None, str, str]] = {
    Rounding.TRN: (None, "never", "never"),
    Rounding.TRN_ZERO: ("negative", "nonzero", "never"),
    Rounding.RND: (None, "half", "half"),
    Rounding.RND_MIN_INF: (None, "above_half", "above_half"),
    Rounding.RND_ZERO: ("negative", "half", "above_half"),
    Rounding.RND_INF: ("negative", "above_half", "half"),
    Rounding.RND_CONV: ("odd", "half", "above_half"),
}


def _treatment_bias(treatment: str, den: Any) -> Any:
    return {"never": 0, "nonzero": den - 1, "half": den // 2, "above_half": (den - 1) // 2}[treatment]


def rounding_bias(rounding: Rounding, den: int | np.ndarray) -> RoundingBias:
    """What to add to an integer before ``floor(/ den)`` to round by ``rounding`` (``den >= 1``;
    an array of divisors gives arrays of biases).

    The one table of rounding modes: :func:`round_shift`, :func:`round_divide`, the float and
    exact paths of :meth:`FixedType.to_int`, the RTL netlist's casts and the RTL dividers read it.
    """
    if np.any(np.asarray(den) < 1):
        raise ValueError(f"rounding needs a positive divisor, got {den}")
    decided_by, picked, otherwise = _ROUNDING_TABLE[Rounding.parse(rounding)]
    return RoundingBias(decided_by, _treatment_bias(picked, den), _treatment_bias(otherwise, den))


@dataclasses.dataclass(frozen=True)
class OverflowRule:
    """What an overflow mode does to an integer mantissa: wrap modulo ``2**width`` into
    ``[low, high]``, or keep ``[low, high]`` and replace values below by ``below`` and values
    above by ``above`` (the saturating modes)."""

    wraps: bool
    low: int
    high: int
    below: int
    above: int

    @property
    def saturates(self) -> bool:
        """Clips to ``[low, high]`` (SAT, SAT_SYM): out-of-range values become the nearest bound."""
        return not self.wraps and (self.below, self.above) == (self.low, self.high)


def overflow_rule(t: FixedType) -> OverflowRule:
    """The one table of overflow modes, for ``t``'s range (read by the reference and the RTL netlist)."""
    lo, hi = t.min_int, t.max_int
    if t.overflow is Overflow.WRAP:
        return OverflowRule(True, lo, hi, lo, hi)
    if t.overflow is Overflow.SAT:
        return OverflowRule(False, lo, hi, lo, hi)
    if t.overflow is Overflow.SAT_ZERO:
        return OverflowRule(False, lo, hi, 0, 0)
    low = -hi if t.signed else lo  # SAT_SYM: the most negative code counts as an overflow too, as in ac_fixed
    return OverflowRule(False, low, hi, low, hi)


@dataclasses.dataclass(frozen=True)
class FixedType:
    """``ac_fixed<width, integer, signed, rounding, overflow>``.

    ``integer`` counts integer bits including the sign bit and may be negative
    or exceed ``width`` (as in ac_fixed); a value is ``mantissa * 2**-frac``.
    Rounding and overflow say what happens when a value is *assigned into*
    this type; they do not change the set of representable values.
    """

    width: int
    integer: int
    signed: bool = True
    rounding: Rounding = Rounding.TRN
    overflow: Overflow = Overflow.WRAP

    def __post_init__(self) -> None:
        if not isinstance(self.width, (int, np.integer)) or isinstance(self.width, bool) or self.width < 1:
            raise ValueError(f"FixedType width must be an integer >= 1, got {self.width!r}")
        if not isinstance(self.integer, (int, np.integer)) or isinstance(self.integer, bool):
            raise ValueError(f"FixedType integer must be an integer, got {self.integer!r}")
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "integer", int(self.integer))
        object.__setattr__(self, "signed", bool(self.signed))
        object.__setattr__(self, "rounding", Rounding.parse(self.rounding))
        object.__setattr__(self, "overflow", Overflow.parse(self.overflow))

    # ------------------------------------------------------------------ range
    @property
    def frac(self) -> int:
        """Fractional bits: ``width - integer`` (negative when the lsb exceeds 1)."""
        return self.width - self.integer

    @property
    def min_int(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> Fraction:
        return Fraction(2) ** -self.frac

    @property
    def min(self) -> Fraction:
        return self.min_int * self.lsb

    @property
    def max(self) -> Fraction:
        return self.max_int * self.lsb

    @property
    def min_value(self) -> float:
        return float(self.min)

    @property
    def max_value(self) -> float:
        return float(self.max)

    @property
    def lsb_value(self) -> float:
        return float(self.lsb)

    @property
    def wide(self) -> bool:
        """True when mantissas need Python integers rather than int64."""
        return self.width > _INT64_SAFE_BITS

    def replace(self, **changes: Any) -> FixedType:
        return dataclasses.replace(self, **changes)

    def contains(self, other: FixedType) -> bool:
        """Whether every value of ``other`` is exactly representable here."""
        if other.frac > self.frac:
            return False
        return self.min <= other.min and other.max <= self.max

    # ------------------------------------------------------------ conversion
    def to_int(self, x: Any) -> np.ndarray:
        """Mantissas of floats assigned into this type (rounding, then overflow).

        Exact for every finite float64; NaN and infinities are rejected
        because ac_fixed gives them no meaning.
        """
        x = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise ValueError(f"cannot quantize NaN or infinity into {self}")
        with np.errstate(over="ignore"):
            scaled = np.ldexp(x, self.frac)
        tiny = (x != 0) & (np.abs(scaled) < 2.0**-1000)
        huge = ~np.isfinite(scaled) | (np.abs(scaled) >= 2.0**_INT64_SAFE_BITS)
        if self.wide or np.any(tiny) or np.any(huge):
            return self._to_int_exact(x)
        if self.rounding in (Rounding.RND_CONV, Rounding.TRN, Rounding.TRN_ZERO):
            rounded = _round_small_float(scaled, self.rounding)  # rint/floor/trunc: exact for any float
        else:
            rounded = round_float(scaled, self.rounding)
        return apply_overflow(rounded.astype(np.int64), self)

    def _to_int_exact(self, x: np.ndarray) -> np.ndarray:
        """Slow exact path through ``Fraction`` for the rare awkward values."""
        flat = x.ravel()
        out = np.empty(flat.shape, dtype=object)
        scale = Fraction(2) ** self.frac
        for i, value in enumerate(flat):
            out[i] = _round_fraction(Fraction(float(value)) * scale, self.rounding)
        m = apply_overflow(out.reshape(x.shape), self)
        return m if self.wide else m.astype(np.int64)

    def quantize(self, x: Any) -> np.ndarray:
        """Floats assigned into this type, returned as float64 values.

        Raises if the type is too wide for float64 to hold every value exactly;
        use :meth:`to_int` and :meth:`to_fractions` then.
        """
        return self.from_int(self.to_int(x))

    def from_int(self, mantissa: Any) -> np.ndarray:
        """Float64 values of mantissas; exact because widths are limited to 53 bits."""
        if self.width > 53:
            raise ValueError(
                f"{self} has {self.width} bits, more than float64 holds exactly; use to_fractions() instead"
            )
        m = np.asarray(mantissa)
        return np.ldexp(m.astype(np.float64), -self.frac)

    def to_fractions(self, mantissa: Any) -> np.ndarray:
        """Exact rational values of mantissas, as an object array of Fractions."""
        m = np.asarray(mantissa, dtype=object)
        lsb = self.lsb
        return np.vectorize(lambda v: Fraction(int(v)) * lsb, otypes=[object])(m)

    def cast(self, mantissa: Any, source: FixedType) -> np.ndarray:
        """Mantissas of ``source`` values assigned into this type, in integers only.

        This is what an ac_fixed assignment does: align the binary points,
        round the dropped bits with this type's rounding mode, then apply its
        overflow mode.
        """
        arr = np.asarray(mantissa)
        shift = source.frac - self.frac
        if arr.dtype.kind == "f":
            # Integer-valued float64 mantissas (the reference's fast path, used only
            # while every value stays below 2**50): scaling and rounding are exact.
            scaled = arr * (2.0**-shift) if shift else arr.copy()
            if shift > 0:
                scaled = _round_small_float(scaled, self.rounding, out=scaled)
            if self.overflow is Overflow.SAT:
                return np.clip(scaled, self.min_int, self.max_int, out=scaled)
            return apply_overflow(scaled, self)
        m = _as_int_array(arr, max(source.width, self.width) + abs(self.frac - source.frac) + 2)
        if shift > 0:
            m = round_shift(m, shift, self.rounding)
        elif shift < 0:
            m = m << (-shift)
        return apply_overflow(m, self)

    def check_mantissa(self, mantissa: Any) -> None:
        """Raise if any mantissa lies outside this type's range."""
        m = np.asarray(mantissa)
        if m.size and (np.min(m) < self.min_int or np.max(m) > self.max_int):
            raise ValueError(f"mantissa out of range [{self.min_int}, {self.max_int}] for {self}")

    # ------------------------------------------------------------- spellings
    def ac_fixed(self) -> str:
        sign = "true" if self.signed else "false"
        return f"ac_fixed<{self.width}, {self.integer}, {sign}, AC_{self.rounding.value}, AC_{self.overflow.value}>"

    def ap_fixed(self) -> str:
        name = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{name}<{self.width}, {self.integer}, AP_{self.rounding.value}, AP_{self.overflow.value}>"

    def verilog(self, name: str, kind: str = "wire") -> str:
        """A Verilog declaration holding the mantissa (the binary point is implicit)."""
        sign = "signed " if self.signed else ""
        return f"{kind} {sign}[{self.width - 1}:0] {name}"

    def short(self) -> str:
        """Compact spelling for reports: ``fixed<8,3>``, ``ufixed<6,0,RND,SAT>``."""
        base = "fixed" if self.signed else "ufixed"
        modes = ""
        if self.rounding is not Rounding.TRN or self.overflow is not Overflow.WRAP:
            modes = f",{self.rounding.value},{self.overflow.value}"
        return f"{base}<{self.width},{self.integer}{modes}>"

    def __str__(self) -> str:
        return self.short()

    @classmethod
    def parse(cls, text: str) -> FixedType:
        """Read ``ac_fixed<...>``, ``ap_fixed<...>``, ``ap_ufixed<...>``, ``fixed<...>``,
        ``ufixed<...>``, ``ac_int<W, S>``/``ap_int<W>``/``ap_uint<W>`` spellings.

        This is what config files use for precisions, as hls4ml users write them.
        """
        match = _SPELLING.fullmatch(text.strip())
        if not match:
            raise ValueError(
                f"cannot read fixed-point type {text!r}; write e.g. 'ac_fixed<16, 6, true, AC_RND, AC_SAT>', "
                "'ap_fixed<16,6,AP_RND,AP_SAT>', 'ap_ufixed<8,0>', 'fixed<8,3>' or 'ap_int<8>'"
            )
        name = match.group(1).lower()
        args = [a.strip() for a in match.group(2).split(",") if a.strip()]
        try:
            return _from_spelling(cls, name, args)
        except (ValueError, IndexError) as err:
            raise ValueError(f"cannot read fixed-point type {text!r}: {err}") from None


_SPELLING = re.compile(r"([A-Za-z_]+)\s*<([^<>]*)>")


def _parse_bool(text: str) -> bool:
    low = text.lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise ValueError(f"signedness must be true or false, got {text!r}")


def _from_spelling(cls: Any, name: str, args: list[str]) -> FixedType:
    if name in ("ac_int", "ap_int", "ap_uint", "int", "uint"):
        width = int(args[0])
        signed = name in ("ap_int", "int")
        if name == "ac_int":
            signed = _parse_bool(args[1]) if len(args) > 1 else True
        return cls(width, width, signed)
    if name == "ac_fixed":
        if len(args) < 2 or len(args) > 5:
            raise ValueError("ac_fixed takes 2 to 5 parameters: W, I, S, Q, O")
        signed = _parse_bool(args[2]) if len(args) > 2 else True
        rest = args[3:]
    elif name in ("ap_fixed", "ap_ufixed", "fixed", "ufixed"):
        if len(args) < 2 or len(args) > 5:
            raise ValueError(f"{name} takes 2 to 5 parameters: W, I, Q, O[, N]")
        signed = name in ("ap_fixed", "fixed")
        rest = args[2:4]
    else:
        raise ValueError(f"unknown type name {name!r}")
    rounding = Rounding.parse(rest[0]) if len(rest) > 0 else Rounding.TRN
    overflow = Overflow.parse(rest[1]) if len(rest) > 1 else Overflow.WRAP
    return cls(int(args[0]), int(args[1]), signed, rounding, overflow)


# ----------------------------------------------------------------- helpers
def _as_int_array(m: Any, bits_needed: int) -> np.ndarray:
    """An integer array that can hold ``bits_needed``-bit intermediates exactly."""
    arr = np.asarray(m)
    if arr.dtype == object:
        return arr
    if arr.dtype.kind not in "iu":
        raise TypeError(f"mantissas must be integers, got dtype {arr.dtype}")
    if bits_needed > _INT64_SAFE_BITS:
        return arr.astype(object)
    return arr.astype(np.int64)


def round_float(scaled: np.ndarray, rounding: Rounding) -> np.ndarray:
    """Round exact float64 values to integers (still float64) by ``rounding``, as the table says."""
    rounding = Rounding.parse(rounding)
    floor = np.floor(scaled)
    decided_by, picked, otherwise = _ROUNDING_TABLE[rounding]
    if picked == otherwise == "never":
        return floor
    # Compare with the midpoint in doubled units: ``scaled - floor`` is inexact
    # for -1 < scaled < 0, but doubling and odd integers below 2**53 are exact.
    twice = 2.0 * scaled
    mid = 2.0 * floor + 1.0

    def rounds_up(treatment: str) -> Any:
        if treatment == "never":
            return False
        if treatment == "nonzero":
            return scaled != floor
        return twice >= mid if treatment == "half" else twice > mid

    if decided_by is None:
        up = rounds_up(picked)
    else:
        fact = scaled < 0 if decided_by == "negative" else np.fmod(floor, 2) != 0
        up = np.where(fact, rounds_up(picked), rounds_up(otherwise))
    # From 2**52 up every float is an integer, but ``2 * floor + 1`` is no longer
    # representable and would fake a tie: such values never round.
    return floor + (up & (np.abs(scaled) < 2.0**52))


def _round_small_float(x: np.ndarray, rounding: Rounding, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`round_float` for values below 2**51 in magnitude, where ``x +- 0.5`` is exact.

    One or two vectorised operations per mode: this is the reference's hot loop.
    """
    if rounding is Rounding.RND_CONV:
        return np.rint(x, out=out)  # IEEE round-half-to-even
    if rounding is Rounding.TRN:
        return np.floor(x, out=out)
    if rounding is Rounding.TRN_ZERO:
        return np.trunc(x, out=out)
    if rounding is Rounding.RND:
        return np.floor(x + 0.5, out=out)
    if rounding is Rounding.RND_MIN_INF:
        return np.ceil(x - 0.5, out=out)
    if rounding is Rounding.RND_INF:
        return np.copysign(np.floor(np.abs(x) + 0.5), x, out=out)
    return np.copysign(np.ceil(np.abs(x) - 0.5), x, out=out)  # RND_ZERO


def _round_fraction(value: Fraction, rounding: Rounding) -> int:
    return int(round_divide(np.array([value.numerator], dtype=object), value.denominator, rounding)[0])


def round_shift(m: np.ndarray, shift: int, rounding: Rounding) -> np.ndarray:
    """Divide integer mantissas by ``2**shift`` and round by ``rounding``.

    Works on int64 and on object arrays of Python ints alike, which is what
    lets one code path serve every width.
    """
    if shift <= 0:
        return m << (-shift) if shift < 0 else m
    floor = m >> shift
    if rounding is Rounding.TRN:
        return floor
    return _round_quotient(m, floor, m - (floor << shift), 1 << shift, rounding)


def round_divide(num: np.ndarray, den: int, rounding: Rounding) -> np.ndarray:
    """``num / den`` for integer arrays and an integer ``den > 0``, rounded by ``rounding``.

    This is how an average over a pool whose size is not a power of two is
    brought onto a fixed-point grid exactly.
    """
    floor = num // den
    if rounding is Rounding.TRN:
        return floor
    return _round_quotient(num, floor, num - floor * den, den, rounding)


def _round_quotient(num: np.ndarray, floor: np.ndarray, rem: np.ndarray, den: int, rounding: Rounding) -> np.ndarray:
    """Round ``num / den`` given its floor and remainder (``0 <= rem < den``): up where
    ``rem + bias >= den`` for the table's bias."""
    table = rounding_bias(rounding, den)
    if table.decided_by is None:
        up = rem >= den - table.picked
    else:
        fact = (num < 0) if table.decided_by == "negative" else (floor % 2 != 0)
        up = np.where(fact, rem >= den - table.picked, rem >= den - table.otherwise)
    up = np.asarray(up, dtype=bool)
    return floor + (up.astype(np.int64) if floor.dtype != object else up.astype(int).astype(object))


def apply_overflow(m: np.ndarray, t: FixedType) -> np.ndarray:
    """Bring integer mantissas into ``t``'s range by its overflow mode (:func:`overflow_rule`)."""
    m = np.asarray(m)
    rule = overflow_rule(t)
    if rule.wraps:
        span = 1 << t.width
        wrapped = (m - rule.low) % span + rule.low
        return wrapped
    if rule.saturates and m.dtype.kind == "f":
        return np.clip(m, rule.low, rule.high)
    return np.where(m > rule.high, rule.above, np.where(m < rule.low, rule.below, m)).astype(m.dtype)


def saturate(m: np.ndarray, t: FixedType) -> np.ndarray:
    """Integer mantissas clipped to ``t``'s range, whatever ``t``'s own overflow mode (``AC_SAT``)."""
    return apply_overflow(m, t.replace(overflow=Overflow.SAT))
