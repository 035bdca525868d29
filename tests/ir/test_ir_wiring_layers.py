"""Sequential models and the wiring layers: padding, global pooling, reshape, dropout, merges."""

from __future__ import annotations

import keras
import numpy as np

from fpgaq.design import convert
from fpgaq.layers import QActivation, QConv1D, QConv2D, QDense


def _set(layer, rng) -> None:
    for w in layer.weights:
        w.assign(rng.normal(0, 0.6, size=tuple(w.shape)).astype(np.float32))


def test_sequential_model() -> None:
    rng = np.random.default_rng(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            QActivation("quantized_bits(6,2,alpha=1)"),
            QDense(5, kernel_quantizer="quantized_bits(4,0,alpha=1)", bias_quantizer="quantized_bits(4,0,alpha=1)"),
            keras.layers.Dropout(0.5),
            QActivation("quantized_relu(5,2)"),
            QDense(3, kernel_quantizer="quantized_bits(4,0,alpha=1)", bias_quantizer="quantized_bits(4,0,alpha=1)"),
        ]
    )
    for layer in model.layers:
        _set(layer, rng)
    design = convert(model)
    assert "identity" not in {n.op for n in design.graph.nodes}  # Dropout is gone
    x = rng.uniform(-6, 6, size=(1000, 6)).astype(np.float32)
    assert np.array_equal(design.predict(x), model.predict(x, verbose=0).astype(np.float64))


def test_padding_global_pooling_reshape_and_merges_2d() -> None:
    rng = np.random.default_rng(1)
    inputs = keras.Input((5, 5, 2), name="img")
    x = QActivation("quantized_bits(5,1,alpha=1)", name="q")(inputs)
    x = keras.layers.ZeroPadding2D(((1, 0), (0, 1)), name="pad")(x)  # 6x6, conv output 4x4
    conv = QConv2D(3, 3, kernel_quantizer="quantized_bits(4,0,alpha=1)", bias_quantizer="quantized_bits(4,0,alpha=1)")
    a = QActivation("quantized_relu(5,1)", name="ra")(conv(x))
    gmax = keras.layers.GlobalMaxPooling2D(name="gmax")(a)
    gavg = keras.layers.GlobalAveragePooling2D(name="gavg")(a)  # 16 cells: exact in float32
    merged = keras.layers.Concatenate(name="cat")([gmax, gavg])
    r = keras.layers.Reshape((2, 3), name="reshape")(merged)
    f = keras.layers.Flatten(name="flat")(r)
    dense = QDense(6, kernel_quantizer="quantized_bits(4,0,alpha=1)", bias_quantizer="quantized_bits(4,0,alpha=1)")
    out = keras.layers.Add(name="add")([f, QActivation("quantized_relu(5,1)", name="rd")(dense(f))])
    model = keras.Model(inputs, out)
    _set(conv, rng)
    _set(dense, rng)
    design = convert(model)
    x = rng.uniform(-3, 3, size=(600, 5, 5, 2)).astype(np.float32)
    assert np.array_equal(design.predict(x), model.predict(x, verbose=0).astype(np.float64))


def test_padding_and_global_pooling_1d() -> None:
    rng = np.random.default_rng(2)
    inputs = keras.Input((7, 2), name="seq")
    x = QActivation("quantized_bits(6,1,alpha=1)", name="q")(inputs)
    x = keras.layers.ZeroPadding1D((2, 1), name="pad")(x)
    conv = QConv1D(4, 3, kernel_quantizer="quantized_bits(4,0,alpha=1)", bias_quantizer="quantized_bits(4,0,alpha=1)")
    y = QActivation("quantized_relu(6,1)", name="r")(conv(x))
    # 8 time steps: a power-of-two mean, which float32 Keras computes exactly
    gavg = keras.layers.GlobalAveragePooling1D(name="gavg")(y)
    gmax = keras.layers.GlobalMaxPooling1D(name="gmax")(y)
    model = keras.Model(inputs, keras.layers.Add(name="add")([gavg, gmax]))
    _set(conv, rng)
    design = convert(model)
    x = rng.uniform(-4, 4, size=(1000, 7, 2)).astype(np.float32)
    assert np.array_equal(design.predict(x), model.predict(x, verbose=0).astype(np.float64))
