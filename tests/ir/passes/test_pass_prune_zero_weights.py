from __future__ import annotations

import numpy as np
from _pass_testing import IN_T, assert_same_numbers, chain, freeze, input_node, sample_inputs, weight

from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Graph, Node
from fpgaq.ir.passes import prune_zero_weights

W_T = FixedType(4, 1)
CONV = {"kernel_size": (3, 3), "strides": (1, 1), "dilation": (1, 1), "padding": [(1, 1), (1, 1)]}
KERNEL = [
    [0.5, 0.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, -0.25],
    [0.75, 0.0, 0.0, 0.0],
]  # columns 1 and 2 are all zero; 9 of 12 weights are zero


def dense(bias=(0.0, 0.125, 0.0, 0.0)) -> Graph:
    weights = {"kernel": weight(KERNEL, W_T)}
    if bias is not None:
        weights["bias"] = weight(bias, W_T)
    nodes = [
        input_node(),
        Node("fc", "dense", ["x"], "fc", weights=weights),
        Node("act", "activation", ["fc"], "act", {"function": "relu"}),
    ]
    return chain(nodes, {"x": (3,), "fc": (4,), "act": (4,)}, {"x": IN_T, "act": FixedType(4, 2, False)})


def test_dense_annotations_by_hand() -> None:
    out, changed = prune_zero_weights(dense())
    assert changed
    attrs = out.node("fc").attrs
    expected_mask = [[True, False, False, False], [False, False, False, True], [True, False, False, False]]
    assert attrs["nonzero_mask"].dtype == bool
    assert np.array_equal(attrs["nonzero_mask"], expected_mask)
    assert attrs["sparsity"] == 9 / 12
    assert attrs["dead_channels"] == (2,)  # channel 1 has a zero column but a bias of 0.125
    assert "nonzero_mask" not in out.node("act").attrs


def test_without_bias_every_zero_column_is_dead() -> None:
    out, _ = prune_zero_weights(dense(bias=None))
    assert out.node("fc").attrs["dead_channels"] == (1, 2)


def test_shapes_and_weights_are_kept() -> None:
    g = dense()
    out, _ = prune_zero_weights(g)
    assert out.node("fc").weights == g.node("fc").weights
    assert out.tensors["fc"].shape == (4,)


def test_depthwise_dead_channel_is_c_times_m_plus_m() -> None:
    kernel = np.full((3, 3, 2, 2), 0.25)
    kernel[:, :, 1, 0] = 0.0  # input channel 1, multiplier 0 -> output channel 2
    kernel[0, 0, 0, 1] = 0.0
    weights = {"kernel": weight(kernel, W_T), "bias": weight([0.0, 0.0, 0.0, 0.5], W_T)}
    nodes = [input_node(), Node("dw", "depthwise2d", ["x"], "dw", {**CONV, "depth_multiplier": 2}, weights)]
    g = chain(nodes, {"x": (4, 4, 2), "dw": (4, 4, 4)}, {"x": IN_T})
    out, changed = prune_zero_weights(g)
    assert changed
    attrs = out.node("dw").attrs
    assert attrs["dead_channels"] == (2,)
    assert attrs["sparsity"] == 10 / 36
    assert attrs["nonzero_mask"].shape == (3, 3, 2, 2)
    assert not attrs["nonzero_mask"][0, 0, 0, 1]


def test_input_graph_is_not_mutated() -> None:
    g = dense()
    before = freeze(g)
    prune_zero_weights(g)
    assert freeze(g) == before


def test_second_run_changes_nothing() -> None:
    out, _ = prune_zero_weights(dense())
    again, changed = prune_zero_weights(out)
    assert not changed
    assert again is out


def test_stale_annotations_are_refreshed() -> None:
    out, _ = prune_zero_weights(dense())
    out.node("fc").weights["kernel"] = weight(np.full((3, 4), 0.5), W_T)
    refreshed, changed = prune_zero_weights(out)
    assert changed
    assert refreshed.node("fc").attrs["sparsity"] == 0.0
    assert refreshed.node("fc").attrs["dead_channels"] == ()


def test_graph_without_linear_nodes_is_unchanged() -> None:
    nodes = [input_node(), Node("act", "activation", ["x"], "act", {"function": "relu"})]
    g = chain(nodes, {"x": (3,), "act": (3,)}, {"x": IN_T})
    out, changed = prune_zero_weights(g)
    assert not changed
    assert out is g


def test_same_numbers(rng) -> None:
    g = dense()
    out, _ = prune_zero_weights(g)
    assert_same_numbers(g, out, sample_inputs(rng, (3,)))
