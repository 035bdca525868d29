"""Keras' piecewise-linear activations as the ``piecewise_linear`` op."""

from __future__ import annotations

import warnings
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
    round_half_even,
    sample_inputs,
)

from fpgaq.design import convert
from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Graph, Node, Tensor
from fpgaq.ir.ops.activations import evaluate_pieces, piecewise_rule, relu_pieces
from fpgaq.ir.trace import UnsupportedLayerError
from fpgaq.ir.weights import UnquantizedWarning
from fpgaq.layers import QActivation

IN_Q = "quantized_bits(8,3,alpha=1)"  # fixed<8,4>: steps of 1/16 on [-8, 7.9375]
DEFAULT = FixedType(16, 6, True, "RND_CONV", "SAT")  # the default precision, rounding to nearest even, saturating


def _model(layer, shape=(8,)):
    inp, x = quantized_input(shape, IN_Q)
    return keras.Model(inp, layer(x))


def _inputs(rng: np.random.Generator, shape=(8,)) -> np.ndarray:
    return sample_inputs(rng, shape, step=1 / 16) * 2  # reaches past +-8: saturating inputs


def _expected(xs: np.ndarray, f) -> np.ndarray:
    """``f`` on the exact quantized inputs, rounded half-even into the default fixed<16,6>."""
    q = quantize_input(xs, frac=4, width=8)
    exact = np.vectorize(lambda v: f(Fraction(float(v))), otypes=[object])(q)
    return round_half_even(exact, 10, 16)


def test_leaky_relu_with_a_binary_slope_is_bit_exact(rng) -> None:
    model = _model(keras.layers.LeakyReLU(negative_slope=0.25, name="leaky"))
    with pytest.warns(UnquantizedWarning) as record:
        design = assert_bit_exact(model, _inputs(rng))
    messages = [str(w.message) for w in record if issubclass(w.category, UnquantizedWarning)]
    assert messages[0] == (
        "layer 'leaky' (LeakyReLU): leaky_relu multiplies by a constant, so its output must round; using the default "
        "precision ap_fixed<16, 6, AP_RND_CONV, AP_SAT> (set Precision.result for this layer in the config, or "
        "follow it with a quantizer)"
    )
    assert design.graph.node("leaky").op == "piecewise_linear"
    assert design.graph.tensors["leaky"].type == DEFAULT


def test_leaky_relu_slope_is_keras_float32_constant_rounded_once(rng) -> None:
    # float32(0.3) * x needs ~27 fractional bits: Keras' float32 product rounds at 24 significant bits,
    # hardware rounds the exact product once into the output type
    model = _model(keras.layers.LeakyReLU(negative_slope=0.3, name="leaky"))
    with pytest.warns(UnquantizedWarning):
        design = convert(model)
    slope = Fraction(float(np.float32(0.3)))
    xs = _inputs(rng)
    want = _expected(xs, lambda v: v if v >= 0 else slope * v)
    assert np.array_equal(design.predict(xs), want)
    assert not np.array_equal(design.predict(xs), keras_output(model, xs))


def test_config_result_type_is_used_without_warning(rng) -> None:
    model = _model(keras.layers.LeakyReLU(negative_slope=0.5, name="leaky"))
    config = {"LayerName": {"leaky": {"Precision": {"result": "ap_fixed<6,3,AP_RND,AP_SAT>"}}}}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnquantizedWarning)
        design = convert(model, config)
    # x / 2 for x < 0, onto steps of 1/8 with ties upward (AP_RND), saturating at [-4, 3.875]:
    # -0.03125 -> 0; -0.0625 (tie) -> 0; -0.09375 -> -0.125; -0.1875 (tie) -> -0.125; 0.0625 (tie) -> 0.125
    xs = np.array([[-0.0625, -0.125, -0.1875, -0.375, 0.0625, 5.0, -7.0, -8.0]], dtype=np.float32)
    assert design.predict(xs).tolist() == [[0.0, 0.0, -0.125, -0.125, 0.125, 3.875, -3.5, -4.0]]


@pytest.mark.parametrize(
    ("layer", "exact_type"),
    [
        (keras.layers.ReLU(max_value=2.5), FixedType(6, 2, False)),  # [0, 2.5] in steps of 1/16
        (keras.layers.ReLU(threshold=1.5), FixedType(7, 3, False)),  # 0, or (1.5, 7.9375]
        (keras.layers.Activation("relu6"), FixedType(7, 3, False)),  # [0, 6]
        (QActivation("relu6"), FixedType(7, 3, False)),
        (keras.layers.Activation("hard_tanh"), FixedType(6, 2)),  # [-1, 1]
    ],
)
def test_clipping_functions_get_their_exact_type_and_are_bit_exact(rng, layer, exact_type) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnquantizedWarning)
        design = assert_bit_exact(_model(layer), _inputs(rng))
    assert design.graph.tensors[design.graph.outputs[0]].type == exact_type


