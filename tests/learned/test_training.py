"""The float model's learned twin, range calibration, and training that keeps an accuracy/LUT front."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fpgaq.learned import (
    LearnedPrecisionError,
    beta_schedule,
    calibrate_ranges,
    learned_quantizers,
    model_cost,
    to_learned,
    train_learned,
)


def _float_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inp = keras.Input((6,))
    h = keras.layers.Dense(12, activation="relu", name="fc1")(inp)
    h = keras.layers.Dense(3, name="out")(h)
    return keras.Model(inp, h)


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=3.0, size=(n, 6)).astype("float32")
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 1).astype(int)
    return x, y


def test_twin_keeps_the_float_function_at_generous_widths():
    fm = _float_model()
    x, _ = _data()
    twin = to_learned(fm, weight_bits=16, activation_bits=16, input_bits=16)
    calibrate_ranges(twin, x)
    roles = {(name, role) for name, role, _ in learned_quantizers(twin)}
    assert ("input_quantizer", "activation") in roles and ("fc1", "kernel") in roles and ("out", "activation") in roles
    np.testing.assert_allclose(twin.predict(x, verbose=0), fm.predict(x, verbose=0), atol=0.05)


def test_calibration_sets_integer_bits_to_the_data_range():
    fm = _float_model()
    x, _ = _data()
    twin = to_learned(fm, input_bits=12, granularity="element")
    calibrate_ranges(twin, x)
    q = twin.get_layer("input_quantizer").activation
    f, i = q.element_bits()
    want = np.ceil(np.log2(np.abs(x[:4096]).max(axis=0)))
    np.testing.assert_array_equal(i, want)
    np.testing.assert_array_equal(f + i + 1, 12)  # calibration moves the point, not the width


def test_training_keeps_only_non_dominated_epochs_and_lowers_the_cost():
    fm = _float_model()
    x, y = _data()
    twin = to_learned(fm)
    calibrate_ranges(twin, x)
    start = model_cost(twin)
    result = train_learned(twin, x, y, x[:200], y[:200], beta=(1e-4, 1e-2), epochs=4, batch_size=64)
    assert len(result.history) == 4 and result.front
    for p in result.front:
        assert not any(q.accuracy >= p.accuracy and q.cost < p.cost for q in result.front)
    assert min(p.cost for p in result.front) < start
    twin.set_weights(result.best().weights)


def test_beta_schedule_ramps_geometrically():
    betas = beta_schedule((1e-6, 1e-4), 3)
    assert betas == pytest.approx([1e-6, 1e-5, 1e-4])
    assert beta_schedule(2e-5, 2) == [2e-5, 2e-5]


def test_unsupported_layers_are_named_with_the_fix():
    inp = keras.Input((4,))
    h = keras.layers.BatchNormalization(name="bn")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(h))
    pattern = r"layer 'bn' has class BatchNormalization.*fold BatchNormalization"
    with pytest.raises(LearnedPrecisionError, match=pattern):
        to_learned(model)


def test_tightening_cuts_unused_range_and_keeps_every_output():
    from fpgaq.layers import QActivation
    from fpgaq.learned import tighten_ranges
    from fpgaq.quantizers.learned import learned_bits

    inp = keras.Input((3,))
    q = learned_bits(10, 6, keep_negative=True, granularity="element")
    model = keras.Model(inp, QActivation(q, name="a")(keras.layers.Dense(3, name="d")(inp)))
    model.get_layer("d").set_weights([np.eye(3, dtype="float32"), np.zeros(3, "float32")])
    x = np.stack([np.linspace(-3, 3, 101), np.linspace(0, 0.9, 101), np.zeros(101)], axis=1).astype("float32")
    before = model.predict(x, verbose=0)
    tighten_ranges(model, x)
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)
    f, i = q.element_bits()
    np.testing.assert_array_equal(i, [2, 0, -f[2] - 1])  # |x| <= 3 needs 2 integer bits; 0.9 none; zeros: dead
    assert q.hardware().width[2] == 0
