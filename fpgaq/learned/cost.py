"""A differentiable LUT cost of a model with learned precision: what the RTL back end builds.

The RTL turns every constant weight into shifts and adds: a weight whose mantissa
has ``d`` non-zero canonical-signed-digits costs ``d`` adder inputs, each about as
wide as the value it multiplies plus the weight's own span.  So a dense layer costs

    sum_ij  d_ij * (b_x[i] + n_ij)   adder bits,

with ``b_x[i]`` the width of input ``i`` (learned by the quantizer that produced it)
and ``n_ij`` the magnitude bits of weight ``ij``; a weight rounded to zero costs
nothing, a power of two costs one digit.  Adder bits become LUTs with the resource
model's own fitted coefficient (:func:`fpgaq.resource_model.coefficients`), so the
surrogate is in LUTs and ``beta`` weighs LUTs against the loss.  Output quantizers
that round to nearest add one adder bit per output bit, and a learned bias is one
more adder input as wide as its own span at every output position: without that
charge nothing holds a bias's fractional bits back, and a bias finer than anything
it is added to widens the accumulator past the 24 bits in which Keras' float32 sum
is still exact, so the trained model and its firmware would disagree.

Gradients: ``d`` and ``n`` are exact counts of the current weights (no gradient of
their own); the fractional bits of a non-zero weight get ``RHO`` digits per extra
bit (the density of non-zero digits in canonical signed digit form is 1/3 on
average), and the input widths get the digit counts they feed.  Everything is built
once per model as a plan (:func:`cost_plan`), then evaluated in the training step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

from fpgaq.keras_walk import PASS_THROUGH_LAYERS, layer_io
from fpgaq.quantizers import BaseQuantizer

__all__ = ["RHO", "CostPlan", "cost_plan", "csd_digits", "model_cost", "rank_correlation"]

#: Expected non-zero digits per bit of a canonical-signed-digit number.
RHO = 1.0 / 3.0
_DIGIT_BITS = 24
_LINEAR = ("QDense", "QConv1D", "QConv2D", "QDepthwiseConv2D")
_POOLING = frozenset(name for name in PASS_THROUGH_LAYERS if "Pooling" in name)  # widths mix across positions
_WIRING = (PASS_THROUGH_LAYERS - _POOLING) | {"Identity"}


def csd_digits(m: Any) -> Any:
    """Non-zero digits of each integer in canonical signed digit (non-adjacent) form.

    The non-adjacent form of ``n >= 0`` has a digit exactly where ``(3n xor n) >> 1``
    has a one bit; the count is that number's popcount.
    """
    n = ops.cast(ops.abs(m), "int32")
    c = ops.right_shift(ops.bitwise_xor(n * 3, n), 1)
    total = ops.zeros_like(c)
    for k in range(_DIGIT_BITS + 1):
        total = total + ops.bitwise_and(ops.right_shift(c, k), 1)
    return ops.cast(total, "float32")


def _magnitude_bits(m: Any) -> Any:
    a = ops.abs(m)
    return ops.where(a > 0, ops.floor(ops.log2(ops.maximum(a, 1.0))) + 1.0, 0.0)


def _is_learned(q: Any) -> bool:
    return isinstance(q, BaseQuantizer) and hasattr(q, "learns_range")


def _fixed_hardware(q: Any) -> Any:
    """A fixed (not learned) quantizer's hardware type, or None when it has no data-free one."""
    if not isinstance(q, BaseQuantizer):
        return None
    try:
        return q.hardware()
    except (ValueError, NotImplementedError, TypeError):
        return None


def _fixed_width(q: Any, default: float) -> float:
    """The width of a fixed quantizer's output, or ``default`` when it has none."""
    hw = _fixed_hardware(q)
    width = getattr(hw, "width", None) or getattr(hw, "bits", None)
    return float(width) if width else default


Widths = Callable[[], Any]  # per-sample widths of a tensor, broadcast to its shape


