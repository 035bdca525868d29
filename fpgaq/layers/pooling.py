"""Average pooling whose division is a multiplication by a quantized reciprocal (QKeras' ``qpooling.py``).

Hardware averages by summing the window and multiplying by a constant
``1 / pool_area`` held in some fixed-point type; ``average_quantizer`` says
which, so training sees the same rounding of that constant.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from fpgaq.layers.common import (
    QuantizedLayerMixin,
    activation_from_spec,
    activation_to_spec,
    layer_label,
    register_layer,
)

__all__ = ["QAveragePooling2D", "QGlobalAveragePooling2D", "same_padding_counts"]


def same_padding_counts(size: int, pool: int, stride: int) -> np.ndarray:
    """How many of the ``pool`` positions of each output window lie inside the input, for ``padding='same'``.

    TensorFlow's rule: ``out = ceil(size / stride)``, ``pad = max((out - 1) * stride + pool - size, 0)``,
    of which ``pad // 2`` goes before the input.
    """
    out = -(-size // stride)
    before = max((out - 1) * stride + pool - size, 0) // 2
    starts = np.arange(out) * stride - before
    return np.minimum(starts + pool, size) - np.maximum(starts, 0)


class _QuantizedAverage(QuantizedLayerMixin):
    """The QKeras arguments and the quantized multiply shared by both pooling layers."""

    _quantizer_attrs = (("average_quantizer", "average_quantizer_internal"),)

    def _init_average(self, average_quantizer: Any, activation: Any) -> None:
        self._init_quantizers(average_quantizer=average_quantizer)
        # None stays None here (QKeras' pooling layers store and serialize it so).
        self.activation = activation_from_spec(activation, f"{layer_label(self)}: activation={activation!r}")

    @property
    def quantizers(self) -> list[Any]:
        return self.get_quantizers()

    def quantized_reciprocal(self, area: int) -> Any:
        """``average_quantizer(1 / area)``: the constant hardware multiplies the window sum by."""
        return ops.cast(self.average_quantizer_internal(ops.convert_to_tensor(1.0 / area, "float32")), "float32")

    def _activate(self, x: Any) -> Any:
        return self.activation(x) if self.activation is not None else x

    def _average_config(self) -> dict[str, Any]:
        return {**self.quantizer_config(), "activation": activation_to_spec(self.activation)}


@register_layer
class QAveragePooling2D(_QuantizedAverage, keras.layers.AveragePooling2D):
    """AveragePooling2D whose ``1 / pool_area`` is quantized, then ``activation`` (QKeras).

    With an ``average_quantizer`` the output is ``activation(window_sum * average_quantizer(1 / pool_area))``,
    where ``pool_area = pool_h * pool_w``; without one it is Keras' average.
    QKeras writes the sum as ``keras_average * pool_area`` in float32; here the
    window sum is computed directly, which is the exact sum whenever the inputs
    are on a fixed-point grid (the float32 product could be an ulp off).  For
    ``padding='same'`` QKeras' average of a border window counts only the
    positions inside the input, so its output there is
    ``window_sum * (pool_area / count) * average_quantizer(1 / pool_area)``;
    that factor is reproduced (:meth:`window_counts` gives ``count``).
    """

    def __init__(
        self,
        pool_size: int | tuple[int, int] = (2, 2),
        strides: int | tuple[int, int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        average_quantizer: Any = None,
        activation: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size=pool_size, strides=strides, padding=padding, data_format=data_format, **kwargs)
        self._init_average(average_quantizer, activation)

    @property
    def pool_area(self) -> int:
        return int(self.pool_size[0] * self.pool_size[1])

    def window_counts(self, input_shape: tuple[int | None, ...]) -> np.ndarray:
        """Input positions inside each output window, shape ``(out_h, out_w)``: ``pool_area`` except at
        the borders of ``padding='same'``."""
        spatial = input_shape[1:3] if self.data_format == "channels_last" else input_shape[2:4]
        return self._counts(spatial, input_shape)

    def _counts(self, spatial: tuple[int | None, ...], input_shape: tuple[int | None, ...]) -> np.ndarray:
        if any(s is None for s in spatial):
            raise ValueError(
                f"{layer_label(self)}: the window counts (used by padding='same' with an average_quantizer) "
                f"need known height and width, got input shape {tuple(input_shape)}"
            )
        if self.padding == "valid":
            out = [(s - p) // st + 1 for s, p, st in zip(spatial, self.pool_size, self.strides, strict=True)]
            return np.full(out, self.pool_area, dtype=np.int64)
        rows, cols = (
            same_padding_counts(s, p, st) for s, p, st in zip(spatial, self.pool_size, self.strides, strict=True)
        )
        return np.outer(rows, cols)

    def _window_sum(self, x: Any) -> Any:
        """Sum of each window as a convolution with ones: exact whenever the sums fit float32's mantissa."""
        channels = x.shape[-1]
        if self.strides[0] == self.strides[1]:
            ones = ops.ones((*self.pool_size, channels, 1), dtype=x.dtype)
            return ops.depthwise_conv(x, ones, strides=self.strides, padding=self.padding, data_format="channels_last")
        # TensorFlow's depthwise kernel needs equal strides; a full convolution with a
        # channel-diagonal kernel of ones gives the same sums.
        kernel = np.ones((*self.pool_size, 1, 1), np.float32) * np.eye(channels, dtype=np.float32)
        return ops.conv(x, kernel, strides=self.strides, padding=self.padding, data_format="channels_last")

    def call(self, inputs: Any) -> Any:
        if self.average_quantizer_internal is None:
            return self._activate(super().call(inputs))
        x = ops.cast(inputs, "float32")
        if self.data_format == "channels_first":
            x = ops.transpose(x, (0, 2, 3, 1))
        y = self._window_sum(x)
        if self.padding == "same":
            counts = self._counts(tuple(x.shape[1:3]), tuple(inputs.shape))
            if np.any(counts != self.pool_area):
                factor = (self.pool_area / counts).astype(np.float32)[None, :, :, None]
                y = y * ops.convert_to_tensor(factor)
        y = y * self.quantized_reciprocal(self.pool_area)
        if self.data_format == "channels_first":
            y = ops.transpose(y, (0, 3, 1, 2))
        return self._activate(y)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._average_config()}


