"""QConv1D, QConv2D, QConv2DTranspose against float64 NumPy convolutions."""

import types
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from _qlayer_testing import (
    GRID,
    TestGrid,
    conv1d_ref,
    conv2d_ref,
    conv2d_transpose_ref,
    grid_inputs,
    has_quantizer,
    q4,
    q6i2,
    ste_kernel_grad,
    use_grid,
    weights,
)

from fpgaq.layers.common import Clip
from fpgaq.layers.conv import QConv1D, QConv2D, QConv2DTranspose, add_bias_and_activate


@pytest.fixture(autouse=True)
def _grid(monkeypatch: pytest.MonkeyPatch) -> None:
    use_grid(monkeypatch)


BIAS = np.array([0.3, -1.4, 1 / 16, 3 / 16], np.float32)  # -> 0.25, -1, 0, 0.25


def built(layer, input_shape, *values):
    layer.build(input_shape)
    layer.set_weights(list(values))
    return layer


@pytest.mark.parametrize(
    ("kernel_size", "strides", "padding", "dilation"),
    [((3, 3), (1, 1), "valid", (1, 1)), ((3, 3), (2, 2), "same", (1, 1)), ((3, 2), (1, 1), "valid", (2, 1)),
     ((2, 3), (2, 1), "same", (1, 1))],
)  # fmt: skip
def test_conv2d_matches_numpy(rng, kernel_size, strides, padding, dilation):
    k = weights(rng, (*kernel_size, 3, 4))
    layer = QConv2D(
        4, kernel_size, strides=strides, padding=padding, dilation_rate=dilation,
        kernel_quantizer=TestGrid(), bias_quantizer=f"{GRID}(4)",
    )  # fmt: skip
    built(layer, (None, 7, 8, 3), k, BIAS)
    x = grid_inputs(rng, (2, 7, 8, 3))
    expected = conv2d_ref(x, q4(k), strides, padding, dilation) + q4(BIAS)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)


def test_conv2d_quantizer_scale_and_activation_after_bias(rng):
    k = weights(rng, (2, 2, 3, 4)) * 4
    layer = built(
        QConv2D(4, 2, kernel_quantizer=TestGrid(6, 2), bias_quantizer=TestGrid(), activation=TestGrid(4, 0)),
        (None, 4, 4, 3), k, BIAS,
    )  # fmt: skip
    x = grid_inputs(rng, (2, 4, 4, 3))
    expected = q4(conv2d_ref(x, q6i2(k)) + q4(BIAS))
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)


@pytest.mark.parametrize(
    ("kernel_size", "stride", "padding", "dilation"),
    [(3, 1, "valid", 1), (3, 2, "same", 1), (3, 1, "causal", 2), (2, 2, "valid", 1)],
)
def test_conv1d_matches_numpy(rng, kernel_size, stride, padding, dilation):
    k = weights(rng, (kernel_size, 3, 4))
    layer = QConv1D(
        4, kernel_size, strides=stride, padding=padding, dilation_rate=dilation,
        kernel_quantizer=TestGrid(), bias_quantizer=TestGrid(), activation="relu",
    )  # fmt: skip
    built(layer, (None, 9, 3), k, BIAS)
    x = grid_inputs(rng, (2, 9, 3))
    expected = np.maximum(conv1d_ref(x, q4(k), stride, padding, dilation) + q4(BIAS), 0.0)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)


@pytest.mark.parametrize(
    ("kernel_size", "strides", "padding", "output_padding"),
    [(3, 2, "same", None), (3, 2, "valid", None), (2, 2, "valid", None), (3, 1, "same", None), (3, 2, "same", 1),
     (3, 2, "valid", 1)],
)  # fmt: skip
def test_conv2d_transpose_matches_numpy(rng, kernel_size, strides, padding, output_padding):
    k = weights(rng, (kernel_size, kernel_size, 4, 3))  # (kh, kw, filters, in_channels)
    layer = QConv2DTranspose(
        4, kernel_size, strides=strides, padding=padding, output_padding=output_padding,
        kernel_quantizer=TestGrid(), bias_quantizer=TestGrid(),
    )  # fmt: skip
    built(layer, (None, 3, 4, 3), k, BIAS)
    x = grid_inputs(rng, (2, 3, 4, 3))
    op = None if output_padding is None else (output_padding, output_padding)
    expected = conv2d_transpose_ref(x, q4(k), (strides, strides), padding, op) + q4(BIAS)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)


