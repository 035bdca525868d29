"""quantized_tanh / quantized_sigmoid / quantized_ulaw and the hard_ / smooth_ activations.

Expected values are worked out by hand in the comments (``m`` is the number of
steps per unit: ``2**(bits-1)`` for tanh and u-law, ``2**bits`` for sigmoid),
or come from ``math`` and hand-written FixedTypes.  QKeras rounds half to even.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from fpgaq.fixed import FixedType
from fpgaq.hwtypes import LevelsType
from fpgaq.quantizers import get_quantizer, serialize_quantizer
from fpgaq.quantizers.activations import (
    NONLINEARITIES,
    hard_sigmoid,
    hard_tanh,
    smooth_sigmoid,
    smooth_tanh,
)
from fpgaq.quantizers.nonlinear import quantized_sigmoid, quantized_tanh, quantized_ulaw


def run(q, xs) -> np.ndarray:
    return np.asarray(q(np.asarray(xs, dtype=np.float32)), dtype=np.float64)


def grad(q, xs) -> np.ndarray:
    v = tf.Variable(np.asarray(xs, dtype=np.float32))
    with tf.GradientTape() as tape:
        y = q(v)
    return np.asarray(tape.gradient(y, v), dtype=np.float64)


def grid_inputs(rng: np.random.Generator, limit: float = 4.0, frac_bits: int = 20) -> np.ndarray:
    """Inputs a fixed-point datapath delivers: multiples of 2**-frac_bits, plus every 2**-12 step near +-1."""
    k = rng.integers(-int(limit * 2**frac_bits), int(limit * 2**frac_bits), size=20000)
    dense = np.arange(-1.25 * 2**12, 1.25 * 2**12 + 1) / 2**12
    return np.concatenate([k / 2.0**frac_bits, dense]).astype(np.float32)


def f32(v: float) -> float:
    return float(np.float32(v))


# =============================================================== quantized_tanh
TANH4 = [  # bits=4: m=8, grid 1/8, range [-1, 7/8]
    (0.0, 0.0),
    (0.3, 0.25),  # 2.4 -> 2
    (0.0625, 0.0),  # 0.5 -> 0 (tie, to even)
    (0.1875, 0.25),  # 1.5 -> 2 (tie, to even)
    (0.3125, 0.25),  # 2.5 -> 2 (tie, to even)
    (-0.0625, 0.0),  # -0.5 -> 0
    (-0.1875, -0.25),  # -1.5 -> -2
    (-0.8125, -0.75),  # -6.5 -> -6
    (0.8125, 0.75),  # 6.5 -> 6
    (0.875, 0.875),  # 7, the top code
    (0.9, 0.875),  # 7.2 -> 7
    (0.9375, 0.875),  # 7.5 -> 8, saturates to 7
    (1.0, 0.875),
    (5.0, 0.875),  # hard tanh clips at 1
    (1e6, 0.875),
    (3e38, 0.875),
    (-0.9375, -1.0),  # -7.5 -> -8, the bottom code
    (-1.0, -1.0),
    (-5.0, -1.0),
    (-3e38, -1.0),
]


@pytest.mark.parametrize(("x", "expected"), TANH4)
def test_tanh_hand_values(x: float, expected: float) -> None:
    assert run(quantized_tanh(4), [x])[0] == expected


@pytest.mark.parametrize(
    ("x", "expected"),
    [(-0.9375, -0.875), (-1.0, -0.875), (-5.0, -0.875), (-0.8125, -0.75), (0.9375, 0.875), (0.0625, 0.0)],
)
def test_tanh_symmetric_drops_minus_one(x: float, expected: float) -> None:
    assert run(quantized_tanh(4, symmetric=True), [x])[0] == expected


def test_tanh_one_bit_is_minus_one_or_zero() -> None:
    # m = 1: round(x) clipped to [-1, 0]; 0.6 -> 1 -> 0, -0.5 -> -0 (tie), -0.6 -> -1.
    assert run(quantized_tanh(1), [0.4, 0.6, 3.0, -0.5, -0.6, -3.0]).tolist() == [0, 0, 0, 0, -1, -1]
    assert run(quantized_tanh(1, symmetric=True), [-3.0, 3.0]).tolist() == [0, 0]


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (0.5, 0.5),  # tanh = 0.4621, *8 = 3.70 -> 4
        (1.0, 0.75),  # 0.7616 * 8 = 6.09 -> 6
        (0.2, 0.25),  # 0.1974 * 8 = 1.58 -> 2
        (2.0, 0.875),  # 0.9640 * 8 = 7.71 -> 8, saturates
        (-3.0, -1.0),  # -0.9951 * 8 = -7.96 -> -8
        (-0.2, -0.25),
    ],
)
def test_real_tanh_hand_values(x: float, expected: float) -> None:
    assert run(quantized_tanh(4, use_real_tanh=True), [x])[0] == expected


def test_real_tanh_rounds_the_float64_value_at_ties() -> None:
    # Inputs around atanh(1/16), where tanh(x) * 8 crosses the tie 0.5 between 0 and 1/8.
    x0 = np.float32(math.atanh(1 / 16))
    xs = [np.nextafter(x0, np.float32(-1), dtype=np.float32), x0, np.nextafter(x0, np.float32(1), dtype=np.float32)]
    expected = [0.125 if math.tanh(float(x)) * 8 > 0.5 else 0.0 for x in xs]
    assert 0.0 in expected and 0.125 in expected  # the three straddle the tie
    assert run(quantized_tanh(4, use_real_tanh=True), xs).tolist() == expected


@pytest.mark.parametrize(("symmetric", "overflow"), [(False, "SAT"), (True, "SAT_SYM")])
def test_tanh_hardware_is_the_output_grid(symmetric: bool, overflow: str, rng: np.random.Generator) -> None:
    q = quantized_tanh(6, symmetric=symmetric)
    t = FixedType(6, 1, True, "RND_CONV", overflow)
    assert q.hardware() == t
    x = grid_inputs(rng)
    assert np.array_equal(run(q, x), t.quantize(np.clip(x.astype(np.float64), -1.0, 1.0)))


def test_real_tanh_hardware_holds_for_any_float32(rng: np.random.Generator) -> None:
    q = quantized_tanh(8, use_real_tanh=True)
    t = FixedType(8, 1, True, "RND_CONV", "SAT")
    assert q.hardware() == t
    x = np.concatenate([rng.normal(size=20000) * 3, [0.0, 20.0, -20.0, 1e30, -1e30]]).astype(np.float32)
    assert np.array_equal(run(q, x), t.quantize(np.tanh(x.astype(np.float64))))


def test_hard_tanh_float32_rounding_before_the_grid_follows_qkeras() -> None:
    # 0.5 + x/2 = 0.5 + 2**-9 + 2**-31 rounds in float32 to 0.5 + 2**-9, so tanh = 2**-8 lands on
    # the tie between 0 and 2**-7 and goes to 0 (even); the exact value is above the tie.
    x = 2.0**-8 + 2.0**-30
    assert run(quantized_tanh(8), [x])[0] == 0.0
    assert FixedType(8, 1, True, "RND_CONV", "SAT").quantize(x) == 2.0**-7


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (0.3, 1.0),
        (0.9, 1.0),  # 7.2 -> 7, inside
        (0.95, 0.0),  # 7.6 -> 8 = 1.0 is above 7/8: clipped, no gradient
        (1.0, 0.0),
        (2.0, 0.0),  # hard tanh flat
        (-0.99, 1.0),  # -7.92 -> -8 = -1.0, the lower bound itself passes
        (-1.0, 1.0),  # the hard sigmoid's clip passes its bounds too
        (-1.5, 0.0),
    ],
)
def test_tanh_gradient(x: float, expected: float) -> None:
    assert grad(quantized_tanh(4), [x])[0] == expected


def test_tanh_symmetric_gradient_stops_below_the_raised_floor() -> None:
    assert grad(quantized_tanh(4, symmetric=True), [-0.99, -0.8, 0.3]).tolist() == [0.0, 1.0, 1.0]


def test_real_tanh_gradient_is_tanh_derivative_inside() -> None:
    g = grad(quantized_tanh(4, use_real_tanh=True), [0.5, 2.0, -3.0])
    assert g[0] == pytest.approx(1 - math.tanh(0.5) ** 2, rel=1e-5)
    assert g[1] == 0.0  # rounds to 1.0, above 7/8
    assert g[2] == pytest.approx(1 - math.tanh(3.0) ** 2, rel=1e-4)  # rounds to -1.0 = lower bound
    assert grad(quantized_tanh(4, symmetric=True, use_real_tanh=True), [-3.0])[0] == 0.0


def test_tanh_config_string_and_range() -> None:
    q = quantized_tanh(6, symmetric=True, use_real_tanh=True)
    assert q.get_config() == {"bits": 6, "symmetric": True, "use_stochastic_rounding": False, "use_real_tanh": True}
    assert list(q.get_config()) == ["bits", "symmetric", "use_stochastic_rounding", "use_real_tanh"]
    assert str(quantized_tanh(8)) == "quantized_tanh(8)"
    assert str(q) == "quantized_tanh(6,symmetric=True,use_real_tanh=True)"
    assert get_quantizer(str(q)) == q
    assert get_quantizer(serialize_quantizer(q)) == q
    assert quantized_tanh.from_config(q.get_config()) == q
    assert (quantized_tanh(4).max(), quantized_tanh(4).min()) == (0.875, -1.0)
    assert quantized_tanh(4, symmetric=True).min() == -0.875


def test_tanh_reads_qkeras_positional_strings_in_constructor_order() -> None:
    q = get_quantizer("quantized_tanh(8,0,1)")  # bits, use_stochastic_rounding, symmetric
    assert (q.bits, q.use_stochastic_rounding, q.symmetric, q.use_real_tanh) == (8, 0, 1, False)


def test_tanh_names_the_exact_function() -> None:
    assert quantized_tanh.nonlinearity == "tanh"
    assert quantized_tanh(8).nonlinearity == "hard_tanh"
    assert quantized_tanh(8, use_real_tanh=True).nonlinearity == "tanh"


@pytest.mark.parametrize("bits", [0, -1, 2.5, True, "8"])
def test_tanh_rejects_bad_bits(bits: object) -> None:
    with pytest.raises(ValueError, match=r"^quantized_tanh: bits must be an integer >= 1, got "):
        quantized_tanh(bits)


def test_stochastic_rounding_only_while_training() -> None:
    keras.utils.set_random_seed(7)
    q = quantized_tanh(4, use_stochastic_rounding=True)
    x = np.full(4000, 0.3, dtype=np.float32)  # 2.4 steps; QKeras rounds 4.8 half-steps to 4 or 5
    assert np.all(run(q, x) == 0.25)  # inference: deterministic, half to even
    y = np.asarray(q(x, training=True), dtype=np.float64)
    assert set(np.unique(y).tolist()) == {0.25, 0.3125}
    assert abs(y.mean() - 0.3) < 0.005  # unbiased: 0.8 of the draws go up
    # Inside a model the training flag comes from the layer call in progress.
    inp = keras.Input((4000,))
    model = keras.Model(inp, keras.layers.Activation(q)(inp))
    assert set(np.unique(np.asarray(model(x[None], training=True))).tolist()) == {0.25, 0.3125}
    assert np.all(model.predict(x[None], verbose=0) == 0.25)


# ============================================================ quantized_sigmoid
SIGMOID4 = [  # bits=4: m=16, grid 1/16, range [0, 15/16]; p = x/2 + 1/2
    (0.0, 0.5),
    (0.0625, 0.5),  # p*16 = 8.5 -> 8 (tie)
    (0.1875, 0.625),  # 9.5 -> 10 (tie)
    (0.875, 0.9375),  # 15
    (0.9375, 0.9375),  # 15.5 -> 16, saturates to 15
    (1.0, 0.9375),
    (100.0, 0.9375),
    (-0.5, 0.25),  # 4
    (-0.8125, 0.125),  # 1.5 -> 2 (tie)
    (-0.9375, 0.0),  # 0.5 -> 0 (tie)
    (-1.0, 0.0),
    (-100.0, 0.0),
]


@pytest.mark.parametrize(("x", "expected"), SIGMOID4)
def test_sigmoid_hand_values(x: float, expected: float) -> None:
    assert run(quantized_sigmoid(4), [x])[0] == expected


@pytest.mark.parametrize(("x", "expected"), [(-1.0, 0.0625), (-0.9375, 0.0625), (-0.8125, 0.125), (2.0, 0.9375)])
def test_sigmoid_symmetric_raises_the_floor(x: float, expected: float) -> None:
    assert run(quantized_sigmoid(4, symmetric=True), [x])[0] == expected


@pytest.mark.parametrize(
    ("x", "expected"),
    [(0.0, 0.5), (2.0, 0.875), (-2.0, 0.125), (10.0, 0.9375), (-10.0, 0.0)],  # 14.09->14, 1.91->2
)
def test_real_sigmoid_hand_values(x: float, expected: float) -> None:
    assert run(quantized_sigmoid(4, use_real_sigmoid=True), [x])[0] == expected


def test_sigmoid_hardware_is_the_output_grid(rng: np.random.Generator) -> None:
    t = FixedType(5, 0, False, "RND_CONV", "SAT")
    assert quantized_sigmoid(5).hardware() == t
    x = grid_inputs(rng)
    assert np.array_equal(run(quantized_sigmoid(5), x), t.quantize(np.clip(0.5 * x.astype(np.float64) + 0.5, 0, 1)))
    xr = (rng.normal(size=20000) * 4).astype(np.float32)
    exact = t.quantize(1.0 / (1.0 + np.exp(-xr.astype(np.float64))))
    assert np.array_equal(run(quantized_sigmoid(5, use_real_sigmoid=True), xr), exact)


def test_symmetric_sigmoid_hardware_lists_its_levels(rng: np.random.Generator) -> None:
    q = quantized_sigmoid(3, symmetric=True)
    assert q.hardware() == LevelsType(3, (1 / 8, 2 / 8, 3 / 8, 4 / 8, 5 / 8, 6 / 8, 7 / 8))
    x = grid_inputs(rng)
    t = FixedType(3, 0, False, "RND_CONV", "SAT")
    assert np.array_equal(run(q, x), np.maximum(t.quantize(np.clip(0.5 * x.astype(np.float64) + 0.5, 0, 1)), 1 / 8))


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (0.0, 0.5),
        (0.9375, 0.0),  # 15.5 -> 16 = 1.0 is above 15/16
        (0.875, 0.5),
        (-1.0, 0.5),  # rounds to 0, the lower bound itself
        (1.5, 0.0),
        (-1.5, 0.0),
    ],
)
def test_sigmoid_gradient(x: float, expected: float) -> None:
    assert grad(quantized_sigmoid(4), [x])[0] == expected


def test_sigmoid_gradient_symmetric_and_real() -> None:
    assert grad(quantized_sigmoid(4, symmetric=True), [-1.0, -0.5]).tolist() == [0.0, 0.5]
    g = grad(quantized_sigmoid(4, use_real_sigmoid=True), [0.0, 2.0, 10.0])
    s2 = 1 / (1 + math.exp(-2.0))
    assert g[0] == pytest.approx(0.25, rel=1e-6)
    assert g[1] == pytest.approx(s2 * (1 - s2), rel=1e-5)
    assert g[2] == 0.0


def test_sigmoid_config_string_and_range() -> None:
    q = quantized_sigmoid(6, use_real_sigmoid=True)
    assert q.get_config() == {"bits": 6, "symmetric": False, "use_real_sigmoid": True, "use_stochastic_rounding": False}
    assert list(q.get_config()) == ["bits", "symmetric", "use_real_sigmoid", "use_stochastic_rounding"]
    assert str(q) == "quantized_sigmoid(6,use_real_sigmoid=True)"
    assert str(quantized_sigmoid(8)) == "quantized_sigmoid(8)"
    for r in (q, quantized_sigmoid(3, symmetric=1, use_stochastic_rounding=True)):
        assert get_quantizer(str(r)) == r
        assert get_quantizer(serialize_quantizer(r)) == r
    assert get_quantizer("quantized_sigmoid(6,1)").symmetric == 1  # bits, symmetric, ...
    assert (quantized_sigmoid(4).max(), quantized_sigmoid(4).min()) == (0.9375, 0.0)
    assert quantized_sigmoid(4, symmetric=True).min() == 0.0625
    assert quantized_sigmoid.nonlinearity == "sigmoid"
    assert quantized_sigmoid(4).nonlinearity == "hard_sigmoid"
    assert q.nonlinearity == "sigmoid"


# ============================================================== quantized_ulaw
def ulaw(r: float, u: float = 255.0) -> float:
    return math.copysign(math.log(1 + u * abs(r)) / math.log(1 + u), r)


ULAW4 = [  # bits=4: m=8, k = round(8 * hard_sigmoid(x)), r = 2k/8 - 1, clip to [-1, 7/8]
    (0.0, 0.0),  # k=4, r=0
    (0.25, f32(ulaw(0.25))),  # k=5: log(64.75)/log(256) = 0.7521
    (0.125, 0.0),  # 4.5 -> 4 (tie)
    (0.375, 0.875),  # 5.5 -> 6, r=0.5: 0.87516 > 7/8, clipped
    (1.0, 0.875),
    (-0.25, -f32(ulaw(0.25))),
    (-0.375, -f32(ulaw(0.5))),  # 2.5 -> 2, r=-0.5: -0.87516, inside [-1, ...]
    (-0.75, -f32(ulaw(0.75))),  # k=1: -log(192.25)/log(256)
    (-1.0, -1.0),
    (-9.0, -1.0),
]


@pytest.mark.parametrize(("x", "expected"), ULAW4)
def test_ulaw_hand_values(x: float, expected: float) -> None:
    # The curve is QKeras' float32 expression (exact against QKeras in test_qkeras_conformance.py):
    # within one float32 ulp of the level computed in float64.
    got = run(quantized_ulaw(4), [x]).astype(np.float32).ravel()
    np.testing.assert_array_max_ulp(got, np.float32([expected]), maxulp=1)


def test_ulaw_symmetric_and_integer() -> None:
    def near(got: np.ndarray, want: list[float]) -> None:  # QKeras' float32 curve: within an ulp of float64
        np.testing.assert_array_max_ulp(got.astype(np.float32).ravel(), np.asarray(want, np.float32), maxulp=1)

    near(run(quantized_ulaw(4, symmetric=1), [-1.0, -0.375, -0.25]), [-0.875, -0.875, -f32(ulaw(0.25))])
    # integer=1: the input is halved first and the output doubled.
    near(run(quantized_ulaw(4, 1), [0.5, 2.0, -2.0]), [2 * f32(ulaw(0.25)), 1.75, -2.0])
    near(run(quantized_ulaw(4, u=10.0), [0.25]), [f32(ulaw(0.25, 10.0))])


def test_ulaw_hardware_lists_every_output_level(rng: np.random.Generator) -> None:
    # QKeras 0.9's outputs for quantized_ulaw(4) (tests/fixtures/qkeras/quantizers/qkeras09.npz)
    levels = (-1.0, -0.948354959487915, -0.8757030367851257, -0.7521010041236877, 0.0, 0.7521010041236877, 0.875)
    assert quantized_ulaw(4).hardware() == LevelsType(4, levels)
    q = quantized_ulaw(8, 1, 1)
    assert q.hardware().bits == 8
    outputs = set(run(q, (rng.normal(size=20000) * 2).astype(np.float32)).tolist())
    assert outputs <= set(q.hardware().levels)
    assert len(outputs) > 100


@pytest.mark.parametrize(
    ("x", "integer", "expected"),
    [
        (0.25, 0, 255 / (64.75 * math.log(256))),  # d/dr of the curve at r=0.25; dr/dx = 1
        (0.5, 1, 255 / (64.75 * math.log(256))),  # dr/dx = 1/2, times the output scale 2
        (-1.0, 0, 255 / (256 * math.log(256))),  # r=-1 gives exactly -1, the lower bound: passes
        (0.0, 0, 0.0),  # r=0: sign and |r| have no gradient there
        (0.375, 0, 0.0),  # clipped at 7/8
        (-2.0, 0, 0.0),  # hard sigmoid flat
    ],
)
def test_ulaw_gradient(x: float, integer: int, expected: float) -> None:
    assert grad(quantized_ulaw(4, integer), [x])[0] == pytest.approx(expected, rel=1e-5, abs=0)


def test_ulaw_config_string_and_range() -> None:
    q = quantized_ulaw(8, integer=1, u=100.0)
    assert q.get_config() == {"bits": 8, "integer": 1, "symmetric": False, "u": 100.0}
    assert str(quantized_ulaw(8)) == "quantized_ulaw(8)"
    assert str(q) == "quantized_ulaw(8,integer=1,u=100.0)"
    assert get_quantizer(str(q)) == q
    assert get_quantizer(serialize_quantizer(q)) == q
    assert get_quantizer("quantized_ulaw(8,0)") == quantized_ulaw(8)  # QKeras' own string form
    assert (quantized_ulaw(8, 2).max(), quantized_ulaw(8, 2).min()) == (4.0, -4.0)
    assert (quantized_ulaw(8, -1).max(), quantized_ulaw(1, 3).max()) == (1.0, 1.0)
    assert quantized_ulaw.nonlinearity == "ulaw"
    with pytest.raises(ValueError, match=r"^quantized_ulaw: u must be a number > 0, got 0"):
        quantized_ulaw(8, u=0)
    with pytest.raises(ValueError, match=r"^quantized_ulaw: integer must be an integer, got 0.5; e\.g\. "):
        quantized_ulaw(8, 0.5)


def test_quantizers_work_inside_a_compiled_model() -> None:
    inp = keras.Input((5,))
    outs = [keras.layers.Activation(q)(inp) for q in (quantized_tanh(4), quantized_sigmoid(4), quantized_ulaw(4))]
    model = keras.Model(inp, outs)
    x = np.array([[0.3, 0.0625, -0.8125, 0.375, -5.0]], dtype=np.float32)
    tanh, sig, ul = (np.asarray(o, dtype=np.float64)[0].tolist() for o in model.predict(x, verbose=0))
    assert tanh == [0.25, 0.0, -0.75, 0.375, -1.0]
    assert sig == [0.625, 0.5, 0.125, 0.6875, 0.0]  # 10.4 -> 10, 8.5 -> 8, 1.5 -> 2, 11, 0
    # k = 5.2->5, 4.25->4, 0.75->1, 5.5->6; 0.7521010041236877 is QKeras 0.9's float32 level for k=5
    assert ul == [0.7521010041236877, 0.0, -f32(ulaw(0.75)), 0.875, -1.0]


# ===================================================== hard_ / smooth_ activations
ACTIVATIONS = [
    # x:                        -3      -2     -1    0     0.5    1     2      3
    (hard_sigmoid, [0.0, 0.0, 0.0, 0.5, 0.75, 1.0, 1.0, 1.0]),
    (hard_tanh, [-1.0, -1.0, -1.0, 0.0, 0.5, 1.0, 1.0, 1.0]),
    (smooth_sigmoid, [0.0, 0.125, 0.3125, 0.5, 0.59375, 0.6875, 0.875, 1.0]),  # 0.1875x + 0.5
    (smooth_tanh, [-1.0, -0.75, -0.375, 0.0, 0.1875, 0.375, 0.75, 1.0]),  # 0.375x
]
XS = [-3.0, -2.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0]


@pytest.mark.parametrize(("cls", "expected"), ACTIVATIONS)
def test_activation_values_and_exact_functions(cls: type, expected: list[float]) -> None:
    assert run(cls(), XS).tolist() == expected
    assert NONLINEARITIES[cls.nonlinearity](XS).tolist() == expected


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (hard_sigmoid, [0.0, 0.5, 0.5, 0.5, 0.0]),  # clip bounds at x = -1 and 1 pass the gradient
        (hard_tanh, [0.0, 1.0, 1.0, 1.0, 0.0]),
        (smooth_sigmoid, [0.0, 0.1875, 0.1875, 0.1875, 0.0]),  # bounds at +-8/3
        (smooth_tanh, [0.0, 0.375, 0.375, 0.375, 0.0]),
    ],
)
def test_activation_gradients(cls: type, expected: list[float]) -> None:
    xs = [-1.5, -1.0, 0.0, 1.0, 1.5] if cls in (hard_sigmoid, hard_tanh) else [-3.0, -2.0, 0.0, 2.0, 3.0]
    assert grad(cls(), xs).tolist() == expected


def test_hard_tanh_loses_input_bits_below_float32_half_ulp() -> None:
    assert run(hard_tanh(), [1e-10])[0] == 0.0  # 0.5 + 5e-11 is 0.5 in float32, as in QKeras
    assert NONLINEARITIES["hard_tanh"]([1e-10])[0] == 1e-10


def test_real_nonlinearities() -> None:
    assert NONLINEARITIES["tanh"]([0.0, 0.5])[1] == math.tanh(0.5)
    with np.errstate(over="raise"):  # exp never overflows far out
        assert NONLINEARITIES["sigmoid"]([0.0, 2.0, -1000.0, 1000.0]).tolist() == [
            0.5,
            pytest.approx(1 / (1 + math.exp(-2.0)), rel=1e-15),
            0.0,
            1.0,
        ]


@pytest.mark.parametrize("cls", [hard_sigmoid, hard_tanh, smooth_sigmoid, smooth_tanh])
def test_activation_strings_and_configs(cls: type) -> None:
    name = cls.name
    assert isinstance(get_quantizer(name), cls)
    assert get_quantizer(f"{name}()") == cls()
    assert str(cls()) == name
    assert cls().get_config() == {}
    assert get_quantizer(serialize_quantizer(cls())) == cls()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cls()))
    assert restored == cls()
    assert cls.nonlinearity == name


def test_activation_ranges() -> None:
    assert (hard_sigmoid().min(), hard_sigmoid().max()) == (0.0, 1.0)
    assert (smooth_tanh().min(), smooth_tanh().max()) == (-1.0, 1.0)


def test_activation_hardware_refuses_with_advice() -> None:
    with pytest.raises(ValueError) as err:
        hard_sigmoid().hardware()
    assert str(err.value) == (
        "hard_sigmoid is an unquantized float function (clip(0.5*x + 0.5, 0, 1)), so its output has no "
        "fixed-point type; use quantized_sigmoid(bits) instead, which applies this same hard sigmoid and "
        "then rounds to bits bits"
    )
    with pytest.raises(ValueError, match=r"^smooth_tanh is an unquantized float function .*quantized_tanh\(bits\)"):
        smooth_tanh().hardware()
