"""QDense: ``keras.layers.Dense`` whose kernel and bias pass through quantizers."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from fpgaq.layers.common import KERNEL_AND_BIAS, QuantizedWeightsMixin, apply_quantizer, register_layer

__all__ = ["QDense"]


@register_layer
class QDense(QuantizedWeightsMixin, keras.layers.Dense):
    """A dense layer computing ``activation(x @ q_k(kernel) + q_b(bias))``.

    Arguments, defaults (``he_normal`` kernels) and attribute names follow
    QKeras' ``QDense``.  A quantized weight with no constraint of its own gets
    QKeras' ``Clip(-m, m)``.  ``activation`` is a quantizer or a Keras
    activation; ``kernel_range``/``bias_range`` are accepted and ignored.
    """

    _quantizer_attrs = KERNEL_AND_BIAS

    def __init__(
        self,
        units: int,
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
            units=units,
            activation=None,
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
        outputs = ops.matmul(inputs, self._quantized_weight("kernel_quantizer_internal", self.kernel, training))
        if self.use_bias:
            outputs = ops.add(outputs, self._quantized_weight("bias_quantizer_internal", self.bias, training))
        return apply_quantizer(self.activation, outputs, training)
