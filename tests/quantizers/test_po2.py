"""quantized_po2 and quantized_relu_po2: values, exponent ranges, gradients, forms."""

import copy
import pickle
from fractions import Fraction

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from fpgaq.hwtypes import Po2Type
from fpgaq.quantizers import get_quantizer
from fpgaq.quantizers.po2 import quantized_po2, quantized_relu_po2

F32 = np.float32
EPS32 = F32(1e-7)  # QKeras' epsilon as float32 compares it
SQRT2_DOWN = F32(np.sqrt(2.0))  # float32 nearest sqrt(2) lies below it
SQRT2_UP = np.nextafter(SQRT2_DOWN, F32(2))


def run(q, x, **kwargs) -> np.ndarray:
    return ops.convert_to_numpy(q(np.asarray(x, dtype=F32), **kwargs))


def below(v) -> np.float32:
    return np.nextafter(F32(v), F32(0))


def test_sqrt2_neighbours_straddle_sqrt2():
    # The rounding boundary between 2**k and 2**(k+1) is 2**k * sqrt(2).
    assert Fraction(float(SQRT2_DOWN)) ** 2 < 2 < Fraction(float(SQRT2_UP)) ** 2


# ------------------------------------------------------------ quantized_po2
def test_po2_4_values():
    # bits=4: 1 sign bit, 1 exponent sign bit, exponents in [-4, 3].
    x = [0.0, -0.0, 1e-9, -1e-9, 0.01, 0.3, -0.3, 0.7, 0.75, 1.0, 1.4, 1.42, 3.0, 5.0, 6.0, 8.0, 100.0, 1e30, -1e30]
    # log2: 0.01 -> -6.6 (clip -4); 0.3 -> -1.74; 0.7 -> -0.51; 0.75 -> -0.42; 1.4 -> 0.485;
    # 1.42 -> 0.506; 3 -> 1.58; 5 -> 2.32; 6 -> 2.58; 100 -> 6.6 (clip 3)
    want = [2**-4, 2**-4, 2**-4, -(2**-4), 2**-4, 0.25, -0.25, 0.5, 1, 1, 1, 2, 4, 4, 8, 8, 8, 8, -8]
    np.testing.assert_array_equal(run(quantized_po2(4), x), want)


def test_po2_never_outputs_zero():
    out = run(quantized_po2(4), [0.0, -0.0, 1e-30, -1e-30])
    assert np.all(out != 0)
    np.testing.assert_array_equal(out, [0.0625, 0.0625, 0.0625, -0.0625])


@pytest.mark.parametrize("k", [-10, -3, -1, 0, 1, 4, 10])
def test_po2_rounds_at_sqrt2_exactly(k):
    q = quantized_po2(8)
    x = np.array([SQRT2_DOWN, SQRT2_UP, -SQRT2_DOWN, -SQRT2_UP], dtype=F32) * F32(2.0**k)
    np.testing.assert_array_equal(run(q, x), [2.0**k, 2.0 ** (k + 1), -(2.0**k), -(2.0 ** (k + 1))])


def test_po2_epsilon_threshold():
    # bits=8: exponents [-64, 63]. log2(1e-7) = -23.25 rounds to -23; anything below 1e-7 takes -64.
    q = quantized_po2(8)
    np.testing.assert_array_equal(
        run(q, [EPS32, below(EPS32), 0.0, -EPS32]), [2.0**-23, 2.0**-64, 2.0**-64, -(2.0**-23)]
    )


def test_po2_max_value_at_most_one():
    # max_value <= 1: no exponent sign bit, exponents [-8, 7] clipped by max_value to <= 0.
    q = quantized_po2(4, 1)
    x = [0.0, 1e-3, 0.004, 0.75, 1.0, 5.0, -5.0, 1e30]
    # log2(1e-3) = -9.97 -> clip -8; log2(0.004) = -7.97 -> -8
    np.testing.assert_array_equal(run(q, x), [2**-8, 2**-8, 2**-8, 1, 1, 1, -1, 1])
    assert q.hardware() == Po2Type(bits=5, signed=True, min_exp=-8, max_exp=0)


