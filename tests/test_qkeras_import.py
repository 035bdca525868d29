"""``fpgaq.load_qkeras``: QKeras/Keras 2 HDF5 files, written here with h5py, imported onto Keras 3.

Each case writes a file the way Keras 2 + QKeras save it (``_qkeras_h5``),
imports it, and compares against the same model built directly from
fpgaq's layers with the same weights: quantizers must be the same, and
Keras' and the bit-exact reference's predictions equal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np
import pytest
from _qkeras_h5 import (
    QKERAS_FUNCTION_QUANTIZERS,
    QKERAS_QUANTIZER_DEFAULTS,
    functional,
    input_layer,
    layer,
    quantizer,
    sequential,
    write_json_and_weights,
    write_model_h5,
    write_weights_h5,
)

import fpgaq
from fpgaq import layers as L
from fpgaq.qkeras_import import QKerasImportError, is_keras2_h5, supported_layers
from fpgaq.quantizers import QUANTIZERS
from fpgaq.quantizers.larq import LARQ_QUANTIZERS

#: fpgaq's own quantizers, which no QKeras file holds (learned precision: tests/quantizers/test_learned_bits.py).
FPGAQ_ONLY = {"learned_bits"}

RNG = np.random.default_rng(7)


def grid(shape: tuple[int, ...], lo: int = -8, hi: int = 8, step: float = 1 / 16) -> np.ndarray:
    """Values on a binary grid, so every float32 sum below is exact."""
    return (RNG.integers(lo, hi, size=shape) * step).astype(np.float32)


def positive(shape: tuple[int, ...]) -> np.ndarray:
    return (RNG.integers(4, 24, size=shape) / 16).astype(np.float32)


def set_by_name(model: keras.Model, weights: dict[str, dict[str, np.ndarray]]) -> None:
    for name, values in weights.items():
        variables = {v.name: v for v in model.get_layer(name).weights}
        assert set(variables) == set(values), (name, sorted(variables), sorted(values))
        for key, value in values.items():
            variables[key].assign(value)


def direct_model(input_shape: tuple[int, ...], layers: list[keras.layers.Layer], weights: dict) -> keras.Model:
    inputs = keras.Input(input_shape, name="x")
    y = inputs
    for lay in layers:
        y = lay(y)
    model = keras.Model(inputs, y)
    set_by_name(model, weights)
    return model


def quantizer_strings(model: keras.Model) -> dict[str, list[str]]:
    out = {}
    for lay in model.layers:
        if hasattr(lay, "get_quantizers"):
            out[lay.name] = [str(q) for q in lay.get_quantizers()]
        act = getattr(lay, "activation", None)
        if act is not None:
            out.setdefault(lay.name, []).append(str(act) if isinstance(act, fpgaq.BaseQuantizer) else act.__name__)
    return out


def assert_same_model(imported: keras.Model, direct: keras.Model, x: np.ndarray, random: bool = False) -> None:
    """Same layers, quantizers and weights; equal Keras and reference predictions (or the same refusal)."""
    assert [type(la).__name__ for la in imported.layers[1:]] == [type(la).__name__ for la in direct.layers[1:]]
    assert quantizer_strings(imported) == quantizer_strings(direct)
    for a, b in zip(imported.layers[1:], direct.layers[1:]):
        for wa, wb in zip(a.weights, b.weights):
            np.testing.assert_array_equal(np.asarray(wa), np.asarray(wb), err_msg=f"{a.name}/{wa.name}")
    if random:
        return
    ya = imported.predict(x, verbose=0)
    yb = direct.predict(x, verbose=0)
    np.testing.assert_array_equal(ya, yb)
    try:
        ref_direct = fpgaq.convert(direct).predict(x)
    except Exception as err:  # the imported model must be refused the same way
        with pytest.raises(type(err)) as info:
            fpgaq.convert(imported).predict(x)
        assert str(info.value).replace(imported.name, "M") == str(err).replace(direct.name, "M")
        return
    np.testing.assert_array_equal(fpgaq.convert(imported).predict(x), ref_direct)


# ----------------------------------------------------------------------------------- layer cases
QB6 = quantizer("quantized_bits", bits=6, integer=0, alpha=1)
QB8_2 = quantizer("quantized_bits", bits=8, integer=2, alpha=1)
QR6 = quantizer("quantized_relu", bits=6, integer=2)

Case = tuple[list[dict], dict, list[keras.layers.Layer], dict, tuple[int, ...]]


def case_qdense() -> Case:
    k, b = grid((5, 4)), grid((4,))
    entries = [
        layer(
            "QDense",
            "fc",
            units=4,
            kernel_quantizer=QB6,
            bias_quantizer=QB6,
            activation=QR6,
            batch_input_shape=[None, 5],
        )
    ]
    direct = [
        L.QDense(
            4,
            kernel_quantizer="quantized_bits(6,0,alpha=1)",
            bias_quantizer="quantized_bits(6,0,alpha=1)",
            activation="quantized_relu(6,2)",
            name="fc",
        )
    ]
    return entries, {"fc": [("kernel", k), ("bias", b)]}, direct, {"fc": {"kernel": k, "bias": b}}, (5,)


def case_qconv1d() -> Case:
    k, b = grid((3, 2, 3)), grid((3,))
    entries = [
        input_layer("x", (8, 2)),
        layer(
            "QConv1D",
            "conv",
            filters=3,
            kernel_size=[3],
            padding="same",
            kernel_quantizer=QB6,
            bias_quantizer=QB8_2,
            activation="quantized_relu(4,2)",
        ),
    ]
    direct = [
        L.QConv1D(
            3,
            3,
            padding="same",
            kernel_quantizer="quantized_bits(6,0,alpha=1)",
            bias_quantizer="quantized_bits(8,2,alpha=1)",
            activation="quantized_relu(4,2)",
            name="conv",
        )
    ]
    return entries, {"conv": [("kernel", k), ("bias", b)]}, direct, {"conv": {"kernel": k, "bias": b}}, (8, 2)


def case_qconv2d() -> Case:
    k, b = grid((3, 3, 2, 4)), grid((4,))
    entries = [
        input_layer("x", (7, 7, 2)),
        layer(
            "QConv2D",
            "conv",
            filters=4,
            kernel_size=[3, 3],
            strides=[2, 2],
            kernel_quantizer=QB6,
            bias_quantizer=QB8_2,
            activation=QR6,
        ),
    ]
    direct = [
        L.QConv2D(
            4,
            3,
            strides=2,
            kernel_quantizer="quantized_bits(6,0,alpha=1)",
            bias_quantizer="quantized_bits(8,2,alpha=1)",
            activation="quantized_relu(6,2)",
            name="conv",
        )
    ]
    return entries, {"conv": [("kernel", k), ("bias", b)]}, direct, {"conv": {"kernel": k, "bias": b}}, (7, 7, 2)


def case_qdepthwise() -> Case:
    k, b = grid((3, 3, 2, 2)), grid((4,))
    entries = [
        input_layer("x", (6, 6, 2)),
        layer(
            "QDepthwiseConv2D",
            "dw",
            kernel_size=[3, 3],
            depth_multiplier=2,
            depthwise_quantizer=QB6,
            bias_quantizer=QB8_2,
        ),
    ]
    direct = [
        L.QDepthwiseConv2D(
            3,
            depth_multiplier=2,
            depthwise_quantizer="quantized_bits(6,0,alpha=1)",
            bias_quantizer="quantized_bits(8,2,alpha=1)",
            name="dw",
        )
    ]
    return entries, {"dw": [("depthwise_kernel", k), ("bias", b)]}, direct, {"dw": {"kernel": k, "bias": b}}, (6, 6, 2)


def _separable(rank: int) -> Case:
    kernel = [3] * rank
    dk, pk, b = grid((*kernel, 2, 1)), grid((*([1] * rank), 2, 3)), grid((3,))
    shape = (8, 2) if rank == 1 else (6, 6, 2)
    cls = "QSeparableConv1D" if rank == 1 else "QSeparableConv2D"
    entries = [
        input_layer("x", shape),
        layer(
            cls,
            "sep",
            filters=3,
            kernel_size=kernel,
            depthwise_quantizer=QB6,
            pointwise_quantizer=quantizer("quantized_bits", bits=4, integer=0, alpha=1),
            bias_quantizer=QB8_2,
            activation=QR6,
        ),
    ]
    direct = [
        getattr(L, cls)(
            3,
            3,
            depthwise_quantizer="quantized_bits(6,0,alpha=1)",
            pointwise_quantizer="quantized_bits(4,0,alpha=1)",
            bias_quantizer="quantized_bits(8,2,alpha=1)",
            activation="quantized_relu(6,2)",
            name="sep",
        )
    ]
    saved = {"sep": [("depthwise_kernel", dk), ("pointwise_kernel", pk), ("bias", b)]}
    return entries, saved, direct, {"sep": {"depthwise_kernel": dk, "pointwise_kernel": pk, "bias": b}}, shape


def case_qseparable1d() -> Case:
    return _separable(1)


def case_qseparable2d() -> Case:
    return _separable(2)


def case_qconv2dtranspose() -> Case:
    k, b = grid((3, 3, 2, 2)), grid((2,))  # (kh, kw, filters, in_channels)
    entries = [
        input_layer("x", (4, 4, 2)),
        layer(
            "QConv2DTranspose",
            "deconv",
            filters=2,
            kernel_size=[3, 3],
            strides=[2, 2],
            kernel_quantizer=QB6,
            bias_quantizer=QB8_2,
        ),
    ]
    direct = [
        L.QConv2DTranspose(
            2,
            3,
            strides=2,
            kernel_quantizer="quantized_bits(6,0,alpha=1)",
            bias_quantizer="quantized_bits(8,2,alpha=1)",
            name="deconv",
        )
    ]
    return entries, {"deconv": [("kernel", k), ("bias", b)]}, direct, {"deconv": {"kernel": k, "bias": b}}, (4, 4, 2)


def case_qactivation() -> Case:
    entries = [
        input_layer("x", (6,)),
        layer("QActivation", "q_in", activation="quantized_bits(6,2,alpha=1)"),  # the string form QKeras keeps
        layer("QActivation", "q_relu", activation=QR6),  # an object, saved as its dict
        layer("QActivation", "q_tanh", activation="quantized_tanh(6)"),
    ]
    direct = [
        L.QActivation("quantized_bits(6,2,alpha=1)", name="q_in"),
        L.QActivation("quantized_relu(6,2)", name="q_relu"),
        L.QActivation("quantized_tanh(6)", name="q_tanh"),
    ]
    return entries, {}, direct, {}, (6,)


def case_qbatchnorm() -> Case:
    g, be, m, v = positive((3,)), grid((3,)), grid((3,)), positive((3,))
    entries = [
        input_layer("x", (5, 3)),
        layer(
            "QBatchNormalization",
            "bn",
            axis=[2],
            gamma_quantizer=quantizer("quantized_relu_po2", bits=6, max_value=2048),
            beta_quantizer=quantizer("quantized_po2", bits=5),
            mean_quantizer=quantizer("quantized_po2", bits=5),
            variance_quantizer=quantizer("quantized_relu_po2", bits=6, quadratic_approximation=True),
        ),
    ]
    direct = [
        L.QBatchNormalization(
            axis=2,
            gamma_quantizer="quantized_relu_po2(6,2048)",
            beta_quantizer="quantized_po2(5)",
            mean_quantizer="quantized_po2(5)",
            variance_quantizer="quantized_relu_po2(6,quadratic_approximation=True)",
            name="bn",
        )
    ]
    saved = {"bn": [("gamma", g), ("beta", be), ("moving_mean", m), ("moving_variance", v)]}
    return entries, saved, direct, {"bn": {"gamma": g, "beta": be, "moving_mean": m, "moving_variance": v}}, (5, 3)


def _bn_weights(n: int) -> dict[str, np.ndarray]:
    return {"gamma": positive((n,)), "beta": grid((n,)), "moving_mean": grid((n,)), "moving_variance": positive((n,))}


def _qkeras_bn_names(layer_name: str, bn: dict[str, np.ndarray], iteration: int = 12) -> list[tuple[str, Any]]:
    """QKeras' folded layers: own kernel/bias, its BatchNormalization sublayer's weights, and ``iteration``."""
    sub = f"{layer_name}/batch_normalization"
    return [
        (f"{sub}/gamma:0", bn["gamma"]),
        (f"{sub}/beta:0", bn["beta"]),
        (f"{layer_name}/iteration:0", np.array(iteration, dtype=np.int64)),
        (f"{sub}/moving_mean:0", bn["moving_mean"]),
        (f"{sub}/moving_variance:0", bn["moving_variance"]),
    ]


def case_qdense_batchnorm() -> Case:
    k, b, bn = grid((5, 3)), grid((3,)), _bn_weights(3)
    entries = [
        input_layer("x", (5,)),
        layer("QDenseBatchnorm", "fcbn", units=3, axis=[1], kernel_quantizer=QB6, bias_quantizer=QB8_2, activation=QR6),
    ]
    direct = [
        L.QDenseBatchnorm(
            3,
            kernel_quantizer="quantized_bits(6,0,alpha=1)",
            bias_quantizer="quantized_bits(8,2,alpha=1)",
            activation="quantized_relu(6,2)",
            name="fcbn",
        )
    ]
    saved = {"fcbn": [("kernel", k), ("bias", b), *_qkeras_bn_names("fcbn", bn)]}
    weights = {"fcbn": {"kernel": k, "bias": b, "iteration": np.array(12), **bn}}
    return entries, saved, direct, weights, (5,)


def case_qconv2d_batchnorm() -> Case:
    k, b, bn = grid((3, 3, 2, 3)), grid((3,)), _bn_weights(3)
    entries = [
        input_layer("x", (6, 6, 2)),
        layer(
            "QConv2DBatchnorm",
            "convbn",
            filters=3,
            kernel_size=[3, 3],
            axis=[3],
            kernel_quantizer=QB6,
            bias_quantizer=QB8_2,
            activation=QR6,
        ),
    ]
    direct = [
        L.QConv2DBatchnorm(
            3,
            3,
            kernel_quantizer="quantized_bits(6,0,alpha=1)",
            bias_quantizer="quantized_bits(8,2,alpha=1)",
            activation="quantized_relu(6,2)",
            name="convbn",
        )
    ]
    saved = {"convbn": [("kernel", k), ("bias", b), *_qkeras_bn_names("convbn", bn)]}
    weights = {"convbn": {"kernel": k, "bias": b, "iteration": np.array(12), **bn}}
    return entries, saved, direct, weights, (6, 6, 2)


def case_qdepthwise_batchnorm() -> Case:
    k, b, bn = grid((3, 3, 2, 2)), grid((4,)), _bn_weights(4)
    entries = [
        input_layer("x", (6, 6, 2)),
        layer(
            "QDepthwiseConv2DBatchnorm",
            "dwbn",
            kernel_size=[3, 3],
            depth_multiplier=2,
            axis=[3],
            epsilon=0.01,
            depthwise_quantizer=QB6,
            bias_quantizer=QB8_2,
            activation=QR6,
        ),
    ]
    # The reference: QKeras' inference folding, gamma / sqrt(var + eps) per output channel (c * mult + m).
    inv = bn["gamma"].astype(np.float64) / np.sqrt(bn["moving_variance"].astype(np.float64) + 0.01)
    folded_k = (k.astype(np.float64) * inv.reshape(2, 2)).astype(np.float32)
    folded_b = (inv * (b - bn["moving_mean"].astype(np.float64)) + bn["beta"]).astype(np.float32)
    direct = [
        L.QDepthwiseConv2D(
            3,
            depth_multiplier=2,
            depthwise_quantizer="quantized_bits(6,0,alpha=1)",
            bias_quantizer="quantized_bits(8,2,alpha=1)",
            activation="quantized_relu(6,2)",
            name="dwbn",
        )
    ]
    saved = {"dwbn": [("depthwise_kernel", k), ("bias", b), *_qkeras_bn_names("dwbn", bn)]}
    return entries, saved, direct, {"dwbn": {"kernel": folded_k, "bias": folded_b}}, (6, 6, 2)


def case_qpooling() -> Case:
    entries = [
        input_layer("x", (6, 6, 2)),
        layer(
            "QAveragePooling2D",
            "avg",
            pool_size=[3, 3],
            strides=[3, 3],
            average_quantizer=quantizer("quantized_bits", bits=8, integer=0, alpha=1),
            activation=QR6,
        ),
        layer(
            "QGlobalAveragePooling2D",
            "gap",
            average_quantizer=quantizer("quantized_bits", bits=6, integer=0, alpha=1),
        ),
    ]
    direct = [
        L.QAveragePooling2D(
            3, average_quantizer="quantized_bits(8,0,alpha=1)", activation="quantized_relu(6,2)", name="avg"
        ),
        L.QGlobalAveragePooling2D(average_quantizer="quantized_bits(6,0,alpha=1)", name="gap"),
    ]
    return entries, {}, direct, {}, (6, 6, 2)


def case_keras_cnn() -> Case:
    """Plain Keras 2 layers around a quantized input, as many QKeras models mix them."""
    k, b, bn = grid((3, 3, 2, 4)), grid((4,)), _bn_weights(4)
    dk, db = grid((16, 3)), grid((3,))
    entries = [
        input_layer("x", (8, 8, 2)),
        layer("ZeroPadding2D", "pad"),
        layer("Conv2D", "conv", filters=4, kernel_size=[3, 3], activation="linear"),
        layer("BatchNormalization", "bn", axis=[3]),
        layer("ReLU", "relu"),
        layer("MaxPooling2D", "pool", pool_size=[3, 3], strides=[3, 3]),
        layer("Flatten", "flat"),
        layer("Dropout", "drop", rate=0.25),
        layer("Dense", "fc", units=3, activation="relu"),
        layer("LeakyReLU", "leaky", alpha=0.125),
        layer("Activation", "act", activation="linear"),
    ]
    direct = [
        keras.layers.ZeroPadding2D(1, name="pad"),
        keras.layers.Conv2D(4, 3, name="conv"),
        keras.layers.BatchNormalization(axis=3, name="bn"),
        keras.layers.ReLU(name="relu"),
        keras.layers.MaxPooling2D(3, name="pool"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dropout(0.25, name="drop"),
        keras.layers.Dense(3, activation="relu", name="fc"),
        keras.layers.LeakyReLU(negative_slope=0.125, name="leaky"),
        keras.layers.Activation("linear", name="act"),
    ]
    saved = {
        "conv": [("kernel", k), ("bias", b)],
        "bn": [(n, bn[n]) for n in ("gamma", "beta", "moving_mean", "moving_variance")],
        "fc": [("kernel", dk), ("bias", db)],
    }
    weights = {"conv": {"kernel": k, "bias": b}, "bn": bn, "fc": {"kernel": dk, "bias": db}}
    return entries, saved, direct, weights, (8, 8, 2)


def case_keras_conv1d_and_separable() -> Case:
    k, b = grid((3, 2, 4)), grid((4,))
    sk, sp, sb = grid((3, 4, 1)), grid((1, 4, 2)), grid((2,))
    entries = [
        input_layer("x", (10, 2)),
        layer("ZeroPadding1D", "pad"),
        layer("Conv1D", "conv", filters=4, kernel_size=[3], activation="relu"),
        layer("MaxPooling1D", "pool"),
        layer("SeparableConv1D", "sep", filters=2, kernel_size=[3]),
        layer("Reshape", "reshape", target_shape=[6]),
    ]
    direct = [
        keras.layers.ZeroPadding1D(1, name="pad"),
        keras.layers.Conv1D(4, 3, activation="relu", name="conv"),
        keras.layers.MaxPooling1D(name="pool"),
        keras.layers.SeparableConv1D(2, 3, name="sep"),
        keras.layers.Reshape((6,), name="reshape"),
    ]
    saved = {
        "conv": [("kernel", k), ("bias", b)],
        "sep": [("depthwise_kernel", sk), ("pointwise_kernel", sp), ("bias", sb)],
    }
    weights = {"conv": {"kernel": k, "bias": b}, "sep": {"depthwise_kernel": sk, "pointwise_kernel": sp, "bias": sb}}
    return entries, saved, direct, weights, (10, 2)


def case_keras_depthwise_transpose() -> Case:
    dk, db = grid((3, 3, 2, 1)), grid((2,))
    tk, tb = grid((2, 2, 3, 2)), grid((3,))
    sk, sp, sb = grid((3, 3, 3, 1)), grid((1, 1, 3, 2)), grid((2,))
    entries = [
        input_layer("x", (6, 6, 2)),
        layer("DepthwiseConv2D", "dw", kernel_size=[3, 3]),
        layer("QActivation", "q1", activation="quantized_bits(8,3,alpha=1)"),
        layer("Conv2DTranspose", "deconv", filters=3, kernel_size=[2, 2], strides=[2, 2]),
        layer("QActivation", "q2", activation="quantized_bits(8,3,alpha=1)"),
        layer("SeparableConv2D", "sep", filters=2, kernel_size=[3, 3]),
        layer("GlobalAveragePooling2D", "gap"),
    ]
    direct = [
        keras.layers.DepthwiseConv2D(3, name="dw"),
        L.QActivation("quantized_bits(8,3,alpha=1)", name="q1"),
        keras.layers.Conv2DTranspose(3, 2, strides=2, name="deconv"),
        L.QActivation("quantized_bits(8,3,alpha=1)", name="q2"),
        keras.layers.SeparableConv2D(2, 3, name="sep"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
    ]
    saved = {
        "dw": [("depthwise_kernel", dk), ("bias", db)],
        "deconv": [("kernel", tk), ("bias", tb)],
        "sep": [("depthwise_kernel", sk), ("pointwise_kernel", sp), ("bias", sb)],
    }
    weights = {
        "dw": {"kernel": dk, "bias": db},
        "deconv": {"kernel": tk, "bias": tb},
        "sep": {"depthwise_kernel": sk, "pointwise_kernel": sp, "bias": sb},
    }
    return entries, saved, direct, weights, (6, 6, 2)


LAYER_CASES: dict[str, Callable[[], Case]] = {
    name[len("case_") :]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")
}


def _x(shape: tuple[int, ...], n: int = 16) -> np.ndarray:
    return grid((n, *shape), lo=-64, hi=64)


@pytest.mark.parametrize("form", ["h5", "json"])
@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_layer_imports_like_the_direct_model(case: str, form: str, tmp_path: Path) -> None:
    entries, saved, direct_layers, weights, shape = LAYER_CASES[case]()
    config = sequential(entries, name=f"qk_{case}")
    if form == "h5":
        imported = fpgaq.load_qkeras(write_model_h5(tmp_path / "m.h5", config, saved))
    else:
        imported = fpgaq.load_qkeras(*write_json_and_weights(tmp_path, config, saved))
    direct = direct_model(shape, direct_layers, weights)
    assert imported.name == f"qk_{case}"
    assert_same_model(imported, direct, _x(shape))


def test_every_listed_class_has_a_case() -> None:
    """Every QKeras layer fpgaq has (and the folded depthwise) is exercised above."""
    covered = set()
    for fn in LAYER_CASES.values():
        covered.update(e["class_name"] for e in fn()[0])
    missing = {n for n in supported_layers() if n.startswith("Q")} - covered
    assert not missing


# ----------------------------------------------------------------------------------- quantizers
#: Per quantizer: the QKeras config (changes from its defaults) and the same quantizer's string form.
QUANTIZER_CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "quantized_bits": ("quantized_bits", {"bits": 6, "integer": 1, "alpha": 1}, "quantized_bits(6,1,alpha=1)"),
    "quantized_bits_auto_po2": (
        "quantized_bits",
        {"bits": 4, "integer": 0, "symmetric": True, "alpha": "auto_po2"},
        "quantized_bits(4,0,1,alpha='auto_po2')",
    ),
    "quantized_bits_alpha": (
        "quantized_bits",
        {"bits": 5, "integer": 0, "alpha": 0.5},
        "quantized_bits(5,0,alpha=0.5)",
    ),
    "quantized_relu": ("quantized_relu", {"bits": 6, "integer": 2}, "quantized_relu(6,2)"),
    "quantized_po2": ("quantized_po2", {"bits": 4, "max_value": 2}, "quantized_po2(4,2)"),
    "quantized_relu_po2": ("quantized_relu_po2", {"bits": 4, "max_value": 4}, "quantized_relu_po2(4,4)"),
    "quantized_tanh": ("quantized_tanh", {"bits": 6}, "quantized_tanh(6)"),
    "quantized_sigmoid": ("quantized_sigmoid", {"bits": 6}, "quantized_sigmoid(6)"),
    "quantized_ulaw": ("quantized_ulaw", {"bits": 8}, "quantized_ulaw(8)"),
    "binary": ("binary", {"alpha": 1}, "binary(alpha=1)"),
    "binary_auto_po2": ("binary", {"alpha": "auto_po2"}, "binary(alpha='auto_po2')"),
    "stochastic_binary": ("stochastic_binary", {}, "stochastic_binary()"),
    "bernoulli": ("bernoulli", {}, "bernoulli()"),
    "ternary": ("ternary", {"threshold": 0.5}, "ternary(threshold=0.5)"),
    "stochastic_ternary": ("stochastic_ternary", {}, "stochastic_ternary()"),
    "quantized_linear": ("quantized_linear", {"bits": 6, "integer": 1}, "quantized_linear(6,1)"),
    "quantized_hswish": ("quantized_hswish", {"bits": 8, "integer": 2}, "quantized_hswish(8,2)"),
    **{name: (name, {}, name) for name in QKERAS_FUNCTION_QUANTIZERS},
}


def test_quantizer_cases_cover_the_registry() -> None:
    """A quantizer added to fpgaq.quantizers must get a case here (and a QKeras config in the writer)."""
    names = {name for name, _, _ in QUANTIZER_CASES.values()}
    qkeras_side = set(QUANTIZERS) - LARQ_QUANTIZERS - FPGAQ_ONLY  # Larq's: tests/test_larq_import.py
    assert names == qkeras_side
    assert set(QKERAS_QUANTIZER_DEFAULTS) | set(QKERAS_FUNCTION_QUANTIZERS) == qkeras_side


@pytest.mark.parametrize("position", ["kernel", "activation_object", "activation_string"])
@pytest.mark.parametrize("key", sorted(QUANTIZER_CASES))
def test_quantizer_imports_as_object_and_string(key: str, position: str, tmp_path: Path) -> None:
    """Each quantizer where QKeras saves it: a QDense kernel (always its config dict, QKeras serializes the
    object) and a QActivation (the dict of an object, or the string as given)."""
    name, changes, text = QUANTIZER_CASES[key]
    as_object = quantizer(name, **changes)  # what QKeras' get_config writes
    k, b = grid((6, 4)), grid((4,))
    if position == "kernel":
        qk_layers = [layer("QDense", "fc", units=4, kernel_quantizer=as_object, bias_quantizer=QB8_2)]
        direct_layers = [L.QDense(4, kernel_quantizer=text, bias_quantizer="quantized_bits(8,2,alpha=1)", name="fc")]
    else:
        saved_form = as_object if position == "activation_object" else text
        qk_layers = [
            layer("QDense", "fc", units=4, kernel_quantizer=QB6, bias_quantizer=QB8_2),
            layer("QActivation", "act", activation=saved_form),
        ]
        direct_layers = [
            L.QDense(
                4,
                kernel_quantizer="quantized_bits(6,0,alpha=1)",
                bias_quantizer="quantized_bits(8,2,alpha=1)",
                name="fc",
            ),
            L.QActivation(text, name="act"),
        ]
    saved = {"fc": [("kernel", k), ("bias", b)]}
    imported = fpgaq.load_qkeras(
        write_model_h5(tmp_path / "m.h5", sequential([input_layer("x", (6,)), *qk_layers]), saved)
    )
    expected = str(fpgaq.get_quantizer(text))
    if position == "kernel":
        assert str(imported.get_layer("fc").kernel_quantizer_internal) == expected
    else:
        assert str(imported.get_layer("act").activation) == expected
    direct = direct_model((6,), direct_layers, {"fc": {"kernel": k, "bias": b}})
    # bernoulli samples at inference, in QKeras too: compare everything but the outputs.
    assert_same_model(imported, direct, _x((6,)), random=name == "bernoulli")


def test_activation_forms_of_keras_2_13(tmp_path: Path) -> None:
    """Newer Keras 2 wraps functions, quantizers and dtypes in module/registered_name dicts."""
    k = grid((4, 2))
    fc = layer(
        "QDense",
        "fc",
        units=2,
        use_bias=False,
        kernel_quantizer={**QB6, "module": "qkeras.quantizers", "registered_name": "quantized_bits"},
        activation={
            "module": "keras.activations",
            "class_name": "function",
            "config": "relu",
            "registered_name": "function",
        },
        dtype={"module": "keras", "class_name": "Policy", "config": {"name": "float32"}, "registered_name": None},
    )
    imported = fpgaq.load_qkeras(
        write_model_h5(tmp_path / "m.h5", sequential([input_layer("x", (4,)), fc]), {"fc": [("kernel", k)]})
    )
    direct = direct_model(
        (4,),
        [L.QDense(2, use_bias=False, kernel_quantizer="quantized_bits(6,0,alpha=1)", activation="relu", name="fc")],
        {"fc": {"kernel": k}},
    )
    assert_same_model(imported, direct, _x((4,)))


# ----------------------------------------------------------------------------------- functional models
def _functional_config() -> tuple[dict, dict, dict]:
    ka, kb, kc = grid((4, 3)), grid((4, 3)), grid((6, 2))
    config = functional(
        [
            (input_layer("x", (4,)), []),
            (layer("QActivation", "q_in", activation="quantized_bits(8,3,alpha=1)"), [["x"]]),
            (layer("QDense", "a", units=3, kernel_quantizer=QB6, use_bias=False), [["q_in"]]),
            (layer("QDense", "b", units=3, kernel_quantizer=QB6, use_bias=False, activation=QR6), [["q_in"]]),
            (layer("Add", "sum"), [["a", "b"]]),
            (layer("Concatenate", "cat"), [["sum", "b"]]),
            (layer("QDense", "out", units=2, kernel_quantizer=QB6, use_bias=False), [["cat"]]),
        ],
        inputs=["x"],
        outputs=["out"],
        name="branchy",
    )
    saved = {"a": [("kernel", ka)], "b": [("kernel", kb)], "out": [("kernel", kc)]}
    return config, saved, {"a": {"kernel": ka}, "b": {"kernel": kb}, "out": {"kernel": kc}}


def test_functional_model_with_merges(tmp_path: Path) -> None:
    config, saved, weights = _functional_config()
    imported = fpgaq.load_qkeras(write_model_h5(tmp_path / "m.h5", config, saved))
    x = keras.Input((4,), name="x")
    q = L.QActivation("quantized_bits(8,3,alpha=1)", name="q_in")(x)
    a = L.QDense(3, kernel_quantizer="quantized_bits(6,0,alpha=1)", use_bias=False, name="a")(q)
    b = L.QDense(
        3, kernel_quantizer="quantized_bits(6,0,alpha=1)", use_bias=False, activation="quantized_relu(6,2)", name="b"
    )(q)
    s = keras.layers.Add(name="sum")([a, b])
    c = keras.layers.Concatenate(name="cat")([s, b])
    out = L.QDense(2, kernel_quantizer="quantized_bits(6,0,alpha=1)", use_bias=False, name="out")(c)
    direct = keras.Model(x, out)
    set_by_name(direct, weights)
    assert imported.name == "branchy"
    assert [la.name for la in imported.layers] == ["x", "q_in", "a", "b", "sum", "cat", "out"]
    assert_same_model(imported, direct, _x((4,)))


def test_functional_layers_listed_before_their_inputs_and_flat_io(tmp_path: Path) -> None:
    """Keras 2 may list a layer before the ones it reads, and single inputs as one flat triple."""
    config, saved, _ = _functional_config()
    layers = config["config"]["layers"]
    config["config"]["layers"] = [layers[0], layers[-1], *layers[1:-1]]
    config["config"]["input_layers"] = ["x", 0, 0]
    config["config"]["output_layers"] = ["out", 0, 0]
    reordered = fpgaq.load_qkeras(write_model_h5(tmp_path / "r.h5", config, saved))
    original_config, _, _ = _functional_config()
    original = fpgaq.load_qkeras(write_model_h5(tmp_path / "o.h5", original_config, saved))
    x = _x((4,))
    np.testing.assert_array_equal(reordered.predict(x, verbose=0), original.predict(x, verbose=0))


def test_shared_layer_is_called_once_per_inbound_node(tmp_path: Path) -> None:
    k = grid((3, 3))
    config = functional(
        [
            (input_layer("x", (3,)), []),
            (layer("Dense", "shared", units=3, use_bias=False), [["x"], [("shared", 0, 0)]]),
        ],
        inputs=["x"],
        outputs=["shared"],
    )
    config["config"]["output_layers"] = [["shared", 1, 0]]
    model = fpgaq.load_qkeras(write_model_h5(tmp_path / "m.h5", config, {"shared": [("kernel", k)]}))
    x = _x((3,))
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ k @ k, rtol=1e-6)


def test_keras_2_2_sequential_list_and_weights_override(tmp_path: Path) -> None:
    """Keras <= 2.2 wrote a Sequential config as a bare list; weights_path overrides a full file's weights."""
    k1, k2 = grid((3, 2)), grid((3, 2))
    entries = [layer("Dense", "fc", units=2, use_bias=False, batch_input_shape=[None, 3])]
    config = {"class_name": "Sequential", "config": entries}
    full = write_model_h5(tmp_path / "m.h5", config, {"fc": [("kernel", k1)]})
    override = write_weights_h5(tmp_path / "w.h5", config, {"fc": [("kernel", k2)]})
    np.testing.assert_array_equal(np.asarray(fpgaq.load_qkeras(full).get_layer("fc").kernel), k1)
    np.testing.assert_array_equal(np.asarray(fpgaq.load_qkeras(full, override).get_layer("fc").kernel), k2)
    assert is_keras2_h5(full)
    assert not is_keras2_h5(override)


