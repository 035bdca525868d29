"""Separable convolutions: a ``depthwise`` node, then a pointwise (1x1) convolution node.

Keras computes both steps in one operation, so nothing rounds between them:
the depthwise node carries no bias, activation or configured type, and
precision inference gives its output the exact accumulator type.  The
layer's bias, accumulator and result settings and its activation belong to
the pointwise node.  Keras' DepthwiseConv1D is traced here too (the
reference's depthwise kernel serves any number of spatial axes).
"""

from __future__ import annotations

from typing import Any

from fpgaq.ir.graph import Node
from fpgaq.ir.ops._common import channels_last, unsupported
from fpgaq.ir.trace import HANDLERS, trace_depthwise, window_attrs

__all__: list[str] = []


def _separable(t: Any, layer: Any, ins: list[str], out_shape: tuple[int, ...], lc: Any) -> str:
    ndim = len(layer.kernel_size)
    channels_last(layer)
    if layer.padding not in ("valid", "same"):
        raise unsupported(layer, f"padding={layer.padding!r} is not supported", "use 'valid' or 'same'")
    in_shape = t.tensors[ins[0]].shape
    multiplier = int(layer.depth_multiplier)
    depthwise = t.weight(layer, "depthwise_kernel", "depthwise_quantizer_internal", "weight", lc)
    pointwise = t.weight(layer, "pointwise_kernel", "pointwise_quantizer_internal", "weight", lc)
    bias = None
    if layer.use_bias and getattr(layer, "bias", None) is not None:
        bias = t.weight(layer, "bias", "bias_quantizer_internal", "bias", lc)
    dw_attrs = {**window_attrs(layer, in_shape), "depth_multiplier": multiplier}
    dw_name = f"{layer.name}_depthwise"
    dw_node = Node(
        dw_name, f"depthwise{ndim}d", ins[:1], dw_name, dw_attrs, {"kernel": depthwise}, {}, t.options(lc), layer.name
    )
    mid = t.add(dw_node, (*out_shape[:-1], in_shape[-1] * multiplier), None)
    pw_attrs = {
        "kernel_size": (1,) * ndim,
        "strides": (1,) * ndim,
        "dilation": (1,) * ndim,
        "padding": [(0, 0)] * ndim,
    }
    return t.linear_layer(layer, f"conv{ndim}d", [mid], out_shape, lc, pointwise, bias, pw_attrs)


HANDLERS["SeparableConv1D"] = _separable
HANDLERS["SeparableConv2D"] = _separable
HANDLERS["QSeparableConv1D"] = _separable
HANDLERS["QSeparableConv2D"] = _separable
HANDLERS["DepthwiseConv1D"] = trace_depthwise
