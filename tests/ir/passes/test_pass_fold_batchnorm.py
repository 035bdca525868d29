from __future__ import annotations

from fractions import Fraction

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
    weight,
)

from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Graph, Node, Tensor, Weight
from fpgaq.ir.passes import fold_batchnorm
from fpgaq.reference import evaluate

W_T = FixedType(4, 1)  # [-1, 0.875], step 1/8
S_T = FixedType(4, 2)  # [-2, 1.75], step 1/4
OUT_T = FixedType(8, 3, True, "RND_CONV", "SAT")  # [-4, 3.96875], step 1/32
CONV = {"kernel_size": (3, 3), "strides": (1, 1), "dilation": (1, 1), "padding": [(1, 1), (1, 1)]}


def scale_node(src: str, scale: Weight, shift: Weight, name: str = "bn") -> Node:
    return Node(name, "scale", [src], name, {"axis": -1}, {"scale": scale, "shift": shift})


def dense_bn(bias: bool = True, out_type: FixedType | None = OUT_T, scale=(0.5, -1.25), shift=(0.125, 0.75)) -> Graph:
    weights = {"kernel": weight([[0.5, -0.25], [0.75, 0.125], [-1.0, 0.0]], W_T)}
    if bias:
        weights["bias"] = weight([0.125, -0.5], W_T)
    nodes = [
        input_node(),
        Node("fc", "dense", ["x"], "fc", weights=weights),
        scale_node("fc", weight(scale, S_T), weight(shift, W_T)),
    ]
    return chain(nodes, {"x": (3,), "fc": (2,), "bn": (2,)}, {"x": IN_T, "bn": out_type})


def scale_kernel_available() -> bool:
    try:
        import fpgaq.ir.ops.batchnorm  # noqa: F401  (registers the scale kernel)
    except ImportError:
        return False
    from fpgaq.reference import KERNELS

    return "scale" in KERNELS


needs_scale_kernel = pytest.mark.skipif(not scale_kernel_available(), reason="the scale op's reference kernel")


def expected_by_fractions(g: Graph, x: np.ndarray, out_type: FixedType) -> np.ndarray:
    """Exact (linear result) * scale + shift from the unfolded graph, rounded half to even and saturated."""
    bn = g.nodes[-1]
    pre = g.copy()
    pre.nodes = pre.nodes[:-1]
    pre.outputs = [bn.inputs[0]]
    typed, m = run(pre, x)
    values = typed.tensors[bn.inputs[0]].type.to_fractions(m)
    s = [Fraction(float(v)) for v in bn.weights["scale"].values]
    t = [Fraction(float(v)) for v in bn.weights["shift"].values]
    out = np.empty(values.shape, dtype=object)
    for idx in np.ndindex(values.shape):
        c = idx[-1]
        exact = (values[idx] * s[c] + t[c]) / out_type.lsb
        out[idx] = min(max(round(exact), out_type.min_int), out_type.max_int)  # round() on a Fraction: ties to even
    return out


def test_folds_kernel_and_bias_by_hand() -> None:
    out, changed = fold_batchnorm(dense_bn())
    assert changed
    assert [n.name for n in out.nodes] == ["x", "fc"]
    fc = out.node("fc")
    assert fc.output == "bn"
    assert set(out.tensors) == {"x", "bn"}
    assert out.tensors["bn"].type == OUT_T
    # kernel columns times 0.5 and -1.25; bias: 0.125 * 0.5 + 0.125 and -0.5 * -1.25 + 0.75
    k, b = fc.weights["kernel"], fc.weights["bias"]
    assert np.array_equal(k.values, [[0.25, 0.3125], [0.375, -0.15625], [-0.5, 0.0]])
    assert np.array_equal(b.values, [0.1875, 1.375])
    for w in (k, b):
        assert np.array_equal(w.type.from_int(w.type.to_int(w.values)), w.values)  # held exactly
        assert w.hardware is None and w.quantizer is None
    out.validate()


def test_without_bias_the_shift_becomes_the_bias() -> None:
    out, changed = fold_batchnorm(dense_bn(bias=False))
    assert changed
    assert np.array_equal(out.node("fc").weights["bias"].values, [0.125, 0.75])


def test_input_graph_is_not_mutated() -> None:
    g = dense_bn()
    before = freeze(g)
    fold_batchnorm(g)
    assert freeze(g) == before


def test_folded_dense_equals_exact_rationals(rng) -> None:
    g = dense_bn()
    folded, _ = fold_batchnorm(g)
    x = sample_inputs(rng, (3,))
    assert np.array_equal(run(folded, x)[1], expected_by_fractions(g, x, OUT_T))


def conv_bn(rng, op: str, out_type: FixedType | None) -> Graph:
    shape = (3, 3, 2, 3) if op == "conv2d" else (3, 3, 2, 2)
    channels = 3 if op == "conv2d" else 4
    attrs = dict(CONV) if op == "conv2d" else {**CONV, "depth_multiplier": 2}
    weights = {"kernel": grid_weight(rng, shape, W_T, 0.2), "bias": grid_weight(rng, (channels,), W_T)}
    nodes = [
        input_node(),
        Node("conv", op, ["x"], "conv", attrs, weights),
        scale_node("conv", grid_weight(rng, (channels,), S_T), grid_weight(rng, (channels,), W_T)),
    ]
    shapes = {"x": (4, 4, 2), "conv": (4, 4, channels), "bn": (4, 4, channels)}
    return chain(nodes, shapes, {"x": IN_T, "bn": out_type})


