"""quantized_relu: QKeras' numbers and gradients, string forms, and its hardware type.

``quantized_relu(bits, integer)`` has step ``2**(integer - bits)`` and tops out
at ``2**integer - step``; a negative slope takes one of the bits for the sign.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.quantizers import get_quantizer, serialize_quantizer
from fpgaq.quantizers.relu import LeakyReluType, quantized_relu


def run(q, x, **kwargs) -> np.ndarray:
    return np.asarray(q(np.asarray(x, dtype=np.float32), **kwargs))


def grad(q, x) -> list[float]:
    xt = tf.constant(np.asarray(x, dtype=np.float32))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = q(xt)
    return tape.gradient(y, xt).numpy().tolist()


# ------------------------------------------------------------------ values
def test_grid_points_are_kept():
    grid = np.arange(16) / 4  # quantized_relu(4,2): 0 to 3.75 in steps of 0.25
    assert np.array_equal(run(quantized_relu(4, 2), grid), grid)


def test_half_way_points_round_half_to_even():
    # x * 4: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 3.5 -> 4
    assert run(quantized_relu(4, 2), [0.125, 0.375, 0.625, 0.875]).tolist() == [0.0, 0.5, 0.5, 1.0]


def test_saturation_and_negatives():
    out = run(quantized_relu(4, 2), [3.9, 4.0, 1e6, 3.4e38, -0.1, -1.0, -1e6, -3.4e38])
    assert out.tolist() == [3.75, 3.75, 3.75, 3.75, 0.0, 0.0, 0.0, 0.0]


def test_default_integer_and_string_form():
    q = get_quantizer("quantized_relu(6)")
    assert isinstance(q, quantized_relu)
    # step 1/64, top 63/64; 0.3 * 64 = 19.2 -> 19
    assert run(q, [0.3, 2.0]).tolist() == [19 / 64, 63 / 64]


def test_negative_integer():
    # quantized_relu(4,-1): step 2**-5, top 15/32; 0.1 * 32 = 3.2 -> 3
    assert run(quantized_relu(4, -1), [0.1, 1.0]).tolist() == [3 / 32, 15 / 32]


def test_negative_slope_spends_a_sign_bit():
    # quantized_relu(4,2,negative_slope=0.25): 3 value bits, step 0.5, top 3.5.
    # negatives: 0.25 * x on the same grid, down to -0.25 * 2**2 = -1.
    # -1 -> -0.25 -> half a step -> 0 (even); -2 -> -0.5; -3 -> -0.75 = -1.5 steps -> -2 steps = -1.0
    q = quantized_relu(4, 2, negative_slope=0.25)
    x = [0.25, 0.75, 10.0, -1.0, -2.0, -3.0, -6.0, -1e6, -3.4e38]
    assert run(q, x).tolist() == [0.0, 1.0, 3.5, 0.0, -0.5, -1.0, -1.0, -1.0, -1.0]


def test_use_sigmoid_follows_the_hard_sigmoid_arithmetic():
    # quantized_relu(4,2,1): p = clip(0.5 * x/4 + 0.5, 0, 1) * 16, out = 4 * clip(2*round(p)/16 - 1, 0, 15/16)
    # x=1: p=10 -> 1.0; x=0.3: p=8.6 -> 9 -> 0.5; x=3.6: p=15.2 -> 15 -> 3.5; x=10: p=16 -> 3.75; x=-1: 0
    q = quantized_relu(4, 2, 1)
    assert run(q, [1.0, 0.3, 3.6, 10.0, -1.0]).tolist() == [1.0, 0.5, 3.5, 3.75, 0.0]


def test_relu_upper_bound_acts_only_without_quantized_clip():
    assert run(quantized_relu(4, 1, relu_upper_bound=1.0), [1.5]).tolist() == [1.5]
    q = quantized_relu(4, 1, relu_upper_bound=1.0, is_quantized_clip=False)
    assert run(q, [1.5, 0.6, 1e30]).tolist() == [1.0, 0.625, 1.0]
    assert grad(q, [1.5, 0.6]) == [0.0, 1.0]


def test_stochastic_rounding_only_when_training():
    q = quantized_relu(4, 2, use_stochastic_rounding=True)
    x = np.full(4000, 0.3, np.float32)  # 1.2 steps
    assert np.all(run(q, x) == 0.25)
    keras.utils.set_random_seed(3)
    out = run(q, x, training=True)
    # QKeras rounds relu stochastically to half steps: 1.2 -> 1.0 or 1.5 steps, 40% of the time the upper
    assert set(out.tolist()) == {0.25, 0.375}
    assert np.mean(out == 0.375) == pytest.approx(0.4, abs=0.04)


# --------------------------------------------------------------- gradients
def test_gradient_is_the_clipped_relu_gradient():
    # 0 for negatives and at 0 (tf.nn.relu), 1 inside, 1 at the top value itself, 0 above it
    x = [-1e30, -2.0, 0.0, 0.1, 1.0, 3.75, 3.9, 1e30]
    assert grad(quantized_relu(4, 2), x) == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]


def test_gradient_with_a_negative_slope_is_the_slope():
    # tf.nn.leaky_relu passes the slope for x <= 0
    x = [-1e30, -2.0, 0.0, 1.0, 3.5, 3.6]
    assert grad(quantized_relu(4, 2, negative_slope=0.25), x) == [0.25, 0.25, 0.25, 1.0, 1.0, 0.0]


def test_qnoise_factor():
    q = quantized_relu(4, 2, qnoise_factor=0.5)
    # relu(0.3) = 0.3 -> 0.25; 0.3 + 0.5 * (0.25 - 0.3) = 0.275
    assert run(q, 0.3) == pytest.approx(0.275, abs=1e-7)
    assert grad(q, [0.3, -1.0]) == [1.0, 0.0]
    no_ste = quantized_relu(4, 2, qnoise_factor=0.25, use_ste=False)
    assert run(no_ste, 0.3) == pytest.approx(0.75 * 0.3 + 0.25 * 0.25, abs=1e-7)
    assert grad(no_ste, [0.3]) == [0.75]


# ---------------------------------------------------------------- hardware
def test_hardware_of_the_plain_relu():
    assert quantized_relu(4, 2).hardware() == FixedType(4, 2, False, Rounding.RND_CONV, Overflow.SAT)
    assert quantized_relu(6).hardware() == FixedType(6, 0, False, Rounding.RND_CONV, Overflow.SAT)


def test_hardware_with_a_negative_slope():
    hw = quantized_relu(4, 2, negative_slope=0.25).hardware()
    assert isinstance(hw, LeakyReluType)
    assert hw.base == FixedType(4, 3, True, Rounding.RND_CONV, Overflow.SAT)
    assert hw.positive == FixedType(3, 2, False, Rounding.RND_CONV, Overflow.SAT)
    # same step (0.5), minimum -0.25 * 4 = -1 = -2 steps: a 2-bit signed type
    assert hw.negative == FixedType(2, 1, True, Rounding.RND_CONV, Overflow.SAT)
    assert hw.negative.min == -1
    assert hw.shift == 2 and hw.bits == 4
    assert hw.to_int(np.array([-3.0, 10.0])).tolist() == [-2, 7]


def _inputs(rng: np.random.Generator, step: float, top: float) -> np.ndarray:
    lo, hi = -2 * int(top / step) - 8, int(top / step) + 8
    codes = np.arange(lo, hi + 1)
    if hi - lo > 1000:  # wide types: both ends and a sample between
        codes = np.concatenate([codes[:20], rng.integers(lo, hi, 1000), codes[-20:]])
    return np.concatenate(
        [
            rng.normal(0, 2 * top, 3000),
            codes * step,
            (codes + 0.5) * step,
            (codes + 0.25) * step,
            rng.uniform(-1e6, 1e6, 200),
            [1e30, -1e30, 3.4e38, -3.4e38, 0.0, -0.0, 1e-30, -1e-30],
        ]
    ).astype(np.float32)


@pytest.mark.parametrize(
    "q",
    [
        quantized_relu(4, 2),
        quantized_relu(6),
        quantized_relu(8, 3),
        quantized_relu(3, -1),
        quantized_relu(16, 6),
        quantized_relu(4, 2, use_stochastic_rounding=True),
        quantized_relu(4, 1, relu_upper_bound=2.0, is_quantized_clip=False),
        quantized_relu(4, 2, negative_slope=0.25),
        quantized_relu(6, 1, negative_slope=0.5),
        quantized_relu(5, 0, negative_slope=1.0),
        quantized_relu(4, 2, negative_slope=0.125),
    ],
    ids=str,
)
def test_hardware_type_quantizes_exactly_like_the_quantizer(q, rng):
    hw = q.hardware()
    t = hw.base if isinstance(hw, LeakyReluType) else hw
    x = _inputs(rng, t.lsb_value, t.max_value)
    assert np.array_equal(run(q, x), hw.quantize(x.astype(np.float64)))


@pytest.mark.parametrize(
    ("q", "message"),
    [
        (quantized_relu(4, 2, 1), "use_sigmoid=1 computes"),
        (quantized_relu(4, 2, negative_slope=1 / 16), "negative_slope=0.0625 with bits=4 puts negative outputs off"),
        (quantized_relu(4, 2, negative_slope=2.0), "hardware needs 2\\*\\*-\\(bits-1\\) <= negative_slope <= 1"),
        (quantized_relu(4, 1, relu_upper_bound=1.0, is_quantized_clip=False), "clamps below the grid's top value"),
        (quantized_relu(4, 2, qnoise_factor=0.5), "qnoise_factor=0.5 mixes the float input"),
    ],
    ids=str,
)
def test_settings_without_hardware_meaning(q, message):
    with pytest.raises(ValueError, match=message):
        q.hardware()


def test_off_grid_negative_slope_still_matches_qkeras():
    # 1/16 * 2**3 < 1: QKeras clips the negative side to -1/16 * 4 = -0.25, half a step
    assert run(quantized_relu(4, 2, negative_slope=1 / 16), [-100.0, -3.0]).tolist() == [-0.25, 0.0]


@pytest.mark.parametrize("slope", [-0.25, 0.3])
def test_negative_slope_must_be_a_power_of_two(slope):
    with pytest.raises(ValueError, match=f"negative_slope={slope} must be 0 or a power of two"):
        quantized_relu(4, 2, negative_slope=slope)


# --------------------------------------------------------- config and forms
def test_config_has_qkeras_keys():
    assert quantized_relu(4, 2).get_config() == {
        "bits": 4,
        "integer": 2,
        "use_sigmoid": 0,
        "negative_slope": 0.0,
        "use_stochastic_rounding": False,
        "relu_upper_bound": None,
        "qnoise_factor": 1.0,
    }


@pytest.mark.parametrize(
    ("q", "text"),
    [
        (quantized_relu(6), "quantized_relu(6,0)"),
        (quantized_relu(4, 2, negative_slope=0.25), "quantized_relu(4,2,negative_slope=0.25)"),
        (quantized_relu(4, 2, 1), "quantized_relu(4,2,1)"),
        (quantized_relu(4, 2, use_stochastic_rounding=True), "quantized_relu(4,2,use_stochastic_rounding=1)"),
    ],
)
def test_str_is_qkeras_style(q, text):
    assert str(q) == text


def test_negative_slope_string_is_read():
    q = get_quantizer("quantized_relu(4,2,negative_slope=0.25)")
    assert (q.bits, q.integer, q.negative_slope, q.use_sigmoid) == (4, 2, 0.25, 0)


@pytest.mark.parametrize(
    "q",
    [
        quantized_relu(),
        quantized_relu(4, 2, negative_slope=0.25),
        quantized_relu(4, 2, 1, use_stochastic_rounding=True),
        quantized_relu(4, 1, relu_upper_bound=1.0, is_quantized_clip=False, qnoise_factor=0.5),
        quantized_relu(3, -1, use_ste=False, var_name="act"),
    ],
    ids=str,
)
def test_round_trips(q):
    assert get_quantizer(str(q)) == q
    assert quantized_relu.from_config(q.get_config()) == q
    assert get_quantizer(serialize_quantizer(q)) == q
    assert q != quantized_relu(5, 1)


def test_max_and_min_follow_qkeras_not_the_range():
    assert (quantized_relu(4, 2).max(), quantized_relu(4, 2).min()) == (4.0, 0.0)
    assert (quantized_relu(6).max(), quantized_relu(4, -1).max()) == (1.0, 1.0)
    assert quantized_relu(4, 2, negative_slope=0.25).min() == -1.0
    assert quantized_relu(4, 0, negative_slope=0.25).min() == -0.25
