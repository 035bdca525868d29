from __future__ import annotations

import numpy as np
from _pass_testing import chain, freeze, input_node

from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Node, Tensor
from fpgaq.ir.passes import absorb_input_quantizer
from fpgaq.reference import evaluate

Q_T = FixedType(4, 2, True, "RND_CONV", "SAT")  # [-2, 1.75], step 1/4, ties to even


def quantized_input(input_type: FixedType | None = None, q_type: FixedType | None = Q_T, function: str = "linear"):
    nodes = [
        input_node(),
        Node("input_q", "activation", ["x"], "input_q", {"function": function, "quantizer": "quantized_bits(4,1)"}),
        Node("act", "activation", ["input_q"], "act", {"function": "relu"}),
    ]
    shapes = {"x": (3,), "input_q": (3,), "act": (3,)}
    return chain(nodes, shapes, {"x": input_type, "input_q": q_type, "act": FixedType(3, 1, False)})


def test_quantizer_becomes_the_input_type() -> None:
    out, changed = absorb_input_quantizer(quantized_input())
    assert changed
    assert [n.name for n in out.nodes] == ["x", "act"]
    assert out.tensors["x"].type == Q_T
    assert out.node("act").inputs == ["x"]
    assert "input_q" not in out.tensors
    out.validate()


def test_incoming_floats_are_quantized_once_into_the_absorbed_type() -> None:
    out, _ = absorb_input_quantizer(quantized_input())
    # In quarters: 0.125 -> 0.5 and 0.625 -> 2.5 are ties and go to even, 0.6 -> 2.4 rounds down, 5 and -5
    # saturate at 7 and -8; relu into ufixed<3,1> (same 1/4 grid, 0..7) passes the positives unchanged.
    x = np.array([[0.125, 0.375, 0.6], [0.625, 5.0, -5.0]])
    q = evaluate(out, [x], keep=True)
    assert np.array_equal(q["x"], [[0, 2, 2], [2, 7, -8]])
    assert np.array_equal(q["act"], [[0, 2, 2], [2, 7, 0]])


def test_input_graph_is_not_mutated() -> None:
    g = quantized_input()
    before = freeze(g)
    absorb_input_quantizer(g)
    assert freeze(g) == before


def test_typed_input_is_left_alone() -> None:
    g = quantized_input(input_type=FixedType(8, 3))
    out, changed = absorb_input_quantizer(g)
    assert not changed
    assert out is g


def test_relu_after_the_input_is_not_absorbed() -> None:
    _, changed = absorb_input_quantizer(quantized_input(function="relu"))
    assert not changed


def test_open_quantizer_type_is_not_absorbed() -> None:
    _, changed = absorb_input_quantizer(quantized_input(q_type=None))
    assert not changed


def test_input_with_a_second_reader_is_not_absorbed() -> None:
    g = quantized_input()
    g.nodes.append(Node("other", "activation", ["x"], "other", {"function": "relu"}))
    g.tensors["other"] = Tensor("other", (3,), FixedType(3, 1, False))
    g.outputs.append("other")
    _, changed = absorb_input_quantizer(g)
    assert not changed


def test_input_that_is_also_a_graph_output_is_not_absorbed() -> None:
    g = quantized_input()
    g.outputs.append("x")
    _, changed = absorb_input_quantizer(g)
    assert not changed
