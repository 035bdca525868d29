"""The typed graph every back end renders and the reference evaluates.

A :class:`Graph` is a list of :class:`Node` in topological order.  Each node
reads named tensors and writes exactly one; each :class:`Tensor` carries a
per-sample shape and, after precision inference, a :class:`FixedType`.
Weights are :class:`Weight` objects holding the exact quantized values, the
fixed-point type that holds every one of them, and the quantizer's own
hardware descriptor (power-of-two, binary, ternary...), which lets the RTL
back end pick shift-and-add circuits without guessing.

Graphs are treated as values: passes return new graphs (``Graph.copy``) and
never mutate their input.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np

from fpgaq.fixed import FixedType
from fpgaq.hwtypes import ElementTypes, HardwareType
from fpgaq.ir.opspec import OP_SPECS

__all__ = ["OPS", "Graph", "Node", "Tensor", "Weight"]

#: Operations the IR knows (name -> what it computes), read from their declarations in
#: :mod:`fpgaq.ir.opspec`, where each op's traits live too.
OPS = {name: spec.doc for name, spec in OP_SPECS.items()}


@dataclasses.dataclass
class Tensor:
    """A named per-sample tensor; ``type`` is None until precision inference.

    ``elements`` is set where every element has its own grid and range (the
    output of a ``quantize`` node, i.e. learned precision): ``type`` is then
    the container that holds them all, which back ends with one type per
    tensor use, while the RTL netlist and the cost reports read each
    element's own width from ``elements``.
    """

    name: str
    shape: tuple[int, ...]
    type: FixedType | None = None
    elements: ElementTypes | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclasses.dataclass
class Weight:
    """Exact quantized constant values and what they are in hardware.

    ``values`` are float64 and exact (every value is ``mantissa * 2**-type.frac``);
    ``hardware`` is the quantizer's descriptor when it is more specific than
    a fixed-point grid (po2, binary, ternary, per-channel po2 scale).
    """

    values: np.ndarray
    type: FixedType
    hardware: HardwareType | None = None
    quantizer: str | None = None

    @property
    def mantissa(self) -> np.ndarray:
        """Integer mantissas in ``type`` (computed once: the reference reads them on every call)."""
        cached = self.__dict__.get("_mantissa")
        if cached is None or cached[0] is not self.values or cached[1] != self.type:
            cached = (self.values, self.type, self.type.to_int(self.values))
            self.__dict__["_mantissa"] = cached
        return cached[2]

    @property
    def nonzero(self) -> int:
        return int(np.count_nonzero(self.values))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Weight)
            and self.type == other.type
            and self.values.shape == other.values.shape
            and bool(np.array_equal(self.values, other.values))
            and self.quantizer == other.quantizer
        )


@dataclasses.dataclass
class Node:
    """One operation.

    ``attrs`` hold structural settings (strides, padding, axis, function);
    ``types`` hold internal fixed-point types (``accum``, ``product``, table
    types); ``options`` hold implementation settings from the config
    (reuse factor, strategy, io type) that do not change the numbers.
    """

    name: str
    op: str
    inputs: list[str]
    output: str
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    weights: dict[str, Weight] = dataclasses.field(default_factory=dict)
    types: dict[str, FixedType] = dataclasses.field(default_factory=dict)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str | None = None  # the Keras layer it came from

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"node {self.name!r}: unknown op {self.op!r}; known: {', '.join(sorted(OPS))}")

    def where(self, with_op: bool = False) -> str:
        """Where an error happened, as every error message about a node spells it:
        ``node 'n' (layer 'l')``, or ``node 'n' (op, layer 'l')`` with ``with_op``."""
        op = f"{self.op}, " if with_op else ""
        return f"node {self.name!r} ({op}layer {self.source or self.name!r})"


@dataclasses.dataclass
class Graph:
    name: str
    nodes: list[Node]
    tensors: dict[str, Tensor]
    inputs: list[str]
    outputs: list[str]

    # ------------------------------------------------------------ queries
    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r} in graph {self.name!r}; nodes: {[n.name for n in self.nodes]}")

    def producer(self, tensor: str) -> Node | None:
        for n in self.nodes:
            if n.output == tensor:
                return n
        return None

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def in_tensors(self, node: Node) -> list[Tensor]:
        return [self.tensors[t] for t in node.inputs]

    def out_tensor(self, node: Node) -> Tensor:
        return self.tensors[node.output]

    # ------------------------------------------------------------ editing
    def copy(self) -> Graph:
        """A deep copy, so that a pass can edit freely and stay pure."""
        return copy.deepcopy(self)

    def replace_uses(self, old: str, new: str) -> None:
        """Point every reader of tensor ``old`` (and the graph outputs) at ``new``."""
        for n in self.nodes:
            n.inputs = [new if t == old else t for t in n.inputs]
        self.outputs = [new if t == old else t for t in self.outputs]

    def remove_unused_tensors(self) -> None:
        used = set(self.inputs) | set(self.outputs)
        for n in self.nodes:
            used.update(n.inputs)
            used.add(n.output)
        self.tensors = {k: v for k, v in self.tensors.items() if k in used}

    def validate(self) -> None:
        """Check topological order, unique names and that every tensor exists."""
        seen = set(self.inputs)
        names = set()
        for n in self.nodes:
            if n.name in names:
                raise ValueError(f"graph {self.name!r}: duplicate node name {n.name!r}")
            names.add(n.name)
            if n.op == "input":
                seen.add(n.output)
                continue
            for t in n.inputs:
                if t not in seen:
                    raise ValueError(f"graph {self.name!r}: node {n.name!r} reads {t!r} before it is produced")
            if n.output in seen:
                raise ValueError(f"graph {self.name!r}: tensor {n.output!r} is produced twice")
            seen.add(n.output)
            for t in [*n.inputs, n.output]:
                if t not in self.tensors:
                    raise ValueError(f"graph {self.name!r}: node {n.name!r} uses unknown tensor {t!r}")
        for t in self.outputs:
            if t not in seen:
                raise ValueError(f"graph {self.name!r}: output {t!r} is never produced")
