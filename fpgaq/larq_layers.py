"""Convolutions padded with a constant other than zero: Larq's ``pad_values``.

Binarized networks pad with +1 (Larq's ``QuantConv2D(padding="same", pad_values=1.0)``)
so that the border holds a value the binary input can take, instead of a zero that
is neither -1 nor +1.  :func:`fpgaq.load_larq` imports such a layer as
:class:`QConv2DPadValues` or :class:`QDepthwiseConv2DPadValues`: the fpgaq layer with
the border filled with ``pad_values`` and a 'valid' convolution over the result, as
Larq computes it.

In hardware (:mod:`fpgaq.ir.ops.larq`) the padded convolution is the zero-padded one
on ``x - pad_values`` plus ``pad_values`` times each output channel's kernel sum, which
the zero padding leaves out everywhere: both terms are exact, so no new padding
hardware is needed.
"""

from __future__ import annotations

from typing import Any

from keras import ops

from fpgaq.layers import QConv2D, QDepthwiseConv2D
from fpgaq.layers.common import register_layer

__all__ = ["QConv2DPadValues", "QDepthwiseConv2DPadValues", "same_padding"]


def same_padding(
    size: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...], dilation: tuple[int, ...]
) -> list[tuple[int, int]]:
    """TensorFlow's ``padding="same"``: ``(before, after)`` per spatial axis, the odd cell after."""
    pads = []
    for n, k, s, d in zip(size, kernel, strides, dilation):
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


class _PadValues:
    """``padding="same"`` with the border filled with ``pad_values``: constant padding, then a 'valid' layer."""

    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    dilation_rate: tuple[int, ...]
    data_format: str

    def __init__(self, *args: Any, padding: str = "same", pad_values: float = 0.0, **kwargs: Any) -> None:
        if padding != "same":
            raise ValueError(
                f"{type(self).__name__}: padding={padding!r}; pad_values only applies to padding='same' "
                "(use the plain layer for 'valid')"
            )
        if kwargs.get("data_format", "channels_last") not in (None, "channels_last"):
            raise ValueError(f"{type(self).__name__}: data_format={kwargs['data_format']!r}; only channels_last")
        super().__init__(*args, padding="valid", **kwargs)  # type: ignore[call-arg]
        self.pad_values = float(pad_values)

    def border(self, spatial: tuple[int, ...]) -> list[tuple[int, int]]:
        """The ``(before, after)`` cells of ``pad_values`` on each spatial axis of an input of this size."""
        if any(n is None for n in spatial):
            raise ValueError(f"layer {self.name!r}: pad_values needs a known input size, got {spatial}")  # type: ignore[attr-defined]
        return same_padding(tuple(spatial), self.kernel_size, self.strides, self.dilation_rate)

    def _padded_shape(self, shape: tuple[Any, ...]) -> tuple[Any, ...]:
        pads = self.border(tuple(shape[1:-1]))
        return (shape[0], *(n + a + b for n, (a, b) in zip(shape[1:-1], pads)), shape[-1])

    def build(self, input_shape: Any) -> None:
        super().build(self._padded_shape(tuple(input_shape)))  # type: ignore[misc]

    def compute_output_shape(self, input_shape: Any) -> Any:
        return super().compute_output_shape(self._padded_shape(tuple(input_shape)))  # type: ignore[misc]

    def call(self, inputs: Any, training: Any = None) -> Any:
        pads = [(0, 0), *self.border(tuple(inputs.shape[1:-1])), (0, 0)]
        padded = ops.pad(inputs, pads, constant_values=self.pad_values)
        return super().call(padded, training=training)  # type: ignore[misc]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()  # type: ignore[misc]
        config.update(padding="same", pad_values=self.pad_values)
        return config


@register_layer
class QConv2DPadValues(_PadValues, QConv2D):
    """:class:`~fpgaq.layers.QConv2D` with ``padding="same"`` filled with ``pad_values`` (Larq's ``QuantConv2D``)."""


@register_layer
class QDepthwiseConv2DPadValues(_PadValues, QDepthwiseConv2D):
    """:class:`~fpgaq.layers.QDepthwiseConv2D` with ``padding="same"`` filled with ``pad_values``."""
