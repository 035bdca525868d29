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
from fpgaq.reference import exact_input_type, node_elements

__all__ = ["absorb_input_elements"]


def absorb_input_elements(graph: Graph) -> tuple[Graph, bool]:
    """Absorb the first input's only reader if it is a ``quantize`` node; ``(graph, changed)``."""
    for name in graph.inputs:
        readers = graph.consumers(name)
        if len(readers) != 1 or name in graph.outputs:
            continue
        node = readers[0]
        if node.op != "quantize" or node.output in graph.outputs:
            continue
        elements = node_elements(node)
        if graph.tensors[name].type not in (None, exact_input_type(elements)):
            continue
        g = graph.copy()
        out = g.tensors[node.output]
        g.tensors[name].type = out.type if out.type is not None else elements.container()
        g.tensors[name].elements = elements
        g.nodes = [n for n in g.nodes if n.name != node.name]
        g.replace_uses(node.output, name)
        g.remove_unused_tensors()
        return g, True
    return graph, False
