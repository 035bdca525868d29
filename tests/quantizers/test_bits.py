"""quantized_bits: QKeras' numbers, gradients, forms, and an exact hardware type.

Expected values are worked out by hand in the comments (or with Fraction);
the grid of ``quantized_bits(bits, integer)`` has step
``2**(integer - bits + keep_negative)``.
"""

from __future__ import annotations

from fractions import Fraction

import keras
import numpy as np
import pytest
import tensorflow as tf

from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.hwtypes import BinaryType, ScaledType
from fpgaq.quantizers import get_quantizer, serialize_quantizer
from fpgaq.quantizers.bits import quantized_bits


def run(q, x, **kwargs) -> np.ndarray:
    return np.asarray(q(np.asarray(x, dtype=np.float32), **kwargs))


def grad(q, x) -> np.ndarray:
    xt = tf.constant(np.asarray(x, dtype=np.float32))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = q(xt)
    g = tape.gradient(y, xt)
    return np.zeros(xt.shape, np.float32) if g is None else g.numpy()


# ------------------------------------------------------------ fixed alpha
def test_grid_points_are_kept():
    grid = np.arange(-8, 8) / 8  # quantized_bits(4,0): [-1, 0.875] step 1/8
    assert np.array_equal(run(quantized_bits(4, 0), grid), grid)


def test_half_way_points_round_half_to_even():
    # x * 8: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 3.5 -> 4, and the mirror images
    x = [1 / 16, 3 / 16, 5 / 16, 7 / 16, -1 / 16, -3 / 16, -5 / 16]
    assert run(quantized_bits(4, 0), x).tolist() == [0.0, 0.25, 0.25, 0.5, 0.0, -0.25, -0.25]


def test_saturation_is_exact_for_huge_inputs():
    q = quantized_bits(4, 0)
    out = run(q, [0.9, 5.0, 1e6, 3e38, -1.0, -5.0, -1e6, -3e38, 1e30])
    assert out.tolist() == [0.875, 0.875, 0.875, 0.875, -1.0, -1.0, -1.0, -1.0, 0.875]
    assert run(quantized_bits(8, 0), 1e6) == 0.9921875  # QKeras' float32 sum gives 1.0 here
    assert not np.any(np.isnan(run(quantized_bits(8, 3), [3.4e38, -3.4e38])))


def test_symmetric_drops_the_most_negative_code():
    assert run(quantized_bits(4, 0, 1), [-1.0, -5.0, -0.9, 0.9]).tolist() == [-0.875, -0.875, -0.875, 0.875]


def test_keep_negative_false_makes_every_bit_a_magnitude_bit():
    # step 1/16, [0, 15/16]; 1/32 is half a step (-> 0, even), 3/32 -> 2/16
    q = quantized_bits(4, 0, keep_negative=0)
    assert run(q, [0.5, -0.3, 2.0, 1 / 32, 3 / 32]).tolist() == [0.5, 0.0, 0.9375, 0.0, 0.125]


def test_integer_bits_move_the_point():
    # quantized_bits(6,2): step 1/8, [-4, 3.875]; 8.5 steps -> 8, 9.5 -> 10
    q = quantized_bits(6, 2)
    assert run(q, [1.0625, 1.1875, 10.0, -10.0, -4.0]).tolist() == [1.0, 1.25, 3.875, -4.0, -4.0]


def test_negative_integer():
    # quantized_bits(4,-2): step 2**-5, [-0.25, 0.21875]; 0.1*32 = 3.2 -> 3; 1/64 is half a step -> 0
    q = quantized_bits(4, -2)
    assert run(q, [0.1, 1.0, -1.0, 1 / 64]).tolist() == [3 / 32, 0.21875, -0.25, 0.0]
    assert q.hardware() == FixedType(4, -1, True, Rounding.RND_CONV, Overflow.SAT)


def test_one_signed_bit_maps_zero_to_plus_one():
    q = quantized_bits(1, 0)
    assert run(q, [0.0, 0.3, -0.2, 5.0, -1e30]).tolist() == [1.0, 1.0, -1.0, 1.0, -1.0]
    assert q.hardware() == BinaryType(scale=1.0)
    assert quantized_bits(1, 0, alpha=0.5).hardware() == BinaryType(scale=0.5)


