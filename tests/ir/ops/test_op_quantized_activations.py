"""Binary, ternary and power-of-two quantizers as activations: the ``step`` op.

Every output here is a power of two (or 0).  Every input is on a coarse grid
or has few significant bits.  So Keras' float32 result is exact, and the
reference must equal it bit for bit.  Expected values are also written out
by hand, so that agreeing with Keras is never the only check.
"""

from __future__ import annotations

from fractions import Fraction

import keras
import numpy as np
import pytest
from _op_testing import (
    assert_bit_exact,
    assert_int_and_float_paths_agree,
    keras_output,
    quantize_input,
    quantized_input,
    sample_inputs,
)

from fpgaq.design import convert
from fpgaq.fixed import FixedType
from fpgaq.hwtypes import Po2Type
from fpgaq.ir.graph import Node
from fpgaq.ir.ops.quantized_activations import Po2Steps, StepCuts, step_table
from fpgaq.ir.trace import UnsupportedLayerError
from fpgaq.layers import QActivation, QConv2D, QDense
from fpgaq.reference import KERNELS

ROWS = 520  # samples of 8 values each
FINE_Q = "quantized_bits(28,1,alpha=1)"  # fixed<28,2>: steps of 2**-26 on [-2, 2)


def _model(quantizer: str, in_q: str = "quantized_bits(6,2,alpha=1)", shape: tuple[int, ...] = (8,)) -> keras.Model:
    inp, x = quantized_input(shape, in_q)
    return keras.Model(inp, QActivation(quantizer, name="act")(x))


def _inputs(rng: np.random.Generator, step: float = 1 / 8, scale: float = 1.0) -> np.ndarray:
    """Random values, grid points, half-way points and far out-of-range values (``ROWS`` x 8)."""
    return sample_inputs(rng, (8,), n=ROWS, step=step) * np.float32(scale)


def _rows(values: list[float]) -> np.ndarray:
    """Values as a column of one-feature samples."""
    return np.array(values, dtype=np.float32).reshape(-1, 1)


def _assert_po2_matches_keras(model: keras.Model, xs: np.ndarray) -> None:
    """Like ``assert_bit_exact`` without its width check.  A power-of-two type is wide, but each value has
    one significant bit, so float32 holds it exactly as long as the exponents stay in float32's range."""
    design = convert(model)
    assert np.array_equal(design.predict(xs), keras_output(model, xs))


def _check_column(quantizer: str, in_q: str, xs: list[float], want: list[float]) -> None:
    model = _model(quantizer, in_q, (1,))
    x = _rows(xs)
    got = convert(model).predict(x).reshape(-1)
    assert np.array_equal(got, np.array(want, dtype=np.float64))
    assert np.array_equal(keras_output(model, x).reshape(-1), np.array(want, dtype=np.float64))


# ----------------------------------------------------------------------------- binary
@pytest.mark.parametrize(
    ("quantizer", "low", "high", "out_type"),
    [
        ("binary", -1.0, 1.0, FixedType(2, 2, True)),
        ("binary(alpha=1)", -1.0, 1.0, FixedType(2, 2, True)),
        ("binary(use_01=1)", 0.0, 1.0, FixedType(1, 1, False)),
        ("binary(alpha=0.5)", -0.5, 0.5, FixedType(2, 1, True)),
        ("binary(use_01=1,alpha=2)", 0.0, 2.0, FixedType(2, 2, False)),
        ("binary(use_stochastic_rounding=1)", -1.0, 1.0, FixedType(2, 2, True)),
        ("stochastic_binary()", -1.0, 1.0, FixedType(2, 2, True)),
    ],
)
def test_binary_maps_zero_and_above_to_high(rng, quantizer, low, high, out_type) -> None:
    xs = _inputs(rng)
    design = assert_bit_exact(_model(quantizer), xs)
    # fixed<6,3>: -1/16 rounds (half to even) to 0, which is "x >= 0"
    assert np.array_equal(design.predict(xs), np.where(quantize_input(xs) >= 0, high, low))
    node = design.graph.node("act")
    assert node.op == "step"
    assert design.graph.tensors["act"].type == out_type
    assert node.attrs["thresholds"] == (0,)
    _check_column(quantizer, "quantized_bits(6,2,alpha=1)", [-1 / 8, -1 / 16, 0.0, 1 / 8], [low, high, high, high])


