"""RTL lowering of ``quantize``: every element rounded and bounded at its own grid (learned precision).

Element ``e`` of the input is rounded to ``frac[e]`` fractional bits (RND adds half of the dropped
unit, TRN only drops bits) and then saturated to ``[lo[e], hi[e]]`` or wrapped into that whole
range, exactly as :func:`fpgaq.reference.quantize_elements`.  The output signal keeps the element's
own binary point and range, so everything downstream derives widths from the element, not from the
tensor's container type: a dense layer after it adds narrow operands with free shifts between
them.  A constant-zero element (``i + f < 0``) is the constant 0, which the layers after it drop.
"""

from __future__ import annotations

from fpgaq.fixed import FixedType
from fpgaq.hwtypes import ElementTypes
from fpgaq.ir.graph import Graph, Node
from fpgaq.reference import node_elements
from fpgaq.rtl.lower.registry import lowering
from fpgaq.rtl.netlist import Netlist, Signal, bits_for_range

__all__ = ["element_inputs", "quantize_element"]


def quantize_element(
    net: Netlist, x: Signal, frac: int, lo: int, hi: int, rounding: str, overflow: str, zero_frac: int = 0
) -> Signal:
    """``x`` rounded to ``frac`` fractional bits by ``rounding``, then into ``[lo, hi]`` by ``overflow``;
    a constant-zero element (``lo == hi == 0``) is the constant 0 with ``zero_frac`` fractional bits."""
    if lo == 0 and hi == 0:
        return net.const(0, zero_frac)
    k = x.frac - frac
    # a type wide enough that its own wrap never fires: the cast only rounds (or shifts left)
    width = max(bits_for_range(min(x.lo, 0), max(x.hi, 0))[0], 1) + max(-k, 0) + 2
    r = net.cast(x, FixedType(width, width - frac, True, rounding, "WRAP"))
    if overflow == "SAT":
        return net.clip(r, lo, hi)
    w, signed = bits_for_range(lo, hi)
    return net.wrap(r, w, signed)


def element_inputs(net: Netlist, port: list[Signal], et: ElementTypes) -> list[Signal]:
    """The signals of an input port whose elements have their own types (an absorbed learned quantizer).

    The port carries each element's mantissa on the container's binary point, already on the
    element's grid and in its range (the test benches cast floats so: see
    :func:`fpgaq.reference.input_mantissas`).  Element ``e`` is then a slice of the port: its bits
    from ``frac[e]`` below the container's binary point up to its width, no logic; its signal has the
    element's exact range and binary point, so the arithmetic after it is as narrow as the element.
    A constant-zero element is the constant 0 and its port bits go unused.
    """
    f, lo, hi = (a.reshape(-1) for a in (et.frac, et.lo, et.hi))
    out = []
    for e, x in enumerate(port):
        a, b = int(lo[e]), int(hi[e])
        if a == 0 and b == 0:
            out.append(net.const(0, x.frac))
            continue
        s = net.shr(x, x.frac - int(f[e]))
        width, signed = bits_for_range(a, b)
        # a wrap to the element's width (a slice) whose range the port's contract narrows to [lo, hi]
        out.append(s if a <= s.lo and s.hi <= b else net._new("wrap", a, b, s.frac, (s,), (width, signed)))
    return out


@lowering("quantize")
def _quantize(net: Netlist, node: Node, graph: Graph, inputs: list[list[Signal]]) -> list[Signal]:
    et = node_elements(node)
    f, lo, hi = (a.reshape(-1) for a in (et.frac, et.lo, et.hi))
    zero_frac = graph.tensors[node.output].type.frac
    return [
        quantize_element(net, x, int(f[e]), int(lo[e]), int(hi[e]), et.rounding, et.overflow, zero_frac)
        for e, x in enumerate(inputs[0])
    ]
