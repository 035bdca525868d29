"""QConv1D, QConv2D, QConv2DTranspose: Keras convolutions on quantized kernels and biases."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from fpgaq.layers.common import KERNEL_AND_BIAS, QuantizedWeightsMixin, apply_quantizer, register_layer, ungrouped

__all__ = ["QConv1D", "QConv2D", "QConv2DTranspose", "add_bias_and_activate"]


def add_bias_and_activate(layer: Any, outputs: Any, training: Any = None) -> Any:
    """The tail every quantized convolution shares: ``+ q_b(bias)`` on the
    channel axis, then the activation (QKeras' order)."""
    if layer.use_bias:
        bias = layer._quantized_weight("bias_quantizer_internal", layer.bias, training)
        if layer.data_format == "channels_first":
            bias = ops.reshape(bias, (1, -1) + (1,) * (len(outputs.shape) - 2))
        outputs = ops.add(outputs, bias)
    return apply_quantizer(layer.activation, outputs, training)


class _QConv(QuantizedWeightsMixin):
    """The kernel/bias convolutions' quantizers (config and pruning hooks come from the mixin)."""

    _quantizer_attrs = KERNEL_AND_BIAS


@register_layer
class QConv1D(_QConv, keras.layers.Conv1D):
    """``Conv1D`` on ``q_k(kernel)`` and ``q_b(bias)``, then ``activation``.

    Arguments, defaults and attributes follow QKeras' ``QConv1D``
    (``data_format`` and ``groups`` pass through ``**kwargs``);
    ``kernel_range``/``bias_range`` are accepted and ignored, as in QKeras.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "he_normal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        kernel_quantizer: Any = None,
        bias_quantizer: Any = None,
        kernel_range: Any = None,
        bias_range: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            dilation_rate=dilation_rate,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self._init_weight_quantization(
            activation,
            {"kernel_range": kernel_range, "bias_range": bias_range},
            kernel_quantizer=kernel_quantizer,
            bias_quantizer=bias_quantizer,
        )

    def call(self, inputs: Any, training: Any = None) -> Any:
        padding = self.padding
        if padding == "causal":
            inputs = ops.pad(inputs, self._compute_causal_padding())
            padding = "valid"
        outputs = ops.conv(
            inputs,
            self._quantized_weight("kernel_quantizer_internal", self.kernel, training),
            strides=list(self.strides),
            padding=padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )
        return add_bias_and_activate(self, outputs, training)


@register_layer
class QConv2D(_QConv, keras.layers.Conv2D):
    """``Conv2D`` on ``q_k(kernel)`` and ``q_b(bias)``, then ``activation``.

    Arguments (in QKeras' order: ``kernel_range``/``bias_range`` before the
    quantizers), defaults and attributes follow QKeras' ``QConv2D``; the
    ranges are accepted and ignored, as in QKeras.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        data_format: str | None = "channels_last",
        dilation_rate: Any = (1, 1),
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "he_normal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        kernel_range: Any = None,
        bias_range: Any = None,
        kernel_quantizer: Any = None,
        bias_quantizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self._init_weight_quantization(
            activation,
            {"kernel_range": kernel_range, "bias_range": bias_range},
            kernel_quantizer=kernel_quantizer,
            bias_quantizer=bias_quantizer,
        )

    def call(self, inputs: Any, training: Any = None) -> Any:
        kernel = self._quantized_weight("kernel_quantizer_internal", self.kernel, training)
        return add_bias_and_activate(self, self.convolution_op(inputs, kernel), training)


@register_layer
class QConv2DTranspose(_QConv, keras.layers.Conv2DTranspose):
    """``Conv2DTranspose`` on ``q_k(kernel)`` and ``q_b(bias)``, then ``activation``.

    Arguments follow QKeras' ``QConv2DTranspose`` (which takes no
    ``kernel_range``/``bias_range``).  QKeras drops ``output_padding``
    (always ``None``); fpgaq honours it, which is the same for every model
    QKeras saved, since their configs say ``None``.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        output_padding: Any = None,
        data_format: str | None = None,
        dilation_rate: Any = (1, 1),
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        kernel_quantizer: Any = None,
        bias_quantizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            output_padding=output_padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **ungrouped(type(self), kwargs),
        )
        self._init_weight_quantization(activation, kernel_quantizer=kernel_quantizer, bias_quantizer=bias_quantizer)

    def call(self, inputs: Any, training: Any = None) -> Any:
        outputs = ops.conv_transpose(
            inputs,
            self._quantized_weight("kernel_quantizer_internal", self.kernel, training),
            strides=list(self.strides),
            padding=self.padding,
            output_padding=self.output_padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )
        return add_bias_and_activate(self, outputs, training)
