"""QBatchNormalization: batch normalization whose parameters and statistics are quantized.

Arguments, defaults and numerics follow QKeras 0.9.0 (``qkeras/qnormalization.py``),
plus the ``inverse_quantizer`` of QKeras' later sources.
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from fpgaq.layers.common import (
    QuantizedLayerMixin,
    auto_range_constraint,
    layer_label,
    register_layer,
    warn_range_ignored,
)

__all__ = ["QBatchNormalization", "scale_and_offset"]


def scale_and_offset(
    gamma: Any, beta: Any, mean: Any, variance: Any, epsilon: float, inverse_quantizer: Any = None
) -> tuple[Any, Any]:
    """``inv = gamma / sqrt(variance + epsilon)`` and ``offset = beta - mean * inv``, as float32.

    ``gamma`` and ``beta`` may be ``None`` (``scale=False`` / ``center=False``).
    The arithmetic runs in float64 and is rounded once to float32: TensorFlow's
    graph optimiser and XLA each rewrite a float32 ``x / sqrt(y)`` differently,
    so a float32 result would depend on how the model is run, while the float64
    one rounds to the same float32 everywhere (and equals NumPy's).
    """
    var64 = ops.cast(variance, "float64")
    inv = 1.0 / ops.sqrt(var64 + epsilon)
    if gamma is not None:
        inv = ops.cast(gamma, "float64") * inv
    inv = ops.cast(inv, "float32")
    if inverse_quantizer is not None:
        inv = ops.cast(inverse_quantizer(inv), "float32")
    offset = -ops.cast(mean, "float64") * ops.cast(inv, "float64")
    if beta is not None:
        offset = ops.cast(beta, "float64") + offset
    return inv, ops.cast(offset, "float32")


def _single_axis(axis: Any, owner: str) -> int:
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise ValueError(f"{owner}: axis={axis!r}: only one normalization axis is supported; give an int")
        axis = axis[0]
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{owner}: axis={axis!r} must be an int (e.g. -1 for channels_last)")
    return int(axis)


# Keyword arguments of tf.keras' BatchNormalization that QKeras switches off.
_DISABLED_BY_QKERAS = ("fused", "renorm", "virtual_batch_size", "adjustment")


@register_layer
class QBatchNormalization(QuantizedLayerMixin, keras.layers.BatchNormalization):
    """Batch normalization with quantized ``gamma``, ``beta``, mean and variance (QKeras).

    In inference, per channel, with ``q_*`` the quantizers (a missing one is
    the identity)::

        inv    = q_gamma(gamma) / sqrt(q_variance(moving_variance) + epsilon)
        inv    = q_inverse(inv)                      # only with inverse_quantizer
        offset = q_beta(beta) - q_mean(moving_mean) * inv
        y      = x * inv + offset

    :meth:`get_scale_and_offset` returns exactly the ``inv`` and ``offset``
    used.  In training the batch mean and (biased) variance replace the moving
    ones, quantized the same way, and the moving statistics are updated with
    the unquantized batch moments, ``moving = moving * momentum + batch * (1 - momentum)``.

    The quantizer defaults are QKeras 0.9.0's (``None`` means no quantizer).
    QKeras accepts ``activation`` and then ignores it; here a non-``None``
    value is an error, so a model cannot silently differ from what its code says.
    ``inverse_quantizer`` comes from QKeras' later sources, where it is meant
    to replace the gamma and variance quantizers (set those to ``None``).
    """

    _quantizer_attrs = (
        ("gamma_quantizer", "gamma_quantizer_internal"),
        ("beta_quantizer", "beta_quantizer_internal"),
        ("mean_quantizer", "mean_quantizer_internal"),
        ("variance_quantizer", "variance_quantizer_internal"),
        ("inverse_quantizer", "inverse_quantizer_internal"),
    )

    def __init__(
        self,
        axis: int | list[int] = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        activation: Any = None,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_quantizer: Any = "quantized_po2(5)",
        gamma_quantizer: Any = "quantized_relu_po2(6, 2048)",
        mean_quantizer: Any = "quantized_po2(5)",
        variance_quantizer: Any = "quantized_relu_po2(6, quadratic_approximation=True)",
        inverse_quantizer: Any = None,
        gamma_constraint: Any = None,
        beta_constraint: Any = None,
        beta_range: Any = None,
        gamma_range: Any = None,
        **kwargs: Any,
    ) -> None:
        owner = f"QBatchNormalization {kwargs.get('name')!r}" if kwargs.get("name") else "QBatchNormalization"
        if activation is not None:
            raise ValueError(
                f"{owner}: activation={activation!r} is not supported: QKeras' QBatchNormalization accepts it "
                "but never applies it; remove it, or add a QActivation after this layer"
            )
        for key in _DISABLED_BY_QKERAS:
            if kwargs.pop(key, None):
                warnings.warn(f"{owner}: {key} is disabled in QBatchNormalization (as in QKeras)", stacklevel=2)
        kwargs.pop("renorm_clipping", None)
        kwargs.pop("renorm_momentum", None)
        if kwargs.pop("synchronized", False):
            raise ValueError(f"{owner}: synchronized=True is not supported; batch moments are per replica")
        warn_range_ignored(owner, gamma_range=gamma_range, beta_range=beta_range)
        super().__init__(
            axis=_single_axis(axis, owner),
            momentum=momentum,
            epsilon=epsilon,
            center=center,
            scale=scale,
            beta_initializer=beta_initializer,
            gamma_initializer=gamma_initializer,
            moving_mean_initializer=moving_mean_initializer,
            moving_variance_initializer=moving_variance_initializer,
            beta_regularizer=beta_regularizer,
            gamma_regularizer=gamma_regularizer,
            beta_constraint=beta_constraint,
            gamma_constraint=gamma_constraint,
            **kwargs,
        )
        self.gamma_range = gamma_range
        self.beta_range = beta_range
        self._init_quantizers(
            gamma_quantizer=gamma_quantizer,
            beta_quantizer=beta_quantizer,
            mean_quantizer=mean_quantizer,
            variance_quantizer=variance_quantizer,
            inverse_quantizer=inverse_quantizer,
        )
        # As QKeras: a quantized gamma or beta without a constraint of its own gets Clip(-m, m).
        if self.scale:
            self.gamma_constraint = auto_range_constraint(self.gamma_quantizer_internal, self.gamma_constraint)
        if self.center:
            self.beta_constraint = auto_range_constraint(self.beta_quantizer_internal, self.beta_constraint)

    @property
    def quantizers(self) -> list[Any]:
        return self.get_quantizers()

    def _quantized_affine(self) -> tuple[Any, Any]:
        gamma = self.gamma if self.scale else None
        if gamma is not None and self.gamma_quantizer_internal is not None:
            gamma = self.gamma_quantizer_internal(gamma)
        beta = self.beta if self.center else None
        if beta is not None and self.beta_quantizer_internal is not None:
            beta = self.beta_quantizer_internal(beta)
        return gamma, beta

    def _quantized_stats(self, mean: Any, variance: Any) -> tuple[Any, Any]:
        if self.mean_quantizer_internal is not None:
            mean = self.mean_quantizer_internal(mean)
        if self.variance_quantizer_internal is not None:
            variance = self.variance_quantizer_internal(variance)
        return mean, variance

    def _scale_offset(self, mean: Any, variance: Any) -> tuple[Any, Any]:
        gamma, beta = self._quantized_affine()
        mean, variance = self._quantized_stats(mean, variance)
        return scale_and_offset(gamma, beta, mean, variance, self.epsilon, self.inverse_quantizer_internal)

    def get_scale_and_offset(self) -> tuple[np.ndarray, np.ndarray]:
        """The per-channel ``inv`` and ``offset`` of inference, ``y = x * inv + offset`` (float32)."""
        if not self.built:
            raise ValueError(f"{layer_label(self)}: build the layer (call it once) before get_scale_and_offset()")
        inv, offset = self._scale_offset(self.moving_mean, self.moving_variance)
        return ops.convert_to_numpy(inv), ops.convert_to_numpy(offset)

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        # Masks are ignored, as in QKeras: the batch moments include every element.
        inputs = ops.cast(inputs, "float32")
        if training and self.trainable:
            mean, variance = ops.moments(inputs, axes=self._reduction_axes)
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m + ops.stop_gradient(mean) * (1.0 - m))
            self.moving_variance.assign(self.moving_variance * m + ops.stop_gradient(variance) * (1.0 - m))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        inv, offset = self._scale_offset(mean, variance)
        shape = [1] * len(inputs.shape)
        shape[self.axis] = -1
        return inputs * ops.reshape(inv, shape) + ops.reshape(offset, shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key in ("renorm", "renorm_clipping", "renorm_momentum", "synchronized"):
            config.pop(key, None)
        config.update(self.quantizer_config())
        config.update({"beta_range": self.beta_range, "gamma_range": self.gamma_range})
        return config