def test_po2_max_value_rounds_to_its_nearest_power():
    # QKeras clips to max_value and then rounds: log2(3) = 1.58 gives 4 > max_value.
    q = quantized_po2(4, 3)
    np.testing.assert_array_equal(run(q, [2.9, 3.0, 100.0, -100.0, 2.5]), [4, 4, 4, -4, 2])
    assert q.hardware() == Po2Type(bits=4, signed=True, min_exp=-4, max_exp=2)


def test_po2_floor_rounding_at_powers_of_two():
    q = quantized_po2(8, log2_rounding="floor")
    x = [2.0, below(2.0), 0.5, below(0.5), 3.99, 2.0**-13, below(2.0**-13), 2.0**15, -7.0]
    np.testing.assert_array_equal(run(q, x), [2, 1, 0.5, 0.25, 2, 2.0**-13, 2.0**-14, 2.0**15, -4])


def test_po2_quadratic_approximation():
    # exponent = 2 * round(log2(sqrt x)); x = 2**(2j+1) is a tie, broken to even j as tf.round does.
    q = quantized_po2(8, quadratic_approximation=True)
    x = [4.0, 2.0, 8.0, 32.0, 0.5, 0.125, 2.5, 1.9, 0.0]
    # 2 -> j=0.5 -> 0; 8 -> 1.5 -> 2; 32 -> 2.5 -> 2; 0.5 -> -0.5 -> -0; 0.125 -> -1.5 -> -2
    want = [4, 1, 16, 16, 1, 2.0**-4, 4, 1, 2.0**-64]
    np.testing.assert_array_equal(run(q, x), want)


def test_po2_quadratic_hardware_is_the_hull():
    # exponent clip [-4, 2] applies to the half exponent, then doubles: [-8, 4]; 0 gives -4.
    q = quantized_po2(4, quadratic_approximation=True)
    assert q.hardware() == Po2Type(bits=5, signed=True, min_exp=-8, max_exp=4)
    np.testing.assert_array_equal(run(q, [0.0, 1e-6, 1e6]), [2.0**-4, 2.0**-8, 16])


@pytest.mark.parametrize(
    ("q", "want"),
    [
        (quantized_po2(4), Po2Type(4, True, -4, 3)),
        (quantized_po2(8), Po2Type(8, True, -64, 63)),
        (quantized_po2(2), Po2Type(2, True, -1, 0)),
        (quantized_po2(3, 0.5), Po2Type(3, True, -4, -1)),
        (quantized_relu_po2(4), Po2Type(4, False, -8, 7)),
        (quantized_relu_po2(7), Po2Type(7, False, -64, 63)),
        (quantized_relu_po2(4, 1), Po2Type(5, False, -16, 0)),
        (quantized_relu_po2(4, negative_slope=0.25), Po2Type(5, True, -8, 7)),
    ],
)
def test_po2_hardware(q, want):
    assert q.hardware() == want


@pytest.mark.parametrize(
    "q",
    [
        quantized_po2(4),
        quantized_po2(8),
        quantized_po2(4, 1),
        quantized_po2(5, 3),
        quantized_po2(6, log2_rounding="floor"),
        quantized_po2(4, quadratic_approximation=True),
        quantized_relu_po2(4),
        quantized_relu_po2(6, 2),
        quantized_relu_po2(5, negative_slope=0.5),
        quantized_relu_po2(5, 4, 0.25, quadratic_approximation=True),
    ],
)
def test_po2_outputs_are_values_of_the_hardware_type(q, rng):
    mags = np.logspace(-12, 12, 2001)
    x = np.concatenate([mags, -mags, [0.0, -0.0, 1e-7, 1e30, -1e30], rng.normal(size=200)]).astype(F32)
    out = run(q, x)
    assert np.isin(out, q.hardware().values()).all()