def test_imported_model_saves_and_reloads_in_keras_3(tmp_path: Path) -> None:
    entries, saved, _, _, shape = case_qconv2d_batchnorm()
    imported = fpgaq.load_qkeras(write_model_h5(tmp_path / "m.h5", sequential(entries), saved))
    imported.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    x = _x(shape)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), imported.predict(x, verbose=0))


# ----------------------------------------------------------------------------------- errors
def _write(tmp_path: Path, entries: list[dict], saved: dict | None = None) -> Path:
    return write_model_h5(tmp_path / "m.h5", sequential(entries), saved or {})


def test_unknown_layer_names_layer_and_supported(tmp_path: Path) -> None:
    # QKeras' QAdaptiveActivation has no fpgaq twin (recurrent layers have their own message: test_qkeras_corpus.py)
    path = _write(tmp_path, [input_layer("x", (4, 3)), layer("QAdaptiveActivation", "act", activation="relu")])
    with pytest.raises(QKerasImportError) as info:
        fpgaq.load_qkeras(path)
    message = str(info.value)
    assert "layer 'act' (QAdaptiveActivation)" in message
    assert "'QAdaptiveActivation' cannot be imported" in message
    assert "QDense" in message and "QDepthwiseConv2DBatchnorm" in message


@pytest.mark.parametrize(
    "spec",
    [
        {"class_name": "quantized_foo", "config": {"bits": 4}},
        "quantized_foo(4)",
        {"class_name": "quantized_bits", "config": {"bits": 4, "no_such_argument": 1}},
    ],
)
def test_unknown_quantizer_names_layer_and_setting(spec: Any, tmp_path: Path) -> None:
    path = _write(tmp_path, [input_layer("x", (4,)), layer("QDense", "fc", units=2, kernel_quantizer=spec)])
    with pytest.raises(QKerasImportError) as info:
        fpgaq.load_qkeras(path)
    message = str(info.value)
    assert message.startswith("layer 'fc' (QDense): kernel_quantizer=")
    assert "quantized_relu" in message  # the supported list


