"""QSeparableConv1D/2D: depthwise then pointwise convolution on quantized kernels."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from fpgaq.layers.common import QuantizedWeightsMixin, register_layer, ungrouped
from fpgaq.layers.conv import add_bias_and_activate

__all__ = ["QSeparableConv1D", "QSeparableConv2D"]

#: Keras 2's separable layers inherit these from its ``Conv`` base and write them into every config (QKeras'
#: too) but never use them, having depthwise and pointwise kernels instead; so any value is dropped here too.
_UNUSED_KERNEL_ARGS = frozenset({"kernel_initializer", "kernel_regularizer", "kernel_constraint"})


class _QSeparable(QuantizedWeightsMixin):
    """QKeras' separable layers: both kernels quantized before one fused
    ``separable_conv`` (no rounding between depthwise and pointwise), then
    ``+ q_b(bias)`` and the activation.  No ``*_range`` arguments, as in QKeras."""

    _quantizer_attrs = (
        ("depthwise_quantizer", "depthwise_quantizer_internal"),
        ("pointwise_quantizer", "pointwise_quantizer_internal"),
        ("bias_quantizer", "bias_quantizer_internal"),
    )
    _prunable = ("depthwise_kernel", "pointwise_kernel")

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        depth_multiplier: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        depthwise_quantizer: Any = None,
        pointwise_quantizer: Any = None,
        bias_quantizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(  # type: ignore[call-arg]
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            depth_multiplier=depth_multiplier,
            use_bias=use_bias,
            depthwise_initializer=depthwise_initializer,
            pointwise_initializer=pointwise_initializer,
            bias_initializer=bias_initializer,
            depthwise_regularizer=depthwise_regularizer,
            pointwise_regularizer=pointwise_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            depthwise_constraint=depthwise_constraint,
            pointwise_constraint=pointwise_constraint,
            bias_constraint=bias_constraint,
            **ungrouped(type(self), {k: v for k, v in kwargs.items() if k not in _UNUSED_KERNEL_ARGS}),
        )
        self._init_weight_quantization(
            activation,
            depthwise_quantizer=depthwise_quantizer,
            pointwise_quantizer=pointwise_quantizer,
            bias_quantizer=bias_quantizer,
        )

    def call(self, inputs: Any, training: Any = None) -> Any:
        outputs = ops.separable_conv(
            inputs,
            self._quantized_weight("depthwise_quantizer_internal", self.depthwise_kernel, training),
            self._quantized_weight("pointwise_quantizer_internal", self.pointwise_kernel, training),
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )
        return add_bias_and_activate(self, outputs, training)


@register_layer
class QSeparableConv1D(_QSeparable, keras.layers.SeparableConv1D):
    """``SeparableConv1D`` with quantized depthwise and pointwise kernels and bias
    (QKeras' ``QSeparableConv1D``; ``padding="causal"`` is not supported by Keras 3)."""


@register_layer
class QSeparableConv2D(_QSeparable, keras.layers.SeparableConv2D):
    """``SeparableConv2D`` with quantized depthwise and pointwise kernels and bias
    (QKeras' ``QSeparableConv2D`` class, not the ``QMobileNetSeparableConv2D`` function)."""