def test_relu_with_slope_threshold_and_maximum_is_bit_exact(rng) -> None:
    layer = keras.layers.ReLU(max_value=3.0, negative_slope=0.5, threshold=1.0)
    with pytest.warns(UnquantizedWarning):
        assert_bit_exact(_model(layer), _inputs(rng))


@pytest.mark.parametrize(
    ("name", "f"),
    [
        ("hard_sigmoid", lambda v: min(max(v / 6 + Fraction(1, 2), Fraction(0)), Fraction(1))),
        ("leaky_relu", lambda v: v if v >= 0 else Fraction(float(np.float32(0.2))) * v),
    ],
)
def test_functions_with_non_binary_results_round_once(rng, name, f) -> None:
    with pytest.warns(UnquantizedWarning, match=f"{name} multiplies by a constant"):
        design = convert(_model(keras.layers.Activation(name)))
    xs = _inputs(rng)
    assert np.array_equal(design.predict(xs), _expected(xs, f))


def test_unsupported_keras_activation_still_names_the_layer() -> None:
    with pytest.raises(UnsupportedLayerError, match=r"layer 'act' \(Activation\): activation 'elu' is not supported"):
        convert(_model(keras.layers.Activation("elu", name="act")))


def test_relu_pieces_follow_keras_definition() -> None:
    # slope * (x - threshold) up to the threshold, then x, clipped at max_value
    assert relu_pieces(0.5, 3.0, 1.0) == [
        (None, Fraction(1, 2), Fraction(-1, 2)),
        (Fraction(1), Fraction(1), Fraction(0)),
        (Fraction(3), Fraction(0), Fraction(3)),
    ]
    assert relu_pieces(0.0, 1.0, 2.0) == [(None, Fraction(0), Fraction(0)), (Fraction(2), Fraction(0), Fraction(1))]


@pytest.mark.parametrize(
    ("rounding", "want"),
    [
        ("RND_CONV", [-2, 0, 0, 2]),
        ("RND", [-1, 0, 1, 2]),
        ("RND_INF", [-2, -1, 1, 2]),
        ("RND_ZERO", [-1, 0, 0, 1]),
        ("TRN", [-2, -1, 0, 1]),
    ],
)
def test_half_way_results_follow_the_output_rounding(rounding, want) -> None:
    # y = x / 2 on the integers -3, -1, 1, 3 of fixed<4,4>: every result (-1.5, -0.5, 0.5, 1.5) is a tie
    pieces = [(None, Fraction(1, 2), Fraction(0))]
    out = evaluate_pieces(pieces, np.array([-3, -1, 1, 3]), FixedType(4, 4), FixedType(4, 4, True, rounding, "SAT"))
    assert out.tolist() == want


def test_pieces_select_strictly_above_their_lower_bound() -> None:
    # Keras' relu with threshold 1: x == 1 gives 0, not 1; 8 saturates fixed<5,3> at 3.75 (mantissa 15)
    m = np.array([4, 5, 32])  # 1.0, 1.25, 8.0 in fixed<8,6> (steps of 1/4)
    out = evaluate_pieces(relu_pieces(0.0, None, 1.0), m, FixedType(8, 6), FixedType(5, 3, True, "TRN", "SAT"))
    assert out.tolist() == [0, 5, 15]


def test_rule_refuses_non_binary_constants_without_a_type() -> None:
    node = Node(
        "a", "piecewise_linear", ["x"], "y", {"function": "hard_sigmoid", "pieces": ((None, Fraction(1, 6), 0),)}
    )
    g = Graph("g", [node], {"x": Tensor("x", (1,), FixedType(8, 4)), "y": Tensor("y", (1,))}, ["x"], ["y"])
    with pytest.raises(ValueError, match="hard_sigmoid has non-binary constants and needs an output type"):
        piecewise_rule(g, node, [FixedType(8, 4)], None)


@pytest.mark.parametrize("name", ["relu6", "hard_sigmoid"])
def test_integer_and_float_mantissas_agree(rng, name) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnquantizedWarning)
        design = convert(_model(keras.layers.Activation(name)))
    assert_int_and_float_paths_agree(design, _inputs(rng), ("piecewise_linear",))