def test_binary_tanh_maps_only_positive_inputs_to_one(rng) -> None:
    xs = _inputs(rng)
    design = assert_bit_exact(_model("binary_tanh"), xs)
    assert np.array_equal(design.predict(xs), np.where(quantize_input(xs) > 0, 1.0, -1.0))
    assert design.graph.node("act").attrs["thresholds"] == (1,)  # x >= 1/8
    _check_column("binary_tanh", "quantized_bits(6,2,alpha=1)", [-1 / 8, 0.0, 1 / 8], [-1.0, -1.0, 1.0])


def test_binary_tanh_reproduces_float32_below_two_to_minus_24() -> None:
    # float32 rounds 0.5 x + 0.5 to 0.5 for 0 < x <= 2**-24 (0.5 + 2**-25 is a tie, to even), and
    # round(0.5) = 0: those inputs give -1.  These inputs have at most 3 significant bits: exact in float32.
    xs = [2.0**-26, 2.0**-25, 3 * 2.0**-26, 2.0**-24, 5 * 2.0**-26, 2.0**-23, -(2.0**-26), 1.5]
    _check_column("binary_tanh", FINE_Q, xs, [-1, -1, -1, -1, 1, 1, -1, 1])
    design = convert(_model("binary_tanh", FINE_Q, (1,)))
    assert design.graph.node("act").attrs["thresholds"] == (5,)  # mantissa 5 = 5 * 2**-26 > 2**-24


# ----------------------------------------------------------------------------- ternary
@pytest.mark.parametrize(
    ("quantizer", "threshold", "alpha", "thresholds"),
    [
        ("ternary", 0.375, 1.0, (-2, 3)),  # float32(0.33) = 0.33000001...: |x| >= 3/8 on this grid
        ("ternary(alpha=1)", 0.375, 1.0, (-2, 3)),
        ("stochastic_ternary()", 0.375, 1.0, (-2, 3)),
        ("ternary(threshold=0.5)", 0.5, 1.0, (-3, 4)),  # a grid point: +-0.5 are kept
        ("ternary(alpha=0.25,threshold=1)", 1.0, 0.25, (-7, 8)),
    ],
)
def test_ternary_keeps_magnitudes_from_the_threshold(rng, quantizer, threshold, alpha, thresholds) -> None:
    xs = _inputs(rng)
    design = assert_bit_exact(_model(quantizer), xs)
    q = quantize_input(xs)
    assert np.array_equal(design.predict(xs), np.where(np.abs(q) >= threshold, np.sign(q) * alpha, 0.0))
    assert design.graph.node("act").attrs["thresholds"] == thresholds
    below = threshold - 1 / 8
    xs = [-threshold, -below, 0.0, below, threshold]
    _check_column(quantizer, "quantized_bits(6,2,alpha=1)", xs, [-alpha, 0.0, 0.0, 0.0, alpha])


def test_ternary_with_threshold_zero_is_sign(rng) -> None:
    xs = _inputs(rng)
    design = assert_bit_exact(_model("ternary(alpha=2,threshold=0)"), xs)
    assert np.array_equal(design.predict(xs), 2.0 * np.sign(quantize_input(xs)))
    assert design.graph.tensors["act"].type == FixedType(3, 3, True)
    _check_column("ternary(threshold=0)", "quantized_bits(6,2,alpha=1)", [-1 / 8, 0.0, 1 / 8], [-1.0, 0.0, 1.0])


def test_ternary_compares_with_the_float32_threshold() -> None:
    # float32(0.7) = 11744051 * 2**-24 < 0.7: it counts as reaching the threshold (a float64 0.7 would not)
    t = float(np.float32(0.7))
    assert Fraction(t) == Fraction(11744051, 2**24)
    ulp = 2.0**-24
    xs = [t, t - ulp, -t, -(t - ulp), t + ulp]
    _check_column("ternary(threshold=0.7)", "quantized_bits(26,1,alpha=1)", xs, [1, 0, -1, 0, 1])
    design = convert(_model("ternary(threshold=0.7)", "quantized_bits(26,1,alpha=1)", (1,)))
    assert design.graph.node("act").attrs["thresholds"] == (-11744050, 11744051)