@dataclasses.dataclass
class CostPlan:
    """What the cost reads: per linear layer, its weights' quantizer and its input's widths."""

    terms: list[tuple[str, Callable[[], Any]]]
    add_lut: float

    def __call__(self) -> Any:
        total = ops.convert_to_tensor(0.0)
        for _, term in self.terms:
            total = total + term()
        return total * self.add_lut

    def per_layer(self) -> dict[str, float]:
        """Each layer's cost in LUTs (eager), for reports."""
        return {name: float(ops.convert_to_numpy(term())) * self.add_lut for name, term in self.terms}


def _weight_term(variable: Any, q: Any, x_widths: Widths, kind: str, positions: int) -> Callable[[], Any]:
    """Adder bits of a constant-weight layer: digits x (input width + weight span), per output position."""

    def term() -> Any:
        w = ops.convert_to_tensor(variable)
        if _is_learned(q):
            f = ops.round(ops.clip(q.frac_bits(), -12, 20))
            scale = ops.stop_gradient(ops.power(2.0, f))
            m = ops.stop_gradient(ops.round(q(w) * scale))
            alive = ops.cast(ops.not_equal(m, 0.0), "float32")
            fg = q.frac_bits() - ops.stop_gradient(q.frac_bits())
            digits = csd_digits(m) + RHO * fg * alive
            span = _magnitude_bits(m) + fg * alive
        else:
            wq = ops.stop_gradient(q(w)) if isinstance(q, BaseQuantizer) else w
            frac = ops.convert_to_tensor(float(_fixed_frac(q)))
            m = ops.round(wq * ops.power(2.0, frac))
            digits = csd_digits(m)
            span = _magnitude_bits(m)
        bx = x_widths()
        if kind == "dense":  # kernel (n_in, n_out); inputs (..., n_in)
            lead = ops.reshape(bx, (-1, int(w.shape[0])))
            bx_in = ops.sum(lead, axis=0)
            count = float(lead.shape[0])
            return ops.sum(digits * bx_in[:, None]) + count * ops.sum(digits * span)
        # convolutions: kernel (..., c_in, c_out) or depthwise (..., c_in, mult); inputs (..., c_in)
        c_in = int(w.shape[-2])
        bx_c = ops.mean(ops.reshape(bx, (-1, c_in)), axis=0)
        per_position = ops.sum(digits * bx_c[:, None]) + ops.sum(digits * span)
        return per_position * float(positions)

    return term


def _bias_term(variable: Any, q: Any, positions: int) -> Callable[[], Any]:
    """Adder bits of a learned bias: its span (magnitude and fractional bits) once per output position."""

    def term() -> Any:
        f = ops.round(ops.clip(q.frac_bits(), -12, 20))
        m = ops.stop_gradient(ops.round(q(ops.convert_to_tensor(variable)) * ops.power(2.0, f)))
        alive = ops.cast(ops.not_equal(m, 0.0), "float32")
        fg = q.frac_bits() - ops.stop_gradient(q.frac_bits())
        return ops.sum(_magnitude_bits(m) + fg * alive) * float(positions)

    return term


def _fixed_frac(q: Any) -> int:
    """The fractional bits of a fixed quantizer's grid (8 when it has none)."""
    frac = getattr(_fixed_hardware(q), "frac", None)
    return frac if isinstance(frac, int) else 8


def _output_term(q: Any) -> Callable[[], Any]:
    """A round-to-nearest output quantizer adds one adder bit per output bit."""

    def term() -> Any:
        return ops.sum(ops.broadcast_to(q.widths(), q.shape)) if q.rounding == "RND" else ops.convert_to_tensor(0.0)

    return term