def test_numeric_alpha_scales_the_grid():
    q = quantized_bits(4, 0, alpha=0.5)
    assert run(q, [0.3, -2.0]).tolist() == [0.125, -0.5]  # 0.25 * 0.5, -1 * 0.5
    assert q.scale == 0.5
    hw = q.hardware()
    assert hw == ScaledType(FixedType(4, 1, True, Rounding.RND_CONV, Overflow.SAT), (0.5,), True)


def test_alpha_array_is_per_channel():
    q = quantized_bits(4, 0, alpha=[0.5, 0.75])
    out = run(q, [[0.3, 0.3], [-2.0, -2.0]])
    assert out.tolist() == [[0.125, 0.1875], [-0.5, -0.75]]
    hw = q.hardware()
    assert hw.scale == (0.5, 0.75)
    assert hw.po2 is False


def test_scale_attribute_after_a_fixed_alpha_call():
    q = quantized_bits(4, 0)
    assert q.scale is None
    run(q, [0.1])
    assert q.scale == 1.0


# ----------------------------------------------------------------- gradients
def test_gradient_is_straight_through_everywhere():
    x = [-1e30, -5.0, -1.0, -1 / 16, 0.0, 0.3, 0.875, 5.0, 1e30]
    assert grad(quantized_bits(4, 0), x).tolist() == [1.0] * len(x)
    assert grad(quantized_bits(4, 0, alpha="auto_po2"), [[0.5, 0.1], [-0.2, 3.0]]).tolist() == [[1.0, 1.0]] * 2


def test_qnoise_factor_mixes_float_and_quantized():
    q = quantized_bits(4, 0, qnoise_factor=0.5)
    # 0.3 -> 0.25; 0.3 + 0.5 * (0.25 - 0.3) = 0.275
    assert run(q, 0.3) == pytest.approx(0.275, abs=1e-7)
    assert grad(q, [0.3]).tolist() == [1.0]
    no_ste = quantized_bits(4, 0, qnoise_factor=0.25, use_ste=False)
    # 0.75 * 0.3 + 0.25 * 0.25 = 0.2875, gradient 1 - 0.25
    assert run(no_ste, 0.3) == pytest.approx(0.2875, abs=1e-7)
    assert grad(no_ste, [0.3]).tolist() == [0.75]
    assert grad(quantized_bits(4, 0, use_ste=False), [0.3]).tolist() == [0.0]


def test_qnoise_factor_as_a_variable():
    q = quantized_bits(4, 0, use_variables=True)
    assert run(q, 1e30) == 0.875
    q.update_qnoise_factor(0.5)
    assert run(q, 0.3) == pytest.approx(0.275, abs=1e-7)
    assert q.get_config()["qnoise_factor"] == 0.5
    with pytest.raises(ValueError, match=r"qnoise_factor=0\.5 mixes"):
        q.hardware()


def test_stochastic_rounding_only_when_training():
    q = quantized_bits(4, 0, use_stochastic_rounding=True)
    x = np.full(4000, 0.3, np.float32)  # between 0.25 and 0.375, 40% of the way
    assert np.all(run(q, x) == 0.25)
    keras.utils.set_random_seed(7)
    out = run(q, x, training=True)
    assert set(out.tolist()) == {0.25, 0.375}
    assert np.mean(out == 0.375) == pytest.approx(0.4, abs=0.04)
    assert q.hardware() == FixedType(4, 1, True, Rounding.RND_CONV, Overflow.SAT)


class _Wrap(keras.layers.Layer):
    """A layer that calls its quantizer without passing ``training`` on."""

    def __init__(self, q):
        super().__init__()
        self.q = q

    def call(self, x):
        return self.q(x)


def test_stochastic_rounding_follows_the_keras_layer_call():
    layer = _Wrap(quantized_bits(4, 0, use_stochastic_rounding=True))
    x = np.full((1, 4000), 0.3, np.float32)
    assert set(np.asarray(layer(x, training=True)).ravel().tolist()) == {0.25, 0.375}
    assert set(np.asarray(layer(x, training=False)).ravel().tolist()) == {0.25}
    assert set(np.asarray(layer(x)).ravel().tolist()) == {0.25}


def test_half_precision_inputs_get_their_dtype_back():
    out = quantized_bits(4, 0)(np.array([0.3, 5.0], np.float16))
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    assert np.asarray(out).tolist() == [0.25, 0.875]
    assert keras.backend.standardize_dtype(quantized_bits(4, 0)(np.array([0.3])).dtype) == "float32"


