"""Power-of-two quantizers: QKeras' ``quantized_po2`` and ``quantized_relu_po2``.

A power of two multiplies by shifting, which is why these exist.  As in
QKeras they never output 0: magnitudes below QKeras' epsilon (1e-7) take the
smallest exponent, so ``quantized_po2(4)`` maps 0 to ``2**-4``.  The exponent
is the exact nearest integer (or floor) of ``log2|x|``, where QKeras rounds a
float32 ``log``; the two differ only within a few float32 ulps of a rounding
boundary and, for ``log2_rounding='floor'``, at a few exact powers of two that
QKeras' float32 ``log`` puts just below their integer (``2**-13``, ``2**15``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from fpgaq.hwtypes import Po2Type
from fpgaq.quantizers import _common as c
from fpgaq.quantizers.base import BaseQuantizer, register_quantizer, straight_through

__all__ = ["quantized_po2", "quantized_relu_po2"]

# float32 holds 2**e exactly for these e; TensorFlow flushes smaller powers to 0.
_FLOAT32_EXP_RANGE = (-126, 127)


class _Po2Quantizer(c.RebuildFromConfig, BaseQuantizer):
    """Exponent arithmetic shared by both po2 quantizers."""

    bits: int
    max_value: float | None
    use_stochastic_rounding: bool
    quadratic_approximation: bool
    log2_rounding: str
    qnoise_factor: float
    use_ste: bool
    seed: int | None
    _min_exp: int
    _max_exp: int
    _signed: bool

    def _init_common(self, exponent_bits: int, var_name: str | None, use_variables: bool) -> None:
        """Store QKeras' options and the exponent clip range ``[-2**n, 2**n - 1]``.

        ``exponent_bits`` is what QKeras leaves for the exponent's magnitude
        after the value's sign bit and, unless ``max_value <= 1`` keeps every
        exponent at or below 0, the exponent's own sign bit.
        """
        if self.log2_rounding not in ("rnd", "floor"):
            raise ValueError(
                f"{self.name}: log2_rounding={self.log2_rounding!r} is not supported; use 'rnd' or 'floor'"
            )
        if exponent_bits < 0:
            raise ValueError(
                f"{self.name}: bits={self.bits} leaves no exponent bits (max_value={self.max_value!r}); "
                "use more bits or max_value <= 1"
            )
        self._min_exp = -(2**exponent_bits)
        self._max_exp = 2**exponent_bits - 1
        if self.quadratic_approximation:
            self._max_exp = 2 * (self._max_exp // 2)
        self.var_name = var_name  # QKeras names its tf.Variables with it; unused here
        self.use_variables = use_variables  # likewise: qnoise_factor is a plain float
        self._seed_generator = c.seed_generator(self.seed) if self.use_stochastic_rounding else None

    # ------------------------------------------------------------- exponent
    def _stochastic(self, training: bool | None) -> bool:
        return self.use_stochastic_rounding and self.log2_rounding == "rnd" and c.in_training(training)

    def _exponent(self, magnitude: Any, stochastic: bool = False) -> Any:
        """QKeras' ``_clip_power_of_two``: the exponent for each ``|x|``."""
        magnitude = ops.stop_gradient(magnitude)
        tiny = magnitude < c.EPSILON
        v = ops.where(tiny, c.EPSILON, magnitude)
        if self.max_value is not None:
            v = ops.where(v >= self.max_value, self.max_value, v)
        factor = 2.0 if self.quadratic_approximation else 1.0
        if stochastic:
            k = self._sample_exponent(ops.sqrt(v) if self.quadratic_approximation else v)
        elif self.quadratic_approximation:
            k = self._half_exponent(v)
        elif self.log2_rounding == "floor":
            k = c.floor_log2(v)
        else:
            k = c.round_log2(v)
        e = factor * ops.clip(k, float(self._min_exp), float(self._max_exp))
        return ops.where(tiny, float(self._min_exp), e)

    def _half_exponent(self, v: Any) -> Any:
        """``round`` (ties to even, as tf.round) or ``floor`` of ``log2(sqrt(v))``.

        With ``v = m * 2**e``, ``log2(sqrt(v)) = (e + log2 m) / 2``: a tie
        happens only for ``v = 2**e`` with odd ``e``.
        """
        e, m = c.log2_parts(v)
        if self.log2_rounding == "floor":
            return ops.floor(e / 2.0)
        odd = (e - 2.0 * ops.floor(e / 2.0)) == 1.0
        return ops.where(odd & (m > 1.0), (e + 1.0) / 2.0, ops.round(e / 2.0))

    def _sample_exponent(self, v: Any) -> Any:
        """QKeras' ``stochastic_round_po2``: ``e`` or ``e + 1`` around ``v`` with
        ``2**e <= v < 2**(e+1)``, the upper one with probability making the
        mean value ``v``."""
        low = c.floor_log2(v)
        p = ops.power(2.0, low)
        threshold = c.uniform(v, self._seed_generator, p, 2.0 * p)
        return low + ops.cast(v >= threshold, v.dtype)

    def _output(self, x: Any, xq: Any) -> Any:
        if self.use_ste:
            return straight_through(x, xq, self.qnoise_factor)
        q = self.qnoise_factor
        return (1.0 - q) * x + ops.stop_gradient(q * xq)

    # ------------------------------------------------------------- hardware
    def hardware(self, x: Any = None) -> Po2Type:
        """Exponents from the smallest (inputs below 1e-7, or the clipped
        ``log2`` of 1e-7) to the largest (``max_value``, or the clip range).

        ``bits`` is the width that codes every value; it exceeds QKeras'
        ``bits`` when its range holds one exponent more than its code, as
        with ``max_value <= 1`` (exponents ``-2**(bits-1) .. 0``).  With
        ``quadratic_approximation`` only even exponents (and the smallest)
        occur; the type is their contiguous hull.
        """
        probe = np.array([0.0, c.EPSILON, np.finfo(np.float32).max], dtype=np.float32)
        exps = np.asarray(ops.convert_to_numpy(self._exponent(ops.convert_to_tensor(probe))))
        lo, hi = int(exps.min()), int(exps.max())
        low_limit, high_limit = _FLOAT32_EXP_RANGE
        if lo < low_limit or hi > high_limit:
            raise ValueError(
                f"{self}: exponents reach [{lo}, {hi}], beyond float32's exact powers of two "
                f"2**{low_limit} .. 2**{high_limit}, so Keras would output 0 or inf; use fewer bits"
            )
        count = (2 if self._signed else 1) * (hi - lo + 1)
        return Po2Type(bits=max(1, (count - 1).bit_length()), signed=self._signed, min_exp=lo, max_exp=hi)

    def max(self) -> float:
        """QKeras' bound: ``max(1, max_value)`` or ``max(1, 2**max_exp)``."""
        if self.max_value:
            return max(1.0, float(self.max_value))
        return max(1.0, 2.0**self._max_exp)

    def _extra_config(self) -> dict[str, Any]:
        """Arguments QKeras' config leaves out, kept only when not default."""
        extra: dict[str, Any] = {}
        if not self.use_ste:
            extra["use_ste"] = False
        if self.seed is not None:
            extra["seed"] = self.seed
        return extra

    def _tail_args(self) -> list[tuple[str, Any, Any]]:
        return [
            ("quadratic_approximation", self.quadratic_approximation, False),
            ("log2_rounding", self.log2_rounding, "rnd"),
            ("qnoise_factor", self.qnoise_factor, 1.0),
            ("use_ste", self.use_ste, True),
            ("seed", self.seed, None),
        ]