# ----------------------------------------------------------------------------- power of two
PO2_IN = "quantized_bits(12,4,alpha=1)"  # fixed<12,5>: steps of 1/128 on [-16, 16)


def test_quantized_po2_rounds_log2_to_nearest(rng) -> None:
    model = _model("quantized_po2(4)", PO2_IN)
    design = assert_bit_exact(model, _inputs(rng, step=1 / 128, scale=3.0))
    node = design.graph.node("act")
    assert node.attrs["po2_type"] == Po2Type(bits=4, signed=True, min_exp=-4, max_exp=3)
    assert design.graph.tensors["act"].type == FixedType(9, 5, True)  # +-2**-4 .. +-2**3
    # boundaries 2**k * sqrt(2) fall between grid points: 1.4142 between 181/128 and 182/128, 2.8284 between
    # 362/128 and 363/128, 5.6569 between 724/128 and 725/128, 0.0884 between 11/128 and 12/128
    xs = [0.0, 1 / 128, 11 / 128, 12 / 128, 181 / 128, 182 / 128, 362 / 128, 363 / 128, 724 / 128, 725 / 128]
    want = [2**-4, 2**-4, 2**-4, 2**-3, 1, 2, 2, 4, 4, 8]
    xs += [15.0, 1000.0, -1000.0, -181 / 128, -182 / 128, -1 / 128, -1 / 256]
    want += [8, 8, -8, -1, -2, -(2**-4), 2**-4]  # -1/256 rounds to 0, which is +
    _check_column("quantized_po2(4)", PO2_IN, xs, want)


@pytest.mark.parametrize(
    ("quantizer", "xs", "want"),
    [
        # floor of log2: the powers themselves are the boundaries
        (
            "quantized_po2(4,log2_rounding='floor')",
            [127 / 128, 1, 255 / 128, 2, -2, -255 / 128],
            [0.5, 1, 1, 2, -2, -1],
        ),
        # magnitudes from max_value on count as max_value: round(log2 3) = 2
        ("quantized_po2(5,max_value=3)", [362 / 128, 363 / 128, 3, 5, 15, -1000], [2, 4, 4, 4, 4, -4]),
        # log2(sqrt(x)) rounded; at odd powers of two it is a tie, to even: 2 -> 2**0, 8 -> 2**2 (x2), 0.5 -> 2**0
        (
            "quantized_po2(5,quadratic_approximation=1)",
            [2, 2 + 1 / 128, 8 - 1 / 128, 8, 0.5 - 1 / 128, 0.5, -8],
            [1, 4, 4, 16, 0.25, 1, -16],
        ),
        # floor(log2(sqrt(x))) = floor(floor(log2 x) / 2)
        (
            "quantized_po2(5,quadratic_approximation=1,log2_rounding='floor')",
            [2, 4 - 1 / 128, 4, 1, 0.5, 0.25, 31 / 128, -4],
            [1, 1, 4, 1, 0.25, 0.25, 2**-4, -4],
        ),
        ("quantized_po2(6,use_ste=0)", [181 / 128, 182 / 128, 0.0], [1, 2, 2**-16]),
    ],
)
def test_quantized_po2_options(rng, quantizer, xs, want) -> None:
    _assert_po2_matches_keras(_model(quantizer, PO2_IN), _inputs(rng, step=1 / 128, scale=3.0))
    _check_column(quantizer, PO2_IN, xs, want)


@pytest.mark.parametrize(
    ("quantizer", "xs", "want"),
    [
        # 1000 saturates the input to 16 - 1/128, whose log2 rounds to 4
        ("quantized_relu_po2(4)", [-1000, -1, 0, 181 / 128, 182 / 128, 1000], [2**-8, 2**-8, 2**-8, 1, 2, 16]),
        # negatives: -2**E(|x| / 4); 0 takes the positive branch
        (
            "quantized_relu_po2(4,negative_slope=0.25)",
            [-8, -5.6875, -5.65625, -1 / 128, 0, 1],
            [-2, -2, -1, -(2**-8), 2**-8, 1],
        ),
        # max_value <= 1 needs no exponent sign bit: exponents -32 .. 31 (then at most log2(1) = 0)
        ("quantized_relu_po2(5,max_value=1)", [0.5, 1, 15, -3], [0.5, 1, 1, 2**-32]),
        ("quantized_relu_po2(4,log2_rounding='floor')", [255 / 128, 2, -2], [1, 2, 2**-8]),
    ],
)
def test_quantized_relu_po2(rng, quantizer, xs, want) -> None:
    _assert_po2_matches_keras(_model(quantizer, PO2_IN), _inputs(rng, step=1 / 128, scale=3.0))
    _check_column(quantizer, PO2_IN, xs, want)


