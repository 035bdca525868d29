"""Conv2DTranspose / QConv2DTranspose as the ``conv2d_transpose`` op."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from _op_testing import assert_bit_exact, assert_int_and_float_paths_agree, quantized_input, sample_inputs

from fpgaq.design import convert
from fpgaq.fixed import FixedType
from fpgaq.ir.ops.transpose import transpose_offsets
from fpgaq.ir.trace import UnsupportedLayerError
from fpgaq.layers import QConv2DTranspose

Q4 = "quantized_bits(4,0,alpha=1)"  # fixed<4,1>: steps of 1/8 on [-1, 0.875]
UNIFORM = keras.initializers.RandomUniform(-1, 1)


@pytest.mark.parametrize(
    ("kernel_size", "strides", "padding", "output_padding"),
    [
        (3, 1, "valid", None),
        (3, 2, "same", None),
        (2, 2, "same", None),
        (4, 2, "same", None),
        (3, 3, "same", None),
        (3, 2, "valid", 1),
        (3, 3, "valid", 2),
        (3, 2, "same", 1),
        ((2, 3), (1, 2), "valid", None),
    ],
)
def test_transposed_convolution_is_bit_exact(rng, kernel_size, strides, padding, output_padding) -> None:
    inp, x = quantized_input((4, 5, 2))
    layer = QConv2DTranspose(
        3,
        kernel_size,
        strides=strides,
        padding=padding,
        output_padding=output_padding,
        kernel_quantizer=Q4,
        bias_quantizer=Q4,
        kernel_initializer=UNIFORM,
        bias_initializer=UNIFORM,
        name="up",
    )
    design = assert_bit_exact(keras.Model(inp, layer(x)), sample_inputs(rng, (4, 5, 2), n=200))
    assert design.graph.node("up").op == "conv2d_transpose"


def test_activation_follows_the_transposed_convolution(rng) -> None:
    inp, x = quantized_input((3, 3, 2))
    layer = QConv2DTranspose(
        2,
        3,
        strides=2,
        padding="same",
        kernel_quantizer=Q4,
        bias_quantizer=Q4,
        kernel_initializer=UNIFORM,
        activation="quantized_relu(5,2)",
        name="up",
    )
    design = assert_bit_exact(keras.Model(inp, layer(x)), sample_inputs(rng, (3, 3, 2)))
    assert design.graph.node("up_linear").op == "conv2d_transpose"


def test_accumulator_covers_every_kernel_tap_of_each_output_channel() -> None:
    inp, x = quantized_input((3, 3, 1))
    layer = QConv2DTranspose(
        1, 2, strides=2, kernel_quantizer="quantized_bits(4,1,alpha=1)", bias_quantizer=Q4, name="up"
    )
    model = keras.Model(inp, layer(x))
    layer.set_weights([np.array([0.5, -0.25, 1.0, 0.75]).reshape(2, 2, 1, 1), np.array([0.125])])
    node = convert(model).graph.node("up")
    # x in [-4, 3.875]: largest 0.5*3.875 + 0.25*4 + 1*3.875 + 0.75*3.875 + 0.125 = 9.84375, smallest -9.84375;
    # 3 + 2 fractional bits, so mantissas +-315: 9 magnitude bits and a sign
    assert node.types["exact"] == FixedType(10, 5)
    assert node.types["accum"] == FixedType(10, 5)


def test_offsets_follow_tensorflow_same_padding() -> None:
    # forward padding max((in - 1) * s + k - out, 0), half of it (rounded down) before
    assert transpose_offsets((4, 5), (8, 10), (3, 3), (2, 2), (1, 1), "same") == (0, 0)
    assert transpose_offsets((4, 5), (8, 10), (4, 4), (2, 2), (1, 1), "same") == (1, 1)
    assert transpose_offsets((4, 5), (12, 15), (3, 5), (3, 3), (1, 1), "same") == (0, 1)
    assert transpose_offsets((4, 5), (9, 11), (3, 3), (2, 2), (1, 1), "valid") == (0, 0)


def test_dilation_is_refused() -> None:
    inp = keras.Input((4, 4, 1))
    model = keras.Model(inp, keras.layers.Conv2DTranspose(2, 3, dilation_rate=2, name="up")(inp))
    with pytest.raises(UnsupportedLayerError) as err:
        convert(model)
    assert str(err.value) == (
        "layer 'up' (Conv2DTranspose): dilation_rate=(2, 2) is not supported: TensorFlow's CPU kernel cannot run "
        "it, so the IR could not be checked against the model; use dilation_rate=1"
    )


def test_one_dimensional_transposed_convolution_is_unsupported() -> None:
    inp = keras.Input((6, 1))
    model = keras.Model(inp, keras.layers.Conv1DTranspose(2, 3, name="up1d")(inp))
    with pytest.raises(UnsupportedLayerError, match="layer 'up1d' has class Conv1DTranspose, which fpgaq does not"):
        convert(model)


def test_integer_and_float_mantissas_agree(rng) -> None:
    inp, x = quantized_input((4, 5, 2))
    layer = QConv2DTranspose(
        3,
        4,
        strides=2,
        padding="same",
        kernel_quantizer=Q4,
        bias_quantizer=Q4,
        kernel_initializer=UNIFORM,
        bias_initializer=UNIFORM,
    )
    xs = sample_inputs(rng, (4, 5, 2), n=40)
    assert_int_and_float_paths_agree(convert(keras.Model(inp, layer(x))), xs, ("conv2d_transpose",))
