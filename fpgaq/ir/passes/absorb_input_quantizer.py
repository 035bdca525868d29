"""Make a leading ``QActivation('quantized_bits(...)')`` the input's own type.

The design's input port then carries exactly the quantized value, and the
quantization of incoming floats happens where data enters (in the
reference, the C-simulation test bench or the RTL test bench) rather than
as a separate node.
"""

from __future__ import annotations

from fpgaq.ir.graph import Graph
from fpgaq.ir.passes._absorb import absorbed, sole_input_readers

__all__ = ["absorb_input_quantizer"]


def absorb_input_quantizer(graph: Graph) -> tuple[Graph, bool]:
    for name, node in sole_input_readers(graph):
        if graph.tensors[name].type is not None:
            continue
        if node.op != "activation" or node.attrs.get("function") != "linear":
            continue
        out_type = graph.tensors[node.output].type
        if out_type is None:
            continue
        return absorbed(graph, name, node, out_type), True
    return graph, False
