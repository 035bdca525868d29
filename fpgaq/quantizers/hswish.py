"""``quantized_hswish``: MobileNetV3's hard swish, then ``quantized_bits``.

QKeras computes ``x * min(relu(x + relu_shift), relu_upper_bound) /
relu_upper_bound`` in float32 and quantizes that with ``quantized_bits``
(``keep_negative`` forced on).  The function is a product of the input with
itself, so the output is a fixed-point grid (:meth:`quantized_hswish.hardware`)
but not a cast of the input: ``nonlinearity = "hswish"`` says so, and the IR
builds the exact output of every input code (:mod:`fpgaq.ir.ops.hswish`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from fpgaq.quantizers.base import register_quantizer
from fpgaq.quantizers.bits import as_float32, quantized_bits

__all__ = ["float_hswish", "quantized_hswish"]


def float_hswish(x: Any, relu_shift: float = 3, relu_upper_bound: float = 6) -> Any:
    """QKeras' hard swish in float32: ``x * clip(x + shift, 0, bound) / bound``, in that order."""
    shifted = x + np.float32(relu_shift)
    bound = np.float32(relu_upper_bound)
    r = ops.where(shifted <= bound, ops.relu(shifted), bound)
    return (x * r) / bound


@register_quantizer
class quantized_hswish(quantized_bits):  # QKeras' name
    """Hard swish quantized to ``quantized_bits(bits, integer, symmetric, alpha=...)``."""

    name = "quantized_hswish"
    nonlinearity = "hswish"

    def __init__(
        self,
        bits: int = 8,
        integer: int = 0,
        symmetric: Any = 0,
        alpha: Any = None,
        use_stochastic_rounding: bool = False,
        scale_axis: Any = None,
        qnoise_factor: float = 1.0,
        var_name: str | None = None,
        use_ste: bool = True,
        use_variables: bool = False,
        relu_shift: int = 3,
        relu_upper_bound: int = 6,
        keep_negative: Any = True,
        post_training_scale: Any = None,
    ) -> None:
        if not keep_negative:
            raise ValueError(
                f"quantized_hswish: keep_negative={keep_negative!r} is not supported; QKeras always keeps "
                "negatives (hard swish dips to -relu_shift**2 / (4 * relu_upper_bound))"
            )
        for key, value in (("relu_shift", relu_shift), ("relu_upper_bound", relu_upper_bound)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(
                    f"quantized_hswish: {key} must be a positive value, got {value!r}; QKeras' defaults are "
                    "relu_shift=3, relu_upper_bound=6"
                )
        super().__init__(
            bits=bits,
            integer=integer,
            symmetric=symmetric,
            keep_negative=True,
            alpha=alpha,
            use_stochastic_rounding=use_stochastic_rounding,
            scale_axis=scale_axis,
            qnoise_factor=qnoise_factor,
            var_name=var_name,
            use_ste=use_ste,
            use_variables=use_variables,
            post_training_scale=post_training_scale,  # qkeras-v3 writes it (None) in the config
        )
        self.relu_shift = relu_shift
        self.relu_upper_bound = relu_upper_bound

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x, dtype = as_float32(x)
        h = float_hswish(x, self.relu_shift, self.relu_upper_bound)
        return ops.cast(super().__call__(h, training), dtype)

    def grid(self, x: Any = None) -> Any:
        """The fixed-point grid (or scaled grid) the hard swish is rounded to."""
        return super().hardware(x)

    def hardware(self, x: Any = None) -> Any:
        """The grid the hard swish is rounded to: the output type.

        ``nonlinearity = "hswish"`` tells the IR that the output is not a cast of the input; it builds the
        exact output of every input code as a step function (:mod:`fpgaq.ir.ops.hswish`).
        """
        return self.grid(x)

    def min(self) -> float:
        """QKeras' bound: the grid's minimum, or the quantized dip of the parabola when that is higher."""
        low = super().min()
        dip = -self.relu_shift * self.relu_shift / (4 * self.relu_upper_bound)
        if low >= dip:
            return low
        return float(np.asarray(quantized_bits.__call__(self, np.float32(dip))))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if config.get("post_training_scale") is None:
            config.pop("post_training_scale", None)  # not an argument of quantized_hswish in QKeras
        config.update({"relu_shift": self.relu_shift, "relu_upper_bound": self.relu_upper_bound})
        return config

    def __str__(self) -> str:
        flags = [
            str(self.bits),
            str(self.integer),
            str(int(bool(self.symmetric))),
            f"relu_shift={self.relu_shift!r}",
            f"relu_upper_bound={self.relu_upper_bound!r}",
        ]
        if self.alpha is not None:
            alpha = self.alpha.tolist() if isinstance(self.alpha, np.ndarray) else self.alpha
            flags.append(f"alpha={alpha!r}")
        if self.use_stochastic_rounding:
            flags.append(f"use_stochastic_rounding={int(bool(self.use_stochastic_rounding))}")
        if self.qnoise_value != 1.0:
            flags.append(f"qnoise_factor={self.qnoise_value!r}")
        flags.extend(f"{k}={v!r}" for k, v in self._extras().items())
        return f"quantized_hswish({','.join(flags)})"
