"""Make a leading ``QActivation('quantized_bits(...)')`` the input's own type.

The design's input port then carries exactly the quantized value, and the
quantization of incoming floats happens where data enters (in the
reference, the C-simulation test bench or the RTL test bench) rather than
as a separate node.
"""

from __future__ import annotations

from fpgaq.ir.graph import Graph

__all__ = ["absorb_input_quantizer"]


def absorb_input_quantizer(graph: Graph) -> tuple[Graph, bool]:
    for name in graph.inputs:
        tensor = graph.tensors[name]
        if tensor.type is not None:
            continue
        readers = graph.consumers(name)
        if len(readers) != 1 or name in graph.outputs:
            continue
        node = readers[0]
        if node.op != "activation" or node.attrs.get("function") != "linear":
            continue
        out_type = graph.tensors[node.output].type
        if out_type is None:
            continue
        g = graph.copy()
        g.tensors[name].type = out_type
        g.nodes = [n for n in g.nodes if n.name != node.name]
        g.replace_uses(node.output, name)
        g.remove_unused_tensors()
        return g, True
    return graph, False
