"""Two-level quantizers: QKeras' ``binary``, ``stochastic_binary``,
``bernoulli`` and ``binary_tanh``.

A binary weight turns a multiply into an add or subtract, a ``{0, 1}`` one
into a gate.  The scale ``alpha`` is 1, a number, one number per output
channel, or learned from the tensor ('auto': least squares; 'auto_po2': that,
rounded to a power of two), per output channel (last axis) or, for a 1-D
tensor, per element, as in QKeras.  ``hardware(x)`` needs the tensor for the
learned scales.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from fpgaq.hwtypes import BinaryType
from fpgaq.quantizers import _common as c
from fpgaq.quantizers.base import BaseQuantizer, FunctionForm, register_quantizer, straight_through

__all__ = ["bernoulli", "binary", "binary_sigmoid", "binary_tanh", "stochastic_binary"]


class _ScaledBinary(c.RebuildFromConfig, BaseQuantizer):
    """The scale handling ``binary``, ``stochastic_binary`` and ``bernoulli`` share."""

    bits = 1
    alpha: Any
    use_01: bool

    scale_axis: Any = None
    min_po2_exponent: int | None = None
    max_po2_exponent: int | None = None

    def _scale(self, x: Any, q: Any) -> Any:
        if not isinstance(self.alpha, str):
            return c.fixed_scale_for(self, self.alpha, x)
        if self.scale_axis is None and self.min_po2_exponent is None and self.max_po2_exponent is None:
            return c.least_squares_scale(self.alpha, x, q)
        # QKeras' newer options: scales along scale_axis, po2 exponents clipped
        if len(x.shape) > 1:
            axes = c.reduction_axes(self.scale_axis, len(x.shape))
            qx = ops.mean(x * q, axis=axes, keepdims=True)
            qq = ops.mean(q * q, axis=axes, keepdims=True)
        else:
            qx, qq = x * q, q * q
        scale = qx / (qq + c.EPSILON)
        if self.alpha == "auto_po2":
            scale = c.round_po2(scale)
            lo = -np.inf if self.min_po2_exponent is None else 2.0**self.min_po2_exponent
            hi = np.inf if self.max_po2_exponent is None else 2.0**self.max_po2_exponent
            scale = ops.clip(scale, np.float32(lo), np.float32(hi))
        return scale

    def _levels(self, x: Any) -> Any:
        """The deterministic code of each element: +1 from zero up, else -1 (or 0)."""
        k = c.sign_no_zero(x)
        return (k + 1.0) / 2.0 if self.use_01 else k

    def hardware(self, x: Any = None) -> BinaryType:
        """``{-s, +s}`` or ``{0, s}``; ``s`` is a float, not always a power of
        two (check before treating it as a shift), one per channel when learned."""
        if not isinstance(self.alpha, str):
            return BinaryType(scale=c.fixed_scale_value(self.alpha), use_01=self.use_01)
        if x is None:
            raise ValueError(
                f"{self}: alpha={self.alpha!r} learns its scale from the tensor it quantizes; "
                "call hardware(x) with that tensor (e.g. the layer's kernel)"
            )
        x = ops.convert_to_tensor(x, dtype="float32")
        if self.scale_axis is not None and self.scale_axis not in (len(x.shape) - 1, [len(x.shape) - 1]):
            raise ValueError(
                f"{self}: scale_axis={self.scale_axis!r} gives one scale per index of axis {self.scale_axis}; "
                f"fpgaq's BinaryType holds scales along the last axis ({len(x.shape) - 1}) only; use "
                "scale_axis=None"
            )
        scale = self._scale(x, self._levels(x))
        return BinaryType(scale=c.to_scale_value(scale), use_01=self.use_01)

    def max(self) -> float:
        """QKeras' bound: 1, or ``max(1, alpha)`` for a numeric alpha."""
        return c.alpha_extent(self.alpha)

    def min(self) -> float:
        return 0.0 if self.use_01 else -c.alpha_extent(self.alpha)


def _std_or_one(alpha: Any, x: Any) -> Any:
    """QKeras normalises the sampling temperature by the channel's spread
    only when the scale is learned."""
    return c.std_per_channel(x) + c.EPSILON if isinstance(alpha, str) else 1.0


def _probability(x: Any, temperature: float, use_real_sigmoid: bool, spread: Any) -> Any:
    z = temperature * x / spread
    return ops.sigmoid(z) if use_real_sigmoid else c.hard_sigmoid(z)


