from __future__ import annotations

import numpy as np
import pytest
from _pass_testing import IN_T, assert_same_numbers, chain, freeze, grid_weight, input_node, run, sample_inputs, weight

from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Node
from fpgaq.ir.passes import DEFAULT_PASSES, fuse_activation
from fpgaq.quantizers.relu import LeakyReluType

W_T = FixedType(4, 1)  # weights in [-1, 0.875], step 1/8
RELU_T = FixedType(3, 1, False, "RND_CONV", "SAT")  # [0, 1.75], step 1/4


def dense_relu(relu_type: FixedType | None = RELU_T, dense_type: FixedType | None = None):
    kernel = weight([[0.5, -0.25], [0.75, -1.0]], W_T)
    bias = weight([0.125, 0.0], W_T)
    nodes = [
        input_node(),
        Node("fc", "dense", ["x"], "fc", weights={"kernel": kernel, "bias": bias}),
        Node("act", "activation", ["fc"], "act", {"function": "relu", "quantizer": "quantized_relu(3,1)"}),
    ]
    return chain(nodes, {"x": (2,), "fc": (2,), "act": (2,)}, {"x": IN_T, "fc": dense_type, "act": relu_type})


def test_fuses_into_one_node_that_writes_the_activation_output() -> None:
    g = dense_relu()
    fused, changed = fuse_activation(g)
    assert changed
    assert [n.name for n in fused.nodes] == ["x", "fc"]
    fc = fused.node("fc")
    assert fc.output == "act"
    assert fc.attrs["activation"] == {"function": "relu", "quantizer": "quantized_relu(3,1)"}
    assert set(fused.tensors) == {"x", "act"}
    assert fused.tensors["act"].type == RELU_T
    assert fused.outputs == ["act"]
    assert "linear_result" not in fc.types  # still open: precision inference fills it in
    fused.validate()


def test_input_graph_is_not_mutated() -> None:
    g = dense_relu()
    before = freeze(g)
    fuse_activation(g)
    assert freeze(g) == before


def test_fused_reference_by_hand() -> None:
    # y0 = 0.5 x0 + 0.75 x1 + 0.125, y1 = -0.25 x0 - x1; relu into ufixed<3,1> (step 1/4, max 1.75, ties to even)
    x = np.array(
        [[1.0, 0.5], [0.25, 0.125], [2.0, 0.5], [3.0, 1.0], [0.5, 0.0], [1.0, 0.0], [-1.0, -0.5], [-0.5, -0.25]]
    )
    expected = [[4, 0], [1, 0], [6, 0], [7, 0], [2, 0], [2, 0], [0, 3], [0, 2]]
    fused, _ = fuse_activation(dense_relu())
    typed, out = run(fused, x)
    assert np.array_equal(out, expected)
    assert typed.node("fc").types["linear_result"] == typed.node("fc").types["accum"]


@pytest.mark.parametrize(
    ("relu_type", "dense_type"),
    [
        (RELU_T, None),
        (None, None),  # activation type open: computed from the accumulator
        (None, FixedType(6, 2, True, "RND_CONV", "SAT")),  # declared pre-activation result, open activation
        (RELU_T, FixedType(5, 1, True, "TRN", "WRAP")),
    ],
)
def test_same_numbers_and_types_as_unfused(rng, relu_type, dense_type) -> None:
    g = dense_relu(relu_type, dense_type)
    fused, changed = fuse_activation(g)
    assert changed
    if dense_type is not None:
        assert fused.node("fc").types["linear_result"] == dense_type
    x = sample_inputs(rng, (2,))
    assert_same_numbers(g, fused, x)
    typed_unfused, _ = run(g, x)
    typed_fused, _ = run(fused, x)
    assert typed_fused.node("fc").types["linear_result"] == typed_unfused.tensors["fc"].type
    assert typed_fused.node("fc").types["accum"] == typed_unfused.node("fc").types["accum"]


def leaky_attrs() -> dict:
    hw = LeakyReluType(FixedType(5, 3, True, "RND_CONV", "SAT"), 0.25)
    return {"function": "leaky_relu", "shift": hw.shift, "positive_type": hw.positive, "negative_type": hw.negative}


CONV = {"kernel_size": (3, 3), "strides": (1, 1), "dilation": (1, 1), "padding": [(1, 1), (1, 1)]}


