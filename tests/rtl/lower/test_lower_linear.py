"""RTL lowering of dense, convolutions, depthwise, transposed convolution and scale: exact values and costs."""

from __future__ import annotations

import warnings
from collections import Counter

import keras
import numpy as np
import pytest

import fpgaq
from fpgaq.layers import (
    QActivation,
    QConv1D,
    QConv2D,
    QConv2DTranspose,
    QDense,
    QDepthwiseConv2D,
    QSeparableConv1D,
)
from fpgaq.rtl.lower import RtlLoweringError, lower_graph
from fpgaq.rtl.netlist import simulate
from fpgaq.testing.rtl_check import netlist_mismatches

WQ = "quantized_bits(5,1,alpha=1)"
BQ = "quantized_bits(6,2,alpha=1)"


def _convert(model: keras.Model, config=None) -> fpgaq.Design:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fpgaq.convert(model, config)


def _styled(design: fpgaq.Design, **options) -> fpgaq.Design:
    graph = design.graph.copy()
    for node in graph.nodes:
        node.options.update(options)
    return fpgaq.Design(graph, design.config)


def _inputs(design: fpgaq.Design, n: int, seed: int = 0) -> np.ndarray:
    """Beyond the input type's range (saturation), its exact half-way points, zero."""
    tensor = design.graph.tensors[design.graph.inputs[0]]
    t = tensor.type
    rng = np.random.default_rng(seed)
    span = max(abs(t.min_value), abs(t.max_value))
    x = rng.uniform(-1.4 * span, 1.4 * span, size=(n, *tensor.shape))
    ties = (np.floor(x / t.lsb_value) + 0.5) * t.lsb_value
    x = np.where(rng.random(x.shape) < 0.3, ties, x)
    x[0], x[1], x[2] = t.min_value - 1, t.max_value + 1, 0.0
    return x


def _randomize(model: keras.Model, seed: int) -> keras.Model:
    rng = np.random.default_rng(seed)
    for w in model.weights:
        values = rng.normal(0.0, 0.7, size=tuple(w.shape))
        if "variance" in w.path:
            values = rng.uniform(0.5, 2.0, size=tuple(w.shape))
        w.assign(values.astype(np.float32))
    return model


def _model(shape, build, seed: int, name: str) -> keras.Model:
    inp = keras.Input(shape, name="x")
    x = QActivation("quantized_bits(7,2,alpha=1)", name="in_q")(inp)
    return _randomize(keras.Model(inp, build(x), name=name), seed)


def _models() -> dict[str, tuple[keras.Model, dict | None]]:
    common = {"kernel_quantizer": WQ, "bias_quantizer": BQ}
    relu = "quantized_relu(6,2)"
    narrow = {"LayerName": {"d": {"Precision": {"accum": "ap_fixed<10,3>"}}}}  # wraps: narrower than exact
    return {
        "dense_rows": (
            _model((3, 5), lambda x: QActivation(relu, name="r")(QDense(4, name="d", **common)(x)), 1, "dense_rows"),
            None,
        ),
        "dense_wrap_accum": (
            _model((6,), lambda x: QDense(3, name="d", **common)(x), 2, "dense_wrap_accum"),
            narrow,
        ),
        "conv1d": (
            _model(
                (9, 2),
                lambda x: QActivation(relu, name="r")(QConv1D(3, 3, strides=2, padding="same", name="c", **common)(x)),
                3,
                "conv1d",
            ),
            None,
        ),
        "conv2d": (
            _model(
                (6, 5, 2),
                lambda x: QConv2D(3, (3, 2), padding="same", dilation_rate=(2, 1), name="c", **common)(x),
                4,
                "conv2d",
            ),
            None,
        ),
        "depthwise2d": (
            _model(
                (6, 6, 2),
                lambda x: QDepthwiseConv2D(
                    3, strides=2, padding="same", depth_multiplier=2, depthwise_quantizer=WQ, bias_quantizer=BQ
                )(x),
                5,
                "depthwise2d",
            ),
            None,
        ),
        "separable1d": (
            _model(
                (8, 2),
                lambda x: QSeparableConv1D(
                    2, 3, padding="same", depthwise_quantizer=WQ, pointwise_quantizer=WQ, bias_quantizer=BQ
                )(x),
                6,
                "separable1d",
            ),
            None,
        ),
        "conv2d_transpose": (
            _model(
                (3, 3, 2), lambda x: QConv2DTranspose(2, 3, strides=2, padding="same", name="t", **common)(x), 7, "tr"
            ),
            None,
        ),
        "scale": (
            _model(
                (4, 3),
                lambda x: QActivation("quantized_bits(8,3,alpha=1)", name="q")(
                    keras.layers.BatchNormalization(name="bn")(x)
                ),
                8,
                "scale",
            ),
            {"LayerName": {"bn": {"Precision": {"weight": "ap_fixed<7,2,AP_RND,AP_SAT>", "bias": "ap_fixed<7,3>"}}}},
        ),
        "special_weights": (
            _model(
                (6,),
                lambda x: keras.layers.Concatenate(name="cat")(
                    [
                        QDense(3, kernel_quantizer=q, bias_quantizer=BQ, name=f"d{i}")(x)
                        for i, q in enumerate(
                            [
                                "binary(alpha=1)",
                                "ternary(alpha=1)",
                                "quantized_po2(4,1)",
                                "quantized_bits(4,0,alpha='auto_po2')",
                            ]
                        )
                    ]
                ),
                9,
                "special",
            ),
            None,
        ),
    }


