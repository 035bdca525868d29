"""Larq's quantizers as activations (a Larq layer's ``input_quantizer``): ``step`` nodes.

Each is a step function of its input, so it becomes the ``step`` op of
:mod:`fpgaq.ir.ops.quantized_activations` with exact cuts and levels:

* ``ste_sign``, ``approx_sign``, ``swish_sign``: -1 below 0, +1 from 0 up.
* ``ste_heaviside``: 0 up to and including 0, +1 above.
* ``ste_tern``: -1 up to ``-t``, 0 strictly between, +1 from ``t`` up, with
  ``t = |float32(threshold_value)|``.  Larq decides with the float32 signs of
  ``x + t`` and ``x - t``; a float32 difference is zero only when the
  operands are equal and otherwise has the exact difference's sign, so these
  cuts are exact for every float32 input.
* ``dorefa_quantizer`` (activations): level ``j`` is the float32 ``j * float32(1/n)``,
  ``n = 2**k - 1``.  The input moves from level ``j`` to ``j + 1`` where
  ``round(float32(x * n))`` does; float32 rounds the product to nearest, ties
  to even, and ``round`` takes ties to even, so the cut on ``x`` is an exact
  rational (see :func:`dorefa_cuts`), right for every float32 input.  A
  wider input (a long accumulator) is decided on its exact value.

Larq's ``pad_values`` convolutions (:mod:`fpgaq.larq_layers`) trace as the zero-padded
convolution of ``x - pad_values`` with the kernel sums folded into the bias (see
:func:`_padded_conv`).

``magnitude_aware_sign`` and ``ste_tern(ternary_weight_networks=True)``
learn their scale or threshold from each tensor: as activations they have no
fixed hardware meaning and are refused, naming the fix.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Node, Weight
from fpgaq.ir.ops._common import float32_fraction, unsupported
from fpgaq.ir.ops.quantized_activations import StepCuts, emit_step
from fpgaq.ir.trace import HANDLERS, QUANTIZER_ACTIVATIONS
from fpgaq.ir.weights import fit_type
from fpgaq.larq_layers import QDepthwiseConv2DPadValues
from fpgaq.quantizers.larq import dorefa_levels

__all__ = ["dorefa_cuts"]

_ONE = Fraction(1)


def _sign(t: Any, layer: Any, q: Any, src: str, name: str, lc: Any) -> str:
    return emit_step(t, layer, q, src, name, lc, StepCuts(((Fraction(0), True),), (-_ONE, _ONE)))


def _heaviside(t: Any, layer: Any, q: Any, src: str, name: str, lc: Any) -> str:
    return emit_step(t, layer, q, src, name, lc, StepCuts(((Fraction(0), False),), (Fraction(0), _ONE)))


def _tern(t: Any, layer: Any, q: Any, src: str, name: str, lc: Any) -> str:
    if q.ternary_weight_networks:
        raise unsupported(
            layer,
            f"activation quantizer {q} takes its threshold from the mean magnitude of every new input "
            "(ternary_weight_networks=True), so the hardware has no fixed threshold",
            "use ternary_weight_networks=False with a threshold_value for activations",
        )
    th = abs(float32_fraction(q.threshold_value))
    cuts = ((-th, False), (th, True)) if th > 0 else ((Fraction(0), True), (Fraction(0), False))
    return emit_step(t, layer, q, src, name, lc, StepCuts(cuts, (-_ONE, Fraction(0), _ONE)))


def _product_at_least(c: np.float32, n: int) -> tuple[Fraction, bool]:
    """``(cut, closed)`` with ``float32(x * n) >= c`` exactly when ``x > cut`` (or ``x == cut`` if closed).

    Round to nearest reaches ``c`` from the midpoint between ``c`` and its
    float32 predecessor; the midpoint itself goes to the neighbour with the
    even significand.
    """
    below = np.nextafter(c, np.float32(-np.inf))
    mid = (Fraction(float(below)) + Fraction(float(c))) / 2
    even = int(np.asarray(c, dtype=np.float32).view(np.uint32)) % 2 == 0
    return mid / n, even


def dorefa_cuts(k_bit: int) -> StepCuts:
    """DoReFa activations as exact cuts (see the module docstring)."""
    n = 2**k_bit - 1
    cuts = []
    for j in range(n):
        half = np.float32(j + 0.5)
        # round(v) >= j + 1: v >= j + 0.5 when j + 1 is even (the tie goes up), else v > j + 0.5
        target = half if (j + 1) % 2 == 0 else np.nextafter(half, np.float32(np.inf))
        cuts.append(_product_at_least(target, n))
    levels = tuple(Fraction(v) for v in dorefa_levels(k_bit, "activations"))
    return StepCuts(tuple(cuts), levels)


def _dorefa(t: Any, layer: Any, q: Any, src: str, name: str, lc: Any) -> str:
    if q.mode != "activations":
        raise unsupported(
            layer,
            f"activation quantizer {q} is in weights mode, which scales by the largest magnitude of every new input",
            "use mode='activations' for activations",
        )
    return emit_step(t, layer, q, src, name, lc, dorefa_cuts(q.k_bit))


def _magnitude_aware(t: Any, layer: Any, q: Any, src: str, name: str, lc: Any) -> str:
    raise unsupported(
        layer,
        f"activation quantizer {q} scales by the mean magnitude of every new input, so the hardware has no fixed scale",
        "use magnitude_aware_sign for kernels only, and ste_sign (or approx_sign, swish_sign) for activations",
    )


for _name in ("ste_sign", "approx_sign", "swish_sign"):
    QUANTIZER_ACTIVATIONS[_name] = _sign
QUANTIZER_ACTIVATIONS["ste_heaviside"] = _heaviside
QUANTIZER_ACTIVATIONS["ste_tern"] = _tern
QUANTIZER_ACTIVATIONS["dorefa_quantizer"] = _dorefa
QUANTIZER_ACTIVATIONS["magnitude_aware_sign"] = _magnitude_aware


# ----------------------------------------------------------------------------- pad_values
def _padded_conv(t: Any, layer: Any, ins: list[str], out_shape: tuple[int, ...], lc: Any) -> str:
    """``conv(pad_v(x)) = conv(pad_0(x - v)) + v * sum(kernel)``: a ``scale`` node subtracting ``v``, then
    the zero-padded convolution with ``v`` times each output channel's kernel sum added to its bias.

    The padded border of ``x - v`` is 0, i.e. ``v`` in ``x``; inside, the kernel sees ``x - v`` and the
    bias gives back ``v`` for every tap.  Every term is an exact sum of exact constants.
    """
    src = ins[0]
    in_shape = t.tensors[src].shape
    v = float32_fraction(layer.pad_values)
    channels = in_shape[-1]
    shift_name = f"{layer.name}_pad_values"
    weights = {
        "scale": Weight(np.ones(channels), FixedType(1, 1, False)),
        "shift": Weight(np.full(channels, -float(v)), fit_type(np.array([-float(v)]), f"{shift_name} shift")),
    }
    node = Node(shift_name, "scale", [src], shift_name, {"axis": -1}, weights, {}, t.options(lc), layer.name)
    shifted = t.add(node, in_shape, None)
    depthwise = isinstance(layer, QDepthwiseConv2DPadValues)
    attrs = {
        "kernel_size": tuple(layer.kernel_size),
        "strides": tuple(layer.strides),
        "dilation": tuple(layer.dilation_rate),
        "padding": layer.border(in_shape[:-1]),
    }
    if depthwise:
        attrs["depth_multiplier"] = int(layer.depth_multiplier)
        kernel, bias = t.kernel_and_bias(layer, lc, kernel_attr="kernel", kq="depthwise_quantizer_internal")
        taps = kernel.values.sum(axis=(0, 1)).reshape(-1)  # output channel c * multiplier + m
    else:
        kernel, bias = t.kernel_and_bias(layer, lc)
        taps = kernel.values.sum(axis=(0, 1, 2))
    total = np.asarray([Fraction(float(s)) * v for s in taps], dtype=object)
    if bias is not None:
        total = total + np.asarray([Fraction(float(b)) for b in np.asarray(bias.values).reshape(-1)], dtype=object)
    values = np.array([float(f) for f in total])
    if any(Fraction(float(f)) != f for f in total):
        raise unsupported(
            layer,
            f"pad_values={layer.pad_values!r} times the kernel sums plus the bias is not exact in float64",
            "use pad_values=1.0 or another short binary fraction",
        )
    quantizer = None if bias is None else bias.quantizer
    bias = Weight(values, fit_type(values, f"layer {layer.name!r} bias with pad_values"), None, quantizer)
    op = "depthwise2d" if depthwise else "conv2d"
    return t.linear_layer(layer, op, [shifted], out_shape, lc, kernel, bias, attrs)


HANDLERS["QConv2DPadValues"] = _padded_conv
HANDLERS["QDepthwiseConv2DPadValues"] = _padded_conv
