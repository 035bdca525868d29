"""QKeras' unquantized piecewise-linear activations, as registered quantizer-like objects.

In QKeras ``hard_sigmoid``, ``hard_tanh``, ``smooth_sigmoid`` and
``smooth_tanh`` are plain functions that models name as activations
(``QActivation("hard_sigmoid")``).  Here they are classes with no-argument
constructors so that both ``"hard_sigmoid"`` and ``"hard_sigmoid()"`` read
back through :func:`~fpgaq.quantizers.get_quantizer`, and so that a layer
keeps them as objects that answer ``hardware()``: their output is continuous,
so they refuse, rather than let a default precision hide that choice.

QKeras' "hard" sigmoid is ``clip(x/2 + 1/2, 0, 1)``, not Keras'
``relu6(x + 3) / 6``.  Its slope is a power of two, so for an input with
``F`` fractional bits it is a shift, an add of 1/2 and a clip, exact in
``ufixed<F + 2, 1>``; ``hard_tanh`` is exactly ``clip(x, -1, 1)``, exact in
``fixed<F + 2, 2>``.  The "smooth" sigmoid has slope ``3/16 = 2**-3 + 2**-4``
(two shifts and an add), exact in ``ufixed<F + 5, 1>``, and ``smooth_tanh``
in ``fixed<F + 5, 2>``.

The Keras functions compute in the input's float precision, as QKeras does,
so in float32 ``x/2 + 1/2`` drops the input's bits below ``2**-23``: e.g.
``hard_tanh(1e-10)`` is 0, not ``1e-10``.  :data:`NONLINEARITIES` holds the
exact mathematical functions in float64 NumPy, for building tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from keras import ops

from fpgaq.hwtypes import HardwareType
from fpgaq.quantizers.base import BaseQuantizer, FunctionForm, register_quantizer

__all__ = [
    "NONLINEARITIES",
    "float_hard_sigmoid",
    "float_smooth_sigmoid",
    "hard_sigmoid",
    "hard_tanh",
    "internal_sigmoid",
    "internal_sigmoid_mode",
    "set_internal_sigmoid",
    "smooth_sigmoid",
    "smooth_tanh",
]

#: Slope of QKeras' smooth sigmoid: 3/16, two shifts and an add in hardware.
SMOOTH_SLOPE = 0.1875


def float_hard_sigmoid(x: Any) -> Any:
    """QKeras' hard sigmoid on Keras tensors, in the input's float precision."""
    return ops.clip(0.5 * x + 0.5, 0.0, 1.0)


def float_smooth_sigmoid(x: Any) -> Any:
    """QKeras' smooth sigmoid on Keras tensors, in the input's float precision."""
    return ops.clip(SMOOTH_SLOPE * x + 0.5, 0.0, 1.0)


_SIGMOID_MODES = ("hard", "smooth", "real")
_internal_sigmoid = ["hard"]


def set_internal_sigmoid(mode: str) -> None:
    """QKeras' global choice of the sigmoid inside ``quantized_relu(use_sigmoid=1)``, ``quantized_ulaw``
    and the stochastic quantizers: ``'hard'`` (QKeras' default), ``'smooth'`` or ``'real'``.

    Only ``'hard'`` maps to hardware: the others make those quantizers' ``hardware()`` refuse.
    """
    if mode not in _SIGMOID_MODES:
        raise ValueError(f"set_internal_sigmoid: mode={mode!r} is not supported; use 'hard', 'smooth' or 'real'")
    _internal_sigmoid[0] = mode


def internal_sigmoid_mode() -> str:
    return _internal_sigmoid[0]


def internal_sigmoid(x: Any) -> Any:
    """The sigmoid chosen by :func:`set_internal_sigmoid`, in the input's float precision."""
    mode = _internal_sigmoid[0]
    if mode == "hard":
        return float_hard_sigmoid(x)
    if mode == "smooth":
        return float_smooth_sigmoid(x)
    return ops.sigmoid(x)


def _np_sigmoid(x: np.ndarray) -> np.ndarray:
    # Split by sign so that exp never overflows.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _f64(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Any], np.ndarray]:
    return lambda x: fn(np.asarray(x, dtype=np.float64))


#: The exact float functions named by ``nonlinearity``, in float64 NumPy.
#: ``FixedType.quantize(NONLINEARITIES[q.nonlinearity](x))`` is what a table
#: for a quantized tanh or sigmoid holds.
NONLINEARITIES: dict[str, Callable[[Any], np.ndarray]] = {
    "tanh": _f64(np.tanh),
    "sigmoid": _f64(_np_sigmoid),
    "hard_sigmoid": _f64(lambda x: np.clip(0.5 * x + 0.5, 0.0, 1.0)),
    "hard_tanh": _f64(lambda x: np.clip(x, -1.0, 1.0)),
    "smooth_sigmoid": _f64(lambda x: np.clip(SMOOTH_SLOPE * x + 0.5, 0.0, 1.0)),
    "smooth_tanh": _f64(lambda x: 2.0 * np.clip(SMOOTH_SLOPE * x + 0.5, 0.0, 1.0) - 1.0),
}


class _FloatActivation(FunctionForm, BaseQuantizer):
    """An unquantized activation: no parameters, no output grid."""

    #: What to use instead when a fixed-point output is needed (ends error messages).
    advice: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    low: ClassVar[float] = 0.0
    high: ClassVar[float] = 1.0

    def __init__(self) -> None:
        self.bits = 0

    def get_config(self) -> dict[str, Any]:
        return {}

    def __str__(self) -> str:
        # The bare name is what QKeras models store; it also reads back here.
        return self.name

    def hardware(self, x: Any = None) -> HardwareType:
        raise ValueError(
            f"{self.name} is an unquantized float function ({self.formula}), so its output has no "
            f"fixed-point type; {self.advice}"
        )

    def max(self) -> float:
        return self.high

    def min(self) -> float:
        return self.low


@register_quantizer
class hard_sigmoid(_FloatActivation):
    """``clip(x/2 + 1/2, 0, 1)``; the sigmoid inside QKeras' quantized sigmoid and tanh."""

    name = "hard_sigmoid"
    nonlinearity = "hard_sigmoid"
    formula = "clip(0.5*x + 0.5, 0, 1)"
    advice = "use quantized_sigmoid(bits) instead, which applies this same hard sigmoid and then rounds to bits bits"

    def __call__(self, x: Any) -> Any:
        return float_hard_sigmoid(x)


@register_quantizer
class hard_tanh(_FloatActivation):
    """``2 * hard_sigmoid(x) - 1``, i.e. ``clip(x, -1, 1)`` up to float rounding."""

    name = "hard_tanh"
    nonlinearity = "hard_tanh"
    formula = "2*clip(0.5*x + 0.5, 0, 1) - 1"
    advice = "use quantized_tanh(bits) instead, which applies this same hard tanh and then rounds to bits bits"
    low = -1.0

    def __call__(self, x: Any) -> Any:
        return 2.0 * float_hard_sigmoid(x) - 1.0


@register_quantizer
class smooth_sigmoid(_FloatActivation):
    """``clip(0.1875*x + 1/2, 0, 1)``: closer to the real sigmoid, still shift-and-add."""

    name = "smooth_sigmoid"
    nonlinearity = "smooth_sigmoid"
    formula = "clip(0.1875*x + 0.5, 0, 1)"
    advice = (
        "QKeras has no quantized smooth sigmoid: use quantized_sigmoid(bits) (the hard sigmoid, slope 0.5, "
        "then rounding) or follow this activation with a quantizer such as quantized_bits"
    )

    def __call__(self, x: Any) -> Any:
        return float_smooth_sigmoid(x)


@register_quantizer
class smooth_tanh(_FloatActivation):
    """``2 * smooth_sigmoid(x) - 1``."""

    name = "smooth_tanh"
    nonlinearity = "smooth_tanh"
    formula = "2*clip(0.1875*x + 0.5, 0, 1) - 1"
    advice = (
        "QKeras has no quantized smooth tanh: use quantized_tanh(bits) (the hard tanh, slope 1, "
        "then rounding) or follow this activation with a quantizer such as quantized_bits"
    )
    low = -1.0

    def __call__(self, x: Any) -> Any:
        return 2.0 * float_smooth_sigmoid(x) - 1.0