def test_unknown_activation_string(tmp_path: Path) -> None:
    path = _write(tmp_path, [input_layer("x", (4,)), layer("QActivation", "act", activation="quantized_foo(4)")])
    with pytest.raises(QKerasImportError, match=r"^layer 'act' \(QActivation\): activation='quantized_foo\(4\)'"):
        fpgaq.load_qkeras(path)


def test_setting_without_equivalent(tmp_path: Path) -> None:
    path = _write(tmp_path, [input_layer("x", (6, 6, 2)), layer("DepthwiseConv2D", "dw", kernel_size=[3, 3], groups=2)])
    with pytest.raises(QKerasImportError) as info:
        fpgaq.load_qkeras(path)
    assert str(info.value).startswith("layer 'dw' (DepthwiseConv2D): setting groups=2 has no equivalent")
    assert "depth_multiplier" in str(info.value)


def test_keras_3_file_is_refused(tmp_path: Path) -> None:
    path = write_model_h5(
        tmp_path / "m.h5",
        sequential([layer("Dense", "fc", units=2, batch_input_shape=[None, 3])]),
        {},
        keras_version="3.4.1",
    )
    expected = "saved by Keras 3.4.1, not Keras 2; load Keras 3 files with keras.models.load_model"
    with pytest.raises(QKerasImportError, match=re.escape(expected)):
        fpgaq.load_qkeras(path)


