"""Keras pooling with padding='same', and QAveragePooling2D / QGlobalAveragePooling2D."""

from __future__ import annotations

from fractions import Fraction

import keras
import numpy as np
import pytest
from _op_testing import (
    assert_bit_exact,
    assert_int_and_float_paths_agree,
    keras_output,
    ops_of,
    quantize_input,
    quantized_input,
    round_half_even,
    sample_inputs,
)

from fpgaq.design import convert
from fpgaq.fixed import FixedType
from fpgaq.ir.ops.pooling import window_counts
from fpgaq.ir.trace import UnsupportedLayerError
from fpgaq.layers import QAveragePooling2D, QGlobalAveragePooling2D

AVG_Q = "quantized_bits(8,0,alpha=1)"  # fixed<8,1>: steps of 1/128


@pytest.mark.parametrize(
    ("layer", "shape", "op"),
    [
        (keras.layers.MaxPooling2D(2, padding="same"), (5, 7, 2), "padded_maxpool2d"),
        (keras.layers.MaxPooling2D(3, strides=2, padding="same"), (5, 7, 2), "padded_maxpool2d"),
        (keras.layers.MaxPooling1D(2, padding="same"), (7, 2), "padded_maxpool1d"),
        (keras.layers.AveragePooling2D(2, padding="same"), (5, 7, 2), "padded_avgpool2d"),
        (keras.layers.AveragePooling2D(2, strides=(1, 2), padding="same"), (5, 7, 2), "padded_avgpool2d"),
        (keras.layers.AveragePooling1D(2, padding="same"), (7, 2), "padded_avgpool1d"),
        (keras.layers.MaxPooling2D(2, padding="same"), (6, 6, 2), "maxpool2d"),  # 'same' that pads nothing
    ],
)
def test_same_padding_pools_are_bit_exact(rng, layer, shape, op) -> None:
    inp, x = quantized_input(shape)
    design = assert_bit_exact(keras.Model(inp, layer(x)), sample_inputs(rng, shape))
    assert ops_of(design) == ["input", op]


def test_max_pooling_ignores_the_padded_cells() -> None:
    inp, x = quantized_input((3, 3, 1))
    design = convert(keras.Model(inp, keras.layers.MaxPooling2D(2, padding="same")(x)))
    xs = np.full((1, 3, 3, 1), -2.5, dtype=np.float32)
    xs[0, 2, 2, 0] = -3.0  # the corner window holds this cell alone; zero padding would give 0
    assert design.predict(xs)[0, :, :, 0].tolist() == [[-2.5, -2.5], [-2.5, -3.0]]


def test_average_over_non_power_of_two_counts_rounds_half_even(rng) -> None:
    # counts 4, 6 and 9: Keras' float32 division is inexact, so the design must equal the exact mean
    # rounded half-even to 3 + ceil(log2 9) + 1 = 8 fractional bits
    inp, x = quantized_input((5, 5, 1))
    model = keras.Model(inp, keras.layers.AveragePooling2D(3, strides=1, padding="same")(x))
    design = convert(model)
    assert design.graph.tensors[design.graph.outputs[0]].type == FixedType(11, 3, True, "RND_CONV")
    xs = sample_inputs(rng, (5, 5, 1), n=40)
    q = quantize_input(xs)[..., 0]
    want = np.empty((len(xs), 5, 5))
    for n in range(len(xs)):
        for i in range(5):
            for j in range(5):
                cells = q[n, max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2]
                want[n, i, j] = round_half_even([sum(Fraction(float(v)) for v in cells.flat) / cells.size], 8, 11)[0]
    got = design.predict(xs)[..., 0]
    assert np.array_equal(got, want)
    assert not np.array_equal(got, keras_output(model, xs)[..., 0])


def test_window_counts_by_hand() -> None:
    # size 5, pool 3, stride 1: one cell of padding each side
    assert window_counts((5,), (3,), (1,)).tolist() == [2, 3, 3, 3, 2]
    # size 7, pool 2, stride 2: out 4, one cell of padding after
    assert window_counts((5, 7), (2, 2), (2, 2)).tolist() == [[4, 4, 4, 2], [4, 4, 4, 2], [2, 2, 2, 1]]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pool_size": 2},
        {"pool_size": 2, "padding": "same"},
        {"pool_size": 3, "strides": 1, "padding": "same"},
        {"pool_size": (2, 3), "strides": (2, 1), "padding": "same"},
        {"pool_size": 3},
    ],
)
def test_quantized_average_pooling_is_bit_exact(rng, kwargs) -> None:
    inp, x = quantized_input((5, 7, 2))
    layer = QAveragePooling2D(average_quantizer=AVG_Q, activation="quantized_bits(8,3,alpha=1)", name="pool", **kwargs)
    design = assert_bit_exact(keras.Model(inp, layer(x)), sample_inputs(rng, (5, 7, 2)))
    assert design.graph.node("pool_pool").op == "scaled_avgpool2d"


