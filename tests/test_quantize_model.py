"""quantize_model on the two reference models' float twins."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import fpgaq
from fpgaq import zoo
from fpgaq.layers import QActivation, QConv2D, QDense
from fpgaq.quantize_model import quantize_model

CONFIG = {
    "QDense": {"kernel_quantizer": "quantized_bits(6,0,alpha=1)", "bias_quantizer": "quantized_bits(6,0,alpha=1)"},
    "QActivation": {"relu": "quantized_relu(6)"},
}


def test_jet_tagger_float_twin_becomes_quantized() -> None:
    float_model = zoo.jet_tagger(quantized=False)
    qmodel, report = quantize_model(float_model, CONFIG)
    assert report["fc1"] == report["output"] == "QDense"
    assert report["softmax"].startswith("unchanged")
    fc1 = qmodel.get_layer("fc1")
    assert isinstance(fc1, QDense)
    assert fc1.kernel_quantizer_internal == fpgaq.get_quantizer("quantized_bits(6,0,alpha=1)")
    assert str(fc1.activation) == "quantized_relu(6,0)"
    # weights are transferred, and the forward pass uses their quantized values
    np.testing.assert_array_equal(fc1.get_weights()[0], float_model.get_layer("fc1").get_weights()[0])
    x = np.random.default_rng(0).normal(size=(8, 16)).astype(np.float32)
    h = x @ np.clip(np.round(fc1.get_weights()[0] * 32) / 32, -1, 31 / 32)
    h = h + np.clip(np.round(fc1.get_weights()[1] * 32) / 32, -1, 31 / 32)
    want = np.clip(np.round(np.maximum(h, 0) * 64) / 64, 0, 63 / 64)
    probe = keras.Model(qmodel.inputs, fc1.output)
    np.testing.assert_allclose(probe.predict(x, verbose=0), want, atol=1e-6)


def test_name_and_regex_entries_win_over_class() -> None:
    float_model = zoo.digits_cnn(quantized=False)
    config = {
        "conv1": {"kernel_quantizer": "quantized_bits(8,0,alpha=1)"},
        "conv.*": {"kernel_quantizer": "quantized_bits(3,0,alpha=1)"},
        "QConv2D": {"kernel_quantizer": "quantized_bits(5,0,alpha=1)"},
        "Dense": {"kernel_quantizer": "ternary"},
        "QActivation": {"relu": "quantized_relu(4,2)"},
    }
    qmodel, report = quantize_model(float_model, config)
    assert isinstance(qmodel.get_layer("conv1"), QConv2D)
    assert qmodel.get_layer("conv1").kernel_quantizer_internal.bits == 8
    assert qmodel.get_layer("conv2").kernel_quantizer_internal.bits == 3
    assert qmodel.get_layer("output").kernel_quantizer_internal.name == "ternary"
    assert str(qmodel.get_layer("conv2").activation) == "quantized_relu(4,2)"
    assert report["pool1"] == "unchanged"


def test_activation_layers_become_qactivation() -> None:
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="d")(inputs)
    x = keras.layers.Activation("relu", name="act")(x)
    model = keras.Model(inputs, x)
    qmodel, report = quantize_model(model, {"QActivation": {"relu": "quantized_relu(3)"}})
    assert isinstance(qmodel.get_layer("act"), QActivation)
    assert report == {"d": "unchanged (no config entry)", "act": "QActivation"} | {
        k: v for k, v in report.items() if k not in ("d", "act")
    }


def test_bad_config_entry_names_layer_and_allowed_keys() -> None:
    model = zoo.jet_tagger(quantized=False)
    with pytest.raises(ValueError, match=r"config entry 'QDense' gives \['kernel'\] for layer 'fc1' \(Dense\)"):
        quantize_model(model, {"QDense": {"kernel": "quantized_bits(4)"}})
    with pytest.raises(ValueError, match="must be a dict of quantizer arguments"):
        quantize_model(model, {"fc1": "quantized_bits(4)"})
    with pytest.raises(ValueError, match="unknown quantizer 'quantized_bit'"):
        quantize_model(model, {"fc1": {"kernel_quantizer": "quantized_bit(4)"}})