def test_depthwise_scales_output_channel_c_times_m_plus_m(rng) -> None:
    g = conv_bn(rng, "depthwise2d", OUT_T)
    folded, changed = fold_batchnorm(g)
    assert changed
    k = g.node("conv").weights["kernel"].values
    s = g.node("bn").weights["scale"].values
    new = folded.node("conv").weights["kernel"].values
    for c in range(2):
        for m in range(2):
            assert np.array_equal(new[:, :, c, m], k[:, :, c, m] * s[c * 2 + m])


@pytest.mark.parametrize("op", ["conv2d", "depthwise2d"])
def test_folded_convolution_equals_exact_rationals(rng, op) -> None:
    g = conv_bn(rng, op, OUT_T)
    folded, changed = fold_batchnorm(g)
    assert changed
    x = sample_inputs(rng, (4, 4, 2), n=16)
    assert np.array_equal(run(folded, x)[1], expected_by_fractions(g, x, OUT_T))


@needs_scale_kernel
@pytest.mark.parametrize("op", ["conv2d", "depthwise2d"])
def test_same_numbers_as_the_scale_node(rng, op) -> None:
    g = conv_bn(rng, op, OUT_T)
    folded, _ = fold_batchnorm(g)
    assert_same_numbers(g, folded, sample_inputs(rng, (4, 4, 2), n=16))


@needs_scale_kernel
def test_open_output_type_keeps_the_values(rng) -> None:
    # the two graphs size their exact output types differently, but hold the same values
    g = conv_bn(rng, "conv2d", None)
    folded, _ = fold_batchnorm(g)
    assert_same_values(g, folded, sample_inputs(rng, (4, 4, 2), n=16))


def blocked(change: str) -> Graph:
    g = dense_bn()
    if change == "declared linear result":
        g.tensors["fc"].type = FixedType(8, 3)
    elif change == "declared accumulator":
        g.node("fc").types["accum"] = FixedType(12, 4)
    elif change == "scale accumulator":
        g.node("bn").types["accum"] = FixedType(12, 4)
    elif change == "second reader":
        g.nodes.append(Node("r", "activation", ["fc"], "r", {"function": "relu"}))
        g.tensors["r"] = Tensor("r", (2,), None)
        g.outputs.append("r")
    elif change == "graph output":
        g.outputs.append("fc")
    elif change == "fused activation":
        g.node("fc").attrs["activation"] = {"function": "relu"}
    elif change == "wrong channel count":
        g.node("bn").weights["scale"] = weight([0.5, 0.25, 1.0], S_T)
    elif change == "not after a linear node":
        g.node("fc").op = "activation"
        g.node("fc").attrs["function"] = "relu"
    return g


@pytest.mark.parametrize(
    "change",
    [
        "declared linear result",
        "declared accumulator",
        "scale accumulator",
        "second reader",
        "graph output",
        "fused activation",
        "wrong channel count",
        "not after a linear node",
    ],
)
def test_not_folded(change) -> None:
    g = blocked(change)
    out, changed = fold_batchnorm(g)
    assert not changed
    assert out is g


@pytest.mark.parametrize(
    ("scale", "scale_type", "folds"),
    [
        ([1.0, 0.5], FixedType(3, 2), True),  # control: the same graph folds with a plain scale
        # 0.875 * (1 + 2**-52) = 7 * (2**50 + 2**-2) * 2**-50 needs 55 significant bits; float64 has 53
        ([1 + 2.0**-52, 0.5], FixedType(55, 2), False),
        # 0.875 * 2**-79 = 7 * 2**-82: finer than the 2**-80 grid that fit_type searches
        ([2.0**-79, 2.0**-78], FixedType(4, -76), False),
    ],
)
def test_not_folded_when_a_folded_weight_is_not_exact(scale, scale_type, folds) -> None:
    s = weight(scale, scale_type)
    g = dense_bn()
    g.node("bn").weights["scale"] = s
    g.node("fc").weights["kernel"] = weight([[0.875, 0.625], [0.75, 0.125], [-1.0, 0.0]], W_T)
    _, changed = fold_batchnorm(g)
    assert changed == folds


def test_nothing_to_fold_reports_unchanged() -> None:
    out, _ = fold_batchnorm(dense_bn())
    again, changed = fold_batchnorm(out)
    assert not changed
    assert again is out


def test_reference_reads_folded_weights_exactly() -> None:
    # x = (1, 1, 1): (0.5 + 0.75 - 1 + 0.125) * 0.5 + 0.125 = 0.3125 and (-0.25 + 0.125 - 0.5) * -1.25 + 0.75 = 1.53125
    folded, _ = fold_batchnorm(dense_bn())
    from fpgaq.ir.precision import infer_precision

    out = evaluate(infer_precision(folded), [np.ones((1, 3))])["bn"]
    assert out.reshape(-1).tolist() == [10, 49]