# ------------------------------------------------------------- auto scales
def _kernel() -> np.ndarray:
    # channel 0: one large value and thirty at 0.18; channel 1: a small one
    ch0 = np.array([0.525] + [0.18] * 30)
    ch1 = np.array([0.1, 0.02, -0.07] + [0.0] * 28)
    return np.stack([ch0, ch1], axis=1).astype(np.float32)


def test_auto_po2_refines_the_scale_per_channel():
    # bits=3: levels = 2*(2**2 - 1) = 6, codes within ±3.
    # ch0: max 0.525 -> 2*0.525/6 = 0.175, log2 = -2.51 -> 2**-3.  Round 1 codes: 0.525/0.125 = 4.2 -> 3
    #      (clip), 0.18/0.125 = 1.44 -> 1; least squares (3*0.525 + 30*0.18) / (9 + 30) = 0.1788,
    #      log2 = -2.48 -> 2**-2.  Round 2: codes 2 and 1, (2*0.525 + 5.4) / 34 = 0.1897 -> 2**-2: fixed point.
    # ch1: max 0.1 -> 0.0333, log2 = -4.91 -> 2**-5.  Codes 3.2 -> 3, 0.64 -> 1, 2.24 -> 2;
    #      (0.3 + 0.02 + 0.14) / (9 + 1 + 4) = 0.03286, log2 = -4.93 -> 2**-5: fixed point.
    q = quantized_bits(3, 0, alpha="auto_po2")
    k = _kernel()
    out = run(q, k)
    assert out[0].tolist() == [0.5, 3 / 32]
    assert np.all(out[1:, 0] == 0.25)
    assert out[1:4, 1].tolist() == [1 / 32, -2 / 32, 0.0]
    # .scale = scale * 2**(bits - keep_negative)
    assert np.asarray(q.scale).tolist() == [[1.0, 1 / 8]]
    hw = q.hardware(k)
    assert hw == ScaledType(FixedType(3, 1, True, Rounding.RND_INF, Overflow.SAT_SYM), (1.0, 0.125), True)
    assert np.array_equal(hw.base.quantize(k / np.array(hw.scale)) * np.array(hw.scale), out)


def test_auto_takes_the_max_based_scale_and_rounds_half_away():
    # bits=3: levels 6.  ch0: scale 2*2.25/6 = 0.75; |x|/0.75 = 3, 1.5, 0.5 -> 3, 2, 1 (ties away from zero)
    # ch1 is all zeros: scale 0, output 0 (no NaN)
    k = np.array([[2.25, 0.0], [-1.125, 0.0], [0.375, 0.0]], np.float32)
    q = quantized_bits(3, 0, alpha="auto")
    out = run(q, k)
    assert out.tolist() == [[2.25, 0.0], [-1.5, 0.0], [0.75, 0.0]]
    assert np.asarray(q.scale).tolist() == [[3.0, 0.0]]  # 0.75 * 2**2
    hw = q.hardware(k)
    assert hw.scale == (3.0, 0.0)
    assert hw.po2 is False
    assert hw.base == FixedType(3, 1, True, Rounding.RND_INF, Overflow.SAT_SYM)
    base = hw.base.quantize(k[:, :1] / 3.0)
    assert np.array_equal(base * 3.0, out[:, :1])


def test_auto_ignores_keep_negative_except_in_the_stored_scale():
    k = np.array([[2.25], [-1.125], [0.375]], np.float32)
    q = quantized_bits(3, 0, keep_negative=False, alpha="auto")
    assert run(q, k).ravel().tolist() == [2.25, -1.5, 0.75]
    assert np.asarray(q.scale).ravel().tolist() == [6.0]  # 0.75 * 2**3
    assert q.get_config()["symmetric"] is True
    hw = q.hardware(k)
    assert hw.base == FixedType(3, 0, True, Rounding.RND_INF, Overflow.SAT_SYM)
    assert np.array_equal(hw.base.quantize(k / 6.0) * 6.0, run(q, k))


