from __future__ import annotations

from _pass_testing import IN_T, assert_same_numbers, chain, freeze, grid_weight, input_node, sample_inputs

from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Node
from fpgaq.ir.passes import remove_identity

W_T = FixedType(4, 1)
RELU_T = FixedType(4, 2, False, "RND_CONV", "SAT")


def dense_dropout_relu(rng, identity_type: FixedType | None = None):
    nodes = [
        input_node(),
        Node("fc", "dense", ["x"], "fc", weights={"kernel": grid_weight(rng, (5, 3), W_T)}),
        Node("drop", "identity", ["fc"], "drop"),
        Node("act", "activation", ["drop"], "act", {"function": "relu"}),
    ]
    shapes = {"x": (5,), "fc": (3,), "drop": (3,), "act": (3,)}
    return chain(nodes, shapes, {"x": IN_T, "drop": identity_type, "act": RELU_T})


def test_open_identity_is_removed_and_its_reader_rewired(rng) -> None:
    g = dense_dropout_relu(rng)
    out, changed = remove_identity(g)
    assert changed
    assert [n.name for n in out.nodes] == ["x", "fc", "act"]
    assert out.node("act").inputs == ["fc"]
    assert "drop" not in out.tensors
    out.validate()


def test_identity_whose_type_equals_its_input_type_is_removed(rng) -> None:
    g = dense_dropout_relu(rng, identity_type=FixedType(7, 3))
    g.tensors["fc"].type = FixedType(7, 3)
    out, changed = remove_identity(g)
    assert changed
    assert out.node("act").inputs == ["fc"]


def test_identity_that_casts_is_kept(rng) -> None:
    g = dense_dropout_relu(rng, identity_type=FixedType(6, 2, True, "RND", "SAT"))
    out, changed = remove_identity(g)
    assert not changed
    assert out is g


def test_identity_at_the_graph_output_moves_the_output(rng) -> None:
    nodes = [input_node(), Node("drop", "identity", ["x"], "drop")]
    g = chain(nodes, {"x": (3,), "drop": (3,)}, {"x": IN_T})
    out, changed = remove_identity(g)
    assert changed
    assert out.outputs == ["x"]
    assert [n.name for n in out.nodes] == ["x"]


def test_input_graph_is_not_mutated(rng) -> None:
    g = dense_dropout_relu(rng)
    before = freeze(g)
    remove_identity(g)
    assert freeze(g) == before


def test_same_numbers(rng) -> None:
    g = dense_dropout_relu(rng)
    out, _ = remove_identity(g)
    assert_same_numbers(g, out, sample_inputs(rng, (5,)))


def test_nothing_to_remove_reports_unchanged(rng) -> None:
    out, _ = remove_identity(dense_dropout_relu(rng))
    again, changed = remove_identity(out)
    assert not changed
    assert again is out