def test_relu_po2_output_type_is_unsigned_and_holds_every_power() -> None:
    design = convert(_model("quantized_relu_po2(4)", PO2_IN))
    assert design.graph.node("act").attrs["po2_type"] == Po2Type(bits=4, signed=False, min_exp=-8, max_exp=7)
    assert design.graph.tensors["act"].type == FixedType(16, 8, False)  # 2**-8 .. 2**7


def test_quadratic_approximation_clips_to_an_even_exponent() -> None:
    # quantized_po2(4): clip range [-4, 3], whose top the quadratic approximation lowers to 2 (2 * 2 = 4);
    # fixed<12,9> reaches 255.875, where round(log2(sqrt x)) = 4.  6 = 1.5 * 2**2: k = 1
    xs = [6, 8, 32, 64, 1000, -1000]
    _check_column(
        "quantized_po2(4,quadratic_approximation=1)", "quantized_bits(12,8,alpha=1)", xs, [4, 16, 16, 16, 16, -16]
    )


def test_po2_magnitudes_below_keras_epsilon_take_the_smallest_exponent() -> None:
    # quantized_po2(5, quadratic_approximation=1): exponent 2 * clip(k, -8, 6), k = round(log2(sqrt|x|)),
    # but magnitudes below float32(1e-7) get -8 itself (not doubled).  float32(1e-7) * 2**26 = 6.71: mantissas
    # up to 6 are below it; 7 * 2**-26 = 1.75 * 2**-23: k = -11, clipped to -8 -> 2**-16.
    # 2**-15 and 2**-13 are ties (k = -7.5, -6.5), to even: -8 and -6; 3 * 2**-15 = 1.5 * 2**-14: k = -7
    xs = [0.0, 2.0**-26, 6 * 2.0**-26, 2.0**-24, 7 * 2.0**-26, 2.0**-23, -(2.0**-23)]
    want = [2**-8, 2**-8, 2**-8, 2**-8, 2**-16, 2**-16, -(2**-16)]
    xs += [2.0**-15, 3 * 2.0**-15, 2.0**-13, -(2.0**-13)]
    want += [2**-16, 2**-14, 2**-12, -(2**-12)]
    _check_column("quantized_po2(5,quadratic_approximation=1)", FINE_Q, xs, want)


def test_po2_thresholds_on_a_coarse_grid_by_hand() -> None:
    design = convert(_model("quantized_po2(4)"))  # input fixed<6,3>: mantissas -32 .. 31, steps of 1/8
    node = design.graph.node("act")
    # magnitude 1/8 -> 2**-3, 2/8 -> 2**-2, 3/8 and 5/8 -> 2**-1 (3/8 = 1.5 * 2**-2, 1.5**2 > 2),
    # 6/8 -> 1, 12/8 -> 2, 23/8 -> 4 (23/16 = 1.4375 > sqrt 2) ... 22/8 -> 2 (1.375 < sqrt 2)
    assert node.attrs["thresholds"] == (-22, -11, -5, -2, -1, 0, 1, 2, 3, 6, 12, 23)
    # output fixed<9,5>: mantissas in 1/16
    assert node.attrs["levels"] == (-64, -32, -16, -8, -4, -2, 1, 2, 4, 8, 16, 32, 64)


# ----------------------------------------------------------------------------- as a layer's activation
def _dense(activation: str, name: str = "d") -> keras.Model:
    inp, x = quantized_input((6,))
    q = "quantized_bits(3,0,alpha=1)"  # weights in quarters: many exact-zero sums
    y = QDense(5, activation=activation, kernel_quantizer=q, bias_quantizer=q, name=name)(x)
    return keras.Model(inp, y)


