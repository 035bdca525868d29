"""Larq's quantizers on Keras 3: ``ste_sign``, ``approx_sign``, ``swish_sign``,
``magnitude_aware_sign``, ``ste_tern``, ``ste_heaviside`` and ``dorefa_quantizer``.

Binarized networks trained with Larq (tf.keras 2) import onto fpgaq's layers
with these (see :mod:`fpgaq.larq_import`).  The forward values are Larq's,
computed with the same float32 operations in the same order, so a model
imported from Larq predicts what Larq predicted; the gradients are Larq's
pseudo-gradients, so the imported model fine-tunes as it trained.  Facts of
Larq 0.14 that matter in hardware:

* every sign maps 0 (and -0) to +1; ``ste_heaviside`` maps 0 to 0;
* ``ste_tern`` gives ``sign(x)`` where ``|x| >= threshold`` (the threshold
  itself is in), else 0; with ``ternary_weight_networks`` the threshold is
  ``0.7 * mean(|x|)`` of the whole tensor, so only weights can use it;
* ``magnitude_aware_sign`` scales each output channel (last axis) by the
  float32 mean of its magnitudes: a data-dependent scale, fine for weights
  (exact float32 constants) but not for activations;
* ``dorefa_quantizer`` outputs ``round(x n) / n``, ``n = 2**k - 1``, in float32
  (ties to even; the division is a multiplication by ``float32(1/n)`` in
  Larq's compiled graph): levels that are not on a power-of-two grid.  In hardware
  they are a step function of the input with exact thresholds, whose levels
  are those float32 constants (see :mod:`fpgaq.ir.ops.larq`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from fpgaq.hwtypes import BinaryType, LevelsType, TernaryType
from fpgaq.quantizers import _common as c
from fpgaq.quantizers.base import BaseQuantizer, register_quantizer

__all__ = [
    "LARQ_QUANTIZERS",
    "approx_sign",
    "dorefa_levels",
    "dorefa_quantizer",
    "magnitude_aware_sign",
    "ste_heaviside",
    "ste_sign",
    "ste_tern",
    "swish_sign",
]


def _with_gradient(forward: Any, surrogate: Any) -> Any:
    """``forward``'s value with ``surrogate``'s gradient (exact: the correction is ``g - g = 0``)."""
    return ops.stop_gradient(forward) + (surrogate - ops.stop_gradient(surrogate))


def _clipped(x: Any, clip_value: float | None) -> Any:
    """A surrogate whose gradient is 1 where ``|x| <= clip_value`` and 0 elsewhere (Larq's clipped STE)."""
    return x if clip_value is None else ops.clip(x, -clip_value, clip_value)


def _sign(x: Any) -> Any:
    """Larq's ``sign``: +1 from zero up (including -0), -1 below."""
    return ops.where(x >= 0, 1.0, -1.0)


class _LarqQuantizer(BaseQuantizer):
    """Shared string form: Larq's arguments, defaults left out."""

    _defaults: tuple[tuple[str, Any], ...] = ()

    def get_config(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key, _ in self._defaults}

    def __str__(self) -> str:
        return c.call_string(self.name, [(key, getattr(self, key), default) for key, default in self._defaults])

    def max(self) -> float:
        return 1.0

    def min(self) -> float:
        return -1.0


class _Sign(_LarqQuantizer):
    bits = 1

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x = c.as_float(x)
        return _with_gradient(_sign(x), self._surrogate(x))

    def _surrogate(self, x: Any) -> Any:
        raise NotImplementedError

    def hardware(self, x: Any = None) -> BinaryType:
        return BinaryType(scale=1.0, use_01=False)


@register_quantizer
class ste_sign(_Sign):
    """-1 below zero, +1 from zero up; gradient 1 where ``|x| <= clip_value`` (all of it when None)."""

    name = "ste_sign"
    _defaults = (("clip_value", 1.0),)

    def __init__(self, clip_value: float | None = 1.0) -> None:
        self.clip_value = clip_value

    def _surrogate(self, x: Any) -> Any:
        return _clipped(x, self.clip_value)


@register_quantizer
class approx_sign(_Sign):
    """The sign, with Bi-Real Net's gradient ``2 - 2|x|`` on ``[-1, 1]``, 0 outside."""

    name = "approx_sign"

    def _surrogate(self, x: Any) -> Any:
        xc = ops.clip(x, -1.0, 1.0)
        return 2.0 * xc - xc * ops.abs(xc)

    def __str__(self) -> str:
        return self.name


@register_quantizer
class swish_sign(_Sign):
    """The sign, with BNN+'s SignSwish gradient of slope ``beta``."""

    name = "swish_sign"
    _defaults = (("beta", 5.0),)

    def __init__(self, beta: float = 5.0) -> None:
        self.beta = beta

    def _surrogate(self, x: Any) -> Any:
        bx = self.beta * x
        s = ops.sigmoid(bx)
        return 2.0 * s * (1.0 + bx * (1.0 - s)) - 1.0


@register_quantizer
class magnitude_aware_sign(_LarqQuantizer):
    """``mean(|x|) * sign(x)`` per output channel (last axis), the scale taken without gradient.

    Bi-Real Net's weight binarization: each channel's scale is a float32
    constant of the trained weights, so ``hardware(kernel)`` reports it.
    """

    name = "magnitude_aware_sign"
    bits = 1
    _defaults = (("clip_value", 1.0),)

    def __init__(self, clip_value: float | None = 1.0) -> None:
        self.clip_value = clip_value

    def _scale(self, x: Any) -> Any:
        return ops.mean(ops.abs(x), axis=tuple(range(len(x.shape) - 1)))

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x = c.as_float(x)
        scale = ops.stop_gradient(self._scale(x))
        return scale * _with_gradient(_sign(x), _clipped(x, self.clip_value))

    def hardware(self, x: Any = None) -> BinaryType:
        if x is None:
            raise ValueError(
                f"{self}: the scale is the mean magnitude of each channel of the tensor it quantizes; call "
                "hardware(x) with that tensor (the layer's kernel)"
            )
        return BinaryType(scale=c.to_scale_value(self._scale(c.as_float(x))), use_01=False)


@register_quantizer
class ste_tern(_LarqQuantizer):
    """``sign(x)`` where ``|x| >= threshold``, else 0; clipped straight-through gradient.

    ``threshold`` is ``threshold_value``, or with ``ternary_weight_networks``
    ``0.7 * sum(|x|) / size(x)`` over the whole tensor, in float32 as Larq.
    """

    name = "ste_tern"
    bits = 2
    _defaults = (("threshold_value", 0.05), ("ternary_weight_networks", False), ("clip_value", 1.0))

    def __init__(
        self, threshold_value: float = 0.05, ternary_weight_networks: bool = False, clip_value: float | None = 1.0
    ) -> None:
        self.threshold_value = threshold_value
        self.ternary_weight_networks = bool(ternary_weight_networks)
        self.clip_value = clip_value

    def threshold(self, x: Any) -> Any:
        if self.ternary_weight_networks:
            size = ops.cast(ops.size(x), x.dtype)
            return 0.7 * ops.sum(ops.abs(x)) / size
        return ops.cast(self.threshold_value, x.dtype)

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x = c.as_float(x)
        t = self.threshold(ops.stop_gradient(x))
        q = ops.sign(ops.sign(x + t) + ops.sign(x - t))
        return _with_gradient(q, _clipped(x, self.clip_value))

    def hardware(self, x: Any = None) -> TernaryType:
        return TernaryType(scale=1.0)


@register_quantizer
class ste_heaviside(_LarqQuantizer):
    """1 above zero, 0 at and below zero; clipped straight-through gradient."""

    name = "ste_heaviside"
    bits = 1
    _defaults = (("clip_value", 1.0),)

    def __init__(self, clip_value: float | None = 1.0) -> None:
        self.clip_value = clip_value

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x = c.as_float(x)
        return _with_gradient(ops.where(x > 0, 1.0, 0.0), _clipped(x, self.clip_value))

    def hardware(self, x: Any = None) -> BinaryType:
        return BinaryType(scale=1.0, use_01=True)

    def min(self) -> float:
        return 0.0


def dorefa_levels(k_bit: int, mode: str) -> tuple[float, ...]:
    """The float32 values DoReFa outputs: ``j (1/n)`` (activations) or ``2 j (1/n) - 1`` (weights), ``n = 2**k - 1``."""
    levels = np.arange(2**k_bit, dtype=np.float32) * _reciprocal(k_bit)
    if mode == "weights":
        levels = np.float32(2.0) * levels - np.float32(1.0)
    return tuple(float(v) for v in levels)


def _reciprocal(k_bit: int) -> np.float32:
    """``float32(1 / n)``: Larq writes ``round(x n) / n``, and TensorFlow's graph optimizer turns the division by
    the constant into a multiplication by its float32 reciprocal, so that is what ``model.predict`` computes
    (``3 / 7`` comes out one ulp above the correctly rounded quotient).  fpgaq multiplies explicitly, the same in
    eager and graph mode."""
    return np.float32(1.0) / np.float32(2**k_bit - 1)


@register_quantizer
class dorefa_quantizer(_LarqQuantizer):
    """DoReFa-Net's k-bit quantizer, with an identity gradient through the rounding.

    ``mode="activations"``: ``round(clip(x, 0, 1) n) / n``.  ``mode="weights"``:
    ``w = tanh(x) / (2 max|tanh(x)|) + 1/2`` (0 where the max is 0), then
    ``2 round(w n) / n - 1``.  ``n = 2**k_bit - 1``; rounding is half to even; ``/ n`` is a multiplication
    by ``float32(1/n)`` as in Larq's compiled graph (see :func:`_reciprocal`).
    """

    name = "dorefa_quantizer"
    _defaults = (("k_bit", 2), ("mode", "activations"))

    def __init__(self, k_bit: int = 2, mode: str = "activations") -> None:
        if mode not in ("activations", "weights"):
            raise ValueError(f"dorefa_quantizer: mode={mode!r} is not supported; use 'activations' or 'weights'")
        if int(k_bit) != k_bit or not 1 <= int(k_bit) <= 16:
            raise ValueError(f"dorefa_quantizer: k_bit={k_bit!r} must be an integer from 1 to 16")
        self.k_bit = int(k_bit)
        self.mode = mode

    @property
    def bits(self) -> int:  # type: ignore[override]
        return self.k_bit

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x = c.as_float(x)
        if self.mode == "activations":
            y = ops.clip(x, 0.0, 1.0)
        else:
            limited = ops.tanh(x)
            peak = 2.0 * ops.stop_gradient(ops.max(ops.abs(limited)))
            y = ops.where(peak == 0, 0.0, limited / ops.where(peak == 0, 1.0, peak)) + 0.5
        n = float(2**self.k_bit - 1)
        q = _with_gradient(ops.round(y * n) * float(_reciprocal(self.k_bit)), y)
        return 2.0 * q - 1.0 if self.mode == "weights" else q

    def hardware(self, x: Any = None) -> LevelsType:
        return LevelsType(self.k_bit, dorefa_levels(self.k_bit, self.mode))

    def min(self) -> float:
        return -1.0 if self.mode == "weights" else 0.0


#: The registry names of Larq's quantizers (the rest of the registry is QKeras').
LARQ_QUANTIZERS = frozenset(
    q.name for q in (approx_sign, dorefa_quantizer, magnitude_aware_sign, ste_heaviside, ste_sign, ste_tern, swish_sign)
)
