"""Lowering of IR nodes to exact integer netlists, one module per op family.

Each lowering is registered for its ops with :func:`lowering` and has the
signature ``fn(net, node, graph, inputs) -> outputs``: ``inputs`` holds, per
input tensor of the node, its signals in C order (channels last), and the
result is the node's output tensor in C order, already in the output
tensor's type, exactly as :mod:`fpgaq.reference` computes it.
"""

from fpgaq.rtl.lower.driver import lower_graph
from fpgaq.rtl.lower.registry import LOWERINGS, RtlLoweringError, lowering

__all__ = ["LOWERINGS", "RtlLoweringError", "lower_graph", "lowering"]
