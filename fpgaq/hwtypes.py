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

__all__ = ["BinaryType", "HardwareType", "LevelsType", "Po2Type", "ScaledType", "TernaryType"]


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


HardwareType = Union[FixedType, Po2Type, BinaryType, TernaryType, ScaledType, LevelsType]  # noqa: UP007 (runtime alias)
