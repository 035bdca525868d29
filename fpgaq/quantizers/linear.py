"""``quantized_linear``: the quantizer QKeras now recommends in place of ``quantized_bits``.

QKeras' newer source (after the 0.9.0 release on PyPI; the Keras 3 port
``qkeras-v3`` ships it) splits the scale in two: the *data type scale*
``2**(integer - bits + keep_negative)`` that fixes the binary point, and the
*quantization scale* that divides the input before it is clipped to the
integer codes and rounded half to even (``tf.round``).  ``alpha`` None uses the
data type scale; a number or per-channel array multiplies it; ``'auto'`` takes
the smallest scale per channel that does not clip the channel's maximum, and
``'auto_po2'`` rounds that to a power of two and refines it by least squares.
Unlike ``quantized_bits``, ``symmetric`` defaults to 1 and is kept with auto
alphas, and one bit with ``keep_negative`` is a scaled sign (never 0).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from keras import ops

from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.hwtypes import BinaryType, HardwareType, ScaledType
from fpgaq.quantizers import _common as c
from fpgaq.quantizers.base import BaseQuantizer, register_quantizer
from fpgaq.quantizers.bits import (
    FixedPointMixin,
    as_float32,
    per_channel,
    round_to_integer,
)

__all__ = ["quantized_linear"]

_EPS = np.float32(c.EPSILON)
_PO2_ITERATIONS = 5


@register_quantizer
class quantized_linear(FixedPointMixin, BaseQuantizer):  # QKeras' name
    """Linear quantizer: ``bits`` bits, ``integer`` of them left of the point, plus the sign.

    With ``alpha=None`` it is ``ac_fixed<bits, integer + keep_negative>``
    (symmetric by default, so the most negative code is unused).  After a call
    ``.scale`` holds the quantization scale over the data type scale, as QKeras'
    ``scale`` property does.
    """

    name = "quantized_linear"
    _extra_defaults: ClassVar[dict[str, Any]] = {"scale_axis": None, "var_name": None, "use_variables": False}

    def __init__(
        self,
        bits: int = 8,
        integer: int = 0,
        symmetric: Any = 1,
        keep_negative: Any = True,
        alpha: Any = None,
        use_stochastic_rounding: bool = False,
        scale_axis: Any = None,
        qnoise_factor: float = 1.0,
        var_name: str | None = None,
        use_variables: bool = False,
    ) -> None:
        self.bits = c.python_number(bits)
        self.integer = c.python_number(integer)
        if not isinstance(self.bits, int) or isinstance(self.bits, bool) or self.bits < 1:
            raise ValueError(f"quantized_linear: bits must be an integer >= 1, got {bits!r}")
        if not isinstance(self.integer, int) or isinstance(self.integer, bool) or self.integer < 0:
            raise ValueError(f"quantized_linear: integer must be an integer >= 0, got {integer!r}")
        self.symmetric = symmetric
        self.keep_negative = keep_negative
        self.alpha = self._check_alpha(alpha)
        self.use_stochastic_rounding = use_stochastic_rounding
        self.scale_axis = scale_axis
        self.var_name = var_name
        self.use_ste = True
        self.use_variables = use_variables
        self.scale: Any = None
        self._init_qnoise(qnoise_factor)
        self._init_rounding()

    @staticmethod
    def _check_alpha(alpha: Any) -> Any:
        if isinstance(alpha, str):
            if alpha not in c.AUTO_ALPHAS:
                raise ValueError(
                    f"quantized_linear: alpha={alpha!r} is not supported; use None, a number, an array of "
                    "per-channel numbers, 'auto' or 'auto_po2'"
                )
            return alpha
        if alpha is None:
            return None
        if isinstance(alpha, (list, tuple, np.ndarray)):
            arr = np.asarray(alpha, dtype=np.float64)
            return float(arr) if arr.ndim == 0 else arr
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
            raise TypeError(f"quantized_linear: alpha must be None, a number, an array or a string, got {alpha!r}")
        return c.python_number(alpha)

    # ------------------------------------------------------------ properties
    @property
    def auto_alpha(self) -> bool:
        return isinstance(self.alpha, str)

    @property
    def _kn(self) -> int:
        return int(bool(self.keep_negative))

    @property
    def _sign_function(self) -> bool:
        """One signed bit: QKeras shifts by one half so that the codes are ±1/2, never 0."""
        return self.bits == 1 and bool(self._kn)

    @property
    def data_type_scale(self) -> float:
        return 2.0 ** (self.integer - self.bits + self._kn)

    def _clip_bounds(self) -> tuple[float, float]:
        if self._sign_function:
            return -0.5, 0.5
        top = 2.0 ** (self.bits - self._kn)
        return self._kn * (-top + int(bool(self.symmetric))), top - 1.0

    # ---------------------------------------------------------------- numerics
    def _codes(self, x: Any, scale: Any, generator: Any = None) -> Any:
        """``round(clip(x / scale))`` in float32, as QKeras computes it (half to even)."""
        lo, hi = self._clip_bounds()
        shift = 0.5 if self._sign_function else 0.0
        clipped = ops.clip(x / scale, np.float32(lo), np.float32(hi))
        return round_to_integer(clipped - np.float32(shift), generator) + np.float32(shift)

    def _axes(self, ndim: int) -> list[int]:
        return c.reduction_axes(self.scale_axis, ndim)

    def _auto_scale(self, x: Any) -> Any:
        """QKeras' data-dependent quantization scale of ``x`` (per channel)."""
        lo, hi = self._clip_bounds()
        axes = self._axes(len(x.shape))
        data = ops.abs(x) if self._kn else x
        if axes:
            data = ops.max(data, axis=axes, keepdims=True)
        scale = (data * np.float32(2.0) if self._kn else data) / np.float32(hi - lo)
        scale = ops.maximum(scale, _EPS)
        if self.alpha == "auto_po2":
            scale = c.round_po2(scale)
            for _ in range(1 if self._sign_function else _PO2_ITERATIONS):
                scale = self._least_squares_po2(x, self._codes(x, scale))
        return scale

    def _least_squares_po2(self, x: Any, z: Any) -> Any:
        if len(x.shape) > 1:
            axes = self._axes(len(x.shape))
            qx = ops.mean(x * z, axis=axes, keepdims=True)
            qq = ops.mean(z * z, axis=axes, keepdims=True)
        else:
            qx, qq = x * z, z * z  # each element of a 1-D tensor is its own channel
        return c.round_po2(qx / (qq + _EPS))

    def _scale(self, x: Any) -> Any:
        if self.auto_alpha:
            return self._auto_scale(x)
        d = np.float32(self.data_type_scale)
        if self.alpha is None:
            return d
        return ops.convert_to_tensor(np.asarray(self.alpha, dtype=np.float32)) * d

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x, dtype = as_float32(x)
        scale = ops.stop_gradient(self._scale(x))
        xq = ops.stop_gradient(self._codes(x, scale, self._sampler(training)) * scale)
        self.scale = scale / np.float32(self.data_type_scale)
        # QKeras' gradient is that of the clip (1 inside the range, 0 outside), straight through the rounding.
        lo, hi = self._clip_bounds()
        clipped = ops.clip(x / scale, np.float32(lo), np.float32(hi)) * scale
        xq = xq + (clipped - ops.stop_gradient(clipped))
        q = self.qnoise_factor
        if isinstance(q, float):
            out = xq if q == 1.0 else x + q * (xq - x)
        else:  # a variable moved by a gradual-quantization schedule
            q = ops.cast(q, "float32")
            out = ops.where(ops.equal(q, 1.0), xq, x + q * (xq - x))
        return ops.cast(out, dtype)

    # ----------------------------------------------------------------- hardware
    def hardware(self, x: Any = None) -> HardwareType:
        """``FixedType`` for ``alpha=None``; a scaled grid otherwise (``alpha='auto*'`` needs ``x``)."""
        label = str(self)
        self._check_full_quantization(label)
        if self.auto_alpha:
            if x is None:
                raise ValueError(
                    f"{label}: alpha={self.alpha!r} computes its scales from the tensor it quantizes; "
                    "call hardware(x) with that tensor (e.g. the layer's float kernel)"
                )
            xs = ops.cast(ops.convert_to_tensor(x), "float32")
            ratio = ops.convert_to_numpy(self._auto_scale(xs)) / np.float32(self.data_type_scale)
            scale: Any = per_channel(ratio, label, f"alpha={self.alpha!r}")
        elif self.alpha is None:
            scale = (1.0,)
        else:
            scale = per_channel(self.alpha, label, "alpha")
        if self._sign_function:
            half = self.data_type_scale / 2
            values = tuple(half * s for s in scale)
            return BinaryType(scale=values[0] if len(values) == 1 else values)
        overflow = Overflow.SAT_SYM if (self._kn and self.symmetric) else Overflow.SAT
        base = FixedType(self.bits, self.integer + self._kn, bool(self._kn), Rounding.RND_CONV, overflow)
        if scale == (1.0,):
            return base
        return ScaledType(base=base, scale=scale, po2=c.is_po2(np.asarray(scale)))

    # ------------------------------------------------------------ QKeras' forms
    def max(self) -> float:
        """QKeras' ``clip_max * quantization_scale`` for a fixed scale (1 for auto alphas before a call)."""
        _, hi = self._clip_bounds()
        if self.auto_alpha:
            return 1.0
        return float(np.max(hi * np.asarray(self._scale_value())))

    def min(self) -> float:
        lo, _ = self._clip_bounds()
        if self.auto_alpha:
            return -1.0 if self._kn else 0.0
        return float(np.min(lo * np.asarray(self._scale_value())))

    def _scale_value(self) -> Any:
        d = self.data_type_scale
        return d if self.alpha is None else np.asarray(self.alpha, dtype=np.float64) * d

    def get_config(self) -> dict[str, Any]:
        """QKeras' keys, plus the arguments it drops (``_extra_defaults``) when set, so that round trips are exact."""
        alpha = self.alpha.tolist() if isinstance(self.alpha, np.ndarray) else self.alpha
        config = {
            "bits": self.bits,
            "integer": self.integer,
            "symmetric": self.symmetric,
            "alpha": alpha,
            "keep_negative": self.keep_negative,
            "use_stochastic_rounding": self.use_stochastic_rounding,
            "qnoise_factor": self.qnoise_value,
        }
        config.update(self._extras())
        return config

    def __str__(self) -> str:
        alpha = self.alpha.tolist() if isinstance(self.alpha, np.ndarray) else self.alpha
        return c.call_string(
            self.name,
            [
                ("bits", self.bits, c.REQUIRED),
                ("integer", self.integer, 0),
                ("symmetric", self.symmetric, 1),
                ("keep_negative", self.keep_negative, True),
                ("alpha", alpha, None),
                ("use_stochastic_rounding", self.use_stochastic_rounding, False),
                ("scale_axis", self.scale_axis, None),
                ("qnoise_factor", self.qnoise_value, 1.0),
            ],
            positional=3,
        )