def _need_exponent_sign_bit(owner: str, max_value: Any) -> int:
    """QKeras gives the exponent a sign bit unless ``max_value <= 1``."""
    if max_value is None:
        return 1
    if max_value < 0:
        raise ValueError(f"{owner}: max_value={max_value!r} is negative; use a non-negative max_value or None")
    return 1 if max_value > 1 else 0


@register_quantizer
class quantized_po2(_Po2Quantizer):
    """``±2**e``, the sign of 0 being +; the exponent is ``round(log2|x|)``
    (or ``floor``) clipped to ``[-2**n, 2**n - 1]``, ``n = bits - 2`` (one bit
    for the value's sign, one for the exponent's), or ``n = bits - 1`` when
    ``max_value <= 1``.  Magnitudes at or above ``max_value`` become
    ``max_value`` before rounding, so its own rounded power is the largest.
    The gradient is the identity (QKeras' straight-through estimator).

    Stochastic rounding of the exponent happens only while training (see
    :func:`fpgaq.quantizers._common.in_training`); pass ``training`` or call
    from inside a Keras layer.  ``seed`` makes it reproducible.
    """

    name = "quantized_po2"
    _signed = True

    def __init__(
        self,
        bits: int = 8,
        max_value: float | None = None,
        use_stochastic_rounding: bool = False,
        quadratic_approximation: bool = False,
        log2_rounding: str = "rnd",
        qnoise_factor: float = 1.0,
        var_name: str | None = None,
        use_ste: bool = True,
        use_variables: bool = False,
        *,
        seed: int | None = None,
    ) -> None:
        self.bits = int(bits)
        self.max_value = c.python_number(max_value)
        self.use_stochastic_rounding = bool(use_stochastic_rounding)
        self.quadratic_approximation = bool(quadratic_approximation)
        self.log2_rounding = log2_rounding
        self.qnoise_factor = float(qnoise_factor)
        self.use_ste = bool(use_ste)
        self.seed = seed
        need = _need_exponent_sign_bit(self.name, self.max_value)
        self._init_common(self.bits - 1 - need, var_name, use_variables)

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x = c.as_float(x)
        e = self._exponent(ops.abs(x), self._stochastic(training))
        return self._output(x, c.sign_no_zero(ops.stop_gradient(x)) * ops.power(2.0, e))

    def min(self) -> float:
        return -self.max()

    def get_config(self) -> dict[str, Any]:
        return {
            "bits": self.bits,
            "max_value": self.max_value,
            "use_stochastic_rounding": self.use_stochastic_rounding,
            "quadratic_approximation": self.quadratic_approximation,
            "qnoise_factor": self.qnoise_factor,
            "log2_rounding": self.log2_rounding,
            **self._extra_config(),
        }

    def __str__(self) -> str:
        args = [
            ("bits", self.bits, c.REQUIRED),
            ("max_value", self.max_value, None),
            ("use_stochastic_rounding", self.use_stochastic_rounding, False),
            *self._tail_args(),
        ]
        return c.call_string(self.name, args, positional=3)


