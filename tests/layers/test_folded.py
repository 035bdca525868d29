"""QDenseBatchnorm / QConv2DBatchnorm: folding, quantizing, statistics and freeze, against float64 NumPy."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from _qlayer_testing import TestGrid, conv2d_ref, grid_inputs, has_quantizer, use_grid

from fpgaq.layers.folded import QConv2DBatchnorm, QDenseBatchnorm


@pytest.fixture(autouse=True)
def _grid(monkeypatch: pytest.MonkeyPatch) -> None:
    use_grid(monkeypatch)


def fixed(v, bits, integer):
    """quantized_bits(bits, integer, alpha=1) by hand: step 2**-(bits-1-integer), ties to even, saturating."""
    step = 2.0 ** (bits - 1 - integer)
    top = 2.0 ** (bits - 1)
    return np.clip(np.round(np.asarray(v, np.float64) * step), -top, top - 1) / step


def assert_off_ties(v, bits, integer, margin=1e-4):
    """Reference values must sit clearly off rounding boundaries, so that float32 vs
    float64 folding cannot flip a quantization decision (else the test data is bad)."""
    scaled = np.asarray(v, np.float64) * 2.0 ** (bits - 1 - integer)
    assert np.all(np.abs(scaled - np.floor(scaled) - 0.5) > margin), "test data too close to a rounding tie"


KQ, BQ = (6, 0), (8, 3)  # kernel quantized_bits(6,0): step 1/32; bias quantized_bits(8,3): step 1/16
EPS = 1e-3


def bn_params(rng, channels):
    return {
        "gamma": rng.uniform(0.5, 1.5, channels).astype(np.float32),
        "beta": rng.uniform(-0.5, 0.5, channels).astype(np.float32),
        "moving_mean": rng.uniform(-0.5, 0.5, channels).astype(np.float32),
        "moving_variance": rng.uniform(0.5, 2.0, channels).astype(np.float32),
    }


def set_params(layer, **values):
    for name, value in values.items():
        getattr(layer, name).assign(value)


def make_dense(rng, units=3, n_in=4, **kwargs):
    kwargs.setdefault("kernel_quantizer", TestGrid(*KQ))
    kwargs.setdefault("bias_quantizer", TestGrid(*BQ))
    layer = QDenseBatchnorm(units, epsilon=EPS, **kwargs)
    layer.build((None, n_in))
    params = {
        "kernel": rng.uniform(-0.9, 0.9, (n_in, units)).astype(np.float32),
        "bias": rng.uniform(-0.5, 0.5, units).astype(np.float32),
        **bn_params(rng, units),
    }
    set_params(layer, **params)
    return layer, {k: v.astype(np.float64) for k, v in params.items()}


def folded_ref(p, mean, variance):
    inv = p["gamma"] / np.sqrt(variance + EPS)
    return p["kernel"] * inv, inv * (p["bias"] - mean) + p["beta"]


# -- inference -------------------------------------------------------------------------------------------


def test_dense_inference_is_x_times_quantized_folded_kernel_plus_quantized_folded_bias(rng):
    layer, p = make_dense(rng)
    kernel, bias = folded_ref(p, p["moving_mean"], p["moving_variance"])
    assert_off_ties(kernel, *KQ)
    assert_off_ties(bias, *BQ)
    x = grid_inputs(rng, (8, 4))
    expected = x.astype(np.float64) @ fixed(kernel, *KQ) + fixed(bias, *BQ)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), expected)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)  # training=None is inference


def test_get_folded_weights_are_the_unquantized_folds_of_the_moving_statistics(rng):
    layer, p = make_dense(rng)
    kernel, bias = folded_ref(p, p["moving_mean"], p["moving_variance"])
    got_kernel, got_bias = layer.get_folded_weights()
    assert got_kernel.dtype == np.float32 and got_bias.dtype == np.float32
    # Rounded once from float64: exactly the float32 nearest the true fold.
    np.testing.assert_array_equal(got_kernel, kernel.astype(np.float32))
    np.testing.assert_array_equal(got_bias, bias.astype(np.float32))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_inference_equals_plain_dense_with_quantized_folded_weights_in_every_execution_mode(rng, jit_compile):
    layer, _ = make_dense(rng, units=5, n_in=6)
    x = grid_inputs(rng, (16, 6))
    kernel, bias = layer.get_folded_weights()
    expected = x.astype(np.float64) @ fixed(kernel, *KQ) + fixed(bias, *BQ)
    model = keras.Sequential([keras.Input((6,)), layer])
    model.compile(jit_compile=jit_compile)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)


def test_inference_changes_neither_statistics_nor_step_counter(rng):
    layer, p = make_dense(rng)
    layer(grid_inputs(rng, (8, 4)), training=False)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), p["moving_mean"].astype(np.float32))
    np.testing.assert_array_equal(layer.moving_variance.numpy(), p["moving_variance"].astype(np.float32))
    assert int(layer.iteration.numpy()) == -1


def test_without_quantizers_the_layer_is_dense_then_batchnorm(rng):
    layer, p = make_dense(rng, kernel_quantizer=None, bias_quantizer=None)
    x = grid_inputs(rng, (8, 4)).astype(np.float64)
    raw = x @ p["kernel"] + p["bias"]
    expected = (raw - p["moving_mean"]) / np.sqrt(p["moving_variance"] + EPS) * p["gamma"] + p["beta"]
    np.testing.assert_allclose(np.asarray(layer(x.astype(np.float32))), expected, rtol=1e-5, atol=1e-6)


def test_scale_and_center_off_fold_with_gamma_one_and_beta_zero(rng):
    layer = QDenseBatchnorm(2, scale=False, center=False, use_bias=False, epsilon=EPS)
    layer.build((None, 2))
    assert layer.gamma is None and layer.beta is None and layer.bias is None
    set_params(layer, kernel=np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
    set_params(layer, moving_mean=np.array([1.0, -2.0], np.float32), moving_variance=np.array([4.0, 1.0], np.float32))
    kernel, bias = layer.get_folded_weights()
    inv = 1 / np.sqrt(np.array([4.0, 1.0]) + EPS)
    np.testing.assert_allclose(kernel, np.array([[1.0, 2.0], [3.0, 4.0]]) * inv, rtol=1e-7)
    np.testing.assert_allclose(bias, -np.array([1.0, -2.0]) * inv, rtol=1e-7)


def test_activation_quantizer_is_applied_after_the_bias(rng):
    layer, p = make_dense(rng, activation=TestGrid(4, 0))
    kernel, bias = folded_ref(p, p["moving_mean"], p["moving_variance"])
    x = grid_inputs(rng, (8, 4))
    expected = fixed(x.astype(np.float64) @ fixed(kernel, *KQ) + fixed(bias, *BQ), 4, 0)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)


# -- training ---------------------------------------------------------------------------------------------


def batch_stats(raw):
    return raw.mean(axis=tuple(range(raw.ndim - 1))), raw.var(axis=tuple(range(raw.ndim - 1)))


@pytest.mark.parametrize("momentum", [0.99, 0.5])
def test_ema_training_folds_kernel_with_updated_moving_variance_and_corrects_to_batch_stats(rng, momentum):
    layer, p = make_dense(rng, momentum=momentum)
    x = grid_inputs(rng, (8, 4))
    mean, var = batch_stats(x.astype(np.float64) @ p["kernel"] + p["bias"])
    new_mean = momentum * p["moving_mean"] + (1 - momentum) * mean
    new_var = momentum * p["moving_variance"] + (1 - momentum) * var
    kernel, _ = folded_ref(p, new_mean, new_var)
    _, bias = folded_ref(p, mean, var)
    assert_off_ties(kernel, *KQ)
    assert_off_ties(bias, *BQ)
    correction = np.sqrt(new_var + EPS) / np.sqrt(var + EPS)
    expected = (x @ fixed(kernel, *KQ)) * correction + fixed(bias, *BQ)

    y = np.asarray(layer(x, training=True))
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(layer.moving_mean.numpy(), new_mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(layer.moving_variance.numpy(), new_var, rtol=1e-6)
    assert int(layer.iteration.numpy()) == 0


def test_batch_stats_training_folds_kernel_and_bias_with_the_batch_statistics(rng):
    layer, p = make_dense(rng, folding_mode="batch_stats_folding", momentum=0.9)
    x = grid_inputs(rng, (8, 4))
    mean, var = batch_stats(x.astype(np.float64) @ p["kernel"] + p["bias"])
    kernel, bias = folded_ref(p, mean, var)
    assert_off_ties(kernel, *KQ)
    assert_off_ties(bias, *BQ)
    expected = x @ fixed(kernel, *KQ) + fixed(bias, *BQ)
    np.testing.assert_allclose(np.asarray(layer(x, training=True)), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.9 * p["moving_mean"] + 0.1 * mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.9 * p["moving_variance"] + 0.1 * var, rtol=1e-6)


@pytest.mark.parametrize("folding_mode", ["ema_stats_folding", "batch_stats_folding"])
def test_after_ema_freeze_delay_training_uses_frozen_moving_statistics_exactly_like_inference(rng, folding_mode):
    layer, _ = make_dense(rng, ema_freeze_delay=1, folding_mode=folding_mode, momentum=0.5)
    x = grid_inputs(rng, (8, 4))
    means = []
    for _ in range(3):  # step counter -1, 0, 1: all <= ema_freeze_delay, statistics move
        layer(x + len(means), training=True)
        means.append(layer.moving_mean.numpy().copy())
    assert not np.array_equal(means[0], means[1]) and not np.array_equal(means[1], means[2])
    assert int(layer.iteration.numpy()) == 2
    frozen = np.asarray(layer(x, training=True))  # step counter 2 > 1: frozen
    np.testing.assert_array_equal(layer.moving_mean.numpy(), means[-1])
    assert int(layer.iteration.numpy()) == 3
    np.testing.assert_array_equal(frozen, np.asarray(layer(x, training=False)))


@pytest.mark.parametrize("delay", [None, -1])
def test_no_ema_freeze_delay_means_statistics_never_freeze(rng, delay):
    layer, _ = make_dense(rng, ema_freeze_delay=delay)
    x = grid_inputs(rng, (8, 4))
    for _ in range(4):
        before = layer.moving_mean.numpy().copy()
        layer(x, training=True)
        assert not np.array_equal(before, layer.moving_mean.numpy())


def test_frozen_layer_trains_in_inference_mode(rng):
    layer, p = make_dense(rng)
    layer.trainable = False
    x = grid_inputs(rng, (8, 4))
    np.testing.assert_array_equal(np.asarray(layer(x, training=True)), np.asarray(layer(x, training=False)))
    np.testing.assert_array_equal(layer.moving_mean.numpy(), p["moving_mean"].astype(np.float32))
    assert int(layer.iteration.numpy()) == -1


@pytest.mark.parametrize("folding_mode", ["ema_stats_folding", "batch_stats_folding"])
def test_gradients_reach_every_trainable_weight_and_pass_the_bias_quantizer_straight_through(rng, folding_mode):
    layer, _ = make_dense(rng, folding_mode=folding_mode)
    x = tf.constant(grid_inputs(rng, (8, 4)))
    weights = rng.normal(size=(8, 3)).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x, training=True) * weights)
    grads = tape.gradient(loss, [layer.kernel, layer.gamma, layer.beta, x])
    for g in grads:
        assert g is not None and np.all(np.isfinite(g.numpy()))
    assert np.any(grads[0].numpy() != 0) and np.any(grads[1].numpy() != 0) and np.any(grads[3].numpy() != 0)
    # beta enters only through quantize(folded_bias): with the straight-through
    # gradient its derivative is the sum of the output weights per channel.
    np.testing.assert_allclose(grads[2].numpy(), weights.sum(axis=0), rtol=1e-6)


def test_fit_updates_statistics_and_counts_steps(rng):
    x = grid_inputs(rng, (32, 4))
    y = rng.normal(size=(32, 3)).astype(np.float32)
    layer = QDenseBatchnorm(3, kernel_quantizer=TestGrid(*KQ), ema_freeze_delay=5)
    model = keras.Sequential([keras.Input((4,)), layer])
    model.compile("sgd", "mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert int(layer.iteration.numpy()) == 7  # -1 + 8 steps
    assert np.all(layer.moving_mean.numpy() != 0)


# -- Conv2D -----------------------------------------------------------------------------------------------


def make_conv(rng, channels_in=2, filters=3, data_format="channels_last", **kwargs):
    kwargs.setdefault("kernel_quantizer", TestGrid(*KQ))
    kwargs.setdefault("bias_quantizer", TestGrid(*BQ))
    axis = -1 if data_format == "channels_last" else 1
    layer = QConv2DBatchnorm(filters, (3, 3), data_format=data_format, axis=axis, epsilon=EPS, **kwargs)
    shape = (None, 5, 5, channels_in) if data_format == "channels_last" else (None, channels_in, 5, 5)
    layer.build(shape)
    params = {
        "kernel": rng.uniform(-0.6, 0.6, (3, 3, channels_in, filters)).astype(np.float32),
        "bias": rng.uniform(-0.5, 0.5, filters).astype(np.float32),
        **bn_params(rng, filters),
    }
    set_params(layer, **params)
    return layer, {k: v.astype(np.float64) for k, v in params.items()}


@pytest.mark.parametrize(("strides", "padding"), [((1, 1), "valid"), ((2, 2), "same"), ((1, 2), "same")])
def test_conv_inference_is_conv_with_quantized_folded_kernel_plus_quantized_folded_bias(rng, strides, padding):
    layer, p = make_conv(rng, strides=strides, padding=padding)
    kernel, bias = folded_ref(p, p["moving_mean"], p["moving_variance"])
    assert_off_ties(kernel, *KQ)
    assert_off_ties(bias, *BQ)
    x = grid_inputs(rng, (2, 5, 5, 2))
    expected = conv2d_ref(x, fixed(kernel, *KQ), strides, padding) + fixed(bias, *BQ)
    y = np.asarray(layer(x))
    assert y.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_array_equal(y, expected)


def test_conv_dilation(rng):
    layer, p = make_conv(rng, dilation_rate=2, padding="same")
    kernel, bias = folded_ref(p, p["moving_mean"], p["moving_variance"])
    x = grid_inputs(rng, (1, 5, 5, 2))
    expected = conv2d_ref(x, fixed(kernel, *KQ), (1, 1), "same", (2, 2)) + fixed(bias, *BQ)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)


def test_conv_channels_first_normalizes_axis_1(rng):
    layer, p = make_conv(rng, data_format="channels_first", padding="same")
    kernel, bias = folded_ref(p, p["moving_mean"], p["moving_variance"])
    x = grid_inputs(rng, (2, 5, 5, 2))
    expected = conv2d_ref(x, fixed(kernel, *KQ), (1, 1), "same") + fixed(bias, *BQ)
    y = np.asarray(layer(np.transpose(x, (0, 3, 1, 2))))
    np.testing.assert_array_equal(y, np.transpose(expected, (0, 3, 1, 2)))


def test_conv_ema_training_takes_statistics_per_filter_over_batch_and_space():
    rng = np.random.default_rng(5)  # data whose folded kernel stays clear of rounding ties
    layer, p = make_conv(rng, momentum=0.5)
    x = grid_inputs(rng, (2, 5, 5, 2))
    mean, var = batch_stats(conv2d_ref(x, p["kernel"]) + p["bias"])
    new_mean = 0.5 * p["moving_mean"] + 0.5 * mean
    new_var = 0.5 * p["moving_variance"] + 0.5 * var
    kernel, _ = folded_ref(p, new_mean, new_var)
    _, bias = folded_ref(p, mean, var)
    assert_off_ties(kernel, *KQ)
    assert_off_ties(bias, *BQ)
    correction = np.sqrt(new_var + EPS) / np.sqrt(var + EPS)
    expected = conv2d_ref(x, fixed(kernel, *KQ)) * correction + fixed(bias, *BQ)
    np.testing.assert_allclose(np.asarray(layer(x, training=True)), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(), new_var, rtol=1e-6)


def test_conv_get_folded_weights_shapes_and_values(rng):
    layer, p = make_conv(rng)
    kernel, bias = folded_ref(p, p["moving_mean"], p["moving_variance"])
    got_kernel, got_bias = layer.get_folded_weights()
    assert got_kernel.shape == (3, 3, 2, 3) and got_bias.shape == (3,)
    np.testing.assert_array_equal(got_kernel, kernel.astype(np.float32))
    np.testing.assert_array_equal(got_bias, bias.astype(np.float32))


# -- QKeras names, real quantizers -----------------------------------------------------------------------


def test_qkeras_attribute_names_and_get_quantizers():
    layer = QConv2DBatchnorm(2, 3, kernel_quantizer=TestGrid(6, 0))
    assert layer.get_quantizers() == [TestGrid(6, 0), None]
    assert layer.quantizers == layer.get_quantizers()
    assert layer.kernel_quantizer_internal == TestGrid(6, 0) and layer.bias_quantizer_internal is None
    config = layer.get_config()
    assert config["kernel_quantizer"] == {"class_name": "test_grid", "config": {"bits": 6, "integer": 0}}
    for key, value in {
        "folding_mode": "ema_stats_folding",
        "ema_freeze_delay": None,
        "axis": -1,
        "momentum": 0.99,
    }.items():
        assert config[key] == value
    assert QConv2DBatchnorm.from_config(config).get_config() == config


def test_weights_are_named_and_ordered_as_in_qkeras():
    layer = QDenseBatchnorm(2)
    layer.build((None, 3))
    names = [w.name for w in layer.weights]
    assert names == ["kernel", "bias", "gamma", "beta", "iteration", "moving_mean", "moving_variance"]


@pytest.mark.skipif(not has_quantizer("quantized_bits"), reason="quantized_bits not registered yet")
def test_with_quantized_bits_strings(rng):
    layer, p = make_dense(
        rng, kernel_quantizer="quantized_bits(6,0,alpha=1)", bias_quantizer="quantized_bits(8,3,0,alpha=1)"
    )
    kernel, bias = folded_ref(p, p["moving_mean"], p["moving_variance"])
    x = grid_inputs(rng, (8, 4))
    expected = x.astype(np.float64) @ fixed(kernel, *KQ) + fixed(bias, *BQ)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)
    assert layer.get_config()["kernel_quantizer"]["class_name"] == "quantized_bits"


# -- errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"folding_mode": "fold"},
            r"QDenseBatchnorm .*folding_mode='fold' is not supported; use one of ema_stats_folding",
        ),
        (
            {"kernel_quantizer": "no_such_q(3)"},
            r"QDenseBatchnorm .*kernel_quantizer='no_such_q\(3\)'.*unknown quantizer",
        ),
        ({"ema_freeze_delay": "10"}, r"QDenseBatchnorm .*ema_freeze_delay='10' must be an int"),
        ({"renorm": True}, r"QDenseBatchnorm .*renorm.* not supported"),
        ({"epsilon": 0.0}, r"QDenseBatchnorm .*epsilon=0.0 must be positive"),
        ({"activation": "no_such_activation"}, r"QDenseBatchnorm .*activation='no_such_activation'"),
    ],
)
def test_dense_rejects_bad_arguments_naming_layer_and_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QDenseBatchnorm(2, **kwargs)


def test_dense_rejects_bad_units_and_non_channel_axis():
    with pytest.raises(ValueError, match=r"QDenseBatchnorm .*units=0 must be a positive int"):
        QDenseBatchnorm(0)
    with pytest.raises(ValueError, match=r"QDenseBatchnorm .*axis=0 is not the output-channel axis.*use axis=-1"):
        QDenseBatchnorm(2, axis=0).build((None, 3))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"padding": "causal"}, r"QConv2DBatchnorm .*padding='causal' is not supported; use 'valid' or 'same'"),
        ({"kernel_size": (3, 0)}, r"QConv2DBatchnorm .*kernel_size=\(3, 0\) must be a positive int"),
        ({"groups": 2}, r"QConv2DBatchnorm .*groups=2 is not supported"),
        ({"strides": 2, "dilation_rate": 2}, r"QConv2DBatchnorm .*strides > 1 together with dilation_rate > 1"),
        ({"data_format": "nhwc"}, r"QConv2DBatchnorm .*data_format='nhwc'"),
    ],
)
def test_conv_rejects_bad_arguments_naming_layer_and_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QConv2DBatchnorm(2, kwargs.pop("kernel_size", 3), **kwargs)


def test_conv_channels_first_needs_axis_1():
    with pytest.raises(ValueError, match=r"QConv2DBatchnorm .*axis=-1 is not the output-channel axis.*use axis=1"):
        QConv2DBatchnorm(2, 3, data_format="channels_first").build((None, 2, 5, 5))