def test_po2_beyond_float32_is_rejected():
    with pytest.raises(ValueError, match=r"exponents reach \[-128, 127\], beyond float32"):
        quantized_po2(9).hardware()
    with pytest.raises(ValueError, match="beyond float32"):
        quantized_relu_po2(8).hardware()


# ------------------------------------------------------- quantized_relu_po2
def test_relu_po2_values():
    q = quantized_relu_po2(4)  # exponents [-8, 7]
    x = [-1e30, -3.0, -0.0, 0.0, 1e-9, 0.3, 1.0, 3.0, 200.0, 1e30]
    np.testing.assert_array_equal(run(q, x), [2**-8, 2**-8, 2**-8, 2**-8, 2**-8, 0.25, 1, 4, 128, 128])


def test_relu_po2_max_value():
    q = quantized_relu_po2(4, 1)  # max_value <= 1: exponents [-16, 15], capped at 0
    np.testing.assert_array_equal(run(q, [-1.0, 0.0, 0.5, 5.0, 1e-5]), [2**-16, 2**-16, 0.5, 1, 2**-16])


def test_relu_po2_negative_slope():
    q = quantized_relu_po2(4, negative_slope=0.25)
    # negatives: -2**round(log2(|x| / 4)); below 1e-7 after scaling: the smallest exponent
    x = [-4.0, -1.0, -1e-9, -0.0, 0.0, 3.0, -1e30]
    np.testing.assert_array_equal(run(q, x), [-1, -0.25, -(2**-8), 2**-8, 2**-8, 4, -128])


def test_relu_po2_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"negative_slope=0\.3 must be 0 or a positive power of two"):
        quantized_relu_po2(4, negative_slope=0.3)
    with pytest.raises(ValueError, match=r"quantized_po2: max_value=-1 is negative"):
        quantized_po2(4, -1)
    with pytest.raises(ValueError, match=r"log2_rounding='ceil' is not supported"):
        quantized_po2(4, log2_rounding="ceil")
    with pytest.raises(ValueError, match="leaves no exponent bits"):
        quantized_po2(1)