@pytest.fixture(scope="module")
def designs() -> dict[str, fpgaq.Design]:
    return {name: _convert(model, cfg) for name, (model, cfg) in _models().items()}


@pytest.mark.parametrize("name", list(_models()))
@pytest.mark.parametrize("multiplier", ["lut", "dsp", "auto"])
def test_linear_ops_are_bit_exact(designs, name: str, multiplier: str) -> None:
    design = _styled(designs[name], multiplier=multiplier)
    ops = {n.op for n in design.graph.nodes}
    assert ops & {"dense", "conv1d", "conv2d", "depthwise1d", "depthwise2d", "conv2d_transpose", "scale"}
    net = lower_graph(design.graph)
    assert netlist_mismatches(design, net, _inputs(design, 1500)) == []


def test_the_models_cover_every_linear_op(designs) -> None:
    ops = {n.op for d in designs.values() for n in d.graph.nodes}
    assert {"dense", "conv1d", "conv2d", "depthwise1d", "depthwise2d", "conv2d_transpose", "scale"} <= ops
    assert any(d.graph.nodes[1].types.get("accum") != d.graph.nodes[1].types.get("exact") for d in designs.values())


def _integer_dense(weights: list[list[float]], bias: list[float] | None) -> fpgaq.Design:
    """x (2 integers in [-8, 7]) @ weights + bias, every type an exact integer type."""
    inp = keras.Input((len(weights),), name="x")
    x = QActivation("quantized_bits(4,3,alpha=1)", name="in_q")(inp)
    layer = QDense(
        len(weights[0]),
        kernel_quantizer="quantized_bits(6,5,alpha=1)",
        bias_quantizer="quantized_bits(6,5,alpha=1)",
        use_bias=bias is not None,
        name="d",
    )
    y = layer(x)
    layer.kernel.assign(np.array(weights, dtype=np.float32))
    if bias is not None:
        layer.bias.assign(np.array(bias, dtype=np.float32))
    return _convert(keras.Model(inp, y, name="hand"))


def test_hand_computed_dense_values_and_adder_count() -> None:
    """y0 = x0 + 2*x1, y1 = 3*x0 - 4*x1 + 5: x0*3 once, then one adder per output, one for the bias."""
    design = _styled(_integer_dense([[1, 3], [2, -4]], [0, 5]), multiplier="lut")
    net = lower_graph(design.graph)
    kinds = Counter(op.kind for op in net.live())
    assert kinds["add"] == 4 and kinds["neg"] == 0 and kinds["mulc"] == 0 and kinds["mul"] == 0
    x = np.array([[0, 0], [1, 1], [-8, 7], [7, -8], [-8, -8]])
    (y,) = simulate(net, [x])
    assert y.tolist() == [[0, 5], [3, 4], [6, -47], [-9, 58], [-24, 13]]


def test_hand_computed_dense_with_dsp_multipliers() -> None:
    design = _styled(_integer_dense([[1, 3], [2, -4]], None), multiplier="dsp")
    net = lower_graph(design.graph)
    kinds = Counter(op.kind for op in net.live())
    # weight 1 needs no multiplier; 2, 3 and -4 each get a constant '*'; one adder per output
    assert kinds["mulc"] == 3 and kinds["add"] == 2
    (y,) = simulate(net, [np.array([[-8, 7], [3, -2]])])
    assert y.tolist() == [[6, -52], [-1, 17]]


def test_zero_weights_and_zero_padding_vanish() -> None:
    """conv1d 'same', kernel [1, 0, 1], length 4: out[i] = x[i-1] + x[i+1] with the padded taps gone."""
    inp = keras.Input((4, 1), name="x")
    x = QActivation("quantized_bits(4,3,alpha=1)", name="in_q")(inp)
    layer = QConv1D(1, 3, padding="same", use_bias=False, kernel_quantizer="quantized_bits(4,3,alpha=1)", name="c")
    y = layer(x)
    layer.kernel.assign(np.array([1, 0, 1], dtype=np.float32).reshape(3, 1, 1))
    design = _styled(_convert(keras.Model(inp, y, name="pad")), multiplier="lut")
    net = lower_graph(design.graph)
    assert Counter(op.kind for op in net.live())["add"] == 2  # out[0] = x1 and out[3] = x2 are wires
    (y,) = simulate(net, [np.array([[1, 2, 3, 4], [-8, 7, -8, 7]])])
    assert y.tolist() == [[2, 4, 6, 3], [7, -16, 14, -8]]


def test_binary_ternary_and_po2_weights_need_no_multiplier(designs) -> None:
    design = _styled(designs["special_weights"], multiplier="auto")
    net = lower_graph(design.graph)
    kinds = Counter(op.kind for op in net.live())
    assert kinds["mulc"] == 0 and kinds["mul"] == 0


def test_unknown_multiplier_is_rejected_with_the_choices(designs) -> None:
    design = _styled(designs["dense_rows"], multiplier="magic")
    with pytest.raises(RtlLoweringError, match=r"node 'd' \(dense, layer 'd'\): Multiplier 'magic' is not supported; "):
        lower_graph(design.graph)