@pytest.mark.parametrize("activation", ["binary", "binary_tanh", "ternary(threshold=0.5)", "quantized_po2(4)"])
def test_dense_activation(rng, activation) -> None:
    model = _dense(activation)
    xs = (rng.integers(-4, 5, (ROWS, 6)) / 4).astype(np.float32)
    design = assert_bit_exact(model, xs)
    assert [n.op for n in design.graph.nodes] == ["input", "dense", "step"]
    assert design.graph.node("d").inputs == ["d_linear"]
    pre = design.trace(xs)["d_linear"]
    assert np.any(pre == 0) and np.any(pre > 0) and np.any(pre < 0)
    assert_int_and_float_paths_agree(design, xs, ("step",))


def test_conv_activation(rng) -> None:
    inp, x = quantized_input((5, 5, 2))
    q = "quantized_bits(3,0,alpha=1)"
    y = QConv2D(3, (3, 3), activation="quantized_relu_po2(4)", kernel_quantizer=q, bias_quantizer=q, name="c")(x)
    model = keras.Model(inp, y)
    xs = (rng.integers(-16, 17, (ROWS, 5, 5, 2)) / 8).astype(np.float32)
    design = assert_bit_exact(model, xs)
    assert design.graph.node("c").op == "step"


def test_unsigned_input(rng) -> None:
    inp, x = quantized_input((8,))
    x = QActivation("quantized_relu(6,2)")(x)  # ufixed<6,2>: steps of 1/16 on [0, 3.9375]
    model = keras.Model(inp, QActivation("quantized_po2(4)", name="act")(x))
    design = assert_bit_exact(model, _inputs(rng))
    # 1/16 rounds to 2**-4 like 0; 2/16 -> 2**-3, 3/16 -> 2**-2, 6/16 -> 2**-1, 12/16 -> 1, 23/16 -> 2, 46/16 -> 4
    assert design.graph.node("act").attrs["thresholds"] == (2, 3, 6, 12, 23, 46)
    assert design.graph.node("act").attrs["levels"] == (1, 2, 4, 8, 16, 32, 64)


def test_binary_of_an_unsigned_input_is_constant(rng) -> None:
    inp, x = quantized_input((8,))
    x = QActivation("quantized_relu(6,2)")(x)
    model = keras.Model(inp, QActivation("binary", name="act")(x))
    xs = _inputs(rng)
    design = assert_bit_exact(model, xs)
    assert design.graph.node("act").attrs["thresholds"] == ()  # every input is >= 0
    assert np.array_equal(design.predict(xs), np.ones(xs.shape))


# ----------------------------------------------------------------------------- kernel representations
def test_wide_input_mantissas_are_python_integers() -> None:
    tin, tout = FixedType(80, 40, True), FixedType(2, 2, True)
    rule = StepCuts(((Fraction(-1, 3), False), (Fraction(1, 3), True)), (Fraction(-1), Fraction(0), Fraction(1)))
    lsb = 2**40
    third = (lsb + 2) // 3  # ceil(2**40 / 3): the least mantissa >= 1/3
    assert step_table(rule, tin, tout) == ((-third + 1, third), (-1, 0, 1))
    node = Node("s", "step", ["x"], "s", {"rule": rule})
    x = np.array([[-(2**79), -third, -third + 1, 0, third - 1, third, 2**79 - 1]], dtype=object)
    got = KERNELS["step"](node, [x], [tin], tout)
    assert got.tolist() == [[-1, -1, 0, 0, 0, 1, 1]]


def test_float_mantissas_give_float_mantissas() -> None:
    tin, tout = FixedType(6, 3, True), FixedType(2, 2, True)
    node = Node("s", "step", ["x"], "s", {"rule": StepCuts(((Fraction(0), True),), (Fraction(-1), Fraction(1)))})
    got = KERNELS["step"](node, [np.array([[-32.0, -1.0, 0.0, 31.0]])], [tin], tout)
    assert got.dtype == np.float64
    assert got.tolist() == [[-1.0, -1.0, 1.0, 1.0]]


def test_a_declared_type_that_misses_a_level_is_refused() -> None:
    rule = StepCuts(((Fraction(0), True),), (Fraction(-1), Fraction(1, 2)))
    with pytest.raises(ValueError, match=r"^step output 1/2 is not a value of ap_fixed<2, 2, AP_TRN, AP_WRAP>; "):
        step_table(rule, FixedType(6, 3, True), FixedType(2, 2, True))