def test_weights_only_file_and_missing_weights_path(tmp_path: Path) -> None:
    config = sequential([layer("Dense", "fc", units=2, batch_input_shape=[None, 3])])
    json_path, weights = write_json_and_weights(
        tmp_path, config, {"fc": [("kernel", grid((3, 2))), ("bias", grid((2,)))]}
    )
    with pytest.raises(QKerasImportError, match=r"without 'model_config'.*pass the model\.to_json"):
        fpgaq.load_qkeras(weights)
    with pytest.raises(QKerasImportError, match="carries no weights; pass weights_path"):
        fpgaq.load_qkeras(json_path)


def test_weight_mismatches(tmp_path: Path) -> None:
    entries = [layer("Dense", "fc", units=2, batch_input_shape=[None, 3])]
    with pytest.raises(QKerasImportError, match=r"layer 'fc' \(Dense\): saved weight 'kernel' has shape \(4, 2\)"):
        fpgaq.load_qkeras(_write(tmp_path, entries, {"fc": [("kernel", grid((4, 2))), ("bias", grid((2,)))]}))
    with pytest.raises(QKerasImportError, match=r"layer 'fc' \(Dense\): the weights file lacks \['bias'\]"):
        fpgaq.load_qkeras(_write(tmp_path, entries, {"fc": [("kernel", grid((3, 2)))]}))
    with pytest.raises(QKerasImportError, match=r"saved weight 'scale' has no counterpart"):
        fpgaq.load_qkeras(
            _write(tmp_path, entries, {"fc": [("kernel", grid((3, 2))), ("bias", grid((2,))), ("scale", grid((2,)))]})
        )


