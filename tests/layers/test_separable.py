"""QSeparableConv1D/2D: depthwise then pointwise on quantized kernels, against NumPy."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from _qlayer_testing import (
    GRID,
    TestGrid,
    conv2d_ref,
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
from fpgaq.layers.separable import QSeparableConv1D, QSeparableConv2D


@pytest.fixture(autouse=True)
def _grid(monkeypatch: pytest.MonkeyPatch) -> None:
    use_grid(monkeypatch)


BIAS = np.array([0.3, -1.4, 1 / 16], np.float32)  # -> 0.25, -1, 0


def sep2d_ref(x, dk, pk, strides=(1, 1), padding="valid", dilation=(1, 1)):
    """Depthwise, then a 1x1 convolution, with no rounding in between."""
    return conv2d_ref(depthwise2d_ref(x, dk, strides, padding, dilation), pk)


def sep1d_ref(x, dk, pk, stride=1, padding="valid", dilation=1):
    return sep2d_ref(x[:, None], dk[None], pk[None], (1, stride), padding, (1, dilation))[:, 0]


def built(layer, input_shape, *values):
    layer.build(input_shape)
    layer.set_weights(list(values))
    return layer


@pytest.mark.parametrize(
    ("kernel_size", "strides", "padding", "dilation", "multiplier"),
    [((3, 3), (1, 1), "valid", (1, 1), 1), ((3, 3), (2, 2), "same", (1, 1), 2), ((2, 2), (1, 1), "valid", (2, 2), 2)],
)
def test_conv2d_matches_numpy(rng, kernel_size, strides, padding, dilation, multiplier):
    dk = weights(rng, (*kernel_size, 2, multiplier))
    pk = weights(rng, (1, 1, 2 * multiplier, 3))
    layer = QSeparableConv2D(
        3, kernel_size, strides=strides, padding=padding, dilation_rate=dilation, depth_multiplier=multiplier,
        depthwise_quantizer=TestGrid(), pointwise_quantizer=f"{GRID}(4)", bias_quantizer={"class_name": GRID},
    )  # fmt: skip
    built(layer, (None, 7, 6, 2), dk, pk, BIAS)
    x = grid_inputs(rng, (2, 7, 6, 2))
    expected = sep2d_ref(x, q4(dk), q4(pk), strides, padding, dilation) + q4(BIAS)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)


@pytest.mark.parametrize(
    ("kernel_size", "stride", "padding", "dilation", "multiplier"),
    [(3, 1, "valid", 1, 1), (3, 2, "same", 1, 2), (2, 1, "same", 2, 1)],
)
def test_conv1d_matches_numpy(rng, kernel_size, stride, padding, dilation, multiplier):
    dk = weights(rng, (kernel_size, 2, multiplier))
    pk = weights(rng, (1, 2 * multiplier, 3))
    layer = QSeparableConv1D(
        3, kernel_size, strides=stride, padding=padding, dilation_rate=dilation, depth_multiplier=multiplier,
        depthwise_quantizer=TestGrid(), pointwise_quantizer=TestGrid(), bias_quantizer=TestGrid(), activation="relu",
    )  # fmt: skip
    built(layer, (None, 9, 2), dk, pk, BIAS)
    x = grid_inputs(rng, (2, 9, 2))
    expected = np.maximum(sep1d_ref(x, q4(dk), q4(pk), stride, padding, dilation) + q4(BIAS), 0.0)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)


def test_each_kernel_has_its_own_quantizer_and_activation_comes_last(rng):
    dk = weights(rng, (2, 2, 2, 1)) * 4
    pk = weights(rng, (1, 1, 2, 3))
    layer = QSeparableConv2D(
        3, 2, depthwise_quantizer=TestGrid(6, 2), pointwise_quantizer=TestGrid(4, 0), activation=TestGrid(4, 0)
    )
    built(layer, (None, 4, 4, 2), dk, pk, BIAS)  # float bias: no bias quantizer
    x = grid_inputs(rng, (2, 4, 4, 2))
    expected = q4(sep2d_ref(x, q6i2(dk), q4(pk)) + BIAS.astype(np.float64))
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)


def test_gradients_are_straight_through(rng):
    dk = weights(rng, (2, 2, 2, 1))
    pk = weights(rng, (1, 1, 2, 3))[..., ::-1].copy()  # saturated values in another place
    layer = QSeparableConv2D(3, 2, depthwise_quantizer=TestGrid(), pointwise_quantizer=TestGrid())
    built(layer, (None, 4, 3, 2), dk, pk, BIAS)
    x = grid_inputs(rng, (2, 4, 3, 2))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x))
    grad_d, grad_p = tape.gradient(loss, [layer.depthwise_kernel, layer.pointwise_kernel])
    # Linear in each quantized kernel with the other held at its quantized value.
    np.testing.assert_array_equal(np.asarray(grad_d), ste_kernel_grad(lambda d: sep2d_ref(x, d, q4(pk)), dk.shape))
    np.testing.assert_array_equal(np.asarray(grad_p), ste_kernel_grad(lambda p: sep2d_ref(x, q4(dk), p), pk.shape))


@pytest.mark.skipif(not has_quantizer("quantized_bits"), reason="quantized_bits not written yet")
def test_with_real_quantized_bits_strings(rng):
    dk = weights(rng, (3, 3, 2, 1))
    pk = weights(rng, (1, 1, 2, 3))
    spec = "quantized_bits(4,0,alpha=1)"
    layer = QSeparableConv2D(3, 3, depthwise_quantizer=spec, pointwise_quantizer=spec, bias_quantizer=spec)
    built(layer, (None, 5, 5, 2), dk, pk, BIAS)
    x = grid_inputs(rng, (2, 5, 5, 2))
    np.testing.assert_array_equal(np.asarray(layer(x)), sep2d_ref(x, q4(dk), q4(pk)) + q4(BIAS))


@pytest.mark.parametrize("cls", [QSeparableConv1D, QSeparableConv2D])
def test_qkeras_names_defaults_and_constraints(cls):
    layer = cls(3, 2, depthwise_quantizer=TestGrid(), pointwise_quantizer=TestGrid(6, 2), use_bias=False)
    assert layer.get_quantizers() == [TestGrid(4, 0), TestGrid(6, 2), None]
    assert layer.depthwise_quantizer_internal == TestGrid(4, 0)
    assert layer.pointwise_quantizer_internal == TestGrid(6, 2)
    assert isinstance(layer.depthwise_initializer, keras.initializers.GlorotUniform)
    assert isinstance(layer.pointwise_initializer, keras.initializers.GlorotUniform)
    assert (layer.depthwise_constraint.min_value, layer.depthwise_constraint.max_value) == (-1.0, 1.0)
    assert isinstance(layer.pointwise_constraint, Clip) and layer.pointwise_constraint.max_value == 4.0
    assert layer.bias_constraint is None
    layer.build((None, 6, 2) if cls is QSeparableConv1D else (None, 6, 6, 2))
    assert layer.get_prunable_weights() == [layer.depthwise_kernel, layer.pointwise_kernel]


def test_config_round_trip_and_no_range_arguments():
    layer = QSeparableConv2D(3, 2, pointwise_quantizer=f"{GRID}(5, 1)", activation=f"{GRID}(4)")
    config = layer.get_config()
    assert config["pointwise_quantizer"] == {"class_name": GRID, "config": {"bits": 5, "integer": 1}}
    assert config["depthwise_quantizer"] is None and config["bias_quantizer"] is None
    assert config["activation"] == {"class_name": GRID, "config": {"bits": 4, "integer": 0}}
    assert "depthwise_range" not in config
    assert QSeparableConv2D.from_config(config).get_config() == config
    with pytest.raises(ValueError, match=r"Unrecognized keyword arguments passed to QSeparableConv2D.*pointwise_range"):
        QSeparableConv2D(3, 2, pointwise_range=1)


@pytest.mark.parametrize("cls", [QSeparableConv1D, QSeparableConv2D])
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"pointwise_quantizer": "nope(4)"}, ValueError, r"pointwise_quantizer='nope\(4\)': unknown quantizer 'nope'"),
        ({"depthwise_quantizer": "test_grid(bits=)"}, ValueError, r"depthwise_quantizer='test_grid\(bits=\)'"),
        ({"bias_quantizer": 1}, TypeError, r"bias_quantizer=1: cannot make a quantizer from 1"),
        ({"activation": ["relu"]}, TypeError, r"activation=\['relu'\]: cannot use \['relu'\] as an activation"),
    ],
)
def test_bad_arguments_name_the_layer_and_argument(cls, kwargs, error, message):
    with pytest.raises(error, match=rf"^{cls.__name__} 's': {message}"):
        cls(3, 2, name="s", **kwargs)