def cost_plan(model: keras.Model, input_bits: float = 16.0, synth_device: str = "xc7") -> CostPlan:
    """The cost of ``model`` as a function of its current variables, in LUTs of ``synth_device``."""
    from fpgaq.resource_model import coefficients

    add_lut = float(coefficients(synth_device)["lut"]["lut_add_bits"])
    widths: dict[int, Widths] = {}
    shapes: dict[int, tuple[int, ...]] = {}

    def constant(shape: tuple[int, ...], value: float) -> Widths:
        return lambda: ops.full(shape, value)

    for t in model.inputs:
        shape = tuple(int(s) for s in t.shape[1:])
        widths[id(t)], shapes[id(t)] = constant(shape, input_bits), shape

    terms: list[tuple[str, Callable[[], Any]]] = []
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "InputLayer":
            continue
        ins, outs = layer_io(model, layer)
        out_shape = tuple(int(s) for s in outs[0].shape[1:])
        src = widths.get(id(ins[0]), constant(shapes.get(id(ins[0]), out_shape), input_bits))
        src_shape = shapes.get(id(ins[0]), out_shape)
        act = getattr(layer, "activation", None)
        if cls in _LINEAR:
            kind = "dense" if cls == "QDense" else "conv"
            positions = int(np.prod(out_shape[:-1])) if kind == "conv" else 1
            attr = "depthwise_quantizer_internal" if cls == "QDepthwiseConv2D" else "kernel_quantizer_internal"
            variable = layer.depthwise_kernel if cls == "QDepthwiseConv2D" else layer.kernel
            terms.append((layer.name, _weight_term(variable, getattr(layer, attr), src, kind, positions)))
            bias_q = getattr(layer, "bias_quantizer_internal", None)
            if getattr(layer, "use_bias", False) and _is_learned(bias_q):
                outputs = int(np.prod(out_shape[:-1])) if out_shape else 1
                terms.append((f"{layer.name}/bias", _bias_term(layer.bias, bias_q, outputs)))
            out = _activation_widths(act, out_shape, input_bits)
            if _is_learned(act):
                terms.append((f"{layer.name}/activation", _output_term(act)))
        elif cls == "QActivation":
            out = _activation_widths(layer.activation, out_shape, None) or src
            at_input = any(ins[0] is t for t in model.inputs)  # absorbed into the input type: no hardware
            if _is_learned(layer.activation) and not at_input:
                terms.append((layer.name, _output_term(layer.activation)))
        elif cls in _WIRING:
            out = _reshaped(src, src_shape, out_shape)
        elif cls in _POOLING:
            out = _per_channel(src, src_shape, out_shape)
        else:
            out = _activation_widths(act, out_shape, None) or _per_channel(src, src_shape, out_shape)
        widths[id(outs[0])], shapes[id(outs[0])] = out, out_shape
    return CostPlan(terms, add_lut)


def _activation_widths(act: Any, shape: tuple[int, ...], default: float | None) -> Widths | None:
    if _is_learned(act):
        return lambda: ops.broadcast_to(act.widths(), shape)
    if isinstance(act, BaseQuantizer):
        value = _fixed_width(act, default or 16.0)
        return lambda: ops.full(shape, value)
    if default is None:
        return None
    return lambda: ops.full(shape, default)


def _reshaped(src: Widths, src_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> Widths:
    if int(np.prod(src_shape)) == int(np.prod(out_shape)):
        return lambda: ops.reshape(ops.broadcast_to(src(), src_shape), out_shape)
    return _per_channel(src, src_shape, out_shape)


def _per_channel(src: Widths, src_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> Widths:
    """Widths through a layer that mixes positions: each channel's mean width."""

    def widths() -> Any:
        full = ops.broadcast_to(src(), src_shape)
        c = src_shape[-1] if src_shape else 1
        per_c = ops.mean(ops.reshape(full, (-1, c)), axis=0)
        if out_shape and out_shape[-1] == c:
            return ops.broadcast_to(per_c, out_shape)
        return ops.full(out_shape, ops.mean(per_c))

    return widths


def model_cost(model: keras.Model, input_bits: float = 16.0, synth_device: str = "xc7") -> float:
    """The surrogate's value for ``model`` now, in LUTs."""
    return float(ops.convert_to_numpy(cost_plan(model, input_bits, synth_device)()))


def rank_correlation(a: Any, b: Any) -> float:
    """Spearman's rank correlation of two sequences (ties get their mean rank)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"rank_correlation needs two sequences of the same length >= 2, got {a.shape} and {b.shape}")

    def ranks(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=np.float64)
        for value in np.unique(v):  # ties share their mean rank
            tied = v == value
            r[tied] = r[tied].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(np.sqrt((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / den) if den else 0.0