def _tape_grads(layer, x):
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x))
    return [np.asarray(g) for g in tape.gradient(loss, [layer.kernel, layer.bias])]


def test_conv2d_gradient_is_straight_through(rng):
    k = weights(rng, (2, 2, 2, 4))  # saturated entries included
    layer = built(QConv2D(4, 2, kernel_quantizer=TestGrid(), bias_quantizer=TestGrid()), (None, 4, 5, 2), k, BIAS)
    x = grid_inputs(rng, (2, 4, 5, 2))
    grad_k, grad_b = _tape_grads(layer, x)
    np.testing.assert_array_equal(grad_k, ste_kernel_grad(lambda kk: conv2d_ref(x, kk), k.shape))
    np.testing.assert_array_equal(grad_b, np.full(4, 2 * 3 * 4.0))  # batch * output positions


def test_conv1d_gradient_is_straight_through(rng):
    k = weights(rng, (3, 2, 4))
    layer = built(QConv1D(4, 3, padding="causal", kernel_quantizer=TestGrid()), (None, 6, 2), k, BIAS)
    x = grid_inputs(rng, (2, 6, 2))
    grad_k, grad_b = _tape_grads(layer, x)
    np.testing.assert_array_equal(grad_k, ste_kernel_grad(lambda kk: conv1d_ref(x, kk, padding="causal"), k.shape))
    np.testing.assert_array_equal(grad_b, np.full(4, 12.0))


def test_conv2d_transpose_gradient_is_straight_through(rng):
    k = weights(rng, (3, 3, 4, 2))
    layer = built(
        QConv2DTranspose(4, 3, strides=2, padding="same", kernel_quantizer=TestGrid()), (None, 2, 3, 2), k, BIAS
    )
    x = grid_inputs(rng, (2, 2, 3, 2))
    grad_k, grad_b = _tape_grads(layer, x)
    expected = ste_kernel_grad(lambda kk: conv2d_transpose_ref(x, kk, (2, 2), "same"), k.shape)
    np.testing.assert_array_equal(grad_k, expected)
    np.testing.assert_array_equal(grad_b, np.full(4, 2 * 4 * 6.0))


@pytest.mark.skipif(not has_quantizer("quantized_bits"), reason="quantized_bits not written yet")
def test_conv2d_with_real_quantized_bits_strings(rng):
    k = weights(rng, (3, 3, 3, 4))
    spec = "quantized_bits(4,0,alpha=1)"
    layer = built(QConv2D(4, 3, kernel_quantizer=spec, bias_quantizer=spec), (None, 5, 5, 3), k, BIAS)
    x = grid_inputs(rng, (2, 5, 5, 3))
    np.testing.assert_array_equal(np.asarray(layer(x)), conv2d_ref(x, q4(k)) + q4(BIAS))


def test_bias_goes_on_the_channel_axis_for_channels_first():
    # TF on CPU has no NCHW convolution, so the shared tail is checked on its own.
    layer = types.SimpleNamespace(
        use_bias=True, bias=np.array([0.3, -1.4, 1 / 16], np.float32), data_format="channels_first",
        activation=None, _quantized_weight=lambda attr, w, training: q4(w),
    )  # fmt: skip
    out = np.asarray(add_bias_and_activate(layer, np.zeros((1, 3, 2, 2), np.float32)))
    np.testing.assert_array_equal(out, np.broadcast_to(np.array([0.25, -1.0, 0.0])[None, :, None, None], (1, 3, 2, 2)))


