"""QDenseBatchnorm and QConv2DBatchnorm: plain ``dense`` / ``conv2d`` nodes.

At inference these layers compute ``activation(linear(x, q_k(Wf)) + q_b(bf))``
with ``[Wf, bf] = get_folded_weights()``; the IR's constants are exactly
those quantized arrays (through the layer's own quantizers, in Keras float32),
so the folding itself never reaches the hardware.
"""

from __future__ import annotations

from typing import Any

from fpgaq.ir.ops._common import channels_last
from fpgaq.ir.trace import HANDLERS, window_attrs
from fpgaq.ir.weights import quantize_weight

__all__: list[str] = []


def _folded(t: Any, layer: Any, ins: list[str], out_shape: tuple[int, ...], lc: Any) -> str:
    is_conv = hasattr(layer, "kernel_size")
    if is_conv:
        channels_last(layer)
    folded_kernel, folded_bias = layer.get_folded_weights()
    kernel = quantize_weight(
        folded_kernel, layer.kernel_quantizer_internal, t.weight_default(lc, "weight"), "weight", layer.name
    )
    bias = quantize_weight(folded_bias, layer.bias_quantizer_internal, t.weight_default(lc, "bias"), "bias", layer.name)
    if not is_conv:
        return t.linear_layer(layer, "dense", ins, out_shape, lc, kernel, bias, {})
    attrs = window_attrs(layer, t.tensors[ins[0]].shape)
    return t.linear_layer(layer, "conv2d", ins, out_shape, lc, kernel, bias, attrs)


HANDLERS["QDenseBatchnorm"] = _folded
HANDLERS["QConv2DBatchnorm"] = _folded
