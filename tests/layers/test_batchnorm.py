"""QBatchNormalization: quantized gamma, beta, mean, variance and inverse, against float64 NumPy."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from _qlayer_testing import TestGrid, grid_inputs, has_quantizer, use_grid

from fpgaq.layers.batchnorm import QBatchNormalization


@pytest.fixture(autouse=True)
def _grid(monkeypatch: pytest.MonkeyPatch) -> None:
    use_grid(monkeypatch)


def fixed(v, bits, integer):
    """quantized_bits(bits, integer, alpha=1) by hand: step 2**-(bits-1-integer), ties to even, saturating."""
    step = 2.0 ** (bits - 1 - integer)
    top = 2.0 ** (bits - 1)
    return np.clip(np.round(np.asarray(v, np.float64) * step), -top, top - 1) / step


NO_QUANTIZERS = {"gamma_quantizer": None, "beta_quantizer": None, "mean_quantizer": None, "variance_quantizer": None}

# gamma through quantized_bits(6,2) (step 1/8): 0.3 -> 0.25, 0.3125 (= 2.5/8) -> 0.25 (tie to even),
# 0.4375 (= 3.5/8) -> 0.5 (tie to even), 5.0 -> 3.875 (saturated).
GAMMA = np.array([0.3, 0.3125, 0.4375, 5.0], np.float32)
GAMMA_Q = np.array([0.25, 0.25, 0.5, 3.875])
# beta through quantized_bits(6,2): 1.06 -> 1.0, -0.19 -> -0.25, -1/16 -> 0 (tie), -9.0 -> -4 (saturated).
BETA = np.array([1.06, -0.19, -1 / 16, -9.0], np.float32)
BETA_Q = np.array([1.0, -0.25, 0.0, -4.0])
# Moving variance + epsilon = 4, 1, 0.25, 16 exactly: inv = gamma_q / 2, gamma_q, 2 gamma_q, gamma_q / 4.
EPS = 2.0**-7
VARIANCE = np.array([4.0, 1.0, 0.25, 16.0]) - EPS
MEAN = np.array([0.5, -0.25, 0.75, -1.0], np.float32)


def built(layer, shape=(None, 4), **values):
    layer.build(shape)
    for name, value in values.items():
        getattr(layer, name).assign(np.asarray(value, np.float32))
    return layer


def test_inference_uses_quantized_gamma_beta_and_moving_statistics(rng):
    layer = built(
        QBatchNormalization(
            epsilon=EPS, **{**NO_QUANTIZERS, "gamma_quantizer": TestGrid(6, 2), "beta_quantizer": "test_grid(6,2)"}
        ),
        gamma=GAMMA,
        beta=BETA,
        moving_mean=MEAN,
        moving_variance=VARIANCE,
    )
    x = grid_inputs(rng, (5, 4))
    inv = GAMMA_Q / np.sqrt(VARIANCE + EPS)
    expected = x * inv + (BETA_Q - MEAN * inv)  # every term is exact in float32
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), expected)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)
    scale, offset = layer.get_scale_and_offset()
    np.testing.assert_array_equal(scale, inv)
    np.testing.assert_array_equal(offset, BETA_Q - MEAN * inv)


def test_mean_and_variance_quantizers_apply_to_the_moving_statistics(rng):
    layer = built(
        QBatchNormalization(
            epsilon=EPS, **{**NO_QUANTIZERS, "mean_quantizer": TestGrid(4, 1), "variance_quantizer": TestGrid(8, 4)}
        ),
        moving_mean=[0.3, -0.2, 2.5, -0.0625],  # -> 0.25, -0.25, 1.75 (saturated), 0 (tie)
        moving_variance=[1.1, 0.2, 20.0, 3.0],  # step 1/8 -> 1.125, 0.25, 15.875 (saturated), 3.0
    )
    x = grid_inputs(rng, (5, 4)).astype(np.float64)
    mean_q = np.array([0.25, -0.25, 1.75, 0.0])
    var_q = np.array([1.125, 0.25, 15.875, 3.0])
    expected = (x - mean_q) / np.sqrt(var_q + EPS)
    np.testing.assert_allclose(np.asarray(layer(x.astype(np.float32))), expected, rtol=1e-6, atol=1e-6)


def test_training_normalizes_with_quantized_batch_moments_and_updates_moving_ones_unquantized(rng):
    layer = built(
        QBatchNormalization(
            momentum=0.75,
            epsilon=EPS,
            **{**NO_QUANTIZERS, "mean_quantizer": TestGrid(8, 2), "variance_quantizer": TestGrid(8, 3)},
        ),
        moving_mean=MEAN,
        moving_variance=VARIANCE,
    )
    x = rng.normal(1.0, 2.0, (16, 4)).astype(np.float32)
    mean, var = x.astype(np.float64).mean(0), x.astype(np.float64).var(0)  # biased variance, as Keras
    expected = (x - fixed(mean, 8, 2)) / np.sqrt(fixed(var, 8, 3) + EPS)
    np.testing.assert_allclose(np.asarray(layer(x, training=True)), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.75 * MEAN + 0.25 * mean, rtol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.75 * VARIANCE + 0.25 * var, rtol=1e-6)


def test_inverse_quantizer_quantizes_gamma_over_sqrt_variance(rng):
    layer = built(
        QBatchNormalization(epsilon=1e-3, inverse_quantizer=TestGrid(8, 2), **NO_QUANTIZERS),
        gamma=[1.0, 0.7, -0.3, 2.0],
        beta=[0.25, 0.5, 0.0, -1.0],
        moving_mean=[0.5, 0.0, -0.5, 1.0],
        moving_variance=[2.0, 0.5, 1.0, 3.0],
    )
    inv = np.array([1.0, 0.7, -0.3, 2.0]) / np.sqrt(np.array([2.0, 0.5, 1.0, 3.0]) + 1e-3)
    inv_q = fixed(inv, 8, 2)  # step 1/32: 0.7069 -> 0.71875, 0.9892 -> 1.0, -0.2999 -> -0.3125, 1.1545 -> 1.15625
    np.testing.assert_array_equal(inv_q, [0.71875, 1.0, -0.3125, 1.15625])
    x = grid_inputs(rng, (5, 4))
    expected = x * inv_q + (np.array([0.25, 0.5, 0.0, -1.0]) - np.array([0.5, 0.0, -0.5, 1.0]) * inv_q)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)
    assert layer.get_quantizers()[4] == TestGrid(8, 2)


def test_scale_and_center_off(rng):
    layer = built(
        QBatchNormalization(scale=False, center=False, epsilon=EPS, **NO_QUANTIZERS),
        moving_mean=MEAN,
        moving_variance=VARIANCE,
    )
    assert layer.gamma is None and layer.beta is None
    x = grid_inputs(rng, (5, 4))
    np.testing.assert_array_equal(np.asarray(layer(x)), (x - MEAN) / np.sqrt(VARIANCE + EPS))


def test_axis_1_normalizes_channels_first_feature_maps(rng):
    layer = built(
        QBatchNormalization(axis=[1], epsilon=EPS, **{**NO_QUANTIZERS, "gamma_quantizer": TestGrid(6, 2)}),
        shape=(None, 4, 3, 3),
        gamma=GAMMA,
        moving_mean=MEAN,
        moving_variance=VARIANCE,
    )
    assert layer.axis == 1
    x = grid_inputs(rng, (2, 4, 3, 3))
    inv = (GAMMA_Q / np.sqrt(VARIANCE + EPS))[:, None, None]
    np.testing.assert_array_equal(np.asarray(layer(x)), x * inv - MEAN[:, None, None] * inv)


def test_frozen_layer_does_not_update_statistics(rng):
    layer = built(QBatchNormalization(**NO_QUANTIZERS), moving_mean=MEAN)
    layer.trainable = False
    x = grid_inputs(rng, (5, 4))
    np.testing.assert_array_equal(np.asarray(layer(x, training=True)), np.asarray(layer(x, training=False)))
    np.testing.assert_array_equal(layer.moving_mean.numpy(), MEAN)


def test_gradients_pass_the_quantizers_straight_through(rng):
    layer = built(
        QBatchNormalization(
            epsilon=EPS, **{**NO_QUANTIZERS, "gamma_quantizer": TestGrid(6, 2), "beta_quantizer": TestGrid(6, 2)}
        ),
        gamma=[0.3, 0.6, 1.1, 0.9],
        moving_mean=MEAN,
        moving_variance=VARIANCE,
    )
    x = tf.constant(grid_inputs(rng, (6, 4)))
    weights = rng.normal(size=(6, 4)).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x, training=False) * weights)
    d_gamma, d_beta, d_x = tape.gradient(loss, [layer.gamma, layer.beta, x])
    np.testing.assert_allclose(d_beta.numpy(), weights.sum(0), rtol=1e-6)
    normalized = (x.numpy() - MEAN) / np.sqrt(VARIANCE + EPS)
    np.testing.assert_allclose(d_gamma.numpy(), (weights * normalized).sum(0), rtol=1e-5)
    np.testing.assert_allclose(
        d_x.numpy(), weights * np.array([0.25, 0.625, 1.125, 0.875]) / np.sqrt(VARIANCE + EPS), rtol=1e-6
    )
    with tf.GradientTape() as tape:  # in training the batch moments carry gradient too
        tape.watch(x)
        loss = tf.reduce_sum(layer(x, training=True) * weights)
    assert np.all(np.isfinite(tape.gradient(loss, x).numpy()))


def test_qkeras_names_config_and_round_trip():
    layer = QBatchNormalization(
        gamma_quantizer="test_grid(6,2)", beta_quantizer=TestGrid(5, 1), mean_quantizer=None, variance_quantizer=None
    )
    assert layer.get_quantizers() == [TestGrid(6, 2), TestGrid(5, 1), None, None, None]
    assert layer.quantizers == layer.get_quantizers()
    assert layer.gamma_quantizer_internal == TestGrid(6, 2) and layer.mean_quantizer_internal is None
    config = layer.get_config()
    assert config["gamma_quantizer"] == {"class_name": "test_grid", "config": {"bits": 6, "integer": 2}}
    assert config["mean_quantizer"] is None and config["inverse_quantizer"] is None
    assert config["beta_range"] is None and "renorm" not in config
    assert QBatchNormalization.from_config(config).get_config() == config


def test_quantized_gamma_and_beta_get_qkeras_clip_constraint():
    layer = QBatchNormalization(
        gamma_quantizer=TestGrid(6, 2),
        beta_quantizer=TestGrid(6, 0),
        **{k: None for k in ("mean_quantizer", "variance_quantizer")},
    )
    layer.build((None, 2))
    assert (layer.gamma.constraint.min_value, layer.gamma.constraint.max_value) == (-4.0, 4.0)
    assert (layer.beta.constraint.min_value, layer.beta.constraint.max_value) == (-1.0, 1.0)


@pytest.mark.skipif(
    not (has_quantizer("quantized_po2") and has_quantizer("quantized_relu_po2")), reason="po2 quantizers not registered"
)
def test_default_quantizers_are_qkeras_0_9_defaults():
    config = QBatchNormalization().get_config()
    assert config["beta_quantizer"]["class_name"] == "quantized_po2"
    assert config["beta_quantizer"]["config"]["bits"] == 5
    assert config["mean_quantizer"]["class_name"] == "quantized_po2"
    assert config["gamma_quantizer"]["class_name"] == "quantized_relu_po2"
    assert config["gamma_quantizer"]["config"]["bits"] == 6 and config["gamma_quantizer"]["config"]["max_value"] == 2048
    assert config["variance_quantizer"]["config"]["quadratic_approximation"]
    assert config["inverse_quantizer"] is None


@pytest.mark.skipif(not has_quantizer("quantized_bits"), reason="quantized_bits not registered yet")
def test_with_quantized_bits_strings(rng):
    layer = built(
        QBatchNormalization(
            epsilon=EPS,
            **{
                **NO_QUANTIZERS,
                "gamma_quantizer": "quantized_bits(6,2,alpha=1)",
                "beta_quantizer": "quantized_bits(6,2,0,alpha=1)",
            },
        ),
        gamma=GAMMA,
        beta=BETA,
        moving_mean=MEAN,
        moving_variance=VARIANCE,
    )
    x = grid_inputs(rng, (5, 4))
    inv = GAMMA_Q / np.sqrt(VARIANCE + EPS)
    np.testing.assert_array_equal(np.asarray(layer(x)), x * inv + (BETA_Q - MEAN * inv))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activation": "relu"}, r"QBatchNormalization 'bn': activation='relu' is not supported: .*add a QActivation"),
        ({"gamma_quantizer": "nope(2)"}, r"QBatchNormalization 'bn': gamma_quantizer='nope\(2\)': unknown quantizer"),
        ({"variance_quantizer": 3}, r"QBatchNormalization 'bn': variance_quantizer=3: cannot make a quantizer"),
        ({"axis": [1, 2]}, r"QBatchNormalization 'bn': axis=\[1, 2\]: only one normalization axis"),
        ({"synchronized": True}, r"QBatchNormalization 'bn': synchronized=True is not supported"),
    ],
)
def test_bad_arguments_raise_naming_layer_and_argument(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        QBatchNormalization(name="bn", **{**NO_QUANTIZERS, **kwargs})


def test_tf_keras_only_options_warn_as_in_qkeras():
    with pytest.warns(UserWarning, match="fused is disabled"):
        QBatchNormalization(fused=True, **NO_QUANTIZERS)
    with pytest.warns(UserWarning, match="gamma_range"):
        QBatchNormalization(gamma_range=8, **NO_QUANTIZERS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        QBatchNormalization(fused=False, renorm=False, **NO_QUANTIZERS)


def test_fit_moves_the_statistics(rng):
    x = rng.normal(3.0, 1.0, (32, 4)).astype(np.float32)
    layer = QBatchNormalization(**NO_QUANTIZERS)
    model = keras.Sequential([keras.Input((4,)), layer])
    model.compile("sgd", "mse")
    model.fit(x, x, batch_size=8, epochs=1, verbose=0)
    assert np.all(layer.moving_mean.numpy() > 0.1)