@register_quantizer
class binary(_ScaledBinary):
    """``+alpha`` for ``x >= 0``, ``-alpha`` below (``{0, alpha}`` with
    ``use_01``).

    Gradient: straight through ``tanh(x)`` when ``alpha`` is None (QKeras'
    smooth stand-in for the sign), the identity otherwise.  With
    ``use_stochastic_rounding`` the input is first rounded stochastically to
    an eighth of twice its channel's largest magnitude (capped at 1) and
    exact zeros take a random sign, but only while training; at inference
    the result is the deterministic one.  ``seed`` makes the sampling
    reproducible.
    """

    name = "binary"

    def __init__(
        self,
        use_01: bool = False,
        alpha: Any = None,
        use_stochastic_rounding: bool = False,
        *,
        seed: int | None = None,
        scale_axis: Any = None,
        min_po2_exponent: int | None = None,
        max_po2_exponent: int | None = None,
    ) -> None:
        self.use_01 = bool(use_01)
        self.alpha = c.check_alpha(self.name, alpha)
        self.scale_axis = scale_axis
        self.min_po2_exponent = min_po2_exponent
        self.max_po2_exponent = max_po2_exponent
        for key in ("min_po2_exponent", "max_po2_exponent"):
            if getattr(self, key) is not None and self.alpha != "auto_po2":
                raise ValueError(f"binary: {key}={getattr(self, key)!r} is only supported with alpha='auto_po2'")
        self.use_stochastic_rounding = bool(use_stochastic_rounding)
        self.seed = seed
        self._seed_generator = c.seed_generator(seed) if self.use_stochastic_rounding else None

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x = c.as_float(x)
        if self.use_stochastic_rounding and c.in_training(training):
            x = self._dither(x)
            k = self._random_sign_at_zero(ops.stop_gradient(x))
        else:
            k = c.sign_no_zero(ops.stop_gradient(x))
        if self.use_01:
            k = (k + 1.0) / 2.0
        scale = self._scale(ops.stop_gradient(x), k)
        return straight_through(ops.tanh(x) if self.alpha is None else x, scale * k)

    def _dither(self, x: Any) -> Any:
        """Stochastic rounding to 1/8 of ``f = 2 min(1, max|x|)`` per channel,
        straight through.  A channel of zeros (f = 0, where QKeras divides
        0 by 0) is left alone."""
        axes = c.channel_axes(len(x.shape))
        f = 2.0 * ops.minimum(ops.max(ops.abs(ops.stop_gradient(x)), axis=axes, keepdims=True), 1.0)
        f = ops.where(f > 0, f, 1.0)
        return straight_through(x, f * c.stochastic_round(ops.stop_gradient(x) / f, 0.125, self._seed_generator))

    def _random_sign_at_zero(self, x: Any) -> Any:
        coin = ops.where(c.uniform(x, self._seed_generator) < 0.5, -1.0, 1.0)
        return ops.where(x > 0, 1.0, ops.where(x < 0, -1.0, coin))

    def get_config(self) -> dict[str, Any]:
        config = {
            "use_01": self.use_01,
            "alpha": c.config_alpha(self.alpha),
            "use_stochastic_rounding": self.use_stochastic_rounding,
        }
        if self.seed is not None:
            config["seed"] = self.seed
        for key in ("scale_axis", "min_po2_exponent", "max_po2_exponent"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config

    def __str__(self) -> str:
        return c.call_string(
            self.name,
            [
                ("use_01", self.use_01, False),
                ("alpha", self.alpha, None),
                ("use_stochastic_rounding", self.use_stochastic_rounding, False),
                ("seed", self.seed, None),
                ("scale_axis", self.scale_axis, None),
                ("min_po2_exponent", self.min_po2_exponent, None),
                ("max_po2_exponent", self.max_po2_exponent, None),
            ],
        )


@register_quantizer
class stochastic_binary(c.SeededArguments, binary):
    """While training, ``+alpha`` with probability ``sigmoid(temperature * x / s)``
    (``s``: the channel's standard deviation when alpha is learned, else 1),
    otherwise ``-alpha``, with an identity gradient; at inference exactly
    :class:`binary` with the same alpha.  The learned scale comes from the
    deterministic signs, as in QKeras.  ``seed`` makes the sampling
    reproducible.
    """

    name = "stochastic_binary"
    _arguments = (("alpha", None), ("temperature", 6.0), ("use_real_sigmoid", True))

    def __init__(
        self,
        alpha: Any = None,
        temperature: float = 6.0,
        use_real_sigmoid: bool = True,
        *,
        seed: int | None = None,
    ) -> None:
        super().__init__(alpha=alpha)
        self._init_sampling(temperature, use_real_sigmoid, seed)

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        if not c.in_training(training):
            return super().__call__(x, training=False)
        x = c.as_float(x)
        xs = ops.stop_gradient(x)
        p = _probability(xs, self.temperature, self.use_real_sigmoid, _std_or_one(self.alpha, xs))
        q = ops.where(p < c.uniform(xs, self._seed_generator), -1.0, 1.0)
        return straight_through(x, self._scale(xs, c.sign_no_zero(xs)) * q)


@register_quantizer
class bernoulli(c.SeededArguments, _ScaledBinary):
    """``alpha`` with probability ``sigmoid(temperature * x / s)``, else 0,
    with an identity gradient; random at inference too, as in QKeras (the
    only quantizer here that is).  ``s`` and the learned scale are as for
    :class:`stochastic_binary`, the scale coming from the ``{0, 1}`` code of
    ``x >= 0``.  ``seed`` makes the draws reproducible.

    QKeras' config keeps only ``alpha``; this one keeps ``temperature`` and
    ``use_real_sigmoid`` too, which QKeras reads back.
    """

    name = "bernoulli"
    use_01 = True
    _arguments = (("alpha", None), ("temperature", 6.0), ("use_real_sigmoid", True))

    def __init__(
        self,
        alpha: Any = None,
        temperature: float = 6.0,
        use_real_sigmoid: bool = True,
        *,
        seed: int | None = None,
    ) -> None:
        self.alpha = c.check_alpha(self.name, alpha)
        self._init_sampling(temperature, use_real_sigmoid, seed)

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        """``training`` is accepted for a uniform interface and ignored."""
        x = c.as_float(x)
        xs = ops.stop_gradient(x)
        p = _probability(xs, self.temperature, self.use_real_sigmoid, _std_or_one(self.alpha, xs))
        q = ops.where(p < c.uniform(xs, self._seed_generator), 0.0, 1.0)
        return straight_through(x, self._scale(xs, self._levels(xs)) * q)

    def min(self) -> float:
        return 0.0


class _RoundedHardSigmoid(FunctionForm, BaseQuantizer):
    """``round(hard_sigmoid(x))`` (half to even) with the hard sigmoid's gradient, as ``{0, 1}`` (``use_01``) or
    ``{-1, +1}``: what QKeras' ``binary_sigmoid`` and ``binary_tanh`` functions share. They take no arguments."""

    bits = 1
    use_01: bool

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        p = c.hard_sigmoid(c.as_float(x))
        q = straight_through(p, ops.round(p))
        return q if self.use_01 else 2.0 * q - 1.0

    def hardware(self, x: Any = None) -> BinaryType:
        return BinaryType(scale=1.0, use_01=self.use_01)

    def get_config(self) -> dict[str, Any]:
        return {}

    def __str__(self) -> str:
        return self.name

    def max(self) -> float:
        return 1.0

    def min(self) -> float:
        return 0.0 if self.use_01 else -1.0


@register_quantizer
class binary_tanh(_RoundedHardSigmoid):
    """QKeras' ``binary_tanh`` activation: ``2 round(hard_sigmoid(x)) - 1``.

    ``hard_sigmoid(0) = 0.5`` rounds (half to even) to 0, so 0 gives -1:
    ``+1`` for ``x > 0``, ``-1`` for ``x <= 0``, the opposite tie from
    :class:`binary`.  (In float32, QKeras' ``0.5 x + 0.5`` also rounds
    positives up to ``2**-24`` to 0.5, so they give -1 as well; a
    fixed-point input with at most 24 fractional bits never meets that.)
    The gradient is that of ``hard_tanh``: 1 on ``[-1, 1]``, 0 outside.

    QKeras defines it as a function, so its string form has no parentheses.
    """

    name = "binary_tanh"
    use_01 = False


@register_quantizer
class binary_sigmoid(_RoundedHardSigmoid):
    """QKeras' ``binary_sigmoid``: ``round(hard_sigmoid(x))`` (half to even), so 0 for ``x <= 0``, 1 above.

    The gradient is that of the hard sigmoid (straight through the rounding).
    """

    name = "binary_sigmoid"
    use_01 = True
