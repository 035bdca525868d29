"""``quantized_relu``: QKeras' quantized ReLU, with its hardware type.

The numbers follow QKeras 0.9: ``tf.round`` (half to even) on a grid of step
``2**(integer - bits)``, saturating at ``2**integer - step``.  A non-zero
``negative_slope`` (a power of two) spends one bit on the sign and puts the
scaled negative side on the same grid.  The gradient is QKeras': that of the
(leaky) ReLU clipped at the top of the range, so 0 for negative inputs unless
``negative_slope`` lets that slope through.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
from keras import ops

from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.quantizers.activations import internal_sigmoid
from fpgaq.quantizers.base import BaseQuantizer, register_quantizer
from fpgaq.quantizers.bits import FixedPointMixin, as_float32, blend, round_to_integer

__all__ = ["LeakyReluType", "quantized_relu"]


@dataclasses.dataclass(frozen=True)
class LeakyReluType:
    """What ``quantized_relu(bits, integer, negative_slope=2**-s)`` outputs.

    Every output is a value of ``base`` (signed, ``bits`` wide, the ReLU's
    step), but the negative side is not a plain assignment into it: a
    negative input is first multiplied by ``negative_slope`` (an exact shift
    right by ``s``) and then saturates at ``-negative_slope * 2**integer``,
    not at ``base``'s minimum.  The IR must therefore treat this as
    ``x >= 0 ? assign(positive, x) : assign(negative, x >> s)`` (both
    round half to even and saturate), with the result held in ``base``;
    treating it as a cast into ``base`` would be wrong for negative inputs.
    """

    base: FixedType
    negative_slope: float

    @property
    def bits(self) -> int:
        return self.base.width

    @property
    def shift(self) -> int:
        """``s`` in ``negative_slope = 2**-s``."""
        return -int(np.log2(self.negative_slope))

    @property
    def positive(self) -> FixedType:
        """The non-negative side: ``bits - 1`` magnitude bits on the same grid."""
        return FixedType(self.base.width - 1, self.base.integer - 1, False, self.base.rounding, Overflow.SAT)

    @property
    def negative(self) -> FixedType:
        """Where ``negative_slope * x`` goes for ``x < 0``: same grid, minimum ``-negative_slope * 2**integer``."""
        s = self.shift
        return FixedType(self.base.width - s, self.base.integer - s, True, self.base.rounding, Overflow.SAT)

    def to_int(self, x: Any) -> np.ndarray:
        """Mantissas in ``base`` of the quantized ``x`` (exact, float64 in)."""
        x = np.asarray(x, dtype=np.float64)
        pos = self.positive.to_int(np.where(x >= 0, x, 0.0))
        neg = self.negative.to_int(np.where(x < 0, x * self.negative_slope, 0.0))
        return np.where(x >= 0, pos, neg)

    def quantize(self, x: Any) -> np.ndarray:
        """Quantized values of ``x`` as float64, exactly as the quantizer outputs them."""
        return self.base.from_int(self.to_int(x))


@register_quantizer
class quantized_relu(FixedPointMixin, BaseQuantizer):  # QKeras' name
    """ReLU quantized to ``bits`` unsigned bits, ``integer`` of them left of the point.

    ``quantized_relu(4, 2)`` outputs 0 to 3.75 in steps of 0.25.
    ``use_stochastic_rounding`` rounds stochastically (to half steps, as
    QKeras does) only while training.
    ``relu_upper_bound`` only acts with ``is_quantized_clip=False``, as in
    QKeras.  ``use_sigmoid`` reproduces QKeras' hard-sigmoid variant; it has
    no fixed-point hardware meaning (see :meth:`hardware`).
    """

    name = "quantized_relu"
    _extra_defaults: ClassVar[dict[str, Any]] = {
        "is_quantized_clip": True,
        "var_name": None,
        "use_ste": True,
        "use_variables": False,
    }

    def __init__(
        self,
        bits: int = 8,
        integer: int = 0,
        use_sigmoid: Any = 0,
        negative_slope: float = 0.0,
        use_stochastic_rounding: bool = False,
        relu_upper_bound: float | None = None,
        is_quantized_clip: bool = True,
        qnoise_factor: float = 1.0,
        var_name: str | None = None,
        use_ste: bool = True,
        use_variables: bool = False,
        *,
        enable_fast_inference: bool = False,
    ) -> None:
        if enable_fast_inference:
            # Named by QKeras' later source; neither QKeras 0.9.0 nor qkeras-v3 1.2.1 has it, so there is no
            # real output to check a fast path against.  Its default is the ordinary arithmetic, accepted.
            raise ValueError(
                f"quantized_relu: enable_fast_inference={enable_fast_inference!r} is not supported (no QKeras "
                "release to check its numbers against); use enable_fast_inference=False, the default"
            )
        self.bits = int(bits) if isinstance(bits, np.integer) else bits
        self.integer = int(integer) if isinstance(integer, np.integer) else integer
        self.use_sigmoid = use_sigmoid
        self.negative_slope = float(negative_slope)
        self.use_stochastic_rounding = use_stochastic_rounding
        self.relu_upper_bound = relu_upper_bound
        self.is_quantized_clip = is_quantized_clip
        self.var_name = var_name
        self.use_ste = use_ste
        self.use_variables = use_variables
        self._check()
        self._init_qnoise(qnoise_factor)
        self._init_rounding()

    def _check(self) -> None:
        if not isinstance(self.bits, int) or isinstance(self.bits, bool) or self.bits < 1:
            raise ValueError(f"quantized_relu: bits must be an integer >= 1, got {self.bits!r}")
        if not isinstance(self.integer, int) or isinstance(self.integer, bool):
            raise ValueError(f"quantized_relu: integer must be an integer, got {self.integer!r}")
        ns = self.negative_slope
        if ns < 0 or (ns != 0 and np.log2(ns) % 1 != 0):
            raise ValueError(
                f"quantized_relu: negative_slope={ns!r} must be 0 or a power of two (e.g. 0.25), as in QKeras"
            )
        if abs(self._frac) > 126:
            raise ValueError(
                f"quantized_relu({self.bits},{self.integer}): a step of 2**{-self._frac} is outside float32's "
                "normal range; keep bits - integer within [-126, 126]"
            )

    @property
    def _value_bits(self) -> int:
        """Bits left after the sign bit that a negative slope takes."""
        return self.bits - int(self.negative_slope != 0.0)

    @property
    def _frac(self) -> int:
        return self._value_bits - self.integer

    # ---------------------------------------------------------------- numerics
    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x, dtype = as_float32(x)
        generator = self._sampler(training)
        step = np.float32(2.0**-self._frac)
        top = np.float32(2.0**self.integer) - step
        ns = self.negative_slope
        linear = ops.leaky_relu(x, negative_slope=ns) if ns else ops.relu(x)
        if self.is_quantized_clip:
            x_u = ops.where(x <= top, linear, top)
        elif self.relu_upper_bound is not None:
            x_u = ops.where(x <= self.relu_upper_bound, linear, np.float32(self.relu_upper_bound))
        else:
            x_u = linear
        xq = self._sigmoid_quantize(x, generator) if self.use_sigmoid else self._linear_quantize(x, generator)
        if self.relu_upper_bound and not self.is_quantized_clip:
            bound = np.float32(self.relu_upper_bound)
            xq = ops.where(xq <= bound, xq, bound)
        return ops.cast(blend(x_u, xq, self.qnoise_factor, self.use_ste), dtype)

    def _linear_quantize(self, x: Any, generator: Any) -> Any:
        m = float(2**self._value_bits)
        step = np.float32(2.0**-self._frac)
        p = x * np.float32(2.0**self._frac)
        xq = ops.clip(round_to_integer(p, generator, 0.5), 0.0, m - 1.0) * step
        ns = self.negative_slope
        if ns:
            # The negative side: ns * x on the same grid, down to -ns * 2**integer.
            k = ops.clip(round_to_integer(p * np.float32(ns), generator, 0.5), -ns * m, 0.0)
            xq = xq + k * step
        return xq

    def _sigmoid_quantize(self, x: Any, generator: Any) -> Any:
        """QKeras' ``use_sigmoid`` arithmetic, step for step in float32 (its internal sigmoid, hard by default)."""
        m = np.float32(2.0**self._value_bits)
        m_i = np.float32(2.0**self.integer)
        p = internal_sigmoid(x / m_i) * m
        r = round_to_integer(p, generator, 0.5)
        xq = ops.clip(2.0 * (r / m) - 1.0, 0.0, 1.0 - 1.0 / m) * m_i
        ns = self.negative_slope
        if ns:
            neg_factor = np.float32(1.0 / (ns * m))
            r_neg = round_to_integer(p * np.float32(ns), generator, 0.5)
            xq = xq + ops.clip(2.0 * (r_neg * neg_factor) - 1.0, -1.0, 0.0) * (m_i * np.float32(ns))
        return xq

    # ----------------------------------------------------------------- hardware
    def hardware(self, x: Any = None) -> FixedType | LeakyReluType:
        """``FixedType(bits, integer, False, RND_CONV, SAT)``; a :class:`LeakyReluType` with a negative slope."""
        label = str(self)
        self._check_full_quantization(label)
        if self.use_sigmoid:
            raise ValueError(
                f"{label}: use_sigmoid=1 computes 2**integer * clip(2*round(hard_sigmoid(x / 2**integer) * "
                "2**bits) / 2**bits - 1, 0, 1 - 2**-bits), a ReLU on a grid twice as coarse whose top code is "
                "replaced by 2**integer - 2**(integer-bits); no fixed-point type describes it and fpgaq does not "
                "map it to hardware; use use_sigmoid=0"
            )
        top = 2.0**self.integer - 2.0**-self._frac
        if not self.is_quantized_clip and self.relu_upper_bound and self.relu_upper_bound < top:
            raise ValueError(
                f"{label}: relu_upper_bound={self.relu_upper_bound} with is_quantized_clip=False clamps below the "
                f"grid's top value {top}; that is not a fixed-point saturation; use is_quantized_clip=True "
                "(or choose bits and integer so the grid ends at the bound)"
            )
        ns = self.negative_slope
        if not ns:
            return FixedType(self.bits, self.integer, False, Rounding.RND_CONV, Overflow.SAT)
        if self._value_bits < 1 or ns > 1 or ns * 2**self._value_bits < 1:
            raise ValueError(
                f"{label}: negative_slope={ns} with bits={self.bits} puts negative outputs off the grid (QKeras "
                f"clips them to -negative_slope * 2**integer); hardware needs 2**-(bits-1) <= negative_slope <= 1"
            )
        base = FixedType(self.bits, self.integer + 1, True, Rounding.RND_CONV, Overflow.SAT)
        return LeakyReluType(base=base, negative_slope=ns)

    # ------------------------------------------------------------ QKeras' forms
    def max(self) -> float:
        """QKeras' bound ``max(1, 2**integer)``: not the largest output (see ``hardware()``)."""
        return max(1.0, 2.0**self.integer) if self._value_bits > 0 else 1.0

    def min(self) -> float:
        """QKeras' bound: 0, or ``-negative_slope * 2**integer`` (at most -0.0) with a slope."""
        if self.negative_slope == 0.0:
            return 0.0
        if self.bits - 1 > 0:
            return min(-0.0, -self.negative_slope * 2.0**self.integer)
        return -1.0

    def get_config(self) -> dict[str, Any]:
        """QKeras' keys, plus any non-default argument QKeras would drop (so round trips are exact)."""
        config = {
            "bits": self.bits,
            "integer": self.integer,
            "use_sigmoid": self.use_sigmoid,
            "negative_slope": self.negative_slope,
            "use_stochastic_rounding": self.use_stochastic_rounding,
            "relu_upper_bound": self.relu_upper_bound,
            "qnoise_factor": self.qnoise_value,
        }
        config.update(self._extras())
        return config

    def __str__(self) -> str:
        """``quantized_relu(bits,integer[,use_sigmoid])`` and keywords for the rest.

        QKeras writes a negative slope positionally where the constructor
        expects ``use_sigmoid``, so its own string reads back wrong; here it
        is a keyword.
        """
        flags = [str(self.bits), str(self.integer)]
        if self.use_sigmoid:
            flags.append(str(int(bool(self.use_sigmoid))))
        if self.negative_slope:
            flags.append(f"negative_slope={self.negative_slope!r}")
        if self.use_stochastic_rounding:
            flags.append(f"use_stochastic_rounding={int(bool(self.use_stochastic_rounding))}")
        if self.relu_upper_bound is not None:
            flags.append(f"relu_upper_bound={self.relu_upper_bound!r}")
        if self.qnoise_value != 1.0:
            flags.append(f"qnoise_factor={self.qnoise_value!r}")
        flags.extend(f"{k}={v!r}" for k, v in self._extras().items())
        return f"quantized_relu({','.join(flags)})"
