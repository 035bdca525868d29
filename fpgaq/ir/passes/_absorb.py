"""What the two absorb-into-the-input passes share: finding an input's one reader and splicing it out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fpgaq.ir.graph import Graph, Node

__all__ = ["absorbed", "sole_input_readers"]


def sole_input_readers(graph: Graph) -> Iterator[tuple[str, Node]]:
    """Each graph input that is not a graph output and has exactly one reader: ``(input, reader)``."""
    for name in graph.inputs:
        readers = graph.consumers(name)
        if len(readers) == 1 and name not in graph.outputs:
            yield name, readers[0]


def absorbed(graph: Graph, name: str, node: Node, type_: Any, elements: Any = None) -> Graph:
    """A copy of ``graph`` without ``node``, its input ``name`` typed ``type_`` (and ``elements``) instead."""
    g = graph.copy()
    g.tensors[name].type = type_
    if elements is not None:
        g.tensors[name].elements = elements
    g.nodes = [n for n in g.nodes if n.name != node.name]
    g.replace_uses(node.output, name)
    g.remove_unused_tensors()
    return g
