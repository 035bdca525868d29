"""QActivation: quantizers and Keras activations as a layer, QKeras' priority rules."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from _qlayer_testing import GRID, SPECIAL, TestGrid, has_quantizer, q4, q6i2, use_grid

from fpgaq.layers.activation import QActivation
from fpgaq.quantizers import QUANTIZERS


@pytest.fixture(autouse=True)
def _grid(monkeypatch: pytest.MonkeyPatch) -> None:
    use_grid(monkeypatch)


X = np.concatenate([SPECIAL, [5.0, -5.0, 0.4375, -0.4375]]).astype(np.float32)[None]  # 7/16: tie, rounds to 1/2


@pytest.mark.parametrize(
    "spec",
    [TestGrid(4, 0), f"{GRID}(4, 0)", f"{GRID}(bits=4)", {"class_name": GRID, "config": {"bits": 4, "integer": 0}}],
    ids=["object", "string", "keywords", "dict"],
)
def test_quantizer_forms_give_the_grid(spec):
    layer = QActivation(spec)
    assert layer.quantizer == TestGrid(4, 0) and layer.activation is layer.quantizer
    np.testing.assert_array_equal(np.asarray(layer(X)), q4(X))


def test_quantizer_with_integer_bits():
    np.testing.assert_array_equal(np.asarray(QActivation(TestGrid(6, 2))(X * 4)), q6i2(X * 4))


def test_keras_activation_name():
    layer = QActivation("relu")
    assert layer.activation is keras.activations.relu
    assert layer.get_quantizers() == [None]
    np.testing.assert_array_equal(np.asarray(layer(X)), np.maximum(X, 0.0))


def test_quantizer_names_take_priority_over_keras_names(monkeypatch):
    class relu(TestGrid):  # a quantizer that happens to be called "relu"
        name = "relu"

    monkeypatch.setitem(QUANTIZERS, "relu", relu)
    layer = QActivation("relu")
    assert type(layer.quantizer) is relu
    np.testing.assert_array_equal(np.asarray(layer(X)), q4(X))  # the grid, not max(x, 0)


@pytest.mark.skipif(not has_quantizer("hard_sigmoid"), reason="hard_sigmoid not written yet")
def test_hard_sigmoid_is_qkeras_not_keras():
    # QKeras' hard_sigmoid is clip(x/2 + 1/2, 0, 1); Keras 3's is relu6(x + 3) / 6 (0.5833... at 0.5).
    x = np.array([[-3.0, -1.0, 0.0, 0.5, 1.0, 3.0]], np.float32)
    np.testing.assert_array_equal(np.asarray(QActivation("hard_sigmoid")(x)), [[0.0, 0.0, 0.5, 0.75, 1.0, 1.0]])


@pytest.mark.skipif(not has_quantizer("quantized_relu"), reason="quantized_relu not written yet")
def test_real_quantized_relu_string():
    # quantized_relu(4, 2): steps of 1/4 up to 3.75; 0.125 and 0.625 are ties (to even: 0 and 0.5).
    x = np.array([[-1.0, 0.1, 0.125, 0.375, 0.625, 3.8, 9.0]], np.float32)
    layer = QActivation("quantized_relu(4,2)")
    assert layer.quantizer.name == "quantized_relu"
    np.testing.assert_array_equal(np.asarray(layer(x)), [[0.0, 0.0, 0.0, 0.5, 0.5, 3.75, 3.75]])


def test_gradient_is_straight_through():
    x = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(QActivation(TestGrid())(x))
    np.testing.assert_array_equal(np.asarray(tape.gradient(loss, x)), np.ones_like(X))  # saturated ones too


def test_config_interface_and_shapes():
    layer = QActivation(f"{GRID}(5, 1)", name="act")
    config = layer.get_config()
    assert config["activation"] == {"class_name": GRID, "config": {"bits": 5, "integer": 1}}
    assert QActivation.from_config(config).get_config() == config
    assert QActivation("relu").get_config()["activation"] == "relu"
    assert layer.get_quantizers() == [TestGrid(5, 1)]
    assert layer.quantizer_config() == {"activation": {"class_name": GRID, "config": {"bits": 5, "integer": 1}}}
    assert QActivation("relu").quantizer_config() == {"activation": None}
    assert layer.get_prunable_weights() == []
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 4)
    assert layer.weights == []


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("quantized_nope(4)", ValueError, r"activation='quantized_nope\(4\)': unknown quantizer 'quantized_nope'"),
        ("relux", ValueError, r"activation='relux': unknown quantizer 'relux'.*Keras activation name"),
        (f"{GRID}(4", ValueError, r"activation='test_grid\(4': cannot read quantizer string"),
        ({"class_name": "Nope", "config": {}}, ValueError, r"activation=.*'Nope' is neither a registered quantizer"),
        (3, TypeError, r"activation=3: cannot use 3 as an activation"),
        (None, ValueError, r"activation=None; give a quantizer"),
    ],
)
def test_bad_activation_names_the_layer(spec, error, message):
    with pytest.raises(error, match=rf"^QActivation 'act': {message}"):
        QActivation(spec, name="act")
