"""Test support for the graph passes: hand-made graphs, a structural snapshot
to prove a pass left its input alone, and typed reference evaluation."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

import numpy as np

from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Graph, Node, Tensor, Weight
from fpgaq.ir.precision import infer_precision
from fpgaq.reference import evaluate

# Input type with saturation, so that large test inputs exercise it.
IN_T = FixedType(8, 3, True, "RND_CONV", "SAT")


def freeze(obj: Any) -> Any:
    """A comparable, hashable image of a graph (numpy arrays by dtype, shape and bytes)."""
    if isinstance(obj, np.ndarray):
        return ("ndarray", str(obj.dtype), obj.shape, obj.tobytes() if obj.dtype != object else repr(obj.tolist()))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return (type(obj).__name__, tuple((f.name, freeze(getattr(obj, f.name))) for f in dataclasses.fields(obj)))
    if isinstance(obj, dict):
        return ("dict", tuple((k, freeze(v)) for k, v in obj.items()))
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(freeze(v) for v in obj))
    return obj


def weight(values: Any, t: FixedType) -> Weight:
    """A Weight whose values must already lie on ``t``'s grid (checked)."""
    v = np.asarray(values, dtype=np.float64)
    m = t.to_int(v)
    exact = all(Fraction(float(a)) == int(b) * t.lsb for a, b in zip(v.flat, m.flat))
    assert exact, "test weight values are not on their type's grid"
    return Weight(v, t)


def grid_weight(rng: np.random.Generator, shape: tuple[int, ...], t: FixedType, zero_fraction: float = 0.0) -> Weight:
    """Random values on ``t``'s grid, including its extremes, with some zeros."""
    m = rng.integers(t.min_int, t.max_int + 1, size=shape)
    flat = m.reshape(-1)
    flat[:2] = [t.min_int, t.max_int][: flat.size]
    m = np.where(rng.random(shape) < zero_fraction, 0, m)
    return Weight(t.from_int(m), t)


def input_node(name: str = "x") -> Node:
    return Node(name, "input", [], name)


def chain(nodes: list[Node], shapes: dict[str, tuple[int, ...]], types: dict[str, FixedType | None]) -> Graph:
    """A graph from nodes in order; the first is the input, the last node's output is the graph output."""
    tensors = {n.output: Tensor(n.output, shapes[n.output], types.get(n.output)) for n in nodes}
    return Graph("g", nodes, tensors, [nodes[0].output], [nodes[-1].output])


def sample_inputs(rng: np.random.Generator, shape: tuple[int, ...], n: int = 64) -> np.ndarray:
    """Samples covering IN_T's range, its grid points, and values far beyond it (saturation)."""
    x = rng.uniform(IN_T.min_value * 1.5, IN_T.max_value * 1.5, size=(n, *shape))
    x[: n // 4] = np.round(x[: n // 4] * 32) / 32  # exact grid points and half-way points of IN_T
    x[-2] = 1000.0
    x[-1] = -1000.0
    return x


def run(graph: Graph, x: np.ndarray) -> tuple[Graph, np.ndarray]:
    """Infer every type (default config), evaluate, return the typed graph and the output mantissas."""
    typed = infer_precision(graph)
    out = evaluate(typed, [x])[typed.outputs[0]]
    return typed, out


def assert_same_numbers(before: Graph, after: Graph, x: np.ndarray) -> None:
    """Same output type and identical output mantissas."""
    tb, mb = run(before, x)
    ta, ma = run(after, x)
    assert tb.tensors[tb.outputs[0]].type == ta.tensors[ta.outputs[0]].type
    assert mb.shape == ma.shape
    assert np.array_equal(mb, ma)


def assert_same_values(before: Graph, after: Graph, x: np.ndarray) -> None:
    """Identical output values, where the output types may differ (e.g. narrower exact types)."""
    tb, mb = run(before, x)
    ta, ma = run(after, x)
    vb = tb.tensors[tb.outputs[0]].type.to_fractions(mb)
    va = ta.tensors[ta.outputs[0]].type.to_fractions(ma)
    assert vb.shape == va.shape
    assert np.array_equal(vb, va)