@pytest.mark.parametrize(
    ("op", "kernel_shape", "attrs", "act", "act_type"),
    [
        ("dense", (6, 4), {}, leaky_attrs(), FixedType(5, 3, True, "RND_CONV", "SAT")),
        ("dense", (6, 4), {}, {"function": "linear"}, FixedType(5, 2, True, "RND_CONV", "SAT")),
        ("conv2d", (3, 3, 2, 3), CONV, {"function": "hard_sigmoid"}, FixedType(4, 0, False, "RND_CONV", "SAT")),
        (
            "depthwise2d",
            (3, 3, 2, 2),
            {**CONV, "depth_multiplier": 2},
            {"function": "hard_tanh"},
            FixedType(5, 1, True, "RND_CONV", "SAT"),
        ),
    ],
)
def test_every_fusable_activation_keeps_the_numbers(rng, op, kernel_shape, attrs, act, act_type) -> None:
    in_shape = (6,) if op == "dense" else (4, 4, 2)
    channels = kernel_shape[-1] if op != "depthwise2d" else kernel_shape[-2] * kernel_shape[-1]
    out_shape = (channels,) if op == "dense" else (4, 4, channels)
    weights = {"kernel": grid_weight(rng, kernel_shape, W_T), "bias": grid_weight(rng, (channels,), W_T)}
    nodes = [
        input_node(),
        Node("lin", op, ["x"], "lin", dict(attrs), weights),
        Node("act", "activation", ["lin"], "act", act),
    ]
    g = chain(nodes, {"x": in_shape, "lin": out_shape, "act": out_shape}, {"x": IN_T, "act": act_type})
    fused, changed = fuse_activation(g)
    assert changed
    assert [n.op for n in fused.nodes] == ["input", op]
    assert_same_numbers(g, fused, sample_inputs(rng, in_shape, n=32))


def test_wide_accumulators_keep_the_numbers(rng) -> None:
    # 30-bit weights make the accumulator wider than float64's exact range: the integer path
    wide = FixedType(30, 2)
    weights = {"kernel": grid_weight(rng, (6, 4), wide), "bias": grid_weight(rng, (4,), wide)}
    nodes = [
        input_node(),
        Node("fc", "dense", ["x"], "fc", weights=weights),
        Node("act", "activation", ["fc"], "act", {"function": "relu"}),
    ]
    g = chain(nodes, {"x": (6,), "fc": (4,), "act": (4,)}, {"x": FixedType(30, 10, True, "RND_CONV", "SAT")})
    fused, _ = fuse_activation(g)
    typed, _ = run(fused, np.zeros((1, 6)))
    assert typed.node("fc").types["accum"].width > 53
    assert_same_numbers(g, fused, sample_inputs(rng, (6,)))


def test_nothing_to_fuse_reports_unchanged() -> None:
    fused, _ = fuse_activation(dense_relu())
    again, changed = fuse_activation(fused)
    assert not changed
    assert again is fused


def test_not_fused_when_the_linear_result_has_another_reader() -> None:
    g = dense_relu()
    g.nodes.append(Node("act2", "activation", ["fc"], "act2", {"function": "relu"}))
    g.tensors["act2"] = g.tensors["act"].__class__("act2", (2,), RELU_T)
    g.outputs.append("act2")
    _, changed = fuse_activation(g)
    assert not changed


def test_not_fused_when_the_linear_result_is_a_graph_output() -> None:
    g = dense_relu()
    g.outputs.append("fc")
    _, changed = fuse_activation(g)
    assert not changed


def test_not_fused_for_table_activations() -> None:
    g = dense_relu()
    g.node("act").attrs["function"] = "sigmoid"
    _, changed = fuse_activation(g)
    assert not changed


def test_fused_jet_tagger_predicts_the_same() -> None:
    import keras

    from fpgaq.design import convert
    from fpgaq.zoo import jet_tagger

    keras.utils.set_random_seed(7)
    m = jet_tagger()
    logits = keras.Model(m.inputs, m.get_layer("output").output)
    without = [p for p in DEFAULT_PASSES if p is not fuse_activation]
    d_fused = convert(logits)
    d_plain = convert(logits, passes=without)
    assert [n.op for n in d_fused.graph.nodes] == ["input", "dense", "dense", "dense", "dense"]
    assert [n.op for n in d_plain.graph.nodes].count("activation") == 3
    rng = np.random.default_rng(3)
    x = rng.normal(size=(256, 16)) * 4
    x[:8] = rng.choice([-1000.0, 1000.0], size=(8, 16))  # saturates the input type
    assert np.array_equal(d_fused.predict(x), d_plain.predict(x))
