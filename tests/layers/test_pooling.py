"""QAveragePooling2D / QGlobalAveragePooling2D: window sum times quantized 1/area, then activation."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from _qlayer_testing import TestGrid, grid_inputs, has_quantizer, use_grid

from fpgaq.layers.pooling import QAveragePooling2D, QGlobalAveragePooling2D, same_padding_counts


@pytest.fixture(autouse=True)
def _grid(monkeypatch: pytest.MonkeyPatch) -> None:
    use_grid(monkeypatch)


def window_sums(x, pool, strides, pad=((0, 0), (0, 0))):
    """Sums of each pooling window of an NHWC array (zero padding ``pad`` around H and W), float64."""
    x = np.pad(np.asarray(x, np.float64), [(0, 0), pad[0], pad[1], (0, 0)])
    oh = (x.shape[1] - pool[0]) // strides[0] + 1
    ow = (x.shape[2] - pool[1]) // strides[1] + 1
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            r, c = i * strides[0], j * strides[1]
            out[:, i, j] = x[:, r : r + pool[0], c : c + pool[1]].sum(axis=(1, 2))
    return out


# quantized_bits(8,0) has steps of 1/128: 1/9 -> 14/128, 1/6 -> 21/128, 1/4 -> 32/128 exactly.
@pytest.mark.parametrize(
    ("pool", "strides", "reciprocal"),
    [((3, 3), None, 14 / 128), ((2, 3), (1, 2), 21 / 128), ((2, 2), (1, 1), 0.25)],
)
def test_output_is_window_sum_times_quantized_reciprocal(rng, pool, strides, reciprocal):
    layer = QAveragePooling2D(pool, strides=strides, average_quantizer=TestGrid(8, 0))
    x = grid_inputs(rng, (2, 6, 7, 3))
    expected = window_sums(x, pool, strides or pool) * reciprocal
    y = np.asarray(layer(x))
    assert y.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_array_equal(y, expected)


def test_reciprocal_exactly_half_a_step_rounds_to_even():
    # 1/16 in quantized_bits(4,0) (step 1/8) is half a step: ties to even give 0, so the output is 0.
    layer = QAveragePooling2D(4, average_quantizer=TestGrid(4, 0))
    assert float(layer.quantized_reciprocal(16)) == 0.0
    np.testing.assert_array_equal(np.asarray(layer(np.ones((1, 4, 4, 1), np.float32))), [[[[0.0]]]])


def test_same_padding_counts_by_hand():
    # size 5, window 3, stride 2: 3 outputs, 2 padding (1 before): windows [-1,2), [1,4), [3,6).
    np.testing.assert_array_equal(same_padding_counts(5, 3, 2), [2, 3, 2])
    # size 4, window 2, stride 2: no padding.
    np.testing.assert_array_equal(same_padding_counts(4, 2, 2), [2, 2])
    # size 4, window 3, stride 1: 2 padding, 1 before and 1 after.
    np.testing.assert_array_equal(same_padding_counts(4, 3, 1), [2, 3, 3, 2])


def test_same_padding_border_windows_scale_as_qkeras_mean_times_area(rng):
    layer = QAveragePooling2D(3, strides=2, padding="same", average_quantizer=TestGrid(8, 0))
    x = grid_inputs(rng, (2, 5, 5, 2))
    counts = np.outer([2, 3, 2], [2, 3, 2])
    np.testing.assert_array_equal(layer.window_counts(x.shape), counts)
    # QKeras: keras_mean (over the valid positions) * 9 * quantize(1/9).
    expected = window_sums(x, (3, 3), (2, 2), ((1, 1), (1, 1))) / counts[None, :, :, None] * 9 * (14 / 128)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-6)


def test_same_padding_channels_first(rng):
    layer = QAveragePooling2D(
        3, strides=2, padding="same", data_format="channels_first", average_quantizer=TestGrid(8, 0)
    )
    x = grid_inputs(rng, (1, 5, 5, 2))
    counts = np.outer([2, 3, 2], [2, 3, 2])
    np.testing.assert_array_equal(layer.window_counts((1, 2, 5, 5)), counts)
    expected = window_sums(x, (3, 3), (2, 2), ((1, 1), (1, 1))) / counts[None, :, :, None] * 9 * (14 / 128)
    y = np.asarray(layer(np.transpose(x, (0, 3, 1, 2))))
    np.testing.assert_allclose(y, np.transpose(expected, (0, 3, 1, 2)), rtol=1e-6)


def test_without_quantizer_it_is_the_keras_average(rng):
    layer = QAveragePooling2D(2, padding="same")
    x = grid_inputs(rng, (1, 3, 3, 2))
    sums = window_sums(x, (2, 2), (2, 2), ((0, 1), (0, 1)))
    counts = np.outer([2, 1], [2, 1])[None, :, :, None]
    np.testing.assert_allclose(np.asarray(layer(x)), sums / counts, rtol=1e-7)


@pytest.mark.parametrize(
    ("activation", "numpy_activation"),
    [("relu", lambda v: np.maximum(v, 0)), (TestGrid(4, 0), lambda v: np.clip(np.round(v * 8), -8, 7) / 8)],
)
def test_activation_follows_the_average(rng, activation, numpy_activation):
    layer = QAveragePooling2D(2, average_quantizer=TestGrid(8, 0), activation=activation)
    x = grid_inputs(rng, (2, 4, 4, 2))
    np.testing.assert_array_equal(np.asarray(layer(x)), numpy_activation(window_sums(x, (2, 2), (2, 2)) * 0.25))


def test_channels_first(rng):
    layer = QAveragePooling2D(3, data_format="channels_first", average_quantizer=TestGrid(8, 0))
    x = grid_inputs(rng, (2, 6, 6, 3))
    expected = window_sums(x, (3, 3), (3, 3)) * (14 / 128)
    y = np.asarray(layer(np.transpose(x, (0, 3, 1, 2))))
    np.testing.assert_array_equal(y, np.transpose(expected, (0, 3, 1, 2)))


def test_gradient_reaches_the_inputs_scaled_by_the_quantized_reciprocal(rng):
    layer = QAveragePooling2D(3, average_quantizer=TestGrid(8, 0))
    x = tf.constant(grid_inputs(rng, (1, 6, 6, 2)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(layer(x))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), np.full((1, 6, 6, 2), 14 / 128))


# -- global -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "reciprocal"), [((3, 3), 14 / 128), ((2, 3), 21 / 128), ((4, 4), 8 / 128)])
def test_global_is_spatial_sum_times_quantized_reciprocal(rng, shape, reciprocal):
    layer = QGlobalAveragePooling2D(average_quantizer=TestGrid(8, 0))
    x = grid_inputs(rng, (2, *shape, 3))
    expected = x.astype(np.float64).sum(axis=(1, 2)) * reciprocal
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)
    assert layer.compute_pooling_area(x.shape) == shape[0] * shape[1]


def test_global_channels_first_keepdims_and_activation(rng):
    layer = QGlobalAveragePooling2D(
        data_format="channels_first", keepdims=True, average_quantizer=TestGrid(8, 0), activation="relu"
    )
    x = grid_inputs(rng, (2, 3, 3, 3))
    expected = np.maximum(x.astype(np.float64).sum(axis=(2, 3), keepdims=True) * (14 / 128), 0)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)


def test_global_without_quantizer_is_the_mean(rng):
    x = grid_inputs(rng, (2, 3, 3, 2))
    np.testing.assert_allclose(np.asarray(QGlobalAveragePooling2D()(x)), x.mean(axis=(1, 2)), rtol=1e-6)


# -- names, config, real quantizers, errors ---------------------------------------------------------------


@pytest.mark.parametrize("cls", [QAveragePooling2D, QGlobalAveragePooling2D])
def test_qkeras_names_and_config(cls):
    layer = cls(average_quantizer="test_grid(8,0)", activation="relu")
    assert layer.get_quantizers() == [TestGrid(8, 0)] and layer.quantizers == [TestGrid(8, 0)]
    assert layer.average_quantizer_internal == TestGrid(8, 0)
    config = layer.get_config()
    assert config["average_quantizer"] == {"class_name": "test_grid", "config": {"bits": 8, "integer": 0}}
    assert config["activation"] == "relu"
    assert cls.from_config(config).get_config() == config
    assert cls().get_config()["activation"] is None and cls().get_quantizers() == [None]


@pytest.mark.skipif(not has_quantizer("quantized_bits"), reason="quantized_bits not registered yet")
def test_with_quantized_bits_strings(rng):
    layer = QAveragePooling2D(
        3, average_quantizer="quantized_bits(8,0,alpha=1)", activation="quantized_bits(6,2,0,alpha=1)"
    )
    x = grid_inputs(rng, (2, 6, 6, 2))
    expected = np.clip(np.round(window_sums(x, (3, 3), (3, 3)) * (14 / 128) * 8), -32, 31) / 8
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)


@pytest.mark.parametrize("cls", [QAveragePooling2D, QGlobalAveragePooling2D])
def test_bad_quantizer_and_activation_name_the_layer_and_argument(cls):
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"{name} 'p': average_quantizer='bits\(8\)': unknown quantizer 'bits'"):
        cls(average_quantizer="bits(8)", name="p")
    with pytest.raises(ValueError, match=rf"{name} 'p': activation='relux'"):
        cls(activation="relux", name="p")


def test_global_with_quantizer_needs_static_spatial_size():
    layer = QGlobalAveragePooling2D(average_quantizer=TestGrid(8, 0), name="gap")
    with pytest.raises(ValueError, match=r"QGlobalAveragePooling2D 'gap': average_quantizer needs known height"):
        layer.compute_pooling_area((None, None, 4, 3))


def test_in_a_model(rng):
    inputs = keras.Input((None, None, 2))
    model = keras.Model(
        inputs, QGlobalAveragePooling2D()(QAveragePooling2D(2, average_quantizer=TestGrid(8, 0))(inputs))
    )
    x = grid_inputs(rng, (2, 4, 4, 2))
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), (window_sums(x, (2, 2), (2, 2)) * 0.25).mean(axis=(1, 2))
    )
