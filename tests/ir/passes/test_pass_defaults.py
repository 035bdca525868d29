from __future__ import annotations

import pytest
from _pass_testing import IN_T, assert_same_numbers, chain, grid_weight, input_node, sample_inputs

import fpgaq.ir.passes as passes
from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Node
from fpgaq.ir.passes import DEFAULT_PASSES, run_passes
from fpgaq.reference import KERNELS

W_T = FixedType(4, 1)
RELU_T = FixedType(4, 1, False, "RND_CONV", "SAT")
Q_T = FixedType(6, 2, True, "RND_CONV", "SAT")


def test_default_order() -> None:
    names = [p.__name__ for p in DEFAULT_PASSES]
    expected = [
        "remove_identity",
        "absorb_input_quantizer",
        "absorb_input_elements",
        "fold_batchnorm",
        "merge_quantizer",
        "fuse_activation",
        "prune_dead_channels",
        "prune_zero_weights",
    ]
    assert names == expected
    assert set(expected) <= set(passes.__all__)
    assert all(getattr(passes, n) is p for n, p in zip(expected, DEFAULT_PASSES))


def test_default_passes_on_a_layer_stack(rng) -> None:
    pytest.importorskip("fpgaq.ir.ops.batchnorm")  # registers the scale op's reference kernel
    if "scale" not in KERNELS:
        pytest.skip("the scale op has no reference kernel")
    fc1 = {"kernel": grid_weight(rng, (6, 4), W_T, 0.3), "bias": grid_weight(rng, (4,), W_T)}
    bn = {"scale": grid_weight(rng, (4,), W_T), "shift": grid_weight(rng, (4,), W_T)}
    fc2 = {"kernel": grid_weight(rng, (4, 3), W_T), "bias": grid_weight(rng, (3,), W_T)}
    nodes = [
        input_node(),
        Node("fc1", "dense", ["x"], "fc1", weights=fc1),
        Node("drop", "identity", ["fc1"], "drop"),
        Node("bn", "scale", ["drop"], "bn", {"axis": -1}, bn),
        Node("relu", "activation", ["bn"], "relu", {"function": "relu"}),
        Node("fc2", "dense", ["relu"], "fc2", weights=fc2),
        Node("q", "activation", ["fc2"], "q", {"function": "linear"}),
    ]
    shapes = {"x": (6,), "fc1": (4,), "drop": (4,), "bn": (4,), "relu": (4,), "fc2": (3,), "q": (3,)}
    g = chain(nodes, shapes, {"x": IN_T, "relu": RELU_T, "q": Q_T})
    out = run_passes(g, DEFAULT_PASSES)
    assert [(n.name, n.op) for n in out.nodes] == [("x", "input"), ("fc1", "dense"), ("fc2", "dense")]
    assert out.node("fc1").attrs["activation"] == {"function": "relu"}
    assert out.node("fc1").output == "relu"
    assert out.node("fc2").output == "q"
    assert "sparsity" in out.node("fc1").attrs and "sparsity" in out.node("fc2").attrs
    assert_same_numbers(g, out, sample_inputs(rng, (6,)))
