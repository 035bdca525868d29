"""What the op modules share: integer arrays of the right width, and the linear-node tail."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Node
from fpgaq.ir.trace import UnsupportedLayerError

__all__ = ["as_ints", "channels_last", "finish_linear", "float32_fraction", "like_input", "unsupported"]

# Integers up to this many bits stay in int64 (with headroom for one addition).
_INT64_BITS = 61


def layer_where(layer: Any) -> str:
    """A layer as errors name it: its name and class."""
    return f"layer {layer.name!r} ({type(layer).__name__})"


def unsupported(layer: Any, what: str, fix: str) -> UnsupportedLayerError:
    """The error every handler raises: layer name and class, what is wrong, how to fix it."""
    return UnsupportedLayerError(f"{layer_where(layer)}: {what}; {fix}")


def hardware_type(layer: Any, q: Any) -> Any:
    """``q.hardware()``; its ValueError (which names the fix) becomes the layer's UnsupportedLayerError."""
    try:
        return q.hardware()
    except ValueError as err:
        raise UnsupportedLayerError(f"{layer_where(layer)}: {err}") from None


def channels_last(layer: Any) -> None:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise unsupported(layer, "data_format='channels_first' is not supported", "use data_format='channels_last'")


def as_ints(m: np.ndarray, bits: int) -> np.ndarray:
    """Mantissas (integers, or integer-valued float64 from the reference's fast path) as
    exact integers able to hold ``bits``-bit intermediates."""
    arr = np.asarray(m)
    if bits > _INT64_BITS:
        return arr.astype(object) if arr.dtype.kind != "f" else np.vectorize(int, otypes=[object])(arr)
    return arr.astype(np.int64)


def float32_fraction(value: Any) -> Fraction:
    """The float32 constant Keras and the quantizers compare or multiply with, as an exact fraction."""
    return Fraction(float(np.float32(value)))


def like_input(result: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Hand mantissas back in the representation the kernel received (float64 in the fast path)."""
    return np.asarray(result).astype(np.float64) if np.asarray(x).dtype.kind == "f" else result


def finish_linear(node: Node, acc: np.ndarray, frac: int, tout: FixedType) -> np.ndarray:
    """Exact sums with ``frac`` fractional bits -> + bias -> declared accumulator -> output type,
    as the reference's dense and convolution kernels do."""
    exact_t, acc_t = node.types["exact"], node.types["accum"]
    if exact_t.frac > frac:
        acc = acc << (exact_t.frac - frac)
    bias = node.weights.get("bias")
    if bias is not None:
        b = as_ints(bias.mantissa, exact_t.width + 2)
        acc = acc + (b << (exact_t.frac - bias.type.frac))
    if acc_t != exact_t:
        acc = acc_t.cast(acc, exact_t)
    return tout.cast(acc, acc_t) if tout != acc_t else acc
