"""Batch normalization at inference: a per-channel ``scale`` node, ``y = x * scale + shift``.

QBatchNormalization's ``get_scale_and_offset()`` gives the exact float32
constants its inference uses.  Those that a quantizer produced (the scale
through ``inverse_quantizer``; the shift when, in addition, beta and the mean
are quantized) are binary fractions on a grid, and the node computes with
them exactly.  Everything else (Keras' BatchNormalization, or a scale formed
by ``1 / sqrt(variance + epsilon)``) is an arbitrary float: it is rounded to
the config's weight (scale) or bias (shift) precision, with a warning,
because no hardware holds it exactly.  The product and the sum are then
exact, as a ``dense`` node's accumulator is, until the output type rounds.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from typing import Any

import numpy as np

from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Graph, Node, Weight
from fpgaq.ir.ops._common import as_ints, like_input, unsupported
from fpgaq.ir.precision import PRECISION_RULES, range_type
from fpgaq.ir.trace import HANDLERS
from fpgaq.ir.weights import UnquantizedWarning, fit_type
from fpgaq.layers.batchnorm import scale_and_offset
from fpgaq.reference import KERNELS

__all__ = ["batchnorm_constants", "scale_rule"]


def _check_axis(layer: Any, rank: int) -> None:
    axis = layer.axis
    if isinstance(axis, (list, tuple)):
        axis = axis[0] if len(axis) == 1 else None
    if axis is None or int(axis) % rank != rank - 1:
        raise unsupported(
            layer,
            f"normalizing axis={layer.axis!r} is not supported; only the last (channel) axis is",
            "use axis=-1 with channels_last data",
        )


def batchnorm_constants(layer: Any) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    """``(scale, shift, scale_is_quantized, shift_is_quantized)`` as the layer's inference uses them.

    Keras' BatchNormalization computes its constants in float32 with an
    ``rsqrt`` whose rounding depends on the kernel; fpgaq takes the float64
    values rounded once to float32 (as ``QBatchNormalization`` does), which
    are the same on every machine.
    """
    if hasattr(layer, "get_scale_and_offset"):
        inv, offset = layer.get_scale_and_offset()
        quantized_scale = layer.inverse_quantizer_internal is not None
        beta_ok = not layer.center or layer.beta_quantizer_internal is not None
        quantized_shift = quantized_scale and beta_ok and layer.mean_quantizer_internal is not None
        return np.asarray(inv), np.asarray(offset), quantized_scale, quantized_shift
    gamma = layer.gamma if layer.scale else None
    beta = layer.beta if layer.center else None
    inv, offset = scale_and_offset(gamma, beta, layer.moving_mean, layer.moving_variance, layer.epsilon)
    return np.asarray(inv), np.asarray(offset), False, False


def _exact_constant(layer: Any, values: np.ndarray, what: str, quantizer: Any) -> Weight:
    exact = np.asarray(values, dtype=np.float64)
    hw = None
    if quantizer is not None:
        try:
            hw = quantizer.hardware()
        except (ValueError, NotImplementedError, TypeError):
            hw = None
    if isinstance(hw, FixedType) and hw.width <= 53 and np.array_equal(hw.from_int(hw.to_int(exact)), exact):
        return Weight(exact, hw.replace(rounding="TRN", overflow="WRAP"), None, str(quantizer))
    label = f"layer {layer.name!r} batch-normalization {what}"
    return Weight(exact, fit_type(exact, label), None if isinstance(hw, FixedType) else hw, None)


def _rounded_constant(t: Any, layer: Any, lc: Any, values: np.ndarray, what: str, role: str, why: str) -> Weight:
    precision = t.weight_default(lc, role).replace(rounding="RND_CONV", overflow="SAT")
    exact = np.asarray(values, dtype=np.float64)
    rounded = precision.quantize(exact)
    if t.explicit(lc, role) is None:
        error = float(np.max(np.abs(rounded - exact))) if exact.size else 0.0
        warnings.warn(
            f"layer {layer.name!r} ({type(layer).__name__}): the batch-normalization {what} is not a quantizer's "
            f"output ({why}); rounding it to the default precision {precision.ap_fixed()} (largest change "
            f"{error:.3g}); quantize it in the model, or set Precision.{role} for this layer in the config",
            UnquantizedWarning,
            stacklevel=4,
        )
    return Weight(rounded, precision, None, None)


def _batchnorm(t: Any, layer: Any, ins: list[str], out_shape: tuple[int, ...], lc: Any) -> str:
    _check_axis(layer, len(out_shape) + 1)
    inv, offset, quantized_scale, quantized_shift = batchnorm_constants(layer)
    is_q = hasattr(layer, "get_scale_and_offset")
    if quantized_scale:
        scale = _exact_constant(layer, inv, "scale", layer.inverse_quantizer_internal)
    else:
        why = "1 / sqrt(variance + epsilon) has no inverse_quantizer" if is_q else "Keras BatchNormalization"
        scale = _rounded_constant(t, layer, lc, inv, "scale", "weight", why)
    if quantized_shift:
        shift = _exact_constant(layer, offset, "shift", None)
    else:
        if not is_q:
            why = "Keras BatchNormalization"
        elif not quantized_scale:
            why = "it depends on the unquantized scale"
        else:
            why = "beta or the moving mean has no quantizer"
        shift = _rounded_constant(t, layer, lc, offset, "shift", "bias", why)
    types = {}
    accum = t.explicit(lc, "accum")
    if accum is not None:
        types["accum"] = accum
    weights = {"scale": scale, "shift": shift}
    node = Node(layer.name, "scale", ins[:1], layer.name, {"axis": -1}, weights, types, t.options(lc), layer.name)
    return t.add(node, out_shape, t.explicit(lc, "result"))


def _fractions(w: Weight) -> list[Fraction]:
    return [Fraction(float(v)) for v in np.asarray(w.values, dtype=np.float64).reshape(-1)]


def scale_rule(graph: Graph, node: Node, ins: list[FixedType], config: Any) -> FixedType:
    """The exact type of ``x * scale + shift`` over every input in ``ins[0]`` and every channel."""
    tin = ins[0]
    s, b = node.weights["scale"], node.weights["shift"]
    frac = max(tin.frac + s.type.frac, b.type.frac)
    svals, bvals = _fractions(s), _fractions(b)
    if len(svals) == 1:
        svals = svals * len(bvals)
    if len(bvals) == 1:
        bvals = bvals * len(svals)
    ends = [(sv * tin.min + bv, sv * tin.max + bv) for sv, bv in zip(svals, bvals)]
    lo = min(min(pair) for pair in ends)
    hi = max(max(pair) for pair in ends)
    exact = range_type(lo, hi, frac)
    node.types["exact"] = exact
    return node.types.setdefault("accum", exact)


def _scale_kernel(node: Node, xs: list[np.ndarray], tins: list[FixedType], tout: FixedType) -> np.ndarray:
    x, tin = xs[0], tins[0]
    s, b = node.weights["scale"], node.weights["shift"]
    exact, acc_t = node.types["exact"], node.types["accum"]
    s_shift = exact.frac - tin.frac - s.type.frac
    b_shift = exact.frac - b.type.frac
    bits = max(tin.width + s.type.width + s_shift, b.type.width + b_shift) + 2
    m = as_ints(x, bits) * as_ints(s.mantissa, bits)
    y = (m << s_shift) + (as_ints(b.mantissa, bits) << b_shift)
    if acc_t != exact:
        y = acc_t.cast(y, exact)
    return like_input(tout.cast(y, acc_t), x)


HANDLERS["BatchNormalization"] = _batchnorm
HANDLERS["QBatchNormalization"] = _batchnorm
PRECISION_RULES["scale"] = scale_rule
KERNELS["scale"] = _scale_kernel
