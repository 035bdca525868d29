"""Trace, weights, precision inference and the Design object on small hand-checked cases."""

from __future__ import annotations

import warnings
from fractions import Fraction

import keras
import numpy as np
import pytest

from fpgaq.design import convert
from fpgaq.fixed import FixedType
from fpgaq.ir.precision import UntypedInputWarning, range_type
from fpgaq.ir.trace import UnsupportedLayerError, trace
from fpgaq.ir.weights import UnquantizedWarning, fit_type
from fpgaq.layers import QActivation, QDense


def _tiny_dense(kernel, bias, in_q="quantized_bits(4,1,alpha=1)", act="quantized_relu(4,1)"):
    inputs = keras.Input((len(kernel),), name="x")
    x = QActivation(in_q, name="in_q")(inputs)
    layer = QDense(
        len(kernel[0]),
        kernel_quantizer="quantized_bits(4,0,alpha=1)",
        bias_quantizer="quantized_bits(4,0,alpha=1)",
        name="d",
    )
    y = layer(x)
    layer.set_weights([np.array(kernel, np.float32), np.array(bias, np.float32)])
    y = QActivation(act, name="act")(y)
    return keras.Model(inputs, y, name="tiny")


def test_accumulator_is_sized_from_the_actual_weights() -> None:
    # input fixed<4,2> in [-2, 1.75] step 1/4; weights on a 1/8 grid
    model = _tiny_dense([[0.5, 0.0], [-0.25, 0.0]], [0.125, 0.0])
    design = convert(model)
    node = design.graph.node("d")
    # column 0: max = 0.5*1.75 + (-0.25)*(-2) + 0.125 = 1.5; min = 0.5*(-2) + (-0.25)*1.75 + 0.125 = -1.3125
    # column 1: all zero -> 0.  Products have 2 + 3 = 5 fractional bits.
    assert node.types["exact"] == range_type(Fraction(-21, 16), Fraction(3, 2), 5)
    assert node.types["exact"] == FixedType(7, 2, True)
    # the leading quantizer became the input type
    assert design.graph.tensors["x"].type == FixedType(4, 2, True, "RND_CONV", "SAT")


def test_design_predict_matches_hand_computation() -> None:
    model = _tiny_dense([[0.5, -1.0], [-0.25, 0.875]], [0.125, -0.5])
    design = convert(model)
    x = np.array([[1.0, -2.0], [0.25, 0.125], [5.0, 5.0]], np.float32)
    # inputs quantize to [1, -2], [0.25, 0 (tie 0.5 lsb -> even)], [1.75, 1.75] (saturated)
    xq = np.array([[1.0, -2.0], [0.25, 0.0], [1.75, 1.75]])
    acc = xq @ np.array([[0.5, -1.0], [-0.25, 0.875]]) + np.array([0.125, -0.5])
    # quantized_relu(4,1): step 1/8, max 15/8, ties to even
    want = np.clip(np.round(np.maximum(acc, 0) * 8) / 8, 0, 15 / 8)
    np.testing.assert_array_equal(design.predict(x), want)
    traced = design.trace(x)
    assert set(traced) >= {"x", "d"}


def test_summary_lists_types_and_macs() -> None:
    design = convert(_tiny_dense([[0.5, -1.0], [-0.25, 0.875]], [0.125, -0.5]))
    text = design.summary()
    assert "fixed<4,1>" in text and "4/4 nonzero" in text
    assert "ufixed<4,1,RND_CONV,SAT>" in text


def test_fit_type() -> None:
    assert fit_type(np.array([-16.0, 12.0]), "w") == FixedType(3, 5, True)
    assert fit_type(np.array([0.75, 0.0]), "w") == FixedType(2, 0, False)
    assert fit_type(np.array([-1.0, 1.0]), "w") == FixedType(2, 2, True)
    with pytest.raises(ValueError, match="not on a binary grid of at most 32 bits"):
        fit_type(np.array([0.1]), "w")


def test_unquantized_layers_get_default_precision_with_a_warning() -> None:
    inputs = keras.Input((2,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2, name="plain")(inputs))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        design = convert(model)
    kinds = {type(w.message) for w in caught}
    assert UnquantizedWarning in kinds and UntypedInputWarning in kinds
    assert any("layer 'plain'" in str(w.message) for w in caught)
    assert design.graph.node("plain").weights["kernel"].type.width == 16


def test_unsupported_layer_names_layer_class_and_supported_list() -> None:
    inputs = keras.Input((4, 3))
    model = keras.Model(inputs, keras.layers.LSTM(2, name="rnn")(inputs))
    with pytest.raises(
        UnsupportedLayerError,
        match=r"layer 'rnn' has class LSTM, which fpgaq does not support; "
        r"supported: .*Conv2D.*Dense",
    ):
        trace(model)


def test_unknown_config_layer_is_rejected() -> None:
    model = _tiny_dense([[0.5]], [0.0])
    with pytest.raises(ValueError, match=r"LayerName\.dd: the model has no layer named 'dd'"):
        convert(model, {"LayerName": {"dd": {"ReuseFactor": 2}}})


def test_config_result_type_changes_rounding_and_overflow() -> None:
    inputs = keras.Input((1,), name="x")
    x = QActivation("quantized_bits(8,3,alpha=1)", name="in_q")(inputs)
    layer = QDense(1, kernel_quantizer="quantized_bits(4,0,alpha=1)", use_bias=False, name="d")
    model = keras.Model(inputs, layer(x))
    layer.set_weights([np.array([[0.5]], np.float32)])
    cfg = {"LayerName": {"d": {"Precision": {"result": "ap_fixed<4,2,AP_RND,AP_WRAP>"}}}}
    design = convert(model, cfg)
    # x * 0.5 on a 1/4 grid; RND rounds ties up; WRAP folds into [-2, 1.75]
    x = np.array([[0.375], [-0.375], [2.0], [5.0]], np.float32)  # products 0.1875, -0.1875, 1.0, 2.5
    np.testing.assert_array_equal(design.predict(x), [[0.25], [-0.25], [1.0], [-1.5]])


def test_config_type_that_contradicts_a_quantizer_is_an_error() -> None:
    from fpgaq import zoo
    from fpgaq.config import config_from_model

    model = zoo.jet_tagger()
    cfg = config_from_model(model, "name")
    convert(model, cfg)  # the generated config agrees with the quantizers
    cfg["LayerName"]["fc1"]["Precision"]["weight"] = "ap_fixed<8,1>"
    with pytest.raises(
        UnsupportedLayerError,
        match=r"layer 'fc1' \(QDense\): config Precision.weight is ap_fixed<8,1> but its quantizer "
        r"quantized_bits\(6,0,0,alpha=1\) makes it ap_fixed<6,1>; the quantizer decides",
    ):
        convert(model, cfg)
    cfg = config_from_model(model, "name")
    cfg["LayerName"]["relu1"]["Precision"]["result"] = "ap_ufixed<8,0>"
    with pytest.raises(UnsupportedLayerError, match=r"config Precision.result is ap_ufixed<8,0> but"):
        convert(model, cfg)
