"""qstats on the two reference models, against counts worked out by hand."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fpgaq import zoo
from fpgaq.layers import QActivation, QConv2D, QDense, QDepthwiseConv2D, QSeparableConv2D
from fpgaq.qstats import format_qstats, print_qstats, qstats, quantizer_kind
from fpgaq.quantizers import get_quantizer


def test_jet_tagger_counts() -> None:
    stats = qstats(zoo.jet_tagger())
    layers = stats["layers"]
    assert list(layers) == ["fc1", "fc2", "fc3", "output"]
    # 16-bit signed input times 6-bit signed weights, then 6-bit unsigned ReLU outputs.
    assert [layers[n]["operation"] for n in layers] == ["smult_6_16", "smult_6_6", "smult_6_6", "smult_6_6"]
    assert [layers[n]["operations"] for n in layers] == [16 * 64, 64 * 32, 32 * 32, 32 * 5]
    assert layers["fc1"]["weight_bits"] == 16 * 64 * 6 + 64 * 6
    assert stats["operations"] == {"smult_6_16": 1024, "smult_6_6": 2048 + 1024 + 160}
    assert stats["total_weight_bits"] == 6 * (16 * 64 + 64 + 64 * 32 + 32 + 32 * 32 + 32 + 32 * 5 + 5)


def test_digits_cnn_counts() -> None:
    stats = qstats(zoo.digits_cnn())
    layers = stats["layers"]
    # conv1: 8x8 'same' output x 8 filters x 3x3x1 taps; conv2: 2x2x16 outputs x 3x3x8 taps; dense 64 -> 10
    assert layers["conv1"]["operations"] == 8 * 8 * 8 * 9
    assert layers["conv2"]["operations"] == 2 * 2 * 16 * 9 * 8
    assert layers["output"]["operations"] == 64 * 10
    assert layers["conv1"]["operation"] == "smult_4_8"  # unsigned 8-bit pixels, signed weights
    assert layers["conv2"]["operation"] == "smult_4_4"
    assert layers["conv1"]["weights"] == [("kernel", 72, 4)]


def test_sparsity_counts_quantized_zeros() -> None:
    inputs = keras.Input((4,))
    layer = QDense(2, kernel_quantizer="quantized_bits(4,0,alpha=1)", use_bias=False, name="d")
    model = keras.Model(inputs, layer(inputs))
    # 0.03 rounds to 0 on the 1/8 grid; 0.07 rounds to 1/8.
    layer.set_weights([np.array([[0.03, 0.5], [0.07, 0.0], [-0.04, 0.25], [1.0, -0.06]], dtype=np.float32)])
    stats = qstats(model)
    assert stats["layers"]["d"]["sparsity"] == pytest.approx(4 / 8)
    assert stats["layers"]["d"]["bias"] == (0, 0)


def test_operation_kinds_follow_weight_and_input_types() -> None:
    inputs = keras.Input((6, 6, 2))
    x = QActivation("quantized_bits(8,2,alpha=1)")(inputs)
    x = QConv2D(3, 3, kernel_quantizer="quantized_po2(4)", name="po2")(x)
    x = QActivation("binary")(x)
    x = QDepthwiseConv2D(3, depthwise_quantizer="ternary", name="tern")(x)
    x = QActivation("binary")(x)
    x = QSeparableConv2D(4, 1, depthwise_quantizer="binary", pointwise_quantizer="quantized_bits(4)", name="sep")(x)
    model = keras.Model(inputs, x)
    layers = qstats(model)["layers"]
    assert layers["po2"]["operation"] == "sbarrel_4_8"
    assert layers["po2"]["operations"] == 4 * 4 * 3 * 9 * 2
    assert layers["tern"]["operation"] == "smux_2_1"
    assert layers["tern"]["operations"] == 2 * 2 * 9 * 3
    # binary weights times a binary input: xor; separable = depthwise part + pointwise part
    assert layers["sep"]["operation"] == "sxor_1_1"
    assert layers["sep"]["operations"] == 2 * 2 * 3 + 2 * 2 * 3 * 4
    assert layers["sep"]["weights"] == [("depthwise", 3, 1), ("pointwise", 12, 4)]


def test_float_layers_count_as_fmult() -> None:
    inputs = keras.Input((3,))
    x = keras.layers.Dense(2, name="f")(inputs)
    # an unquantized layer's output is float, so the next multiply is a float one too
    x = QDense(2, kernel_quantizer="quantized_bits(4)", name="q")(x)
    layers = qstats(keras.Model(inputs, x))["layers"]
    assert layers["f"]["operation"] == "sfmult_32_8"
    assert layers["q"]["operation"] == "sfmult_4_32"


@pytest.mark.parametrize(
    "spec, kind",
    [
        ("quantized_bits(6,0)", ("fixed", 6, True)),
        ("quantized_bits(2,1)", ("ternary", 2, True)),
        ("quantized_relu(4)", ("fixed", 4, False)),
        ("binary", ("binary", 1, True)),
        ("binary(use_01=True)", ("binary01", 1, False)),
        ("ternary", ("ternary", 2, True)),
        ("quantized_po2(5)", ("po2", 5, True)),
        ("quantized_relu_po2(5)", ("po2", 5, False)),
        (None, ("float", 32, True)),
    ],
)
def test_quantizer_kind(spec, kind) -> None:
    k = quantizer_kind(get_quantizer(spec))
    assert (k.kind, k.bits, k.signed) == kind


def test_print_qstats_prints_qkeras_tables(capsys) -> None:
    stats = print_qstats(zoo.jet_tagger())
    out = capsys.readouterr().out
    assert "Number of operations in model:" in out and "smult_6_16" in out
    assert "Total Bits" in out and str(stats["total_weight_bits"]) in out
    assert format_qstats(stats) in out