def test_po2_rule_exponent_by_hand() -> None:
    hw = Po2Type(bits=4, signed=True, min_exp=-4, max_exp=3)
    rule = Po2Steps(False, -4, 3, False, False, None, Fraction(0), hw)
    assert [rule.exponent(Fraction(v)) for v in (0, 1, 2, 3, Fraction(1, 2), 100)] == [-4, 0, 1, 2, -1, 3]
    assert rule.exponent(Fraction(1, 10**8)) == -4  # below float32(1e-7)


# ----------------------------------------------------------------------------- refusals
def _trace_error(model: keras.Model, config=None) -> str:
    with pytest.raises(UnsupportedLayerError) as err:
        convert(model, config)
    return str(err.value)


def test_learned_alpha_is_refused() -> None:
    assert _trace_error(_model("binary(alpha='auto')")) == (
        "layer 'act' (QActivation): activation quantizer binary(alpha='auto') learns its scale alpha='auto' from "
        "the tensor it quantizes, which for an activation is every new input, so the hardware has no fixed scale; "
        "use alpha=1 (or None), or a number"
    )
    assert _trace_error(_dense("ternary(alpha='auto_po2')")) == (
        "layer 'd' (QDense): activation quantizer ternary(alpha='auto_po2') learns its scale alpha='auto_po2' from "
        "the tensor it quantizes, which for an activation is every new input, so the hardware has no fixed scale; "
        "use alpha=1 (or None), or a number"
    )
    assert "learns its scale alpha='auto'" in _trace_error(_model("stochastic_binary(alpha='auto')"))


def test_per_channel_alpha_is_refused() -> None:
    message = _trace_error(_model("binary(alpha=[1,1,1,1,2,2,2,2])"))
    assert message == (
        "layer 'act' (QActivation): activation quantizer binary(alpha=[1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]) "
        "has one alpha per channel, which is not supported for activations; use one number for alpha"
    )


def test_po2_settings_that_are_refused() -> None:
    assert _trace_error(_model("quantized_po2(4,qnoise_factor=0.5)")) == (
        "layer 'act' (QActivation): activation quantizer quantized_po2(4,qnoise_factor=0.5) has qnoise_factor=0.5, "
        "which mixes the unquantized input into the output; set qnoise_factor=1.0 (fully quantized) for inference"
    )
    assert _trace_error(_model("quantized_po2(4,max_value=0)")) == (
        "layer 'act' (QActivation): activation quantizer quantized_po2(4,0) has max_value=0, which limits every "
        "magnitude to 0 before taking its log2; use a max_value > 0, or None"
    )
    assert _trace_error(_model("quantized_relu_po2(8)")) == (
        "layer 'act' (QActivation): quantized_relu_po2(8): exponents reach [-128, 127], beyond float32's exact "
        "powers of two 2**-126 .. 2**127, so Keras would output 0 or inf; use fewer bits"
    )


def test_bernoulli_is_refused() -> None:
    # quantized_ulaw, once refused here too, converts exactly: tests/ir/ops/test_op_ulaw.py
    assert _trace_error(_model("bernoulli")) == (
        "layer 'act' (QActivation): activation quantizer bernoulli() is not supported: it draws a random output "
        "at inference too, which hardware cannot reproduce; use binary(use_01=1), its deterministic form (alpha "
        "for x >= 0, else 0)"
    )


def test_config_result_type_must_match_the_quantizer() -> None:
    config = {"LayerName": {"act": {"Precision": {"result": "ap_fixed<8,3>"}}}}
    assert _trace_error(_model("binary"), config) == (
        "layer 'act' (QActivation): config Precision.result is ap_fixed<8,3> but its quantizer binary() makes it "
        "ap_fixed<2,2>; the quantizer decides: change the quantizer, or remove Precision.result (or set it to "
        "'auto') for this layer"
    )
    config = {"LayerName": {"act": {"Precision": {"result": "ap_fixed<2,2>"}}}}
    assert convert(_model("binary"), config).graph.tensors["act"].type == FixedType(2, 2, True)
