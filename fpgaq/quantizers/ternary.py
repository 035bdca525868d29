"""Three-level quantizers: QKeras' ``ternary`` and ``stochastic_ternary``.

Values ``{-alpha, 0, +alpha}``: a multiply becomes add, subtract or skip.
With a fixed ``alpha`` (None meaning 1) the dead band is ``|x| < threshold``
(0.33 by default), compared with the raw input, not scaled by alpha.  With
``alpha='auto'`` / ``'auto_po2'`` QKeras alternates, ``number_of_unrolls``
times, between a threshold of half the scale and the least-squares scale of
the resulting code, starting from ``2/3`` of the largest magnitude, per
output channel (last axis); for a 1-D tensor the scales become per element
after the first round, as in QKeras.
"""

from __future__ import annotations

from typing import Any

from keras import ops

from fpgaq.hwtypes import TernaryType
from fpgaq.quantizers import _common as c
from fpgaq.quantizers.base import BaseQuantizer, register_quantizer, straight_through

__all__ = ["DEFAULT_THRESHOLD", "stochastic_ternary", "ternary"]

#: The threshold (times the scale) of a ternary quantizer built with ``threshold=None``, as in QKeras.
DEFAULT_THRESHOLD = 0.33


@register_quantizer
class ternary(c.SeededArguments, c.RebuildFromConfig, BaseQuantizer):
    """``alpha * sign(x)`` where ``|x| >= threshold``, else 0.

    Gradient: straight through ``tanh(x)`` when ``alpha`` is None, the
    identity otherwise.  ``use_stochastic_rounding`` (learned alpha only)
    rounds ``x / scale`` stochastically to thirds inside the threshold search,
    only while training; ``seed`` makes that reproducible.
    """

    name = "ternary"
    bits = 2
    _arguments = (("alpha", None), ("threshold", None), ("use_stochastic_rounding", False), ("number_of_unrolls", 5))

    def __init__(
        self,
        alpha: Any = None,
        threshold: float | None = None,
        use_stochastic_rounding: bool = False,
        number_of_unrolls: int = 5,
        *,
        seed: int | None = None,
    ) -> None:
        self.alpha = c.check_alpha(self.name, alpha)
        self.threshold = threshold
        self.use_stochastic_rounding = bool(use_stochastic_rounding)
        self.number_of_unrolls = int(number_of_unrolls)
        self.seed = seed
        self._check()
        self._seed_generator = c.seed_generator(seed) if self.use_stochastic_rounding else None

    def _check(self) -> None:
        """QKeras asserts these when called; here they fail at construction."""
        learned = isinstance(self.alpha, str)
        if learned and self.threshold is not None:
            raise ValueError(
                f"{self.name}: alpha={self.alpha!r} learns the threshold too; leave threshold=None "
                f"(got {self.threshold!r}) or give a numeric alpha"
            )
        if not learned and self.use_stochastic_rounding:
            raise ValueError(
                f"{self.name}: use_stochastic_rounding needs alpha='auto' or 'auto_po2' (got alpha={self.alpha!r})"
            )
        if isinstance(self.threshold, str):
            raise ValueError(f"{self.name}: threshold must be a number or None, got {self.threshold!r}")
        if learned and self.number_of_unrolls < 1:
            raise ValueError(f"{self.name}: number_of_unrolls must be >= 1 with a learned alpha")

    # -------------------------------------------------------------- numerics
    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x = c.as_float(x)
        stochastic = self.use_stochastic_rounding and c.in_training(training)
        q, scale = self._code_and_scale(ops.stop_gradient(x), stochastic)
        return straight_through(ops.tanh(x) if self.alpha is None else x, scale * q)

    def _code_and_scale(self, x: Any, stochastic: bool = False) -> tuple[Any, Any]:
        if isinstance(self.alpha, str):
            return self._learned(x, stochastic)
        threshold = DEFAULT_THRESHOLD if self.threshold is None else self.threshold
        return _dead_band(x, threshold), c.fixed_scale_for(self, self.alpha, x)

    def _learned(self, x: Any, stochastic: bool) -> tuple[Any, Any]:
        """QKeras' search: ``x`` counts as non-zero when ``x / scale`` rounds
        away from 0 (``|x / scale| > 1/2``; ties round to 0), computed as
        QKeras does in float arithmetic."""
        scale = _initial_scale(self.alpha, x)
        q = None
        for _ in range(self.number_of_unrolls):
            steps = x / scale
            steps = c.stochastic_round(steps, 1.0 / 3.0, self._seed_generator) if stochastic else ops.round(steps)
            keep = ops.abs(scale * steps) >= scale / 2.0
            q = ops.cast(keep, x.dtype) * ops.sign(x)
            scale = c.least_squares_scale(self.alpha, x, q)
        return q, scale

    # -------------------------------------------------------------- hardware
    def hardware(self, x: Any = None) -> TernaryType:
        """``{-s, 0, +s}``; ``s`` is a float, not always a power of two (check
        before treating it as a shift), one per channel when learned."""
        if not isinstance(self.alpha, str):
            return TernaryType(scale=c.fixed_scale_value(self.alpha))
        if x is None:
            raise ValueError(
                f"{self}: alpha={self.alpha!r} learns its scale from the tensor it quantizes; "
                "call hardware(x) with that tensor (e.g. the layer's kernel)"
            )
        _, scale = self._code_and_scale(ops.convert_to_tensor(x, dtype="float32"))
        return TernaryType(scale=c.to_scale_value(scale))

    def max(self) -> float:
        """QKeras' bound: 1, or ``max(1, alpha)`` for a numeric alpha."""
        return c.alpha_extent(self.alpha)

    def min(self) -> float:
        return -c.alpha_extent(self.alpha)


