"""QDepthwiseConv2D against a float64 NumPy depthwise convolution."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from _qlayer_testing import (
    GRID,
    TestGrid,
    depthwise2d_ref,
    grid_inputs,
    has_quantizer,
    q4,
    q6i2,
    ste_kernel_grad,
    use_grid,
    weights,
)

from fpgaq.layers.common import Clip
from fpgaq.layers.depthwise import QDepthwiseConv2D


@pytest.fixture(autouse=True)
def _grid(monkeypatch: pytest.MonkeyPatch) -> None:
    use_grid(monkeypatch)


BIAS = np.array([0.3, -1.4, 1 / 16, 3 / 16, 5 / 16, 0.9], np.float32)  # -> .25, -1, 0, .25, .25, .875


def built(layer, input_shape, *values):
    layer.build(input_shape)
    layer.set_weights(list(values))
    return layer


@pytest.mark.parametrize(
    ("kernel_size", "strides", "padding", "dilation", "multiplier"),
    [((3, 3), (1, 1), "valid", (1, 1), 1), ((3, 3), (2, 2), "same", (1, 1), 2), ((2, 3), (1, 1), "valid", (2, 1), 2)],
)
def test_output_matches_numpy(rng, kernel_size, strides, padding, dilation, multiplier):
    k = weights(rng, (*kernel_size, 3, multiplier))
    bias = BIAS[: 3 * multiplier]
    layer = QDepthwiseConv2D(
        kernel_size, strides=strides, padding=padding, depth_multiplier=multiplier, dilation_rate=dilation,
        depthwise_quantizer=TestGrid(), bias_quantizer=f"{GRID}(4)",
    )  # fmt: skip
    built(layer, (None, 7, 6, 3), k, bias)
    x = grid_inputs(rng, (2, 7, 6, 3))
    expected = depthwise2d_ref(x, q4(k), strides, padding, dilation) + q4(bias)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)


def test_scaled_quantizer_and_activation_after_bias(rng):
    k = weights(rng, (2, 2, 3, 1)) * 4
    layer = built(
        QDepthwiseConv2D(2, depthwise_quantizer=TestGrid(6, 2), bias_quantizer=TestGrid(), activation=TestGrid()),
        (None, 4, 4, 3), k, BIAS[:3],
    )  # fmt: skip
    x = grid_inputs(rng, (2, 4, 4, 3))
    np.testing.assert_array_equal(np.asarray(layer(x)), q4(depthwise2d_ref(x, q6i2(k)) + q4(BIAS[:3])))


def test_gradient_is_straight_through(rng):
    k = weights(rng, (2, 2, 2, 2))
    layer = built(QDepthwiseConv2D(2, depth_multiplier=2, depthwise_quantizer=TestGrid()), (None, 4, 3, 2), k, BIAS[:4])
    x = grid_inputs(rng, (2, 4, 3, 2))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x))
    grad_k, grad_b = tape.gradient(loss, [layer.kernel, layer.bias])
    np.testing.assert_array_equal(np.asarray(grad_k), ste_kernel_grad(lambda kk: depthwise2d_ref(x, kk), k.shape))
    np.testing.assert_array_equal(np.asarray(grad_b), np.full(4, 2 * 3 * 2.0))


@pytest.mark.skipif(not has_quantizer("quantized_bits"), reason="quantized_bits not written yet")
def test_with_real_quantized_bits_strings(rng):
    k = weights(rng, (3, 3, 3, 2))
    spec = "quantized_bits(4,0,alpha=1)"
    layer = built(
        QDepthwiseConv2D(3, depth_multiplier=2, depthwise_quantizer=spec, bias_quantizer=spec), (None, 5, 5, 3), k, BIAS
    )
    x = grid_inputs(rng, (2, 5, 5, 3))
    np.testing.assert_array_equal(np.asarray(layer(x)), depthwise2d_ref(x, q4(k)) + q4(BIAS))


def test_qkeras_names_defaults_and_positional_order():
    # QKeras' order: ..., depthwise_constraint, bias_constraint, dilation_rate, depthwise_quantizer, bias_quantizer.
    layer = QDepthwiseConv2D(3, (1, 1), "valid", 1, None, None, True, "he_normal", "zeros",
                             None, None, None, None, None, (2, 2), f"{GRID}(4)", f"{GRID}(6, 2)")  # fmt: skip
    assert layer.dilation_rate == (2, 2)
    assert layer.depthwise_quantizer_internal == TestGrid(4, 0)
    assert layer.get_quantizers() == [TestGrid(4, 0), TestGrid(6, 2)]
    assert isinstance(QDepthwiseConv2D(3).depthwise_initializer, keras.initializers.HeNormal)
    assert (layer.depthwise_constraint.min_value, layer.depthwise_constraint.max_value) == (-1.0, 1.0)
    assert isinstance(layer.bias_constraint, Clip) and layer.bias_constraint.max_value == 4.0
    layer.build((None, 8, 8, 2))
    assert layer.depthwise_kernel is layer.kernel
    assert layer.get_prunable_weights() == [layer.depthwise_kernel]


def test_config_and_ranges():
    with pytest.warns(UserWarning, match=r"^QDepthwiseConv2D 'dw': depthwise_range=1 is ignored"):
        layer = QDepthwiseConv2D(3, depthwise_quantizer=TestGrid(), activation="relu", depthwise_range=1, name="dw")
    config = layer.get_config()
    assert config["depthwise_quantizer"] == {"class_name": GRID, "config": {"bits": 4, "integer": 0}}
    assert config["bias_quantizer"] is None
    assert (config["depthwise_range"], config["bias_range"], config["activation"]) == (1, None, "relu")
    with pytest.warns(UserWarning):
        assert QDepthwiseConv2D.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"depthwise_quantizer": "nope(4)"}, ValueError, r"depthwise_quantizer='nope\(4\)': unknown quantizer 'nope'"),
        ({"bias_quantizer": object}, TypeError, r"bias_quantizer=<class 'object'>: cannot make a quantizer"),
        ({"activation": "reluu"}, ValueError, r"activation='reluu': unknown quantizer 'reluu'"),
    ],
)
def test_bad_arguments_name_the_layer_and_argument(kwargs, error, message):
    with pytest.raises(error, match=rf"^QDepthwiseConv2D 'dw': {message}"):
        QDepthwiseConv2D(3, name="dw", **kwargs)
