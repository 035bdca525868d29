"""QDepthwiseConv2D: Keras' depthwise convolution on a quantized kernel and bias."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from fpgaq.layers.common import QuantizedWeightsMixin, register_layer, ungrouped
from fpgaq.layers.conv import add_bias_and_activate

__all__ = ["QDepthwiseConv2D"]


@register_layer
class QDepthwiseConv2D(QuantizedWeightsMixin, keras.layers.DepthwiseConv2D):
    """``DepthwiseConv2D`` on ``q_d(depthwise_kernel)`` and ``q_b(bias)``, then ``activation``.

    Arguments (in QKeras' order, ``dilation_rate`` after the constraints),
    defaults (``he_normal``) and attributes follow QKeras' ``QDepthwiseConv2D``;
    ``depthwise_range``/``bias_range`` are accepted and ignored, as in QKeras.
    Keras 3 names the weight ``kernel``; ``depthwise_kernel`` is the same
    variable under QKeras' name.
    """

    _quantizer_attrs = (
        ("depthwise_quantizer", "depthwise_quantizer_internal"),
        ("bias_quantizer", "bias_quantizer_internal"),
    )

    def __init__(
        self,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "he_normal",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        dilation_rate: Any = (1, 1),
        depthwise_quantizer: Any = None,
        bias_quantizer: Any = None,
        depthwise_range: Any = None,
        bias_range: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            depth_multiplier=depth_multiplier,
            data_format=data_format,
            dilation_rate=dilation_rate,
            use_bias=use_bias,
            depthwise_initializer=depthwise_initializer,
            bias_initializer=bias_initializer,
            depthwise_regularizer=depthwise_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            depthwise_constraint=depthwise_constraint,
            bias_constraint=bias_constraint,
            **ungrouped(type(self), kwargs),
        )
        self._init_weight_quantization(
            activation,
            {"depthwise_range": depthwise_range, "bias_range": bias_range},
            depthwise_quantizer=depthwise_quantizer,
            bias_quantizer=bias_quantizer,
        )

    @property
    def depthwise_kernel(self) -> Any:
        return self.kernel

    def call(self, inputs: Any, training: Any = None) -> Any:
        outputs = ops.depthwise_conv(
            inputs,
            self._quantized_weight("depthwise_quantizer_internal", self.kernel, training),
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )
        return add_bias_and_activate(self, outputs, training)
