"""learned_bits: values on each element's own grid, exact gradients' shape, hardware types, saving."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from fpgaq.layers import QActivation, QDense
from fpgaq.quantizers import get_quantizer
from fpgaq.quantizers.learned import learned_bits


def _reference(x, f, i, signed, rounding, overflow):
    """The quantizer's meaning in exact float64 integer arithmetic, element by element."""
    x, f, i = np.broadcast_arrays(np.asarray(x, np.float64), f, i)
    s = np.ldexp(x, f)
    m = np.floor(s + 0.5) if rounding == "RND" else np.floor(s)
    b = f + i
    hi = np.where(b >= 0, np.ldexp(1.0, np.maximum(b, 0)) - 1, 0)
    lo = np.where(b >= 0, -np.ldexp(1.0, np.maximum(b, 0)), 0) if signed else np.zeros_like(hi)
    if overflow == "SAT":
        m = np.clip(m, lo, hi)
    else:
        span = hi - lo + 1
        m = np.where(b >= 0, m - span * np.floor((m - lo) / span), 0)
    return np.ldexp(m, -f)


def _inputs(f, i, n=64, seed=0):
    """Random values, every element's rounding midpoints and values beyond its range."""
    rng = np.random.default_rng(seed)
    shape = f.shape
    base = rng.normal(scale=2.0 ** (i.astype(float)), size=(n, *shape))
    step = np.ldexp(1.0, -f)
    mid = (rng.integers(-(2**6), 2**6, size=(n, *shape)) + 0.5) * step
    big = np.sign(rng.normal(size=(n, *shape))) * np.ldexp(1.0, i + 2) * rng.uniform(1, 3, size=(n, *shape))
    return np.concatenate([base, mid, big]).astype(np.float32)


@pytest.mark.parametrize("rounding", ["RND", "TRN"])
@pytest.mark.parametrize("overflow", ["SAT", "WRAP"])
@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("granularity", ["tensor", "channel", "element"])
def test_values_follow_each_elements_grid(rounding, overflow, signed, granularity):
    rng = np.random.default_rng(1)
    shape = (3, 5)
    q = learned_bits(6, 1, keep_negative=signed, granularity=granularity, overflow=overflow, rounding=rounding)
    q.build(shape)
    vshape = q.variable_shape(shape)
    f = rng.integers(-3, 7, size=vshape)
    i = rng.integers(-4, 4, size=vshape)
    q.set_bits(f, i)
    fe, ie = np.broadcast_to(f, shape), np.broadcast_to(i, shape)
    x = _inputs(fe, ie)
    got = keras.ops.convert_to_numpy(q(x))
    want = _reference(x, fe, ie, signed, rounding, overflow)
    np.testing.assert_array_equal(got, want)
    hw = q.hardware()
    m = np.ldexp(got.astype(np.float64), hw.frac)
    assert np.array_equal(m, np.round(m)) and np.all(m >= hw.lo) and np.all(m <= hw.hi)
    vanished = (fe + ie) < 0
    assert np.all(got[:, vanished] == 0) and np.all(hw.width[vanished] == 0)


