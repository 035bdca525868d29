"""Make a ``quantize`` node (learned precision) right after a graph input the input's own types.

Other tools' designs receive their inputs already quantized; so should a
learned-precision design: rounding and saturating every input element in
the RTL cost about a hundred LUTs on a 16-input jet tagger.  After this
pass the input tensor carries the node's per-element types
(``Tensor.elements``) with their container as ``Tensor.type`` (the port
width), and whoever turns floats into input mantissas (the reference, the
test benches) casts each element into its own grid and range, exactly what
the removed node computed (see :func:`fpgaq.reference.input_mantissas`).

Only an input the trace typed for the quantizer (its ``exact_input_type``)
is absorbed: an input type the config chose is the port the user asked for,
and the ``quantize`` node then stays to convert from it.
"""

from __future__ import annotations

from fpgaq.ir.graph import Graph
from fpgaq.ir.passes._absorb import absorbed, sole_input_readers
from fpgaq.reference import exact_input_type, node_elements

__all__ = ["absorb_input_elements"]


def absorb_input_elements(graph: Graph) -> tuple[Graph, bool]:
    """Absorb the first input's only reader if it is a ``quantize`` node; ``(graph, changed)``."""
    for name, node in sole_input_readers(graph):
        if node.op != "quantize" or node.output in graph.outputs:
            continue
        elements = node_elements(node)
        if graph.tensors[name].type not in (None, exact_input_type(elements)):
            continue
        out = graph.tensors[node.output].type
        return absorbed(graph, name, node, out if out is not None else elements.container(), elements), True
    return graph, False