def _dead_band(x: Any, threshold: Any) -> Any:
    return ops.cast(ops.abs(x) >= threshold, x.dtype) * ops.sign(x)


def _initial_scale(alpha: str, x: Any) -> Any:
    """Two thirds of the largest magnitude per channel (QKeras' start,
    exact for uniformly spread weights), rounded to a power of two for 'auto_po2'."""
    m = ops.max(ops.abs(x), axis=c.channel_axes(len(x.shape)), keepdims=True)
    scale = 2.0 * m / 3.0
    return c.round_po2(scale) if alpha == "auto_po2" else scale


@register_quantizer
class stochastic_ternary(ternary):
    """While training (learned alpha only, as in QKeras): the scale from a
    threshold search with ``|x| >= scale / 2``, then ``q = (q0 + q1) / 2``
    from two draws ``q0, q1 = ±1``, +1 with probabilities
    ``sigmoid(temperature * (x/s -+ scale/(2s)))``, ``s`` the channel's
    standard deviation; identity gradient.  At inference exactly
    :class:`ternary` with the same alpha, threshold and unrolls.  ``seed``
    makes the sampling reproducible.
    """

    name = "stochastic_ternary"
    _arguments = (
        ("alpha", None),
        ("threshold", None),
        ("temperature", 8.0),
        ("use_real_sigmoid", True),
        ("number_of_unrolls", 5),
    )

    def __init__(
        self,
        alpha: Any = None,
        threshold: float | None = None,
        temperature: float = 8.0,
        use_real_sigmoid: bool = True,
        number_of_unrolls: int = 5,
        *,
        seed: int | None = None,
    ) -> None:
        if threshold is not None and threshold == 1.0:
            raise ValueError(f"{self.name}: threshold=1.0 is not allowed (QKeras rejects it); use another threshold")
        super().__init__(alpha=alpha, threshold=threshold, number_of_unrolls=number_of_unrolls)
        self._init_sampling(temperature, use_real_sigmoid, seed)

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        if not c.in_training(training):
            return super().__call__(x, training=False)
        if not isinstance(self.alpha, str):
            raise ValueError(
                f"{self}: training samples only with alpha='auto' or 'auto_po2' (as in QKeras), "
                f"got alpha={self.alpha!r}; set a learned alpha or use ternary"
            )
        x = c.as_float(x)
        xs = ops.stop_gradient(x)
        scale = _initial_scale(self.alpha, xs)
        for _ in range(self.number_of_unrolls):
            scale = c.least_squares_scale(self.alpha, xs, _dead_band(xs, scale / 2.0))
        spread = c.std_per_channel(xs) + c.EPSILON
        x_norm, half = xs / spread, scale / (2.0 * spread)
        q = (self._draw(x_norm - half) + self._draw(x_norm + half)) / 2.0
        return straight_through(x, scale * q)

    def _draw(self, z: Any) -> Any:
        """+1 with probability sigmoid(temperature z), else -1."""
        t = self.temperature * z
        p = ops.sigmoid(t) if self.use_real_sigmoid else c.hard_sigmoid(t)
        return ops.where(p < c.uniform(z, self._seed_generator), -1.0, 1.0)