def test_quantized_average_multipliers_by_hand() -> None:
    inp, x = quantized_input((5, 5, 1))
    layer = QAveragePooling2D(3, strides=1, padding="same", average_quantizer=AVG_Q, name="pool")
    node = convert(keras.Model(inp, layer(x))).graph.node("pool")
    # average_quantizer(1/9) = round(128/9 = 14.2)/128; border windows of 6 and 4 cells scale it by 9/6 and 9/4
    q = 14 / 128
    assert node.weights["multiplier"].values[0].tolist() == [q * 9 / 4, q * 9 / 6, q * 9 / 6, q * 9 / 6, q * 9 / 4]
    assert node.weights["multiplier"].values[2, 2] == q


def test_quantized_global_average_pooling_is_bit_exact(rng) -> None:
    inp, x = quantized_input((5, 7, 2))
    design = assert_bit_exact(
        keras.Model(inp, QGlobalAveragePooling2D(average_quantizer=AVG_Q, name="gap")(x)), sample_inputs(rng, (5, 7, 2))
    )
    node = design.graph.node("gap")
    assert node.op == "global_scaled_avgpool2d"
    assert float(node.weights["multiplier"].values) == 4 / 128  # round(128 / 35 = 3.66) / 128

    inp, x = quantized_input((4, 4, 3))
    layer = QGlobalAveragePooling2D(average_quantizer=AVG_Q, activation="quantized_relu(6,2)", name="gap")
    assert_bit_exact(keras.Model(inp, layer(x)), sample_inputs(rng, (4, 4, 3)))


def test_plain_quantized_average_pooling_is_keras_average(rng) -> None:
    inp, x = quantized_input((6, 6, 2))
    design = assert_bit_exact(keras.Model(inp, QAveragePooling2D(2, name="pool")(x)), sample_inputs(rng, (6, 6, 2)))
    assert ops_of(design) == ["input", "avgpool2d"]


def test_border_factor_without_a_binary_value_is_refused() -> None:
    inp, x = quantized_input((5, 5, 1))
    layer = QAveragePooling2D(4, strides=1, padding="same", average_quantizer=AVG_Q, name="pool")
    with pytest.raises(UnsupportedLayerError) as err:
        convert(keras.Model(inp, layer(x)))
    assert str(err.value) == (
        "layer 'pool' (QAveragePooling2D): padding='same' makes border windows of 9 cells, which QKeras scales by "
        "pool_area / 9 = 16/9: not a binary fraction, so no hardware matches it exactly; use padding='valid', or "
        "pool and input sizes whose border windows hold a power-of-two fraction of the pool "
        "(pool_size=(2, 2) always does)"
    )


def test_global_pool_keepdims_is_refused() -> None:
    inp, x = quantized_input((4, 4, 1))
    layer = QGlobalAveragePooling2D(average_quantizer=AVG_Q, keepdims=True, name="gap")
    with pytest.raises(UnsupportedLayerError) as err:
        convert(keras.Model(inp, layer(x)))
    assert str(err.value) == (
        "layer 'gap' (QGlobalAveragePooling2D): keepdims=True is not supported; use keepdims=False and a Reshape"
    )


@pytest.mark.parametrize(
    "layer",
    [
        keras.layers.MaxPooling2D(3, strides=2, padding="same"),
        keras.layers.AveragePooling2D(3, strides=1, padding="same"),
        QAveragePooling2D(2, padding="same", average_quantizer=AVG_Q),
        QGlobalAveragePooling2D(average_quantizer=AVG_Q),
    ],
)
def test_integer_and_float_mantissas_agree(rng, layer) -> None:
    inp, x = quantized_input((5, 7, 2))
    ops = ("padded_maxpool2d", "padded_avgpool2d", "scaled_avgpool2d", "global_scaled_avgpool2d")
    assert_int_and_float_paths_agree(convert(keras.Model(inp, layer(x))), sample_inputs(rng, (5, 7, 2), n=40), ops)