@register_quantizer
class quantized_relu_po2(_Po2Quantizer):
    """ReLU, then ``2**e`` with ``e = round(log2 x)`` (or ``floor``) clipped to
    ``[-2**n, 2**n - 1]``, ``n = bits - 1``, or ``n = bits`` when
    ``max_value <= 1``.  Zero and negative inputs give ``2**-2**n`` (QKeras
    never outputs 0), unless a power-of-two ``negative_slope`` makes
    negatives ``-2**e`` of ``|x| * negative_slope``.

    The gradient is that of the (leaky) ReLU, and 0 above ``max_value``:
    QKeras applies its straight-through estimator to the clipped ReLU.
    Stochastic rounding happens only while training, as for
    :class:`quantized_po2`.
    """

    name = "quantized_relu_po2"

    def __init__(
        self,
        bits: int = 8,
        max_value: float | None = None,
        negative_slope: float = 0,
        use_stochastic_rounding: bool = False,
        quadratic_approximation: bool = False,
        log2_rounding: str = "rnd",
        qnoise_factor: float = 1.0,
        var_name: str | None = None,
        use_ste: bool = True,
        use_variables: bool = False,
        *,
        seed: int | None = None,
    ) -> None:
        self.bits = int(bits)
        self.max_value = c.python_number(max_value)
        self.negative_slope = c.python_number(negative_slope)
        self.use_stochastic_rounding = bool(use_stochastic_rounding)
        self.quadratic_approximation = bool(quadratic_approximation)
        self.log2_rounding = log2_rounding
        self.qnoise_factor = float(qnoise_factor)
        self.use_ste = bool(use_ste)
        self.seed = seed
        slope = self.negative_slope
        if slope < 0 or (slope != 0 and not float(np.log2(slope)).is_integer()):
            raise ValueError(f"{self.name}: negative_slope={slope!r} must be 0 or a positive power of two (e.g. 0.25)")
        self._signed = slope != 0
        need = _need_exponent_sign_bit(self.name, self.max_value)
        self._init_common(self.bits - need, var_name, use_variables)

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x = c.as_float(x)
        stochastic = self._stochastic(training)
        slope = self.negative_slope
        x_relu = ops.relu(x) if slope == 0 else ops.leaky_relu(x, negative_slope=slope)
        if self.max_value is not None:
            x_relu = ops.where(x <= self.max_value, x_relu, self.max_value)
        xq = ops.power(2.0, self._exponent(ops.relu(x), stochastic))
        if slope != 0:
            negative = -ops.power(2.0, self._exponent(ops.relu(-x) * slope, stochastic))
            xq = ops.where(x >= 0, xq, negative)
        return self._output(x_relu, xq)

    def min(self) -> float:
        """QKeras' bound: ``2**min_exp`` without a negative slope (the least
        output, positive), else ``min(2**min_exp, -slope * 2**(bits-1))``."""
        if self.negative_slope == 0:
            return 2.0**self._min_exp
        if self.bits - 1 > 0:
            return min(2.0**self._min_exp, -self.negative_slope * 2.0 ** (self.bits - 1))
        return 2.0**self._min_exp

    def get_config(self) -> dict[str, Any]:
        return {
            "bits": self.bits,
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "use_stochastic_rounding": self.use_stochastic_rounding,
            "quadratic_approximation": self.quadratic_approximation,
            "qnoise_factor": self.qnoise_factor,
            "log2_rounding": self.log2_rounding,
            **self._extra_config(),
        }

    def __str__(self) -> str:
        args = [
            ("bits", self.bits, c.REQUIRED),
            ("max_value", self.max_value, None),
            ("negative_slope", self.negative_slope, 0),
            ("use_stochastic_rounding", self.use_stochastic_rounding, False),
            *self._tail_args(),
        ]
        return c.call_string(self.name, args, positional=4)