@register_layer
class QGlobalAveragePooling2D(_QuantizedAverage, keras.layers.GlobalAveragePooling2D):
    """GlobalAveragePooling2D whose ``1 / (height * width)`` is quantized, then ``activation`` (QKeras).

    With an ``average_quantizer`` the output is
    ``activation(sum over height and width * average_quantizer(1 / (height * width)))``;
    without one it is Keras' mean.  As in :class:`QAveragePooling2D` the sum is
    computed directly rather than as ``mean * area``.
    """

    def __init__(
        self,
        data_format: str | None = None,
        average_quantizer: Any = None,
        activation: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(data_format=data_format, **kwargs)
        self._init_average(average_quantizer, activation)

    def compute_pooling_area(self, input_shape: tuple[int | None, ...]) -> int:
        spatial = input_shape[1:3] if self.data_format == "channels_last" else input_shape[2:4]
        if any(s is None for s in spatial):
            raise ValueError(
                f"{layer_label(self)}: average_quantizer needs known height and width, got input shape {input_shape}"
            )
        return int(spatial[0] * spatial[1])

    def call(self, inputs: Any) -> Any:
        if self.average_quantizer_internal is None:
            return self._activate(super().call(inputs))
        x = ops.cast(inputs, "float32")
        axes = [1, 2] if self.data_format == "channels_last" else [2, 3]
        total = ops.sum(x, axis=axes, keepdims=self.keepdims)
        return self._activate(total * self.quantized_reciprocal(self.compute_pooling_area(tuple(x.shape))))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._average_config()}