def test_gradients_pass_inside_feed_bounds_outside_and_rounding_error_into_frac():
    q = learned_bits(4, 1, granularity="element")
    q.build((4,))
    q.set_bits([2, 2, 2, 2], [1, 1, 1, 1])  # values in [-2, 2 - 1/4], step 1/4
    x = tf.constant([[0.3, 5.0, -7.0, 1.1]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = q(x)
        total = tf.reduce_sum(y)
    dx = tape.gradient(total, x).numpy()[0]
    np.testing.assert_array_equal(dx, [1.0, 0.0, 0.0, 1.0])
    df = tape.gradient(total, q.fbits).numpy() * 1.0
    di = tape.gradient(total, q.ibits).numpy()
    err = y.numpy()[0] - x.numpy()[0]
    scale = 16.0  # the variables hold bits / BIT_SCALE
    # in range: d(q)/d(f) = -ln2 * (q - x); the saturated values pull on the bounds, hence on i and f
    assert df[0] == pytest.approx(-math.log(2) * err[0] * scale, rel=1e-5)
    assert di[1] > 0 and di[2] < 0  # 5.0 wants a larger hi (grow i), -7.0 a lower lo (grow i: -2**i falls)
    assert di[0] == 0 and di[3] == 0


def test_widths_and_config_round_trip():
    q = get_quantizer("learned_bits(6, 2, keep_negative=False, granularity='channel', rounding='TRN')")
    assert isinstance(q, learned_bits) and not q.keep_negative and q.rounding == "TRN"
    q.build((2, 3))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(q.widths()), [6, 6, 6])
    assert get_quantizer({"class_name": "learned_bits", "config": q.get_config()}).get_config() == q.get_config()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"granularity": "row"}, "granularity='row' is not supported; choose one of tensor, channel, element"),
        ({"overflow": "CLIP"}, "overflow='CLIP' is not supported; choose 'SAT' or 'WRAP'"),
        ({"rounding": "RND_CONV"}, "rounding='RND_CONV' is not supported"),
    ],
)
def test_bad_settings_name_the_setting(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        learned_bits(**kwargs)


def test_per_channel_initial_bits_must_match_channels():
    q = learned_bits([6, 7], [1, 2], granularity="channel")
    with pytest.raises(ValueError, match="2 per-channel values but the tensor has 3 channel"):
        q.build((4, 3))


def test_trains_saves_and_loads_with_its_layer(tmp_path):
    keras.utils.set_random_seed(0)
    inp = keras.Input((6,))
    h = QActivation(learned_bits(10, 2, granularity="element"), name="qin")(inp)
    h = QDense(
        4,
        kernel_quantizer=learned_bits(6, 0, granularity="element"),
        bias_quantizer=learned_bits(8, 2),
        activation=learned_bits(6, 2, keep_negative=False, granularity="channel", overflow="WRAP"),
        name="d",
    )(h)
    model = keras.Model(inp, h)
    x = np.random.default_rng(0).normal(size=(256, 6)).astype("float32")
    model.compile("adam", "mse")
    kq = model.layers[2].kernel_quantizer_internal
    before = keras.ops.convert_to_numpy(kq.frac_bits()).copy()
    model.fit(x, np.zeros((256, 4)), epochs=3, verbose=0)
    assert not np.array_equal(before, keras.ops.convert_to_numpy(kq.frac_bits()))  # the bits are trained
    assert model.layers[2].kernel_constraint is None  # no QKeras Clip on a learned range
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_compiled_predict_equals_eager_at_the_range_bounds():
    """Graph optimizers once turned a straight-through ``q + (x - x)`` at a saturation bound into q + 1 ulp."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((5,))
    layer = QDense(5, activation=learned_bits(5, 2, granularity="element"), name="d")
    model = keras.Model(inp, layer(inp))
    layer.kernel.assign(np.eye(5, dtype="float32"))
    layer.activation.set_bits([3, 3, 3, 3, 2], [2, 2, 2, 3, 2])
    rng = np.random.default_rng(0)
    x = np.concatenate([np.full((50, 5), -4.0), np.full((50, 5), 3.875), rng.normal(scale=6, size=(3000, 5))]).astype(
        "float32"
    )
    np.testing.assert_array_equal(model.predict(x, verbose=0), keras.ops.convert_to_numpy(model(x)))


def test_round_to_nearest_is_exact_just_below_a_midpoint():
    """float32's 0.49999997 + 0.5 rounds to 1.0; the quantizer must still round 0.49999997 down."""
    q = learned_bits(8, 3, granularity="tensor")
    q.build((4,))
    q.set_bits(0, 4)
    below = np.nextafter(np.float32(0.5), np.float32(0))
    below_2_5 = np.nextafter(np.float32(2.5), np.float32(0))
    x = np.array([[below, -below, below_2_5, 0.5]], dtype="float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(q(x)), [[0.0, 0.0, 2.0, 1.0]])
