from __future__ import annotations

import numpy as np
import pytest
from _pass_testing import (
    IN_T,
    assert_same_numbers,
    assert_same_values,
    chain,
    freeze,
    grid_weight,
    input_node,
    run,
    sample_inputs,
)

from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Graph, Node, Tensor
from fpgaq.ir.passes import merge_quantizer

W_T = FixedType(4, 1)
Q_T = FixedType(6, 2, True, "RND_CONV", "SAT")  # quantized_bits(6,1,alpha=1): [-2, 1.9375], step 1/16


def quantizer(src: str, name: str = "q") -> Node:
    return Node(name, "activation", [src], name, {"function": "linear", "quantizer": "quantized_bits(6,1,alpha=1)"})


def after(producer: Node, in_shape, mid_shape, mid_type=None, q_type=Q_T) -> Graph:
    nodes = [input_node(), producer, quantizer(producer.output)]
    shapes = {"x": in_shape, producer.output: mid_shape, "q": mid_shape}
    return chain(nodes, shapes, {"x": IN_T, producer.output: mid_type, "q": q_type})


def dense(rng) -> Node:
    weights = {"kernel": grid_weight(rng, (6, 4), W_T), "bias": grid_weight(rng, (4,), W_T)}
    return Node("fc", "dense", ["x"], "fc", weights=weights)


POOL = {"pool_size": (2, 2), "strides": (2, 2), "padding": [(0, 0), (0, 0)]}


def test_open_dense_result_takes_the_quantizer_type(rng) -> None:
    g = after(dense(rng), (6,), (4,))
    out, changed = merge_quantizer(g)
    assert changed
    assert [n.name for n in out.nodes] == ["x", "fc"]
    assert out.node("fc").output == "q"
    assert out.tensors["q"].type == Q_T
    assert set(out.tensors) == {"x", "q"}
    assert out.outputs == ["q"]
    out.validate()


def test_input_graph_is_not_mutated(rng) -> None:
    g = after(dense(rng), (6,), (4,))
    before = freeze(g)
    merge_quantizer(g)
    assert freeze(g) == before


@pytest.mark.parametrize(
    ("producer", "in_shape", "mid_shape"),
    [
        ("dense", (6,), (4,)),
        (Node("p", "maxpool2d", ["x"], "p", POOL), (4, 4, 2), (2, 2, 2)),
        (Node("p", "avgpool2d", ["x"], "p", POOL), (4, 4, 2), (2, 2, 2)),  # area 4: the mean is exact
        (Node("p", "global_avgpool1d", ["x"], "p"), (8, 3), (3,)),
        (Node("p", "activation", ["x"], "p", {"function": "relu"}), (5,), (5,)),
        (Node("p", "reshape", ["x"], "p", {"shape": (6,)}), (2, 3), (6,)),
    ],
)
def test_merging_keeps_the_numbers(rng, producer, in_shape, mid_shape) -> None:
    node = dense(rng) if producer == "dense" else producer
    g = after(node, in_shape, mid_shape)
    out, changed = merge_quantizer(g)
    assert changed
    assert len(out.nodes) == 2
    assert_same_numbers(g, out, sample_inputs(rng, in_shape))


def test_add_producer_keeps_the_numbers(rng) -> None:
    nodes = [
        input_node(),
        Node("r", "activation", ["x"], "r", {"function": "relu"}),
        Node("s", "add", ["x", "r"], "s"),
        quantizer("s"),
    ]
    g = chain(nodes, {"x": (4,), "r": (4,), "s": (4,), "q": (4,)}, {"x": IN_T, "q": Q_T})
    out, changed = merge_quantizer(g)
    assert changed
    assert [n.name for n in out.nodes] == ["x", "r", "s"]
    assert_same_numbers(g, out, sample_inputs(rng, (4,)))


def test_average_over_three_is_not_merged_because_it_rounds_itself() -> None:
    # integers in, mean of 3 rounded to 1/8 by the pool; the quantizer's grid is finer (1/512)
    in_t = FixedType(4, 4, True, "RND_CONV", "SAT")
    fine = FixedType(12, 3, True, "RND_CONV", "SAT")
    pool = Node("p", "avgpool1d", ["x"], "p", {"pool_size": (3,), "strides": (3,), "padding": [(0, 0)]})
    nodes = [input_node(), pool, quantizer("p")]
    g = chain(nodes, {"x": (3, 1), "p": (1, 1), "q": (1, 1)}, {"x": in_t, "q": fine})
    out, changed = merge_quantizer(g)
    assert not changed
    assert out is g
    # what the pass must not do: 1/3 would become 171/512 instead of 3/8 = 192/512
    merged = g.copy()
    merged.nodes[1].output = "q"
    merged.nodes = merged.nodes[:2]
    del merged.tensors["p"]
    x = np.array([[[1.0], [0.0], [0.0]]])
    assert run(g, x)[1].reshape(-1).tolist() == [192]
    assert run(merged, x)[1].reshape(-1).tolist() == [171]


