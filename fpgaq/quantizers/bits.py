"""``quantized_bits``: QKeras' fixed-point quantizer, with its hardware type.

The numbers follow QKeras 0.9 (its last source): a fixed ``alpha`` (None or a
number) rounds half to even like ``tf.round`` and saturates; a string
``alpha`` learns per-channel scales from the data and rounds half away from
zero.  Where QKeras' float32 arithmetic is inexact (``x + stop_gradient(xq -
x)`` for huge ``x``, ``floor(a + 0.5)`` at the float just below one half) the
output here is the exact value the hardware type describes; ``'auto_po2'``
rounds ``log2`` of its scales exactly (QKeras' float32 ``log`` can pick the
other power of two within an ulp of the midpoint, and differently under XLA).
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import numpy as np
from keras import ops

from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.hwtypes import BinaryType, HardwareType, ScaledType
from fpgaq.quantizers import _common as c
from fpgaq.quantizers.base import BaseQuantizer, register_quantizer, straight_through

__all__ = ["quantized_bits"]

# Keras' fuzz factor, which QKeras adds before dividing, as a float32 constant.
_EPS = np.float32(c.EPSILON)
_PO2_ITERATIONS = 5


# ---------------------------------------------------------------- shared helpers
def round_to_integer(y: Any, generator: Any = None, precision: float = 1.0) -> Any:
    """``tf.round`` (half to even), or with a seed generator QKeras' stochastic
    rounding to multiples of ``precision`` (what QKeras does in training)."""
    return ops.round(y) if generator is None else c.stochastic_round(y, precision, generator)


def as_float32(x: Any) -> tuple[Any, str]:
    """``x`` in float32, where QKeras computes, and the dtype to answer in.

    Half-precision inputs (a mixed-precision layer's kernel) get their own
    dtype back so the layer's arithmetic still type-checks; every other input
    is answered in float32, as QKeras does.
    """
    if not hasattr(x, "dtype"):
        x = ops.convert_to_tensor(x)
    dtype = keras.backend.standardize_dtype(x.dtype)
    return ops.cast(x, "float32"), dtype if dtype in ("float16", "bfloat16") else "float32"


def blend(x: Any, xq: Any, qnoise_factor: Any, use_ste: bool) -> Any:
    """QKeras' output mix of float input and quantized value, with exact ``xq`` at ``qnoise_factor=1``.

    With ``use_ste`` the gradient is 1 (straight through); without it QKeras
    lets only ``1 - qnoise_factor`` of the gradient pass.
    """
    if isinstance(qnoise_factor, (int, float)):
        if use_ste:
            return straight_through(x, xq, float(qnoise_factor))
        return (1.0 - qnoise_factor) * x + ops.stop_gradient(qnoise_factor * xq)
    q = ops.cast(qnoise_factor, "float32")
    if use_ste:
        return ops.where(ops.equal(q, 1.0), straight_through(x, xq), x + ops.stop_gradient(q * (xq - x)))
    return (1.0 - q) * x + ops.stop_gradient(q * xq)


class FixedPointMixin:
    """State shared by ``quantized_bits`` and ``quantized_relu``.

    ``qnoise_factor`` is a number, or a non-trainable variable that a
    schedule can move during gradual quantization (QKeras' ``use_variables``).
    Stochastic rounding draws from the quantizer's own seed generator, and
    only while training (see :func:`fpgaq.quantizers._common.in_training`).
    """

    qnoise_factor: Any
    use_variables: bool
    var_name: str | None
    use_stochastic_rounding: Any
    #: Constructor arguments QKeras leaves out of ``get_config``, with their defaults (see :meth:`_extras`).
    _extra_defaults: ClassVar[dict[str, Any]] = {}

    def _extras(self) -> dict[str, Any]:
        """Constructor arguments QKeras leaves out of ``get_config``, when they differ from the default: written
        to configs and strings so that round trips are exact."""
        return {k: getattr(self, k) for k, d in self._extra_defaults.items() if getattr(self, k) != d}

    def _init_rounding(self) -> None:
        self._generator = c.seed_generator(None) if self.use_stochastic_rounding else None

    def _sampler(self, training: bool | None) -> Any:
        """The seed generator when this call rounds stochastically, else None."""
        return self._generator if self._generator is not None and c.in_training(training) else None

    def _init_qnoise(self, qnoise_factor: float) -> None:
        value = float(qnoise_factor)
        if self.use_variables:
            prefix = f"{self.var_name}_" if self.var_name else ""
            self.qnoise_factor = keras.Variable(value, trainable=False, dtype="float32", name=f"{prefix}qnoise_factor")
        else:
            self.qnoise_factor = value

    @property
    def qnoise_value(self) -> float:
        q = self.qnoise_factor
        return q if isinstance(q, float) else float(ops.convert_to_numpy(q))

    def update_qnoise_factor(self, qnoise_factor: float) -> None:
        """Set the mix of quantized and float output (1.0: fully quantized)."""
        if isinstance(self.qnoise_factor, float):
            self.qnoise_factor = float(qnoise_factor)
        else:
            self.qnoise_factor.assign(float(qnoise_factor))

    def _check_full_quantization(self, label: str) -> None:
        q = self.qnoise_value
        if q != 1.0:
            raise ValueError(
                f"{label}: qnoise_factor={q} mixes the float input into the output, which no fixed-point type "
                "describes; hardware needs qnoise_factor=1.0 (finish gradual quantization first)"
            )


def _grouped_means(x: Any, z: Any, scale_axis: Any, elements_per_scale: Any) -> tuple[Any, Any]:
    """``mean(x*z)`` and ``mean(z*z)`` with one scale per ``elements_per_scale`` consecutive channels."""
    shape = list(x.shape)
    if scale_axis is None:
        raise ValueError("quantized_bits: elements_per_scale needs scale_axis (the axis whose channels are grouped)")
    axes = list(scale_axis) if isinstance(scale_axis, (list, tuple)) else [scale_axis]
    if isinstance(elements_per_scale, (list, tuple)):
        if not isinstance(scale_axis, (list, tuple)) or len(elements_per_scale) != len(axes):
            raise ValueError(
                f"quantized_bits: elements_per_scale={elements_per_scale!r} needs a scale_axis list of the same "
                f"length, got scale_axis={scale_axis!r}"
            )
        factors = [int(f) for f in elements_per_scale]
    else:
        factors = [int(elements_per_scale)] * len(axes)
    unrolled, unrolled_axes = list(shape), []
    for shift, (axis, factor) in enumerate(zip(axes, factors, strict=True)):
        if shape[axis] is None or shape[axis] % factor:
            raise ValueError(
                f"quantized_bits: axis {axis} of size {shape[axis]} is not divisible by elements_per_scale={factor}"
            )
        unrolled[axis + shift] //= factor
        unrolled.insert(axis + shift + 1, factor)
        unrolled_axes.append(axis + shift)
    keep = unrolled_axes if isinstance(scale_axis, (list, tuple)) else unrolled_axes[0]
    mean_axes = c.reduction_axes(keep, len(unrolled))
    x1, z1 = ops.reshape(x, unrolled), ops.reshape(z, unrolled)
    qx = ops.mean(x1 * z1, axis=mean_axes, keepdims=True)
    qq = ops.mean(z1 * z1, axis=mean_axes, keepdims=True)
    rolled = list(qx.shape)
    for shift, axis in enumerate(unrolled_axes):
        rolled[axis - shift] *= rolled[axis - shift + 1]
        rolled.pop(axis - shift + 1)
    qx, qq = ops.reshape(qx, rolled), ops.reshape(qq, rolled)
    for axis, factor in zip(axes, factors, strict=True):
        qx = ops.repeat(qx, factor, axis=axis)
        qq = ops.repeat(qq, factor, axis=axis)
    return qx, qq


def _symmetric_codes(xs: Any, scale: Any, max_code: float) -> Any:
    """``round(xs / scale)`` half away from zero, clipped to ``±max_code``.

    QKeras writes ``floor(|a| + 0.5)``, which float32 rounds up at the float
    just below one half; comparing the exact remainder rounds every value
    as ``AC_RND_INF`` does.  An all-zero channel with a zero scale gives 0.
    """
    a = ops.abs(xs) / scale
    whole = ops.floor(a)
    v = whole + ops.cast(a - whole >= 0.5, "float32")
    v = ops.where(v < max_code, v, max_code)
    return ops.sign(xs) * v


def per_channel(scale: Any, label: str, setting: str) -> tuple[float, ...]:
    """A scale tensor as one value per channel of the last axis (or one for all)."""
    s = np.asarray(scale, dtype=np.float32)
    if s.size == 1:
        return (float(s.reshape(-1)[0]),)
    if s.ndim >= 1 and all(d == 1 for d in s.shape[:-1]):
        return tuple(float(v) for v in s.reshape(-1))
    raise ValueError(
        f"{label}: {setting} gives scales of shape {s.shape}, not one per channel of the last axis; "
        "fpgaq's ScaledType holds per-channel scales along the last axis only (use scale_axis=None with "
        "channels_last data)"
    )


@register_quantizer
class quantized_bits(FixedPointMixin, BaseQuantizer):  # QKeras' name
    """Fixed-point quantizer: ``bits`` bits, ``integer`` of them left of the point, plus the sign.

    ``integer`` excludes the sign bit, so ``quantized_bits(4, 0)`` is
    ``ac_fixed<4, 1, true>`` ([-1, 0.875] in steps of 1/8).  A string
    ``alpha`` (``'auto'``, ``'auto_po2'``) forces ``symmetric`` and learns one
    scale per output channel (last axis) from the tensor it quantizes; after a
    call ``.scale`` holds it the way QKeras does (the scale times
    ``2**(bits - keep_negative)``).

    ``use_stochastic_rounding`` rounds stochastically only while training (an
    explicit ``training=True``, or a Keras layer call in training); QKeras
    ties it to Keras' global learning phase, which TF2's ``fit`` leaves at 0,
    so at inference both are deterministic.
    ``use_variables`` makes only ``qnoise_factor`` a variable (``integer``
    stays a Python int: the hardware type must not move).
    """

    name = "quantized_bits"
    _extra_defaults: ClassVar[dict[str, Any]] = {
        "scale_axis": None,
        "var_name": None,
        "use_ste": True,
        "use_variables": False,
        "elements_per_scale": None,
        "min_po2_exponent": None,
        "max_po2_exponent": None,
    }

    def __init__(
        self,
        bits: int = 8,
        integer: int = 0,
        symmetric: Any = 0,
        keep_negative: Any = True,
        alpha: Any = None,
        use_stochastic_rounding: bool = False,
        scale_axis: Any = None,
        qnoise_factor: float = 1.0,
        var_name: str | None = None,
        use_ste: bool = True,
        use_variables: bool = False,
        elements_per_scale: Any = None,
        min_po2_exponent: int | None = None,
        max_po2_exponent: int | None = None,
        post_training_scale: Any = None,
    ) -> None:
        self.bits = c.python_number(bits)
        self.integer = c.python_number(integer)
        self.symmetric = symmetric
        self.keep_negative = keep_negative
        self.alpha = self._check_alpha(alpha)
        self.use_stochastic_rounding = use_stochastic_rounding
        self.scale_axis = scale_axis
        self.var_name = var_name
        self.use_ste = use_ste
        self.use_variables = use_variables
        self.elements_per_scale = elements_per_scale
        self.min_po2_exponent = min_po2_exponent
        self.max_po2_exponent = max_po2_exponent
        self.post_training_scale = None if post_training_scale is None else np.asarray(post_training_scale, "float32")
        self._check()
        if self.auto_alpha:
            self.symmetric = True
        self.scale: Any = self.post_training_scale
        self._init_qnoise(qnoise_factor)
        self._init_rounding()

    # ----------------------------------------------------------- validation
    def _check_alpha(self, alpha: Any) -> Any:
        if isinstance(alpha, str):
            if alpha not in c.AUTO_ALPHAS:
                raise ValueError(
                    f"quantized_bits: alpha={alpha!r} is not supported; use None, a number, an array, 'auto' or "
                    "'auto_po2'"
                )
            return alpha
        if alpha is None:
            return None
        if isinstance(alpha, (list, tuple, np.ndarray)):
            arr = np.asarray(alpha, dtype=np.float64)
            return float(arr) if arr.ndim == 0 else arr
        return c.python_number(alpha)

    def _check(self) -> None:
        if not isinstance(self.bits, int) or isinstance(self.bits, bool) or self.bits < 1:
            raise ValueError(f"quantized_bits: bits must be an integer >= 1, got {self.bits!r}")
        if not isinstance(self.integer, int) or isinstance(self.integer, bool):
            raise ValueError(f"quantized_bits: integer must be an integer, got {self.integer!r}")
        if abs(self._frac) > 126:
            raise ValueError(
                f"quantized_bits({self.bits},{self.integer}): a step of 2**{-self._frac} is outside float32's "
                "normal range; keep bits - integer within [-126, 126]"
            )
        if self.auto_alpha and self.bits < 2:
            raise ValueError(
                f"quantized_bits(bits={self.bits}, alpha={self.alpha!r}): auto scales need bits >= 2 (QKeras "
                "divides by zero levels and outputs NaN); use binary(alpha=...) for one bit"
            )
        po2_only = {
            "elements_per_scale": self.elements_per_scale,
            "min_po2_exponent": self.min_po2_exponent,
            "max_po2_exponent": self.max_po2_exponent,
        }
        for key, value in po2_only.items():
            if value is not None and self.alpha != "auto_po2":
                raise ValueError(f"quantized_bits: {key}={value!r} is only supported with alpha='auto_po2'")
        if self.post_training_scale is not None and not self.auto_alpha:
            raise ValueError(
                f"quantized_bits: alpha={self.alpha!r} doesn't support post_training_scale; it fixes the learned "
                "scale of alpha='auto' or 'auto_po2'"
            )

    # ------------------------------------------------------------ properties
    @property
    def auto_alpha(self) -> bool:
        return isinstance(self.alpha, str)

    @property
    def _kn(self) -> int:
        return int(bool(self.keep_negative))

    @property
    def _unsigned_bits(self) -> int:
        return self.bits - self._kn

    @property
    def _frac(self) -> int:
        """Fractional bits of the grid: the step is ``2**-_frac``."""
        return self._unsigned_bits - self.integer

    # ---------------------------------------------------------------- numerics
    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x, dtype = as_float32(x)
        if self.auto_alpha:
            xq = self._auto_quantize(x)
        else:
            xq = self._fixed_quantize(x, self._sampler(training))
            if self.alpha is not None:
                xq = ops.convert_to_tensor(np.asarray(self.alpha, dtype=np.float32)) * xq
            self.scale = 1.0 if self.alpha is None else self.alpha
        return ops.cast(blend(x, xq, self.qnoise_factor, self.use_ste), dtype)

    def _fixed_quantize(self, x: Any, generator: Any) -> Any:
        if self._unsigned_bits <= 0:
            # One signed bit: QKeras' sign with 0 mapped to +1.
            s = ops.sign(x)
            return s + (1.0 - ops.abs(s))
        lo = -(1 << self._unsigned_bits) + int(bool(self.symmetric)) if self._kn else 0
        hi = (1 << self._unsigned_bits) - 1
        codes = ops.clip(round_to_integer(x * np.float32(2.0**self._frac), generator), float(lo), float(hi))
        return codes * np.float32(2.0**-self._frac)

    def _auto_scale(self, xs: Any) -> Any:
        """The per-channel scale of ``xs = x / 2**integer`` (before QKeras multiplies it by ``m``)."""
        return self._auto_codes(xs)[0]

    def _auto_codes(self, xs: Any) -> tuple[Any, Any]:
        """The scale of ``xs`` and the integer codes QKeras multiplies it with.

        With ``'auto_po2'`` QKeras keeps the codes of its last refinement
        round, computed with the scale *before* that round's update; where the
        refinement has not converged (it can alternate between two powers of
        two, e.g. for a 1-D tensor of tiny values) they differ from
        ``round(xs / scale)``, and QKeras' output is those codes times the new scale.
        """
        half_levels = np.float32(2 ** (self.bits - 1) - 1)
        if self.post_training_scale is not None:
            scale = ops.convert_to_tensor(self.post_training_scale) / np.float32(2.0**self._unsigned_bits)
            return scale, _symmetric_codes(xs, scale, half_levels)
        ndim = len(xs.shape)
        max_axes = c.reduction_axes(self.scale_axis, ndim) if ndim > 1 else [0]
        scale = ops.max(ops.abs(xs), axis=max_axes, keepdims=True) * 2.0 / (half_levels * 2)
        z = _symmetric_codes(xs, scale, half_levels)
        if self.alpha == "auto_po2":
            scale = c.round_po2(scale)
            for _ in range(_PO2_ITERATIONS):
                z = _symmetric_codes(xs, scale, half_levels)
                scale = self._least_squares_po2(xs, z)
        return scale, z

    def _least_squares_po2(self, xs: Any, z: Any) -> Any:
        if len(xs.shape) == 1:
            qx, qq = xs * z, z * z  # a 1-D tensor: every element is its own channel
        elif self.elements_per_scale is not None:
            qx, qq = _grouped_means(xs, z, self.scale_axis, self.elements_per_scale)
        else:
            axes = c.reduction_axes(self.scale_axis, len(xs.shape))
            qx = ops.mean(xs * z, axis=axes, keepdims=True)
            qq = ops.mean(z * z, axis=axes, keepdims=True)
        scale = c.round_po2(qx / (qq + _EPS))
        if self.min_po2_exponent is not None or self.max_po2_exponent is not None:
            lo = -np.inf if self.min_po2_exponent is None else 2.0**self.min_po2_exponent
            hi = np.inf if self.max_po2_exponent is None else 2.0**self.max_po2_exponent
            scale = ops.clip(scale, np.float32(lo), np.float32(hi))
        return scale

    def _auto_quantize(self, x: Any) -> Any:
        m = np.float32(2.0**self._unsigned_bits)
        m_i = np.float32(2.0**self.integer)
        xs = x / m_i
        scale, z = self._auto_codes(xs)
        scale = scale * m
        if self.post_training_scale is None:
            self.scale = ops.stop_gradient(scale)
        return scale * (z * m_i / m)

    # ----------------------------------------------------------------- hardware
    def hardware(self, x: Any = None) -> HardwareType:
        """``FixedType`` for ``alpha`` None or 1; a ``ScaledType`` for other alphas.

        ``alpha='auto'``/``'auto_po2'`` need the tensor ``x`` they quantize
        (e.g. the kernel), unless ``post_training_scale`` fixes the scale; the
        returned base grid times the per-channel scale is exactly the output.
        """
        label = str(self)
        self._check_full_quantization(label)
        if self.auto_alpha:
            return self._auto_hardware(x, label)
        if self._unsigned_bits <= 0:
            if self.alpha is None:
                return BinaryType(scale=1.0)
            scales = per_channel(self.alpha, label, "alpha")
            return BinaryType(scale=scales[0] if len(scales) == 1 else scales)
        overflow = Overflow.SAT_SYM if (self._kn and self.symmetric) else Overflow.SAT
        base = FixedType(self.bits, self.integer + self._kn, bool(self._kn), Rounding.RND_CONV, overflow)
        if self.alpha is None or bool(np.all(np.asarray(self.alpha) == 1)):
            return base
        scale = per_channel(self.alpha, label, "alpha")
        return ScaledType(base=base, scale=scale, po2=c.is_po2(np.asarray(scale)))

    def _auto_hardware(self, x: Any, label: str) -> ScaledType:
        if x is None and self.post_training_scale is None:
            raise ValueError(
                f"{label}: alpha={self.alpha!r} computes its scales from the tensor it quantizes; "
                "call hardware(x) with that tensor (e.g. the layer's float kernel)"
            )
        if self.post_training_scale is not None:
            scale = self.post_training_scale
        else:
            xs = ops.cast(ops.convert_to_tensor(x), "float32") / np.float32(2.0**self.integer)
            scale = ops.convert_to_numpy(self._auto_scale(xs)) * np.float32(2.0**self._unsigned_bits)
        values = per_channel(scale, label, f"alpha={self.alpha!r}")
        base = FixedType(self.bits, self.integer + self._kn, True, Rounding.RND_INF, Overflow.SAT_SYM)
        return ScaledType(base=base, scale=values, po2=c.is_po2(np.asarray(values)))

    # ------------------------------------------------------------ QKeras' forms
    def max(self) -> float:
        """QKeras' bound ``max(1, 2**integer)``: not the largest output (see ``hardware()``)."""
        return max(1.0, 2.0**self.integer) if self._unsigned_bits > 0 else 1.0

    def min(self) -> float:
        """QKeras' bound ``-max(1, 2**integer)``, or 0 without negatives."""
        if not self.keep_negative:
            return 0.0
        return -max(1.0, 2.0**self.integer) if self._unsigned_bits > 0 else -1.0

    def get_config(self) -> dict[str, Any]:
        """QKeras' keys, plus any non-default argument QKeras would drop (so round trips are exact)."""
        alpha = self.alpha.tolist() if isinstance(self.alpha, np.ndarray) else self.alpha
        pts = None if self.post_training_scale is None else self.post_training_scale.tolist()
        config = {
            "bits": self.bits,
            "integer": self.integer,
            "symmetric": self.symmetric,
            "alpha": alpha,
            "keep_negative": self.keep_negative,
            "use_stochastic_rounding": self.use_stochastic_rounding,
            "qnoise_factor": self.qnoise_value,
            "post_training_scale": pts,
        }
        config.update(self._extras())
        return config

    def __str__(self) -> str:
        """QKeras' form ``quantized_bits(bits,integer,symmetric[,keep_negative=False][,alpha=...])``.

        Arguments QKeras' string drops are written as keywords, so that
        :func:`get_quantizer` reads back the same quantizer.
        """
        flags = [str(self.bits), str(self.integer), str(int(bool(self.symmetric)))]
        if not self.keep_negative:
            flags.append("keep_negative=False")
        if self.alpha is not None:
            alpha = self.alpha.tolist() if isinstance(self.alpha, np.ndarray) else self.alpha
            flags.append(f"alpha={alpha!r}")
        if self.use_stochastic_rounding:
            flags.append(f"use_stochastic_rounding={int(bool(self.use_stochastic_rounding))}")
        if self.qnoise_value != 1.0:
            flags.append(f"qnoise_factor={self.qnoise_value!r}")
        if self.post_training_scale is not None:
            flags.append(f"post_training_scale={self.post_training_scale.tolist()!r}")
        flags.extend(f"{k}={v!r}" for k, v in self._extras().items())
        return f"quantized_bits({','.join(flags)})"