def test_first_sequential_layer_without_input_shape(tmp_path: Path) -> None:
    with pytest.raises(QKerasImportError, match="has no batch_input_shape"):
        fpgaq.load_qkeras(_write(tmp_path, [layer("Dense", "fc", units=2)]))


def test_file_layout_is_keras_2(tmp_path: Path) -> None:
    """The writer's own layout, checked against Keras 2's format (so the tests above read real-looking files)."""
    entries, saved, *_ = case_qconv2d_batchnorm()
    path = _write(tmp_path, entries, saved)
    with h5py.File(path, "r") as f:
        version = f.attrs["keras_version"]
        assert (version.decode() if isinstance(version, bytes) else version).startswith("2.")
        assert [n.decode() for n in f["model_weights"].attrs["layer_names"]] == ["convbn"]
        names = [n.decode() for n in f["model_weights/convbn"].attrs["weight_names"]]
        assert names[:2] == ["convbn/kernel:0", "convbn/bias:0"]
        assert f["model_weights/convbn/convbn/batch_normalization/gamma:0"].shape == (3,)


def test_commands_take_a_qkeras_h5_directly(tmp_path: Path, capsys) -> None:
    """`fpgaq convert model.h5` (and every command that loads a model) imports QKeras files."""
    from fpgaq.cli import main

    entries, saved, *_ = case_qdense()
    path = write_model_h5(tmp_path / "m.h5", sequential(entries, name="qk_cli"), saved)
    assert main(["summary", str(path)]) == 0
    assert "qk_cli" in capsys.readouterr().out
    assert main(["convert", str(path), "--backend", "rtl", "-o", str(tmp_path / "rtl")]) == 0
    manifest = json.loads((tmp_path / "rtl" / "fpgaq_rtl.json").read_text())
    assert manifest["top"] == "qk_cli"
    assert main(["estimate", str(path)]) == 0