def test_not_merged_into_an_input(rng) -> None:
    nodes = [input_node(), quantizer("x")]
    g = chain(nodes, {"x": (3,), "q": (3,)}, {"q": Q_T})
    _, changed = merge_quantizer(g)
    assert not changed


def test_not_merged_when_the_result_has_another_reader(rng) -> None:
    g = after(dense(rng), (6,), (4,))
    g.nodes.append(Node("r", "activation", ["fc"], "r", {"function": "relu"}))
    g.tensors["r"] = Tensor("r", (4,), None)
    g.outputs.append("r")
    _, changed = merge_quantizer(g)
    assert not changed


def test_not_merged_when_the_result_is_a_graph_output(rng) -> None:
    g = after(dense(rng), (6,), (4,))
    g.outputs.append("fc")
    _, changed = merge_quantizer(g)
    assert not changed


def test_relu_quantizer_is_not_a_linear_quantizer(rng) -> None:
    g = after(dense(rng), (6,), (4,))
    g.node("q").attrs["function"] = "relu"
    _, changed = merge_quantizer(g)
    assert not changed


# ----------------------------------------------------------------- typed input: identity casts
RELU_T = FixedType(6, 0, False, "RND_CONV", "SAT")  # [0, 63/64]


def relu_quantizer_dense(rng, q_type: FixedType, q_is_output: bool = False) -> Graph:
    nodes = [
        input_node(),
        Node("r", "activation", ["x"], "r", {"function": "relu"}),
        quantizer("r"),
        Node("fc", "dense", ["q"], "fc", weights={"kernel": grid_weight(rng, (5, 3), W_T)}),
    ]
    g = chain(nodes, {"x": (5,), "r": (5,), "q": (5,), "fc": (3,)}, {"x": IN_T, "r": RELU_T, "q": q_type})
    if q_is_output:
        g.outputs.append("q")
    return g


def test_contained_type_with_the_same_grid_is_dropped(rng) -> None:
    g = relu_quantizer_dense(rng, FixedType(8, 2, True, "RND_CONV", "SAT"))  # [-2, 2), step 1/64
    out, changed = merge_quantizer(g)
    assert changed
    assert [n.name for n in out.nodes] == ["x", "r", "fc"]
    assert out.node("fc").inputs == ["r"]
    assert out.tensors["r"].type == RELU_T  # the producer keeps its own rounding and saturation
    # the dense result's exact type is now sized from RELU_T's narrower range: same values, fewer bits
    assert_same_values(g, out, sample_inputs(rng, (5,)))


def test_widening_the_producer_instead_would_change_numbers(rng) -> None:
    # Why the producer keeps its type: relu saturates at 63/64 into RELU_T but not into fixed<8,2>.
    g = relu_quantizer_dense(rng, FixedType(8, 2, True, "RND_CONV", "SAT"))
    widened = g.copy()
    widened.tensors["r"].type = widened.tensors["q"].type
    x = sample_inputs(rng, (5,))
    assert not np.array_equal(run(g, x)[1], run(widened, x)[1])


@pytest.mark.parametrize(
    "q_type",
    [
        FixedType(8, 1, True, "RND_CONV", "SAT"),  # contains RELU_T but on a finer grid
        FixedType(5, 0, False, "RND_CONV", "SAT"),  # does not contain RELU_T: a real cast
    ],
)
def test_other_typed_quantizers_are_kept(rng, q_type) -> None:
    _, changed = merge_quantizer(relu_quantizer_dense(rng, q_type))
    assert not changed


def test_typed_quantizer_at_the_graph_output_is_kept(rng) -> None:
    _, changed = merge_quantizer(relu_quantizer_dense(rng, FixedType(8, 2, True, "RND_CONV", "SAT"), True))
    assert not changed


def test_nothing_to_merge_reports_unchanged(rng) -> None:
    out, _ = merge_quantizer(after(dense(rng), (6,), (4,)))
    again, changed = merge_quantizer(out)
    assert not changed
    assert again is out
