"""BatchNormalization and QBatchNormalization as a ``scale`` node."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from _op_testing import (
    assert_bit_exact,
    assert_int_and_float_paths_agree,
    keras_output,
    quantize_input,
    quantized_input,
    sample_inputs,
)

from fpgaq.design import convert
from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Graph, Node, Tensor, Weight
from fpgaq.ir.ops.batchnorm import scale_rule
from fpgaq.ir.trace import UnsupportedLayerError
from fpgaq.ir.weights import UnquantizedWarning
from fpgaq.layers import QBatchNormalization, QDense
from fpgaq.reference import KERNELS

Q5_2 = "quantized_bits(5,2,alpha=1)"  # fixed<5,3>: steps of 1/4 on [-4, 3.75]


def _stats(rng: np.random.Generator, c: int) -> list[np.ndarray]:
    return [rng.uniform(0.5, 3, c), rng.uniform(-2, 2, c), rng.uniform(-2, 2, c), rng.uniform(0.2, 2, c)]


def _quantized_bn(name: str = "bn") -> QBatchNormalization:
    return QBatchNormalization(
        inverse_quantizer=Q5_2,
        beta_quantizer=Q5_2,
        mean_quantizer=Q5_2,
        gamma_quantizer=None,
        variance_quantizer=None,
        name=name,
    )


def _q5_2(v: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(v, dtype=np.float64) * 4), -16, 15) / 4


@pytest.mark.parametrize("shape", [(5,), (3, 4, 3)])
def test_quantized_constants_are_exact_and_bit_exact(rng, shape) -> None:
    inp, x = quantized_input(shape)
    bn = _quantized_bn()
    model = keras.Model(inp, bn(x))
    gamma, beta, mean, var = _stats(rng, shape[-1])
    bn.set_weights([gamma, beta, mean, var])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnquantizedWarning)
        design = assert_bit_exact(model, sample_inputs(rng, shape))
    node = design.graph.node("bn")
    assert node.op == "scale"
    # inverse_quantizer(gamma / sqrt(var + eps)) and q(beta) - q(mean) * scale, by hand
    inv = _q5_2(gamma / np.sqrt(var + 1e-3))
    assert np.array_equal(node.weights["scale"].values, inv)
    assert node.weights["scale"].type == FixedType(5, 3)
    assert np.array_equal(node.weights["shift"].values, _q5_2(beta) - _q5_2(mean) * inv)


@pytest.mark.filterwarnings("ignore::fpgaq.ir.precision.UntypedInputWarning")  # passes=[] keeps the input quantizer
def test_dense_then_batchnorm_is_bit_exact_with_and_without_folding(rng) -> None:
    inp, x = quantized_input((6,))
    x = QDense(
        4,
        kernel_quantizer="quantized_bits(4,0,alpha=1)",
        bias_quantizer="quantized_bits(4,0,alpha=1)",
        kernel_initializer=keras.initializers.RandomUniform(-1, 1),
        bias_initializer="ones",
    )(x)
    bn = _quantized_bn()
    model = keras.Model(inp, bn(x))
    bn.set_weights(_stats(rng, 4))
    x = sample_inputs(rng, (6,))
    assert "scale" in [n.op for n in assert_bit_exact(model, x, passes=[]).graph.nodes]
    assert_bit_exact(model, x)  # the default passes may fold the scale node into the dense one


def test_keras_batchnorm_rounds_its_constants_with_a_warning(rng) -> None:
    shape = (4, 4, 3)
    inp, x = quantized_input(shape)
    bn = keras.layers.BatchNormalization(name="bn")
    model = keras.Model(inp, bn(x))
    gamma, beta, mean, var = _stats(rng, 3)
    bn.set_weights([gamma, beta, mean, var])
    with pytest.warns(UnquantizedWarning) as record:
        design = convert(model)
    messages = [str(w.message) for w in record]
    assert any(m.startswith("layer 'bn' (BatchNormalization): the batch-normalization scale is not") for m in messages)
    assert any(m.startswith("layer 'bn' (BatchNormalization): the batch-normalization shift is not") for m in messages)
    # Keras' float32 x * inv + offset with inv = 1/sqrt(...) is not on any short grid, so the model's
    # own output is not what hardware computes; the design must equal the same arithmetic in float64
    # with both constants rounded half-even to the default ap_fixed<16,6> (10 fractional bits).
    inv = np.float32(gamma * (1.0 / np.sqrt(var + 1e-3)))
    offset = np.float32(beta - mean * inv.astype(np.float64))
    s = np.round(inv.astype(np.float64) * 1024) / 1024
    b = np.round(offset.astype(np.float64) * 1024) / 1024
    xs = sample_inputs(rng, shape)
    want = quantize_input(xs) * s + b  # exact in float64: at most 3 + 10 fractional bits
    got = design.predict(xs)
    assert np.array_equal(got, want)
    keras_y = keras_output(model, xs)
    assert not np.array_equal(got, keras_y)
    assert np.max(np.abs(got - keras_y)) <= 4 * 2**-11 + 2**-11 + 1e-6


def test_configured_precisions_round_the_constants_silently(rng) -> None:
    inp, x = quantized_input((3,))
    bn = keras.layers.BatchNormalization(name="bn")
    model = keras.Model(inp, bn(x))
    gamma, beta, mean, var = _stats(rng, 3)
    bn.set_weights([gamma, beta, mean, var])
    config = {"LayerName": {"bn": {"Precision": {"weight": "ap_fixed<6,2>", "bias": "ap_fixed<6,3>"}}}}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnquantizedWarning)
        design = convert(model, config)
    node = design.graph.node("bn")
    assert node.weights["scale"].type == FixedType(6, 2, True, "RND_CONV", "SAT")
    assert node.weights["shift"].type == FixedType(6, 3, True, "RND_CONV", "SAT")
    inv = np.float32(gamma * (1.0 / np.sqrt(var + 1e-3))).astype(np.float64)
    offset = np.float32(beta - mean * inv).astype(np.float64)
    s = np.clip(np.round(inv * 16), -32, 31) / 16
    b = np.clip(np.round(offset * 8), -32, 31) / 8
    xs = sample_inputs(rng, (3,))
    assert np.array_equal(design.predict(xs), quantize_input(xs) * s + b)


def test_qbatchnorm_default_quantizers_leave_the_scale_unquantized(rng) -> None:
    inp, x = quantized_input((5,))
    bn = QBatchNormalization(name="qbn")
    model = keras.Model(inp, bn(x))
    bn.set_weights(_stats(rng, 5))
    with pytest.warns(UnquantizedWarning) as record:
        design = convert(model)
    messages = " | ".join(str(w.message) for w in record)
    assert "scale is not a quantizer's output (1 / sqrt(variance + epsilon) has no inverse_quantizer)" in messages
    assert "shift is not a quantizer's output (it depends on the unquantized scale)" in messages
    inv, offset = bn.get_scale_and_offset()
    s = np.round(inv.astype(np.float64) * 1024) / 1024
    b = np.round(offset.astype(np.float64) * 1024) / 1024
    xs = sample_inputs(rng, (5,))
    assert np.array_equal(design.predict(xs), quantize_input(xs) * s + b)


def test_batchnorm_over_another_axis_is_refused() -> None:
    inp = keras.Input((4, 3))
    model = keras.Model(inp, keras.layers.BatchNormalization(axis=1, name="bn")(inp))
    with pytest.raises(UnsupportedLayerError) as err:
        convert(model)
    assert str(err.value) == (
        "layer 'bn' (BatchNormalization): normalizing axis=1 is not supported; only the last (channel) axis is; "
        "use axis=-1 with channels_last data"
    )


def _scale_graph(scale: list[float], shift: list[float], tin: FixedType) -> Graph:
    def weight(values: list[float]) -> Weight:
        v = np.array(values)
        return Weight(v, FixedType(8, 4))

    node = Node("s", "scale", ["x"], "y", {"axis": -1}, {"scale": weight(scale), "shift": weight(shift)})
    tensors = {"x": Tensor("x", (2,), tin), "y": Tensor("y", (2,))}
    return Graph("g", [Node("x", "input", [], "x"), node], tensors, ["x"], ["y"])


def test_scale_rule_gives_the_exact_range_over_every_channel() -> None:
    # x in [-4, 3.875] (fixed<6,3>); channel 0: 0.5 x + 0.25 in [-1.75, 2.1875];
    # channel 1: -1.25 x + 1 in [-3.84375, 6]; 3 + 4 fractional bits; mantissas [-492, 768] -> 11 bits
    g = _scale_graph([0.5, -1.25], [0.25, 1.0], FixedType(6, 3))
    node = g.node("s")
    out = scale_rule(g, node, [FixedType(6, 3)], None)
    assert out == FixedType(11, 4)
    assert node.types == {"exact": FixedType(11, 4), "accum": FixedType(11, 4)}


def test_scale_kernel_is_exact_then_casts_into_the_output_type() -> None:
    g = _scale_graph([0.5, -1.25], [0.25, 1.0], FixedType(6, 3))
    node = g.node("s")
    scale_rule(g, node, [FixedType(6, 3)], None)
    x = np.array([[-32, 31], [1, -8], [3, 24]])  # fixed<6,3> mantissas: [-4, 3.875], [0.125, -1], [0.375, 3]
    exact = KERNELS["scale"](node, [x], [FixedType(6, 3)], FixedType(11, 4))
    # [-1.75, -3.84375], [0.3125, 2.25], [0.4375, -2.75], times 128
    assert exact.tolist() == [[-224, -492], [40, 288], [56, -352]]
    # into fixed<5,2,RND_CONV,SAT> (steps of 1/8 on [-2, 1.875]): -1.75 -> -14; -3.84375 saturates at -16;
    # 0.3125 = 2.5/8 ties to even 2; 2.25 saturates at 15; 0.4375 = 3.5/8 ties to even 4; -2.75 saturates
    rounded = KERNELS["scale"](node, [x], [FixedType(6, 3)], FixedType(5, 2, True, "RND_CONV", "SAT"))
    assert rounded.tolist() == [[-14, -16], [2, 15], [4, -16]]


def test_integer_and_float_mantissas_agree(rng) -> None:
    inp, x = quantized_input((3, 4))
    bn = _quantized_bn()
    model = keras.Model(inp, bn(x))
    bn.set_weights(_stats(rng, 4))
    assert_int_and_float_paths_agree(convert(model), sample_inputs(rng, (3, 4), n=40), ("scale",))


def test_unquantized_mean_rounds_only_the_shift(rng) -> None:
    inp, x = quantized_input((4,))
    bn = QBatchNormalization(
        inverse_quantizer=Q5_2,
        beta_quantizer=Q5_2,
        mean_quantizer=None,
        gamma_quantizer=None,
        variance_quantizer=None,
        name="bn",
    )
    model = keras.Model(inp, bn(x))
    bn.set_weights(_stats(rng, 4))
    with pytest.warns(UnquantizedWarning) as record:
        design = convert(model)
    messages = [str(w.message) for w in record if issubclass(w.category, UnquantizedWarning)]
    assert len(messages) == 1
    assert "shift is not a quantizer's output (beta or the moving mean has no quantizer)" in messages[0]
    node = design.graph.node("bn")
    inv, offset = bn.get_scale_and_offset()
    assert node.weights["scale"].type == FixedType(5, 3)
    assert np.array_equal(node.weights["scale"].values, inv)
    assert np.array_equal(node.weights["shift"].values, np.round(offset.astype(np.float64) * 1024) / 1024)
