"""The reference equals Keras' own inference bit for bit.

Keras computes in float32, which is exact as long as every value a layer
forms fits in float32's 24-bit significand; precision inference reports the
exact accumulator width of every layer, so each test first checks that the
comparison is meaningful (widths <= 24) and only then demands equality.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fpgaq import datasets, zoo
from fpgaq.design import convert
from fpgaq.testing.random_models import build_model, random_inputs, random_spec
from fpgaq.train import train_classifier

FLOAT32_EXACT_BITS = 24


def _max_exact_width(design) -> int:
    widths = [n.types["exact"].width for n in design.graph.nodes if "exact" in n.types]
    widths += [design.graph.tensors[n.output].type.width for n in design.graph.nodes]
    return max(widths)


def _logits_model(model: keras.Model, layer: str = "output") -> keras.Model:
    """The reference models end in a float softmax: Keras' float32 exp is not a
    fixed-point operation the firmware could match, so exact comparison stops at
    the logits; the table softmax is tested against its own definition in
    tests/ir/ops/test_op_tables.py."""
    return keras.Model(model.inputs, model.get_layer(layer).output, name=f"{model.name}_logits")


@pytest.fixture(scope="module")
def trained_jet():
    x, y = datasets.jet_like(6000, seed=5)
    model = zoo.jet_tagger()
    train_classifier(model, x, y, epochs=2, seed=5)
    return model, x


def test_jet_tagger_logits_bit_exact(trained_jet) -> None:
    model, x = trained_jet
    logits = _logits_model(model)
    design = convert(logits)
    assert _max_exact_width(design) <= FLOAT32_EXACT_BITS
    # 16-bit inputs: in range, far out of range (saturation) and exactly half-way between grid points
    rng = np.random.default_rng(0)
    ties = (np.round(rng.normal(0, 8, size=(2000, 16)) * 1024) + 0.5) / 1024
    inputs = np.concatenate([x[:3000], 40.0 * rng.normal(size=(1000, 16)), ties]).astype(np.float32)
    want = logits.predict(inputs, verbose=0).astype(np.float64)
    got = design.predict(inputs)
    assert np.array_equal(got, want)


def test_digits_cnn_logits_bit_exact() -> None:
    x, y = datasets.digits()
    model = zoo.digits_cnn()
    train_classifier(model, x[:800], y[:800], epochs=2, batch_size=64, seed=2)
    logits = _logits_model(model)
    design = convert(logits)
    assert _max_exact_width(design) <= FLOAT32_EXACT_BITS
    noise = np.random.default_rng(1).uniform(-0.5, 1.5, size=(500, 8, 8, 1)).astype(np.float32)
    inputs = np.concatenate([x, noise]).astype(np.float32)
    np.testing.assert_array_equal(design.predict(inputs), logits.predict(inputs, verbose=0).astype(np.float64))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), family=st.sampled_from(["mlp", "cnn1d", "cnn2d"]), depth=st.integers(1, 3))
def test_random_models_bit_exact(seed: int, family: str, depth: int) -> None:
    spec = random_spec(seed, family=family, depth=depth)
    model = build_model(spec)
    design = convert(model)
    # Keras' float32 result is only exact when every intermediate fits 24 bits.
    assume(_max_exact_width(design) <= FLOAT32_EXACT_BITS)
    x = random_inputs(spec, 1000, seed)
    want = model.predict(x, verbose=0, batch_size=1000).astype(np.float64)
    got = design.predict(x)
    assert np.array_equal(got, want), spec.describe()


def test_random_models_exercise_saturation() -> None:
    """The generator's weights and inputs drive most models' activations into saturation,
    so the exactness tests above cover the overflow path, not just in-range rounding."""
    saturating = 0
    for seed in range(20):
        spec = random_spec(seed)
        design = convert(build_model(spec))
        values = design.trace(random_inputs(spec, 300, seed))
        for node in design.graph.nodes:
            t = design.graph.tensors[node.output].type
            if node.op != "input" and t.overflow.value == "SAT" and np.any(values[node.name] == t.max_value):
                saturating += 1
                break
    assert saturating >= 10, saturating
