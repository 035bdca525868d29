"""Drop nodes that do not change values: Dropout at inference, linear activations."""

from __future__ import annotations

from fpgaq.ir.graph import Graph, Node

__all__ = ["remove_identity"]


def _is_identity(graph: Graph, node: Node) -> bool:
    if node.op == "identity":
        out, src = graph.tensors[node.output], graph.tensors[node.inputs[0]]
        return out.type is None or out.type == src.type
    return False


def remove_identity(graph: Graph) -> tuple[Graph, bool]:
    """Remove one identity node whose output type is open or equal to its input's."""
    for node in graph.nodes:
        if _is_identity(graph, node):
            g = graph.copy()
            g.nodes = [n for n in g.nodes if n.name != node.name]
            g.replace_uses(node.output, node.inputs[0])
            g.remove_unused_tensors()
            return g, True
    return graph, False
