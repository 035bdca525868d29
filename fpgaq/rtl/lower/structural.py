"""RTL lowering of the structural ops: add, concatenate, reshape, zero padding, identity.

Apart from ``add`` these are wiring plus the cast into the output type,
which is free whenever the output type holds the input (the usual case:
precision inference gives them the input's type).  Padding cells are the
constant 0 cast into the output type.
"""

from __future__ import annotations

import numpy as np

from fpgaq.ir.graph import Graph, Node
from fpgaq.rtl.lower.registry import lowering
from fpgaq.rtl.netlist import Netlist, Signal

__all__: list[str] = []


@lowering("reshape", "identity", own_binary_points=True)
def _cast_all(net: Netlist, node: Node, graph: Graph, inputs: list[list[Signal]]) -> list[Signal]:
    """Wiring; when the type does not change, each signal keeps its own grid (a ``quantize`` node's
    per-element widths reach the layer after a Flatten)."""
    tin, tout = graph.tensors[node.inputs[0]].type, graph.tensors[node.output].type
    if tin == tout:
        return list(inputs[0])
    return [net.cast(x, tout) for x in inputs[0]]


@lowering("add")
def _add(net: Netlist, node: Node, graph: Graph, inputs: list[list[Signal]]) -> list[Signal]:
    """The exact sum of every input (binary points aligned), then one cast: a balanced adder tree
    per element, so three or more inputs cost no more depth than necessary."""
    tout = graph.tensors[node.output].type
    return [net.cast(net.sum(terms), tout) for terms in zip(*inputs)]


@lowering("concatenate")
def _concatenate(net: Netlist, node: Node, graph: Graph, inputs: list[list[Signal]]) -> list[Signal]:
    """Each input cast into the output type, then interleaved in C order along ``attrs['axis']``."""
    tout = graph.tensors[node.output].type
    parts = []
    for name, xs in zip(node.inputs, inputs):
        part = np.empty(len(xs), dtype=object)
        part[:] = [net.cast(x, tout) for x in xs]
        parts.append(part.reshape(graph.tensors[name].shape))
    return list(np.concatenate(parts, axis=node.attrs["axis"]).reshape(-1))


@lowering("zeropad1d", "zeropad2d")
def _zeropad(net: Netlist, node: Node, graph: Graph, inputs: list[list[Signal]]) -> list[Signal]:
    tin, tout = graph.tensors[node.inputs[0]].type, graph.tensors[node.output].type
    shape = graph.tensors[node.inputs[0]].shape
    idx = np.pad(np.arange(len(inputs[0])).reshape(shape), [*node.attrs["padding"], (0, 0)], constant_values=-1)
    zero = net.cast(net.const(0, tin.frac), tout)
    return [net.cast(inputs[0][i], tout) if i >= 0 else zero for i in idx.reshape(-1)]
