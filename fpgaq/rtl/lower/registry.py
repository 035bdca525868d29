"""The op -> lowering table and the driver that lowers a whole graph."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from fpgaq.ir.graph import Graph, Node
from fpgaq.rtl.netlist import Netlist, Signal

__all__ = ["LOWERINGS", "Lowering", "RtlLoweringError", "lower_graph", "lowering"]

Lowering = Callable[[Netlist, Node, Graph, list[list[Signal]]], list[Signal]]

#: op name -> lowering; filled by the modules listed in ``_FAMILIES`` when they are imported.
LOWERINGS: dict[str, Lowering] = {}

#: Modules of fpgaq.rtl.lower that register lowerings (imported lazily, once).
_FAMILIES = ("linear", "activations", "pooling", "structural", "tables")


class RtlLoweringError(ValueError):
    """A node the RTL back end cannot build; the message names the node, the setting and the fix."""


def lowering(*ops: str) -> Callable[[Lowering], Lowering]:
    def register(fn: Lowering) -> Lowering:
        for op in ops:
            LOWERINGS[op] = fn
        return fn

    return register


def _load_families() -> None:
    for family in _FAMILIES:
        try:
            importlib.import_module(f"fpgaq.rtl.lower.{family}")
        except ModuleNotFoundError as err:
            if err.name != f"fpgaq.rtl.lower.{family}":
                raise


def lower_graph(graph: Graph, net: Netlist | None = None) -> Netlist:
    """The whole graph as one combinational netlist (pipelining comes after)."""
    _load_families()
    net = Netlist() if net is None else net
    signals: dict[str, list[Signal]] = {}
    for name in graph.inputs:
        t = graph.tensors[name]
        signals[name] = net.add_input(name, t.type, t.size)
    for node in graph.nodes:
        if node.op == "input":
            continue
        fn = LOWERINGS.get(node.op)
        if fn is None:
            raise RtlLoweringError(
                f"node {node.name!r} (op {node.op!r}, from Keras layer {node.source!r}) has no RTL implementation; "
                f"the RTL back end supports: {', '.join(sorted(LOWERINGS))}; use the HLS back end for this model"
            )
        out = fn(net, node, graph, [signals[t] for t in node.inputs])
        expected = graph.tensors[node.output].size
        if len(out) != expected:
            raise AssertionError(f"lowering of {node.name!r} ({node.op}) gave {len(out)} signals, expected {expected}")
        signals[node.output] = out
    for name in graph.outputs:
        net.add_output(name, signals[name], graph.tensors[name].type)
    return net