def test_auto_po2_with_integer_bits():
    # integer=1 divides by 2 first: ch [3.0, 1.0] -> [1.5, 0.5]; bits=4, levels 14:
    # 3/14 -> 2**-2; codes 6, 2; (9 + 1) / (36 + 4) = 0.25 -> 2**-2. Output 2 * codes * 0.25.
    q = quantized_bits(4, 1, alpha="auto_po2")
    k = np.array([[3.0], [1.0]], np.float32)
    assert run(q, k).ravel().tolist() == [3.0, 1.0]
    assert np.asarray(q.scale).ravel().tolist() == [2.0]  # 0.25 * 2**3
    hw = q.hardware(k)
    assert hw.base == FixedType(4, 2, True, Rounding.RND_INF, Overflow.SAT_SYM)
    assert np.array_equal(hw.base.quantize(k / 2.0) * 2.0, run(q, k))


def test_auto_po2_on_a_vector_gives_every_element_its_own_scale():
    # bits=4: max 0.3 -> 0.6/14, log2 = -4.54 -> 2**-5 for both elements at first.
    # 0.3: code 9.6 -> 7 (clip), scale 0.3/7 -> 2**-5 stays.  0.01: code 0.32 -> 0, scale 0 -> 2**-23
    # (log2 of the fuzz factor 1e-7); then code 7 (clip), 0.01/7 -> 2**-9; then code 5.12 -> 5, 0.002 -> 2**-9.
    q = quantized_bits(4, 0, alpha="auto_po2")
    assert run(q, [0.3, 0.01]).tolist() == [7 / 32, 5 / 512]
    assert np.asarray(q.scale).tolist() == [0.25, 2**-6]
    assert q.hardware(np.array([0.3, 0.01], np.float32)).scale == (0.25, 2**-6)


def test_po2_exponent_bounds_clip_the_least_squares_scale():
    # ch [0.01, 0.005], bits 4: start 2**-9; least squares 2**-9 clipped to 2**-6; codes 0.64 -> 1, 0.32 -> 0
    low = quantized_bits(4, 0, alpha="auto_po2", min_po2_exponent=-6)
    assert run(low, [[0.01], [0.005]]).ravel().tolist() == [1 / 64, 0.0]
    assert np.asarray(low.scale).ravel().tolist() == [0.125]
    # ch [3, 1]: start 2**-1; least squares 0.5 clipped to 0.25; codes 12 -> 7, 4
    high = quantized_bits(4, 0, alpha="auto_po2", max_po2_exponent=-2)
    assert run(high, [[3.0], [1.0]]).ravel().tolist() == [1.75, 1.0]


def test_elements_per_scale_groups_channels():
    a = np.array([0.525] + [0.18] * 30, np.float32)
    b = np.array([0.1, 0.02, -0.07] + [0.0] * 28, np.float32)
    grouped = quantized_bits(3, 0, alpha="auto_po2", scale_axis=1, elements_per_scale=2)
    out = run(grouped, np.stack([a, a, b, b], axis=1))
    # identical columns in a group: the same as one channel each (see test_auto_po2_refines...)
    per_channel = run(quantized_bits(3, 0, alpha="auto_po2"), np.stack([a, b], axis=1))
    assert np.array_equal(out, per_channel[:, [0, 0, 1, 1]])
    assert np.asarray(grouped.scale).ravel().tolist() == [1.0, 1.0, 0.125, 0.125]
    mixed = run(grouped, np.stack([a, b, b, a], axis=1))
    scale = np.asarray(grouped.scale).ravel()
    assert scale[0] == scale[1] and scale[2] == scale[3]
    assert mixed.shape == (31, 4)


def test_post_training_scale_fixes_the_scale():
    q = quantized_bits(3, 0, alpha="auto_po2", post_training_scale=[1.0, 0.125])
    out = run(q, _kernel())
    assert out[0].tolist() == [0.5, 3 / 32]
    assert np.asarray(q.scale).tolist() == [1.0, 0.125]
    assert q.hardware().scale == (1.0, 0.125)  # no tensor needed
    assert q.get_config()["post_training_scale"] == [1.0, 0.125]


# ---------------------------------------------------------------- hardware
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (quantized_bits(8, 0), FixedType(8, 1, True, Rounding.RND_CONV, Overflow.SAT)),
        (quantized_bits(8, 0, alpha=1), FixedType(8, 1, True, Rounding.RND_CONV, Overflow.SAT)),
        (quantized_bits(8, 3, 1), FixedType(8, 4, True, Rounding.RND_CONV, Overflow.SAT_SYM)),
        (quantized_bits(6, 2, keep_negative=0), FixedType(6, 2, False, Rounding.RND_CONV, Overflow.SAT)),
        (quantized_bits(4, 0, use_stochastic_rounding=True), FixedType(4, 1, True, Rounding.RND_CONV, Overflow.SAT)),
    ],
)
def test_hardware_types(q, expected):
    assert q.hardware() == expected


