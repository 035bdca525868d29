"""The reference models that the demo, the tests and the benchmarks share.

The jet tagger is the hls4ml / QKeras benchmark MLP (16-64-32-32-5) with
6-bit weights and ``quantized_relu(6)``; the digits CNN is a small
convolutional network for 8x8 images with 4-bit weights.  Each has a float
twin with the same topology so that quantization loss can be measured.
"""

from __future__ import annotations

import keras

from fpgaq.layers import QActivation, QConv2D, QDense

__all__ = ["digits_cnn", "jet_tagger"]


def jet_tagger(
    quantized: bool = True,
    weight_bits: int = 6,
    activation_bits: int = 6,
    input_bits: int = 16,
    input_integer: int = 5,
    name: str | None = None,
) -> keras.Model:
    """16 -> 64 -> 32 -> 32 -> 5 with ReLU, softmax left to the float side.

    The quantized model starts with a ``QActivation`` that fixes the input to
    ``input_bits`` bits (``quantized_bits(16, 5)`` = ``ac_fixed<16, 6>``), as a
    detector front end would deliver it.
    """
    inputs = keras.Input((16,), name="features")
    if not quantized:
        x = inputs
        for i, units in enumerate((64, 32, 32)):
            x = keras.layers.Dense(units, activation="relu", name=f"fc{i + 1}")(x)
        x = keras.layers.Dense(5, name="output")(x)
        outputs = keras.layers.Activation("softmax", name="softmax")(x)
        return keras.Model(inputs, outputs, name=name or "jet_tagger_float")
    wq = f"quantized_bits({weight_bits},0,alpha=1)"
    x = QActivation(f"quantized_bits({input_bits},{input_integer},alpha=1)", name="input_q")(inputs)
    for i, units in enumerate((64, 32, 32)):
        x = QDense(units, kernel_quantizer=wq, bias_quantizer=wq, name=f"fc{i + 1}")(x)
        x = QActivation(f"quantized_relu({activation_bits})", name=f"relu{i + 1}")(x)
    x = QDense(5, kernel_quantizer=wq, bias_quantizer=wq, name="output")(x)
    outputs = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name=name or "jet_tagger")


def digits_cnn(
    quantized: bool = True, weight_bits: int = 4, activation_bits: int = 4, name: str | None = None
) -> keras.Model:
    """8x8x1 -> conv 3x3x8 -> relu -> maxpool 2 -> conv 3x3x16 -> relu -> flatten -> dense 10."""
    inputs = keras.Input((8, 8, 1), name="image")
    if not quantized:
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
        x = keras.layers.MaxPooling2D(2, name="pool1")(x)
        x = keras.layers.Conv2D(16, 3, activation="relu", name="conv2")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(10, name="output")(x)
        outputs = keras.layers.Activation("softmax", name="softmax")(x)
        return keras.Model(inputs, outputs, name=name or "digits_cnn_float")
    wq = f"quantized_bits({weight_bits},0,alpha=1)"
    # Pixels are k/16 for k in 0..15: exactly an unsigned 4-bit fraction.
    x = QActivation("quantized_bits(8,0,keep_negative=0,alpha=1)", name="input_q")(inputs)
    x = QConv2D(8, 3, padding="same", kernel_quantizer=wq, bias_quantizer=wq, name="conv1")(x)
    x = QActivation(f"quantized_relu({activation_bits},2)", name="relu1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = QConv2D(16, 3, kernel_quantizer=wq, bias_quantizer=wq, name="conv2")(x)
    x = QActivation(f"quantized_relu({activation_bits},2)", name="relu2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = QDense(10, kernel_quantizer=wq, bias_quantizer=wq, name="output")(x)
    outputs = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name=name or "digits_cnn")
