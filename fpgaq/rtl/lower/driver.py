"""The driver: a graph -> one netlist that remembers which node built each operation.

:func:`lower_graph` gives the design's function; the RTL generator also
needs to know, for every operation, the node it belongs to
(per-layer ``PipelineEvery``, one Verilog module per layer) and each node's
output signals (the layer boundaries where ``PipelineEvery: 0`` registers).
:func:`lower` runs the same registered lowerings node by node and records
both.  :func:`check_supported` names every node the RTL back end cannot
build, before anything is lowered or written.
"""

from __future__ import annotations

import dataclasses

from fpgaq.ir.graph import Graph
from fpgaq.rtl.lower.blocks import on_binary_point
from fpgaq.rtl.lower.learned import element_inputs
from fpgaq.rtl.lower.registry import LOWERINGS, OWN_BINARY_POINTS, RtlLoweringError, load_families
from fpgaq.rtl.netlist import Netlist, Signal

__all__ = ["Lowered", "check_supported", "lower", "lower_graph"]


@dataclasses.dataclass
class Lowered:
    """A lowered graph: the netlist, the node owning each op, and each node's inputs and outputs."""

    graph: Graph
    net: Netlist
    owner: dict[int, str]
    node_inputs: dict[str, list[list[Signal]]]
    node_outputs: dict[str, list[Signal]]


def check_supported(graph: Graph) -> None:
    """Raise :class:`RtlLoweringError` naming every node whose op has no RTL lowering, or a
    setting the RTL back end cannot honour (``IOType: io_stream``: it builds every design fully
    parallel, which for a convolution over a real image is the kernel once per pixel)."""
    streamed = [n.name for n in graph.nodes if (n.options or {}).get("io_type") == "io_stream"]
    if streamed:
        raise RtlLoweringError(
            f"design {graph.name!r}: Model.IOType io_stream is not supported by the RTL back end (layers "
            f"{', '.join(repr(n) for n in streamed[:4])}{' ...' if len(streamed) > 4 else ''}): it builds fully "
            "parallel designs only; set Model.IOType: io_parallel for the RTL, or write the streaming design with "
            "the HLS back end (write_hls; estimate(backend='hls'))"
        )
    load_families()
    missing = [n for n in graph.nodes if n.op != "input" and n.op not in LOWERINGS]
    if missing:
        listing = "; ".join(f"node {n.name!r} (op {n.op!r}, from Keras layer {n.source or n.name!r})" for n in missing)
        raise RtlLoweringError(
            f"design {graph.name!r}: {listing} {'has' if len(missing) == 1 else 'have'} no RTL implementation; "
            f"the RTL back end supports: {', '.join(sorted(LOWERINGS))}; use the HLS back end for this model"
        )


def lower(graph: Graph) -> Lowered:
    """The whole graph as one combinational netlist, with op ownership per node."""
    check_supported(graph)
    net = Netlist()
    owner: dict[int, str] = {}
    signals: dict[str, list[Signal]] = {}
    node_inputs: dict[str, list[list[Signal]]] = {}
    node_outputs: dict[str, list[Signal]] = {}
    for name in graph.inputs:
        t = graph.tensors[name]
        signals[name] = net.add_input(name, t.type, t.size)
        if t.elements is not None:
            signals[name] = element_inputs(net, signals[name], t.elements)
    for node in graph.nodes:
        if node.op == "input":
            continue
        mark = len(net.ops)
        ins = [signals[t] for t in node.inputs]
        if node.op not in OWN_BINARY_POINTS:
            ins = [on_binary_point(net, signals[t], graph.tensors[t].type) for t in node.inputs]
        out = LOWERINGS[node.op](net, node, graph, ins)
        expected = graph.tensors[node.output].size
        if len(out) != expected:
            raise AssertionError(f"lowering of {node.name!r} ({node.op}) gave {len(out)} signals, expected {expected}")
        for op in net.ops[mark:]:
            owner[op.out.id] = node.name
        signals[node.output] = out
        node_inputs[node.name] = ins
        node_outputs[node.name] = list(out)
    for name in graph.outputs:
        t = graph.tensors[name].type
        net.add_output(name, on_binary_point(net, signals[name], t), t)
    return Lowered(graph, net, owner, node_inputs, node_outputs)


def lower_graph(graph: Graph) -> Netlist:
    """The whole graph as one combinational netlist (pipelining comes after): :func:`lower`'s netlist alone."""
    return lower(graph).net