def _codes(rng: np.random.Generator, lo: int, hi: int) -> np.ndarray:
    """Every code in [lo, hi], or for wide types both ends and a random sample between."""
    if hi - lo <= 1000:
        return np.arange(lo, hi + 1)
    return np.concatenate([np.arange(lo, lo + 20), rng.integers(lo, hi, 1000), np.arange(hi - 20, hi + 1)])


def _inputs(rng: np.random.Generator, t: FixedType) -> np.ndarray:
    lsb = t.lsb_value
    codes = _codes(rng, t.min_int - 4, t.max_int + 4)
    half_points = (codes + 0.5) * lsb
    return np.concatenate(
        [
            rng.normal(0, 2 * max(abs(t.min_value), t.max_value), 3000),
            codes * lsb,
            half_points,
            -half_points,
            rng.uniform(-1e6, 1e6, 200),
            [1e30, -1e30, 3.4e38, -3.4e38, 0.0, -0.0, 1e-30, -1e-30],
        ]
    ).astype(np.float32)


@pytest.mark.parametrize(
    "q",
    [
        quantized_bits(4, 0),
        quantized_bits(8, 0),
        quantized_bits(8, 0, 1),
        quantized_bits(6, 2),
        quantized_bits(5, -2),
        quantized_bits(5, 1, keep_negative=0),
        quantized_bits(3, 0, 1, keep_negative=0),
        quantized_bits(1, 2, keep_negative=0),
        quantized_bits(12, 4, alpha=1),
        quantized_bits(16, 7, 1),
    ],
    ids=str,
)
def test_hardware_type_quantizes_exactly_like_the_quantizer(q, rng):
    t = q.hardware()
    x = _inputs(rng, t)
    assert np.array_equal(run(q, x), t.quantize(x.astype(np.float64)))


def test_scaled_hardware_type_with_a_po2_alpha(rng):
    q = quantized_bits(6, 1, alpha=0.25)
    t = q.hardware()
    x = _inputs(rng, t.base)
    assert np.array_equal(run(q, x), t.base.quantize(x.astype(np.float64)) * 0.25)


@pytest.mark.parametrize(("bits", "integer", "keep_negative"), [(4, 0, 1), (8, 0, 1), (3, 1, 1), (6, 0, 0), (2, 0, 1)])
def test_auto_po2_hardware_reproduces_the_output(bits, integer, keep_negative, rng):
    k = rng.normal(0, 0.3, (3, 3, 4, 16)) * rng.uniform(0.01, 4, 16)
    k[..., 3] = 0.0
    k = k.astype(np.float32)
    q = quantized_bits(bits, integer, keep_negative=keep_negative, alpha="auto_po2")
    out = run(q, k)
    hw = q.hardware(k)
    assert hw.po2 and len(hw.scale) == 16
    scale = np.array(hw.scale)
    assert np.array_equal(hw.base.quantize(k.astype(np.float64) / scale) * scale, out)
    assert np.all(np.abs(hw.base.to_int(out / scale)) <= 2 ** (bits - 1) - 1)


# -------------------------------------------------------------------- errors
def test_auto_hardware_needs_the_tensor():
    with pytest.raises(ValueError, match=r"call hardware\(x\) with that tensor"):
        quantized_bits(4, 0, alpha="auto_po2").hardware()


def test_qnoise_has_no_hardware_meaning():
    with pytest.raises(ValueError, match=r"quantized_bits\(4,0,0,qnoise_factor=0.5\): qnoise_factor=0.5 mixes"):
        quantized_bits(4, 0, qnoise_factor=0.5).hardware()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": "max"}, "alpha='max' is not supported"),
        ({"bits": 1, "alpha": "auto"}, "auto scales need bits >= 2"),
        ({"alpha": "auto", "elements_per_scale": 2}, "elements_per_scale=2 is only supported with alpha='auto_po2'"),
        ({"min_po2_exponent": -4}, "min_po2_exponent=-4 is only supported"),
        ({"post_training_scale": [1.0]}, "alpha=None doesn't support post_training_scale"),
        ({"bits": 0}, "bits must be an integer >= 1"),
    ],
)
def test_invalid_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        quantized_bits(**kwargs)


