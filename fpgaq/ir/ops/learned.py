"""``learned_bits`` as an activation: a ``quantize`` node, every element on its own grid and range.

Learned precision gives each element of an activation (or each channel, or
the whole tensor) its own fractional bits ``f`` and integer bits ``i``; the
quantizer's :meth:`~fpgaq.quantizers.learned.learned_bits.hardware` says so
as :class:`~fpgaq.hwtypes.ElementTypes`.  The ``quantize`` op casts each
element of its input into exactly that: rounding at the element's own ``f``,
then saturating or wrapping into its own bounds.  Its output tensor keeps the
ElementTypes (``Tensor.elements``) with the one container type that holds
them all as ``Tensor.type``, so back ends with one type per tensor (the
reference, HLS) stay unchanged, while the RTL netlist gives every element
exactly its own width and drops the constant-zero ones.

A ``learned_bits`` right after a graph input reads floats, not a fixed-point
type; the input is then typed (unless the config types it) with one more
fractional bit than the finest element, truncating, and one more integer bit
than the container: flooring at a finer grid cannot change a rounding at a
coarser one (``floor(floor(y) / 2**k) == floor(y / 2**k)``), and the range,
saturating or wrapping, is a multiple of every element's, so the input port
is exact for every element.  When the quantizer is the input's only reader,
:mod:`fpgaq.ir.passes.absorb_input_elements` then makes its types the
input's own (no node, no logic: inputs arrive already quantized).

Keras computes ``x * 2**f`` and the rounding in float32: exact while the
input's fixed-point codes fit float32's 24-bit significand (as the layers
before a learned quantizer keep them in the models fpgaq's tests build).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fpgaq.fixed import FixedType
from fpgaq.hwtypes import ElementTypes
from fpgaq.ir.graph import Graph, Node
from fpgaq.ir.ops._common import hardware_type, unsupported
from fpgaq.ir.precision import PRECISION_RULES
from fpgaq.ir.trace import QUANTIZER_ACTIVATIONS
from fpgaq.reference import exact_input_type, node_elements

__all__ = ["describe_elements", "element_attrs", "exact_input_type"]


def element_attrs(et: ElementTypes) -> dict[str, Any]:
    """A ``quantize`` node's attrs for ``et`` (what :func:`fpgaq.reference.node_elements` reads back)."""
    return {"frac": et.frac, "lo": et.lo, "hi": et.hi, "rounding": et.rounding, "overflow": et.overflow}


def _check_wrap(layer: Any, et: ElementTypes) -> None:
    """WRAP drops high bits: each live element's range must be a whole two's complement or unsigned range."""
    if et.overflow != "WRAP":
        return
    live = ~((et.lo == 0) & (et.hi == 0))
    span = (et.hi - et.lo + 1)[live]
    lo, hi = et.lo[live], et.hi[live]
    whole = (span & (span - 1) == 0) & ((lo == 0) | (lo == -(hi + 1)))
    if not np.all(whole):
        raise unsupported(
            layer,
            "a wrapping per-element type whose bounds are not a whole two's complement or unsigned range",
            "use overflow='SAT', or bounds [-2**(n-1), 2**(n-1) - 1] / [0, 2**n - 1]",
        )


def describe_elements(et: ElementTypes) -> str:
    """``per-element 0..7 bits (mean 3.2)``: how summaries spell a tensor of per-element widths."""
    w = et.width
    return f"per-element {int(w.min(initial=0))}..{int(w.max(initial=0))} bits (mean {float(w.mean()):.1f})"


def _learned(t: Any, layer: Any, q: Any, src: str, name: str, lc: Any) -> str:
    et = hardware_type(layer, q)
    shape = t.tensors[src].shape
    if et.shape != tuple(shape):
        try:
            et = ElementTypes(*(np.broadcast_to(a, shape) for a in (et.frac, et.lo, et.hi)), et.rounding, et.overflow)
        except ValueError:
            raise unsupported(
                layer,
                f"learned_bits types a tensor of shape {et.shape}, but its input has shape {shape}",
                "build the quantizer on this layer's output",
            ) from None
    _check_wrap(layer, et)
    producer = next((n for n in t.nodes if n.output == src), None)
    if producer is not None and producer.op == "input" and t.tensors[src].type is None:
        t.tensors[src].type = exact_input_type(et)
    node = Node(name, "quantize", [src], name, element_attrs(et), options=t.options(lc), source=layer.name)
    out = t.add(node, shape, et.container())
    t.tensors[out].elements = et
    return out


def _quantize_rule(graph: Graph, node: Node, ins: list[FixedType], config: Any) -> FixedType:
    """The container of the node's elements; the output tensor keeps the elements themselves."""
    et = node_elements(node)
    graph.tensors[node.output].elements = et
    return et.container()


QUANTIZER_ACTIVATIONS["learned_bits"] = _learned
PRECISION_RULES["quantize"] = _quantize_rule
