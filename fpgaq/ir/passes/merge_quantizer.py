"""Merge a ``QActivation('quantized_bits(...)')`` into the type of the tensor it reads.

A ``linear`` activation node is only a cast.  Two cases make it free:

* Its input type is still open and its producer computes its exact result
  and casts it once into whatever output type it is given.  Precision
  inference would type that tensor exactly, so the activation casts an exact
  value; letting the producer cast straight into the activation's type gives
  the same mantissas with one node and one tensor fewer.  Producers that
  round on their own (average pooling over a window whose size is not a
  power of two, table activations, op-module ops) are left alone, since
  rounding twice is not rounding once.
* Its input type already fits inside its output type with the same binary
  point, so the cast changes no value.  The activation's readers then read
  its input directly.  The producer's type is kept (widening it to the
  activation's type would move the producer's own rounding and saturation);
  the equal binary point keeps every downstream "auto" type on the same
  grid, so downstream rounding cannot change either.  The activation must
  not be a graph output, whose declared type is part of the interface.
"""

from __future__ import annotations

import numpy as np

from fpgaq.ir.graph import Graph, Node
from fpgaq.ir.opspec import is_average_pool, is_exact_then_cast

__all__ = ["merge_quantizer"]

_EXACT_ACTIVATIONS = ("relu", "linear")


def _casts_exact_result(graph: Graph, node: Node) -> bool:
    """Whether ``node`` with an open output type computes exactly and rounds only into it."""
    if is_exact_then_cast(node.op):
        fused = node.attrs.get("activation")
        return fused is None or fused.get("function") in _EXACT_ACTIVATIONS
    if node.op == "activation":
        return node.attrs.get("function") in _EXACT_ACTIVATIONS and not node.types
    if is_average_pool(node.op):
        if node.op.startswith("global_"):
            area = int(np.prod(graph.tensors[node.inputs[0]].shape[:-1]))
        else:
            area = int(np.prod(node.attrs["pool_size"]))
        return area & (area - 1) == 0  # a power of two: the mean is exact
    return False


def _is_quantizer(node: Node) -> bool:
    return node.op == "activation" and node.attrs.get("function") == "linear" and not node.types


def _merge_into_producer(graph: Graph, act: Node) -> Graph | None:
    """The producer takes the activation's type and output tensor (open input type)."""
    src = act.inputs[0]
    producer = graph.producer(src)
    if producer is None or producer.op == "input" or src in graph.outputs:
        return None
    if len(graph.consumers(src)) != 1 or not _casts_exact_result(graph, producer):
        return None
    g = graph.copy()
    g.node(producer.name).output = act.output
    g.nodes = [n for n in g.nodes if n.name != act.name]
    g.tensors.pop(src)
    return g


def _drop_identity_cast(graph: Graph, act: Node) -> Graph | None:
    """The activation's readers read its input (input type inside the output type)."""
    tin = graph.tensors[act.inputs[0]].type
    tout = graph.tensors[act.output].type
    if tout is None or act.output in graph.outputs or not tout.contains(tin) or tin.frac != tout.frac:
        return None
    g = graph.copy()
    g.nodes = [n for n in g.nodes if n.name != act.name]
    g.replace_uses(act.output, act.inputs[0])
    g.remove_unused_tensors()
    return g


def merge_quantizer(graph: Graph) -> tuple[Graph, bool]:
    """Merge one quantized_bits activation into the type before it; report whether one was found."""
    for node in graph.nodes:
        if not _is_quantizer(node):
            continue
        if graph.tensors[node.inputs[0]].type is None:
            merged = _merge_into_producer(graph, node)
        else:
            merged = _drop_identity_cast(graph, node)
        if merged is not None:
            return merged, True
    return graph, False