def test_scales_off_the_last_axis_have_no_scaled_type():
    q = quantized_bits(4, 0, alpha="auto_po2", scale_axis=0)
    with pytest.raises(ValueError, match=r"scales of shape \(2, 1\), not one per channel of the last axis"):
        q.hardware(np.ones((2, 3), np.float32))


# --------------------------------------------------------- config and forms
def test_config_has_qkeras_keys():
    assert quantized_bits(6, 2).get_config() == {
        "bits": 6,
        "integer": 2,
        "symmetric": 0,
        "alpha": None,
        "keep_negative": True,
        "use_stochastic_rounding": False,
        "qnoise_factor": 1.0,
        "post_training_scale": None,
    }
    config = quantized_bits(4, 0, 0, alpha="auto_po2", scale_axis=2).get_config()
    assert config["symmetric"] is True
    assert config["scale_axis"] == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("quantized_bits(8,0,1,alpha=1)", {"bits": 8, "integer": 0, "symmetric": 1, "alpha": 1}),
        ("quantized_bits(6,0,alpha=1)", {"bits": 6, "symmetric": 0, "alpha": 1}),
        ("quantized_bits(4,2,0,keep_negative=False)", {"bits": 4, "integer": 2, "keep_negative": False}),
        ("quantized_bits(4,0,alpha='auto_po2')", {"alpha": "auto_po2", "symmetric": True}),
    ],
)
def test_string_forms_are_read(text, expected):
    q = get_quantizer(text)
    assert isinstance(q, quantized_bits)
    config = q.get_config()
    assert {k: config[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("q", "text"),
    [
        (quantized_bits(8, 0), "quantized_bits(8,0,0)"),
        (quantized_bits(8, 0, alpha=1), "quantized_bits(8,0,0,alpha=1)"),
        (quantized_bits(4, 2, 1, keep_negative=0), "quantized_bits(4,2,1,keep_negative=False)"),
        (quantized_bits(4, 0, alpha="auto_po2"), "quantized_bits(4,0,1,alpha='auto_po2')"),
        (quantized_bits(4, 0, use_stochastic_rounding=True), "quantized_bits(4,0,0,use_stochastic_rounding=1)"),
    ],
)
def test_str_is_qkeras_style(q, text):
    assert str(q) == text


@pytest.mark.parametrize(
    "q",
    [
        quantized_bits(),
        quantized_bits(6, 2, 1, keep_negative=False),
        quantized_bits(4, 0, alpha=0.5),
        quantized_bits(4, 0, alpha=[0.5, 0.25]),
        quantized_bits(4, 0, alpha="auto", scale_axis=1, qnoise_factor=0.5),
        quantized_bits(4, 0, alpha="auto_po2", min_po2_exponent=-8, max_po2_exponent=0, use_ste=False),
        quantized_bits(4, 0, alpha="auto_po2", post_training_scale=[1.0, 0.5]),
        quantized_bits(4, -3, use_stochastic_rounding=True, var_name="dense"),
    ],
    ids=str,
)
def test_round_trips(q):
    assert get_quantizer(str(q)) == q
    assert str(get_quantizer(str(q))) == str(q)
    assert quantized_bits.from_config(q.get_config()) == q
    assert get_quantizer(serialize_quantizer(q)) == q
    assert q != quantized_bits(3, 1)


def test_max_and_min_follow_qkeras_not_the_range():
    assert (quantized_bits(4, 0).max(), quantized_bits(4, 0).min()) == (1.0, -1.0)
    assert (quantized_bits(6, 2).max(), quantized_bits(6, 2).min()) == (4.0, -4.0)
    assert (quantized_bits(4, -2).max(), quantized_bits(4, -2).min()) == (1.0, -1.0)
    assert quantized_bits(4, 0, keep_negative=False).min() == 0.0
    assert (quantized_bits(1, 3).max(), quantized_bits(1, 3).min()) == (1.0, -1.0)


def test_exact_fraction_of_an_off_grid_value():
    # 0.3 * 2**7 = 38.4 -> 38: quantized_bits(8,0)(0.3) is exactly 38/128
    assert Fraction(float(run(quantized_bits(8, 0), 0.3))) == Fraction(38, 128)
