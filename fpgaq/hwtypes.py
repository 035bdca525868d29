"""What a quantizer's output *is* in hardware.

Every quantizer answers ``hardware()`` with one of these descriptors, so the
IR never infers a type from float behaviour.  A plain fixed-point grid is a
:class:`~fpgaq.fixed.FixedType`; the others describe value sets that hardware
implements without multipliers (powers of two, binary, ternary), a fixed
grid times per-channel scales, or a finite set of arbitrary levels.
"""

from __future__ import annotations

import dataclasses
from typing import Union

import numpy as np

from fpgaq.fixed import FixedType

__all__ = ["BinaryType", "ElementTypes", "HardwareType", "LevelsType", "Po2Type", "ScaledType", "TernaryType"]


@dataclasses.dataclass(frozen=True)
class Po2Type:
    """Values ``±2**e`` (or ``+2**e`` when unsigned) for ``min_exp <= e <= max_exp``.

    ``bits`` is the width of the stored code (sign + exponent).  Zero is not a
    value unless ``has_zero``: QKeras' po2 quantizers never output 0.
    """

    bits: int
    signed: bool
    min_exp: int
    max_exp: int
    has_zero: bool = False

    def values(self) -> np.ndarray:
        mags = np.ldexp(1.0, np.arange(self.min_exp, self.max_exp + 1))
        vals = np.concatenate([-mags[::-1], mags]) if self.signed else mags
        if self.has_zero:
            vals = np.sort(np.append(vals, 0.0))
        return vals


@dataclasses.dataclass(frozen=True)
class BinaryType:
    """Two values: ``{-scale, +scale}``, or ``{0, scale}`` when ``use_01``.

    ``scale`` is a scalar, or one value per output channel (last axis) when the
    quantizer learned per-channel scales from the data.
    """

    scale: float | tuple[float, ...] = 1.0
    use_01: bool = False

    @property
    def bits(self) -> int:
        return 1


@dataclasses.dataclass(frozen=True)
class TernaryType:
    """Three values ``{-scale, 0, +scale}``; scalar or per-channel ``scale``."""

    scale: float | tuple[float, ...] = 1.0

    @property
    def bits(self) -> int:
        return 2


@dataclasses.dataclass(frozen=True)
class ScaledType:
    """A fixed-point grid times a per-channel scale along the last axis.

    With ``po2`` every scale is a power of two, so hardware applies it as an
    exact shift (``exponents`` holds them); otherwise the scale is an
    arbitrary float and needs a multiplier or a requantization step.
    """

    base: FixedType
    scale: tuple[float, ...]
    po2: bool

    @property
    def exponents(self) -> tuple[int, ...]:
        if not self.po2:
            raise ValueError("scales are not powers of two; no exponents")
        return tuple(int(np.log2(s)) for s in self.scale)

    @property
    def bits(self) -> int:
        return self.base.width


@dataclasses.dataclass(frozen=True)
class LevelsType:
    """A finite, arbitrary set of output levels (e.g. u-law), coded in ``bits`` bits."""

    bits: int
    levels: tuple[float, ...]


@dataclasses.dataclass(frozen=True, eq=False)
class ElementTypes:
    """Every element of a tensor on its own fixed-point grid and range: learned precision.

    Element ``e`` holds ``m * 2**-frac[e]`` with the integer mantissa ``lo[e] <= m <= hi[e]``;
    a value is placed there by ``rounding`` (a :class:`~fpgaq.fixed.Rounding` name) at its own
    ``frac[e]`` and then ``overflow`` (``SAT``: clipped to the bounds; ``WRAP``: the bounds are a
    whole two's complement or unsigned range and high bits are dropped).  An element whose
    range is ``[0, 0]`` is the constant zero: it costs nothing in hardware.  The arrays have
    the tensor's per-sample shape (weights: the variable's shape), so hardware can give each
    element exactly its own width; :meth:`container` is the one type that holds them all,
    for back ends that keep one type per tensor.
    """

    frac: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    rounding: str = "RND"
    overflow: str = "SAT"

    def __post_init__(self) -> None:
        frac, lo, hi = (np.asarray(a, dtype=np.int64) for a in (self.frac, self.lo, self.hi))
        frac, lo, hi = np.broadcast_arrays(frac, lo, hi)
        if np.any(lo > hi):
            raise ValueError("ElementTypes: some element has lo > hi")
        if np.any(lo > 0) or np.any(hi < 0):
            raise ValueError("ElementTypes: every element's range must contain zero")
        for name, value in (("frac", frac), ("lo", lo), ("hi", hi)):
            object.__setattr__(self, name, np.array(value, dtype=np.int64))
        if self.overflow not in ("SAT", "WRAP"):
            raise ValueError(f"ElementTypes: overflow {self.overflow!r}; use 'SAT' or 'WRAP'")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.frac.shape)

    @property
    def signed(self) -> np.ndarray:
        return self.lo < 0

    @property
    def width(self) -> np.ndarray:
        """Bits of each element (0 for a constant-zero element)."""
        neg = np.maximum(-self.lo - 1, 0)
        mag = np.maximum(self.hi, neg)
        bits = np.ceil(np.log2(mag.astype(np.float64) + 1.0)).astype(np.int64)
        # float log2 is exact enough below 2**52; correct its rare off-by-one at powers of two
        bits = np.where((mag >> np.maximum(bits, 0)) > 0, bits + 1, bits)
        return np.where((self.lo == 0) & (self.hi == 0), 0, bits + (self.lo < 0))

    @property
    def bits(self) -> int:
        """The widest element (the width of a stored code)."""
        return int(self.width.max(initial=0))

    def container(self) -> FixedType:
        """The narrowest :class:`FixedType` holding every element's every value exactly."""
        live = ~((self.lo == 0) & (self.hi == 0))
        if not np.any(live):
            return FixedType(1, 1, False, self.rounding, self.overflow)
        frac = int(self.frac[live].max())
        shift = frac - self.frac[live]
        lo = min(int(v) << int(s) for v, s in zip(self.lo[live], shift))
        hi = max(int(v) << int(s) for v, s in zip(self.hi[live], shift))
        signed = lo < 0
        width = max((-lo - 1).bit_length(), hi.bit_length()) + 1 if signed else max(hi.bit_length(), 1)
        return FixedType(width, width - frac, signed, self.rounding, self.overflow)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ElementTypes)
            and (self.rounding, self.overflow) == (other.rounding, other.overflow)
            and all(np.array_equal(getattr(self, k), getattr(other, k)) for k in ("frac", "lo", "hi"))
        )

    __hash__ = None  # type: ignore[assignment]


HardwareType = Union[FixedType, Po2Type, BinaryType, TernaryType, ScaledType, LevelsType, ElementTypes]  # noqa: UP007 (runtime alias)
