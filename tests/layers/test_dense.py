"""QDense: quantized kernel and bias, QKeras' arguments, names and errors."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from _qlayer_testing import GRID, TestGrid, grid_inputs, has_quantizer, q4, q6i2, use_grid, weights

from fpgaq.layers.common import Clip
from fpgaq.layers.dense import QDense


@pytest.fixture(autouse=True)
def _grid(monkeypatch: pytest.MonkeyPatch) -> None:
    use_grid(monkeypatch)


def built(layer: QDense, n_in: int, kernel: np.ndarray, bias: np.ndarray | None = None) -> QDense:
    layer.build((None, n_in))
    layer.set_weights([kernel] if bias is None else [kernel, bias])
    return layer


BIAS = np.array([0.3, -1.4, 1 / 16], np.float32)  # -> 0.25, -1 (saturated), 0 (tie to even)


@pytest.mark.parametrize(
    ("activation", "numpy_activation"),
    [(None, lambda v: v), ("relu", lambda v: np.maximum(v, 0.0)), (TestGrid(4, 0), q4)],
)
def test_output_is_x_times_quantized_kernel_plus_quantized_bias(rng, activation, numpy_activation):
    w = weights(rng, (4, 3))
    layer = built(QDense(3, activation=activation, kernel_quantizer=TestGrid(), bias_quantizer=TestGrid()), 4, w, BIAS)
    x = grid_inputs(rng, (6, 4))
    expected = numpy_activation(x.astype(np.float64) @ q4(w) + q4(BIAS))
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)


def test_quantizer_with_integer_bits_scales_the_range(rng):
    w = weights(rng, (4, 3)) * 4
    layer = built(QDense(3, kernel_quantizer=TestGrid(6, 2), use_bias=False), 4, w)
    x = grid_inputs(rng, (5, 4))
    np.testing.assert_array_equal(np.asarray(layer(x)), x.astype(np.float64) @ q6i2(w))


def test_without_quantizers_it_is_a_float_dense(rng):
    w = rng.normal(size=(4, 3)).astype(np.float32)
    b = rng.normal(size=3).astype(np.float32)
    layer = built(QDense(3), 4, w, b)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(layer(x)), x.astype(np.float64) @ w + b, rtol=1e-5, atol=1e-6)
    assert layer.get_quantizers() == [None, None]


def test_activation_comes_after_the_bias():
    # 1 * 0.5 + 0.5 = 1.0 saturates to 0.875; quantizing before the bias would give 1.0.
    layer = built(QDense(1, activation=TestGrid(4, 0)), 1, np.array([[0.5]], np.float32), np.array([0.5], np.float32))
    np.testing.assert_array_equal(np.asarray(layer(np.array([[1.0]], np.float32))), [[0.875]])


def test_kernel_gradient_is_straight_through(rng):
    w = weights(rng, (4, 3))  # includes 1.3 and -1.7: saturated, yet the gradient passes
    layer = built(QDense(3, kernel_quantizer=TestGrid(), bias_quantizer=TestGrid()), 4, w, BIAS)
    x = grid_inputs(rng, (5, 4))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x))
    grad_w, grad_b = tape.gradient(loss, [layer.kernel, layer.bias])
    # d(sum_n sum_j (x W)_nj) / dW_ij = sum_n x_ni, for every j.
    np.testing.assert_array_equal(np.asarray(grad_w), np.repeat(x.sum(axis=0)[:, None], 3, axis=1))
    np.testing.assert_array_equal(np.asarray(grad_b), [5.0, 5.0, 5.0])


SPEC_FORMS = [
    TestGrid(4, 0),
    f"{GRID}(4, 0)",
    f"{GRID}(bits=4)",
    GRID,
    {"class_name": GRID, "config": {"bits": 4, "integer": 0}},
]


@pytest.mark.parametrize("spec", SPEC_FORMS, ids=["object", "string", "keywords", "bare-name", "dict"])
def test_quantizer_accepted_as_object_string_or_dict(rng, spec):
    w = weights(rng, (4, 3))
    layer = built(QDense(3, kernel_quantizer=spec, bias_quantizer=spec, activation=spec), 4, w, BIAS)
    assert layer.get_quantizers() == [TestGrid(4, 0), TestGrid(4, 0)]
    assert layer.activation == TestGrid(4, 0)
    assert layer.kernel_quantizer == spec  # QKeras keeps the argument as given
    x = grid_inputs(rng, (3, 4))
    np.testing.assert_array_equal(np.asarray(layer(x)), q4(x.astype(np.float64) @ q4(w) + q4(BIAS)))


@pytest.mark.skipif(not has_quantizer("quantized_bits"), reason="quantized_bits not written yet")
def test_with_real_quantized_bits_strings(rng):
    w = weights(rng, (4, 3))
    spec = "quantized_bits(4,0,alpha=1)"
    layer = built(QDense(3, kernel_quantizer=spec, bias_quantizer=spec), 4, w, BIAS)
    x = grid_inputs(rng, (6, 4))
    np.testing.assert_array_equal(np.asarray(layer(x)), x.astype(np.float64) @ q4(w) + q4(BIAS))


@pytest.mark.skipif(not has_quantizer("quantized_relu"), reason="quantized_relu not written yet")
def test_quantizer_string_wins_over_keras_activation(rng):
    layer = built(QDense(2, activation="quantized_relu(4, 2)", use_bias=False), 1, np.array([[1.0, -1.0]], np.float32))
    assert layer.activation.name == "quantized_relu"
    x = np.array([[0.1], [5.0]], np.float32)  # 0.1 -> 0.0 (step 0.25), 5.0 -> 3.75 (top)
    np.testing.assert_array_equal(np.asarray(layer(x)), [[0.0, 0.0], [3.75, 0.0]])


def test_qkeras_attribute_names_and_defaults():
    layer = QDense(3, kernel_quantizer=f"{GRID}(4)", name="fc")
    assert layer.kernel_quantizer == f"{GRID}(4)"
    assert layer.kernel_quantizer_internal == TestGrid(4, 0)
    assert layer.bias_quantizer is None and layer.bias_quantizer_internal is None
    assert isinstance(layer.kernel_initializer, keras.initializers.HeNormal)
    assert layer.activation is keras.activations.linear
    layer.build((None, 2))
    assert layer.get_prunable_weights() == [layer.kernel]


def test_config_holds_quantizers_in_qkeras_dict_form():
    config = QDense(3, kernel_quantizer=f"{GRID}(4)", activation=f"{GRID}(5, 1)").get_config()
    assert config["kernel_quantizer"] == {"class_name": GRID, "config": {"bits": 4, "integer": 0}}
    assert config["bias_quantizer"] is None
    assert config["activation"] == {"class_name": GRID, "config": {"bits": 5, "integer": 1}}
    assert QDense(3, activation="relu").get_config()["activation"] == "relu"
    assert QDense(3).get_config()["activation"] == "linear"
    again = QDense.from_config(config)
    assert again.get_config() == config


def test_kernel_range_and_bias_range_are_accepted_warned_and_ignored(rng):
    w = weights(rng, (2, 2))
    with pytest.warns(UserWarning, match=r"^QDense 'fc': kernel_range=2 is ignored"):
        layer = QDense(2, kernel_quantizer=TestGrid(), kernel_range=2, bias_range=None, name="fc")
    assert layer.get_config()["kernel_range"] == 2
    assert layer.get_config()["bias_range"] is None
    built(layer, 2, w, np.zeros(2, np.float32))
    x = grid_inputs(rng, (3, 2))
    np.testing.assert_array_equal(np.asarray(layer(x)), x.astype(np.float64) @ q4(w))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        QDense(2)  # no range, no warning


def test_quantized_weights_get_qkeras_clip_constraint():
    layer = QDense(2, kernel_quantizer=TestGrid(4, 0), bias_quantizer=TestGrid(6, 2))
    assert isinstance(layer.kernel_constraint, Clip)
    assert (layer.kernel_constraint.min_value, layer.kernel_constraint.max_value) == (-1.0, 1.0)
    assert (layer.bias_constraint.min_value, layer.bias_constraint.max_value) == (-4.0, 4.0)
    own = keras.constraints.NonNeg()
    assert QDense(2, kernel_quantizer=TestGrid(), kernel_constraint=own).kernel_constraint is own
    plain = QDense(2)
    assert plain.kernel_constraint is None and plain.bias_constraint is None
    assert QDense(2, bias_quantizer=TestGrid(), use_bias=False).bias_constraint is None


def test_clip_constraint_clips_after_a_training_step():
    np.testing.assert_array_equal(np.asarray(Clip(-1.0, 1.0)(np.array([-2.0, 0.5, 3.0]))), [-1.0, 0.5, 1.0])
    layer = QDense(1, kernel_quantizer=TestGrid(), use_bias=False)
    model = keras.Sequential([keras.Input((2,)), layer])
    layer.set_weights([np.array([[0.5], [-0.5]], np.float32)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=10.0), loss="mse")
    # Target far above the output: the update pushes the first weight up, the second down, past +-1.
    model.fit(np.array([[1.0, -1.0]], np.float32), np.array([[100.0]], np.float32), epochs=1, verbose=0)
    np.testing.assert_array_equal(layer.get_weights()[0], [[1.0], [-1.0]])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"kernel_quantizer": "nope(4)"},
            ValueError,
            r"QDense 'fc': kernel_quantizer='nope\(4\)': unknown quantizer 'nope'",
        ),
        (
            {"bias_quantizer": "test_grid(4"},
            ValueError,
            r"QDense 'fc': bias_quantizer='test_grid\(4': cannot read quantizer",
        ),
        ({"kernel_quantizer": 3}, TypeError, r"QDense 'fc': kernel_quantizer=3: cannot make a quantizer from 3"),
        ({"bias_quantizer": [4]}, TypeError, r"QDense 'fc': bias_quantizer=\[4\]: cannot make a quantizer"),
        ({"activation": "relux"}, ValueError, r"QDense 'fc': activation='relux': unknown quantizer 'relux'.*'relu'"),
        ({"activation": "nope(3)"}, ValueError, r"QDense 'fc': activation='nope\(3\)': unknown quantizer 'nope'"),
        ({"activation": 3}, TypeError, r"QDense 'fc': activation=3: cannot use 3 as an activation"),
    ],
)
def test_bad_arguments_name_the_layer_and_argument(kwargs, error, message):
    with pytest.raises(error, match="^" + message):
        QDense(2, name="fc", **kwargs)


def test_reads_a_config_written_by_qkeras():
    # What QKeras' QDense.get_config() holds: quantizers and its Clip as bare class_name/config dicts.
    config = {
        "name": "dense", "trainable": True, "dtype": "float32", "units": 3, "activation": "linear",
        "use_bias": True, "kernel_initializer": {"class_name": "HeNormal", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": {"class_name": "Clip", "config": {"min_value": -2, "max_value": 2}},
        "bias_constraint": None, "kernel_quantizer": {"class_name": GRID, "config": {"bits": 4, "integer": 0}},
        "bias_quantizer": None, "kernel_range": None, "bias_range": None,
    }  # fmt: skip
    layer = QDense.from_config(config)
    assert isinstance(layer.kernel_constraint, Clip)
    assert (layer.kernel_constraint.min_value, layer.kernel_constraint.max_value) == (-2.0, 2.0)
    assert layer.bias_constraint is None  # no bias quantizer, so no Clip, as in QKeras
    assert layer.get_quantizers() == [TestGrid(4, 0), None]
    assert layer.activation is keras.activations.linear


class Recording(TestGrid):
    """A grid quantizer that notes the ``training`` flag it is called with."""

    def __init__(self, bits: int = 4, integer: int = 0) -> None:
        super().__init__(bits, integer)
        self.seen: list = []

    def __call__(self, x, training=None):
        self.seen.append(training)
        return super().__call__(x)


@pytest.mark.parametrize("training", [True, False])
def test_training_flag_reaches_every_quantizer(training):
    kq, bq, aq = Recording(), Recording(), Recording()
    layer = QDense(2, kernel_quantizer=kq, bias_quantizer=bq, activation=aq)
    layer(np.ones((1, 2), np.float32), training=training)
    assert (kq.seen, bq.seen, aq.seen) == ([training], [training], [training])
