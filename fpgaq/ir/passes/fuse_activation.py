"""Fuse an element-wise activation into the dense or convolution node before it.

A back end then applies the activation as the last step of the layer instead
of writing the pre-activation tensor out and reading it back.  The numbers
do not change: the fused node keeps its accumulator types, records the type
its own result had as ``types["linear_result"]`` (cast into before the
activation; precision inference fills it in when it was still open), and the
reference runs the activation op's own kernel on it.
"""

from __future__ import annotations

from fpgaq.ir.graph import Graph, Node
from fpgaq.ir.opspec import is_fusable, ops_where

__all__ = ["FUSABLE_ACTIVATIONS", "LINEAR_OPS", "fuse_activation"]

#: The ops an activation fuses into (declared ``fusable`` in fpgaq.ir.opspec); kept for importers.
LINEAR_OPS = ops_where(is_fusable)

#: Activations that need no table or internal type of their own, so that the
#: activation's attributes alone describe them.
FUSABLE_ACTIVATIONS = ("relu", "linear", "leaky_relu", "hard_sigmoid", "hard_tanh")


def _fusable_activation(graph: Graph, node: Node) -> Node | None:
    """The single activation node reading ``node``'s output, if it can be fused."""
    if not is_fusable(node.op) or "activation" in node.attrs or node.output in graph.outputs:
        return None
    readers = graph.consumers(node.output)
    if len(readers) != 1:
        return None
    act = readers[0]
    if act.op != "activation" or act.attrs.get("function") not in FUSABLE_ACTIVATIONS or act.types:
        return None
    return act


def fuse_activation(graph: Graph) -> tuple[Graph, bool]:
    """Fuse one activation into its linear producer; report whether one was found."""
    for node in graph.nodes:
        act = _fusable_activation(graph, node)
        if act is None:
            continue
        g = graph.copy()
        linear = g.node(node.name)
        result_type = g.tensors[linear.output].type
        old_output = linear.output
        linear.attrs["activation"] = dict(g.node(act.name).attrs)
        if result_type is not None:
            linear.types["linear_result"] = result_type
        linear.output = act.output
        g.nodes = [n for n in g.nodes if n.name != act.name]
        g.tensors.pop(old_output)
        return g, True
    return graph, False