def test_qkeras_defaults_and_attributes():
    conv2d = QConv2D(2, 3, kernel_quantizer=f"{GRID}(4)", name="c")
    assert conv2d.data_format == "channels_last"
    assert isinstance(conv2d.kernel_initializer, keras.initializers.HeNormal)
    assert isinstance(QConv1D(2, 3).kernel_initializer, keras.initializers.HeNormal)
    assert isinstance(QConv2DTranspose(2, 3).kernel_initializer, keras.initializers.GlorotUniform)
    assert conv2d.kernel_quantizer_internal == TestGrid(4, 0) and conv2d.bias_quantizer_internal is None
    assert conv2d.get_quantizers() == [TestGrid(4, 0), None]
    assert isinstance(conv2d.kernel_constraint, Clip) and conv2d.bias_constraint is None
    conv2d.build((None, 5, 5, 1))
    assert conv2d.get_prunable_weights() == [conv2d.kernel]


def test_conv2d_takes_qkeras_positional_order():
    # QConv2D puts kernel_range and bias_range before the quantizers.
    layer = QConv2D(2, 3, 1, "valid", "channels_last", 1, None, True, "he_normal", "zeros",
                    None, None, None, None, None, None, None, f"{GRID}(4)", f"{GRID}(6, 2)")  # fmt: skip
    assert layer.get_quantizers() == [TestGrid(4, 0), TestGrid(6, 2)]
    layer = QConv1D(2, 3, 1, "valid", 1, None, True, "he_normal", "zeros",
                    None, None, None, None, None, f"{GRID}(4)", f"{GRID}(6, 2)")  # fmt: skip
    assert layer.get_quantizers() == [TestGrid(4, 0), TestGrid(6, 2)]


@pytest.mark.parametrize("cls", [QConv1D, QConv2D])
def test_ranges_are_accepted_warned_and_kept_in_config(cls):
    with pytest.warns(UserWarning, match=rf"^{cls.__name__} 'c': bias_range=4 is ignored"):
        layer = cls(2, 3, bias_range=4, name="c")
    config = layer.get_config()
    assert (config["kernel_range"], config["bias_range"]) == (None, 4)


def test_conv2d_transpose_takes_no_ranges_as_in_qkeras():
    with pytest.raises(ValueError, match=r"Unrecognized keyword arguments passed to QConv2DTranspose.*kernel_range"):
        QConv2DTranspose(2, 3, kernel_range=1)
    assert "kernel_range" not in QConv2DTranspose(2, 3).get_config()


def test_config_round_trip_without_file():
    layer = QConv2DTranspose(3, 2, strides=2, output_padding=1, kernel_quantizer=TestGrid(), activation="relu")
    config = layer.get_config()
    assert config["kernel_quantizer"] == {"class_name": GRID, "config": {"bits": 4, "integer": 0}}
    assert config["output_padding"] == (1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert QConv2DTranspose.from_config(config).get_config() == config


@pytest.mark.parametrize("cls", [QConv1D, QConv2D, QConv2DTranspose])
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"kernel_quantizer": "nope(4)"}, ValueError, r"kernel_quantizer='nope\(4\)': unknown quantizer 'nope'"),
        ({"bias_quantizer": 2.5}, TypeError, r"bias_quantizer=2.5: cannot make a quantizer from 2.5"),
        ({"activation": "quantized_nope(2)"}, ValueError, r"activation='quantized_nope\(2\)': unknown quantizer"),
    ],
)
def test_bad_arguments_name_the_layer_and_argument(cls, kwargs, error, message):
    with pytest.raises(error, match=rf"^{cls.__name__} 'c': {message}"):
        cls(2, 3, name="c", **kwargs)


class Recording(TestGrid):
    """A grid quantizer that notes the ``training`` flag it is called with."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list = []

    def __call__(self, x, training=None):
        self.seen.append(training)
        return super().__call__(x)


def test_training_flag_reaches_every_quantizer():
    kq, bq, aq = Recording(), Recording(), Recording()
    layer = QConv2D(2, 1, kernel_quantizer=kq, bias_quantizer=bq, activation=aq)
    layer(np.ones((1, 2, 2, 2), np.float32), training=True)
    assert (kq.seen, bq.seen, aq.seen) == ([True], [True], [True])
