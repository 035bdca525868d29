"""Exact quantized weights from a layer's float variables and its quantizer.

The quantizer itself (through Keras, float32) produces the values the
trained model uses, so the IR's constants are the model's constants; the
fixed-point type comes from the quantizer's hardware declaration when it is
a plain grid, or is fitted exactly to the values otherwise.
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np

from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Weight
from fpgaq.quantizers import BaseQuantizer

__all__ = ["UnquantizedWarning", "fit_type", "quantize_weight"]

_MAX_FRAC = 80
_MAX_WIDTH = 32  # a constant needing more bits than this came from a float scale, not a quantizer


class UnquantizedWarning(UserWarning):
    """A layer's tensor had no quantizer and got the config's default precision."""


def fit_type(values: np.ndarray, what: str) -> FixedType:
    """The narrowest FixedType holding every (dyadic) value exactly."""
    v = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{what}: values contain NaN or infinity")
    nonzero = v[v != 0]
    if nonzero.size == 0:
        return FixedType(1, 1, False)
    frac = None
    for f in range(-64, _MAX_FRAC + 1):
        scaled = np.ldexp(nonzero, f)
        if np.all(scaled == np.round(scaled)):
            frac = f
            break
    if frac is not None and np.max(np.abs(np.ldexp(nonzero, frac))) >= 2.0**_MAX_WIDTH:
        frac = None  # on a grid, but only a float's: e.g. 0.1 needs 55 bits
    if frac is None:
        raise ValueError(
            f"{what}: the values are not on a binary grid of at most {_MAX_WIDTH} bits (a float scale such as "
            "alpha='auto'?); hardware needs power-of-two scales: use alpha=1 or alpha='auto_po2'"
        )
    m = np.ldexp(v, frac)
    signed = bool(np.any(m < 0))
    hi = max(int(np.max(m)), 0)
    if not signed:
        bits = max(hi.bit_length(), 1)
        return FixedType(bits, bits - frac, False)
    lo = int(-np.min(m))  # > 0
    bits = max(hi.bit_length(), (lo - 1).bit_length()) + 1
    return FixedType(bits, bits - frac, True)


def quantize_weight(
    variable: Any, quantizer: BaseQuantizer | None, default: FixedType, what: str, layer_name: str
) -> Weight:
    """Quantize a float variable as the layer does at inference, and type it."""
    values = np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float32)
    if quantizer is None:
        warnings.warn(
            f"layer {layer_name!r}: {what} has no quantizer; using the config's default precision "
            f"{default.ap_fixed()} (set a quantizer, or Precision.{what} for this layer in the config)",
            UnquantizedWarning,
            stacklevel=3,
        )
        q = default.replace(rounding="RND_CONV", overflow="SAT")
        exact = q.quantize(values.astype(np.float64))
        return Weight(exact, q, None, None)
    qv = keras.ops.convert_to_numpy(quantizer(keras.ops.convert_to_tensor(values)))
    exact = np.asarray(qv, dtype=np.float64)
    try:
        hw = quantizer.hardware(values)
    except (ValueError, NotImplementedError) as err:
        raise ValueError(f"layer {layer_name!r}: {what} quantizer {quantizer}: {err}") from None
    if isinstance(hw, FixedType):
        held = hw.from_int(hw.to_int(exact)) if hw.width <= 53 else exact
        if not np.array_equal(held, exact):
            raise ValueError(
                f"layer {layer_name!r}: {what} quantizer {quantizer} produced values outside its declared "
                f"type {hw.ac_fixed()}; this is a bug in the quantizer's hardware() declaration"
            )
        return Weight(exact, hw.replace(rounding="TRN", overflow="WRAP"), None, str(quantizer))
    return Weight(exact, fit_type(exact, f"layer {layer_name!r} {what}"), hw, str(quantizer))