# --------------------------------------------------------------- gradients
def grad(q, x, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    x = tf.constant(np.asarray(x, dtype=F32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = q(x, **kwargs)
    return y.numpy(), tape.gradient(y, x).numpy()


def test_po2_gradient_is_identity():
    _, g = grad(quantized_po2(4), [-1e30, -1.0, 0.0, 0.3, 100.0])
    np.testing.assert_array_equal(g, [1, 1, 1, 1, 1])


def test_relu_po2_gradient_follows_the_clipped_relu():
    _, g = grad(quantized_relu_po2(4, 2), [-1.0, 0.0, 0.5, 2.0, 3.0])
    np.testing.assert_array_equal(g, [0, 0, 1, 1, 0])
    _, g = grad(quantized_relu_po2(4, 2, 0.25), [-1.0, 0.0, 0.5, 2.0, 3.0])
    np.testing.assert_array_equal(g, [0.25, 0.25, 1, 1, 0])


def test_po2_without_ste_has_no_gradient():
    y, g = grad(quantized_po2(4, use_ste=False), [-1.0, 0.3])
    np.testing.assert_array_equal(y, [-1, 0.25])
    np.testing.assert_array_equal(g, [0, 0])


def test_po2_qnoise_factor_mixes_float_and_quantized():
    # x + 0.5 (xq - x): 0.3 -> 0.275; 3 -> 3.5
    y, g = grad(quantized_po2(4, qnoise_factor=0.5), [0.3, 3.0])
    np.testing.assert_allclose(y, [0.275, 3.5], rtol=1e-6)
    np.testing.assert_array_equal(g, [1, 1])


# ------------------------------------------------------ stochastic rounding
def test_po2_stochastic_rounding_only_while_training():
    q = quantized_po2(8, use_stochastic_rounding=True, seed=7)
    x = np.full(4000, 1.5, dtype=F32)
    np.testing.assert_array_equal(run(q, x), np.full(4000, 2.0))
    np.testing.assert_array_equal(run(q, x, training=False), np.full(4000, 2.0))
    trained = run(q, x, training=True)
    assert set(np.unique(trained)) == {1.0, 2.0}
    # P(2) = (1.5 - 1) / (2 - 1) keeps the mean at 1.5
    assert abs(trained.mean() - 1.5) < 0.03


def test_po2_stochastic_rounding_is_seeded():
    x = np.linspace(0.1, 10, 500).astype(F32)
    a = run(quantized_po2(8, use_stochastic_rounding=True, seed=3), x, training=True)
    b = run(quantized_po2(8, use_stochastic_rounding=True, seed=3), x, training=True)
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------ config, strings, range
@pytest.mark.parametrize(
    ("q", "text"),
    [
        (quantized_po2(4, 1), "quantized_po2(4,1)"),
        (quantized_po2(), "quantized_po2(8)"),
        (quantized_po2(4, 0.5), "quantized_po2(4,0.5)"),
        (quantized_po2(4, 2, True), "quantized_po2(4,2,1)"),
        (quantized_po2(4, use_stochastic_rounding=True), "quantized_po2(4,use_stochastic_rounding=1)"),
        (quantized_po2(5, log2_rounding="floor", use_ste=False), "quantized_po2(5,log2_rounding='floor',use_ste=0)"),
        (quantized_relu_po2(4, 1), "quantized_relu_po2(4,1)"),
        (quantized_relu_po2(4, negative_slope=0.25), "quantized_relu_po2(4,negative_slope=0.25)"),
        (
            quantized_relu_po2(6, 4, 0.5, quadratic_approximation=1),
            "quantized_relu_po2(6,4,0.5,quadratic_approximation=1)",
        ),
        (quantized_relu_po2(3, qnoise_factor=0.5, seed=11), "quantized_relu_po2(3,qnoise_factor=0.5,seed=11)"),
    ],
)
def test_po2_string_round_trip(q, text):
    assert str(q) == text
    back = get_quantizer(text)
    assert type(back) is type(q)
    assert back.get_config() == q.get_config()


def test_po2_config_round_trip_and_keys():
    q = quantized_relu_po2(5, 2, 0.5, log2_rounding="floor", qnoise_factor=0.75)
    config = q.get_config()
    assert config == {
        "bits": 5,
        "max_value": 2,
        "negative_slope": 0.5,
        "use_stochastic_rounding": False,
        "quadratic_approximation": False,
        "qnoise_factor": 0.75,
        "log2_rounding": "floor",
    }
    assert quantized_relu_po2.from_config(config) == q
    assert get_quantizer({"class_name": "quantized_relu_po2", "config": config}) == q
    assert quantized_po2(4, use_ste=False, seed=2).get_config()["use_ste"] is False
    assert quantized_po2(4, seed=2).get_config()["seed"] == 2


def test_po2_copy_and_pickle():
    for q in (quantized_po2(4, 2, True, seed=1), quantized_relu_po2(5, negative_slope=0.5)):
        assert copy.deepcopy(q) == q
        assert pickle.loads(pickle.dumps(q)) == q


def test_po2_string_reads_qkeras_positional_order():
    q = get_quantizer("quantized_relu_po2(4,2,0.25)")
    assert (q.bits, q.max_value, q.negative_slope) == (4, 2, 0.25)


@pytest.mark.parametrize(
    ("q", "hi", "lo"),
    [
        (quantized_po2(4), 8.0, -8.0),  # max(1, 2**3)
        (quantized_po2(4, 1), 1.0, -1.0),
        (quantized_po2(4, 0.5), 1.0, -1.0),  # max(1, max_value)
        (quantized_po2(4, 6), 6.0, -6.0),
        (quantized_relu_po2(4), 128.0, 2.0**-8),  # min is the least (positive) output
        (quantized_relu_po2(4, negative_slope=0.25), 128.0, -2.0),  # -slope * 2**(bits-1)
    ],
)
def test_po2_max_min(q, hi, lo):
    assert q.max() == hi
    assert q.min() == lo
