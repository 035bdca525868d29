"""The surrogate LUT cost: exact digit counts, the adder-bit formula, and gradients that pull widths down."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from fpgaq.layers import QActivation, QDense
from fpgaq.learned import cost_plan, csd_digits, model_cost
from fpgaq.quantizers.learned import learned_bits
from fpgaq.resource_model import coefficients


def _naf_digits(n: int) -> int:
    """Non-zero digits of the non-adjacent form, by the textbook digit-by-digit recoding."""
    n, count = abs(n), 0
    while n:
        if n & 1:
            count += 1
            n -= 2 - (n & 3)  # digit +1 if n = 1 mod 4, else -1
        n >>= 1
    return count


def test_csd_digits_match_the_non_adjacent_form():
    values = np.arange(-5000, 5001)
    got = keras.ops.convert_to_numpy(csd_digits(values.astype("float32")))
    np.testing.assert_array_equal(got, [_naf_digits(int(v)) for v in values])


def _tiny(weights: np.ndarray, in_bits: int, w_frac: int) -> keras.Model:
    inp = keras.Input((weights.shape[0],))
    h = QActivation(learned_bits(in_bits, 2, granularity="element"), name="qin")(inp)
    layer = QDense(
        weights.shape[1], use_bias=False, kernel_quantizer=learned_bits(8, 0, granularity="element"), name="d"
    )
    out = layer(h)
    model = keras.Model(inp, out)
    layer.kernel.assign(weights)
    layer.kernel_quantizer_internal.set_bits(w_frac, 4)
    return model


def test_dense_cost_is_digits_times_input_width_plus_span_in_luts():
    # mantissas at frac 3: 0.375 -> 3 (2 digits, 2 bits), 0.5 -> 4 (1 digit, 3 bits), 0 -> nothing, -0.875 -> -7 (2, 3)
    w = np.array([[0.375, 0.0], [0.5, -0.875]], dtype="float32")
    model = _tiny(w, in_bits=6, w_frac=3)
    adder_bits = 2 * (6 + 2) + 1 * (6 + 3) + 2 * (6 + 3)
    assert model_cost(model) == pytest.approx(adder_bits * coefficients("xc7")["lut"]["lut_add_bits"], rel=1e-6)


def test_zero_weights_and_narrow_inputs_cost_less():
    w = np.array([[0.375, 0.25], [0.5, -0.875]], dtype="float32")
    full, zeroed = _tiny(w, 6, 3), _tiny(np.where(np.abs(w) < 0.3, 0, w).astype("float32"), 6, 3)
    narrow = _tiny(w, 4, 3)
    assert model_cost(zeroed) < model_cost(full) and model_cost(narrow) < model_cost(full)


def test_gradient_pulls_every_live_width_down():
    w = np.array([[0.375, 0.0], [0.5, -0.875]], dtype="float32")
    model = _tiny(w, 6, 3)
    plan = cost_plan(model)
    kq = model.get_layer("d").kernel_quantizer_internal
    iq = model.get_layer("qin").activation
    with tf.GradientTape() as tape:
        total = plan()
    g_w, g_in = tape.gradient(total, [kq.fbits, iq.fbits])
    g_w = g_w.numpy()
    assert np.all(g_w[w != 0] > 0) and np.all(g_w[w == 0] == 0)  # a zero weight has no width to lose
    assert np.all(g_in.numpy() > 0)


def test_per_layer_costs_add_up():
    w = np.array([[0.375, 0.25], [0.5, -0.875]], dtype="float32")
    model = _tiny(w, 6, 3)
    plan = cost_plan(model)
    assert sum(plan.per_layer().values()) == pytest.approx(model_cost(model), rel=1e-6)


def test_rank_correlation_is_spearmans():
    from fpgaq.learned import rank_correlation

    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert rank_correlation([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, rel=1e-6)  # scipy's value


def test_surrogate_ranks_designs_as_the_resource_model_does():
    """Designs of one network at many precisions: the surrogate orders them as design.estimate does."""
    import fpgaq
    from fpgaq.learned import learned_quantizers, rank_correlation

    keras.utils.set_random_seed(3)
    inp = keras.Input((8,))
    h = QActivation(learned_bits(8, 2, granularity="element"), name="qin")(inp)
    h = QDense(
        12,
        kernel_quantizer=learned_bits(8, 0, granularity="element"),
        bias_quantizer=learned_bits(10, 2),
        activation=learned_bits(6, 3, keep_negative=False, granularity="element", rounding="TRN"),
        name="d1",
    )(h)
    out = QDense(
        4, kernel_quantizer=learned_bits(8, 0, granularity="element"), bias_quantizer=learned_bits(10, 2), name="d2"
    )(h)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(0)
    surrogate, estimate = [], []
    for level in range(-1, 7):
        for _, role, q in learned_quantizers(model):
            shape = q.fbits.shape
            q.set_bits(np.clip(level + rng.integers(-2, 3, size=shape), -4, 10), 2 if role != "kernel" else 0)
        surrogate.append(model_cost(model))
        estimate.append(fpgaq.convert(model).estimate(use_dsp=False).total.lut)
    assert rank_correlation(surrogate, estimate) >= 0.95, (surrogate, estimate)


def test_a_learned_bias_costs_its_span_and_its_fraction_is_pulled_down():
    """Without this charge a bias keeps fractional bits nothing uses, and the accumulator outgrows float32."""
    inp = keras.Input((2,))
    h = QActivation(learned_bits(6, 2, granularity="element"), name="qin")(inp)
    layer = QDense(2, kernel_quantizer=learned_bits(8, 0), bias_quantizer=learned_bits(8, 0, granularity="element"))
    model = keras.Model(inp, layer(h))
    layer.kernel.assign(np.zeros((2, 2), "float32"))  # the kernel costs nothing: only the bias is left
    layer.bias.assign(np.array([0.75, 0.0], "float32"))
    bq = layer.bias_quantizer_internal
    bq.set_bits(np.array([2.0, 2.0]), 0)  # 0.75 -> mantissa 3: 2 bits; 0 -> nothing
    coarse = model_cost(model)
    assert coarse == pytest.approx(2 * coefficients("xc7")["lut"]["lut_add_bits"], rel=1e-6)
    bq.set_bits(np.array([6.0, 6.0]), 0)  # 0.75 -> 48: 6 bits
    assert model_cost(model) == pytest.approx(3 * coarse, rel=1e-6)
    with tf.GradientTape() as tape:
        total = cost_plan(model)()
    g = tape.gradient(total, bq.fbits).numpy()
    assert g[0] > 0 and g[1] == 0  # the live bias loses fractional bits; a zero bias has none to lose
