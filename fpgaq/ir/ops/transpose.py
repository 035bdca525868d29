"""Conv2DTranspose and QConv2DTranspose: the ``conv2d_transpose`` op.

Each input pixel scatters ``x[i] * kernel[t]`` to output position
``i * stride + t * dilation - offset``, summed per output channel; positions
outside ``[0, output_size)`` are dropped and positions no product reaches
hold only the bias.  ``offset`` is TensorFlow's leading padding of the
equivalent forward convolution (0 for ``'valid'``), which is how Keras'
``padding`` and ``output_padding`` reach the numbers.  The kernel stays in
Keras' layout ``(kh, kw, filters, in_channels)``.

Every output sums a subset of the kernel taps of its channel, and each
product's range contains zero, so the accumulator bounds of a convolution
whose kernel is the whole transposed kernel hold for every output (and for
every partial sum).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Graph, Node, Weight
from fpgaq.ir.ops._common import as_ints, channels_last, finish_linear, like_input, unsupported
from fpgaq.ir.precision import PRECISION_RULES, exact_output
from fpgaq.ir.trace import HANDLERS
from fpgaq.reference import KERNELS

__all__ = ["transpose_offsets", "transpose_rule"]


def transpose_offsets(
    in_size: tuple[int, ...],
    out_size: tuple[int, ...],
    kernel_size: tuple[int, ...],
    strides: tuple[int, ...],
    dilation: tuple[int, ...],
    padding: str,
) -> tuple[int, ...]:
    """TensorFlow's leading padding of the forward convolution that ``out_size -> in_size``.

    For ``'same'`` that is half (rounded down) of ``max((in - 1) * stride + k_eff - out, 0)``.
    """
    if padding == "valid":
        return (0,) * len(in_size)
    offsets = []
    for n_in, n_out, k, s, d in zip(in_size, out_size, kernel_size, strides, dilation):
        k_eff = (k - 1) * d + 1
        offsets.append(max((n_in - 1) * s + k_eff - n_out, 0) // 2)
    return tuple(offsets)


def _conv_transpose(t: Any, layer: Any, ins: list[str], out_shape: tuple[int, ...], lc: Any) -> str:
    channels_last(layer)
    ndim = len(layer.kernel_size)
    if ndim != 2:
        raise unsupported(layer, f"{ndim}-D transposed convolution is not supported", "use Conv2DTranspose")
    if layer.padding not in ("valid", "same"):
        raise unsupported(layer, f"padding={layer.padding!r} is not supported", "use 'valid' or 'same'")
    in_shape = t.tensors[ins[0]].shape
    strides, dilation = tuple(layer.strides), tuple(layer.dilation_rate)
    if max(dilation) > 1:
        raise unsupported(
            layer,
            f"dilation_rate={dilation} is not supported: TensorFlow's CPU kernel cannot run it, so the IR "
            "could not be checked against the model",
            "use dilation_rate=1",
        )
    attrs = {
        "kernel_size": tuple(layer.kernel_size),
        "strides": strides,
        "dilation": dilation,
        "padding_mode": layer.padding,
        "output_padding": None if layer.output_padding is None else tuple(layer.output_padding),
        "offset": transpose_offsets(in_shape[:-1], out_shape[:-1], layer.kernel_size, strides, dilation, layer.padding),
        "output_size": tuple(out_shape[:-1]),
    }
    kernel, bias = t.kernel_and_bias(layer, lc)
    return t.linear_layer(layer, "conv2d_transpose", ins, out_shape, lc, kernel, bias, attrs)


def _as_forward(node: Node) -> Node:
    """A stand-in conv2d whose kernel columns are this node's output channels."""
    k = node.weights["kernel"]
    weights = {"kernel": Weight(np.swapaxes(k.values, -1, -2), k.type)}
    if "bias" in node.weights:
        weights["bias"] = node.weights["bias"]
    return Node(node.name, "conv2d", node.inputs, node.output, {}, weights, dict(node.types), source=node.source)


def transpose_rule(graph: Graph, node: Node, ins: list[FixedType], config: Any) -> FixedType:
    """Exact accumulator over all kernel taps per output channel (a configured one is checked as for conv2d)."""
    forward = _as_forward(node)
    out = exact_output(graph, forward, ins)
    node.types.update(forward.types)
    return out


def _transpose_kernel(node: Node, xs: list[np.ndarray], tins: list[FixedType], tout: FixedType) -> np.ndarray:
    x_in, tin = xs[0], tins[0]
    kernel = node.weights["kernel"]
    bits = node.types["exact"].width + 2
    x = as_ints(x_in, bits)
    w = as_ints(kernel.mantissa, bits)  # (kh, kw, F, C)
    n, h, wd, c = x.shape
    (kh, kw), (sh, sw), (dh, dw) = node.attrs["kernel_size"], node.attrs["strides"], node.attrs["dilation"]
    oh, ow = node.attrs["offset"]
    out_h, out_w = node.attrs["output_size"]
    filters = w.shape[2]
    full_h = max((h - 1) * sh + (kh - 1) * dh + 1, oh + out_h)
    full_w = max((wd - 1) * sw + (kw - 1) * dw + 1, ow + out_w)
    buf = np.zeros((n, full_h, full_w, filters), dtype=x.dtype)
    flat = x.reshape(-1, c)
    for i in range(kh):
        for j in range(kw):
            contrib = (flat @ w[i, j].T).reshape(n, h, wd, filters)
            buf[:, i * dh : i * dh + (h - 1) * sh + 1 : sh, j * dw : j * dw + (wd - 1) * sw + 1 : sw, :] += contrib
    acc = buf[:, oh : oh + out_h, ow : ow + out_w, :]
    return like_input(finish_linear(node, acc, tin.frac + kernel.type.frac, tout), x_in)


HANDLERS["Conv2DTranspose"] = _conv_transpose
HANDLERS["QConv2DTranspose"] = _conv_transpose
PRECISION_RULES["conv2d_transpose"] = transpose_rule
KERNELS["conv2d_transpose"] = _transpose_kernel
