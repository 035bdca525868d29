"""prune_dead_channels: learned activations trained to no bits remove their neurons' columns, backwards."""

from __future__ import annotations

import warnings

import keras
import numpy as np

import fpgaq
from fpgaq.layers import QActivation, QDense
from fpgaq.quantizers import learned_bits


def _model() -> keras.Model:
    """dense(6) -> learned (channels 1 and 4 vanish) -> dense(5) -> learned (channel 2 vanishes) -> dense(3)."""
    rng = np.random.default_rng(0)
    inp = keras.Input((8,))
    x = QActivation("quantized_bits(8,3,alpha=1)")(inp)
    layers = []
    for i, units in enumerate((6, 5, 3)):
        dense = QDense(
            units,
            kernel_quantizer="quantized_bits(6,1,alpha=1)",
            bias_quantizer="quantized_bits(6,2,alpha=1)",
            name=f"d{i}",
        )
        x = dense(x)
        dense.set_weights([rng.normal(0, 0.7, w.shape).astype(np.float32) for w in dense.get_weights()])
        layers.append(dense)
        if i < 2:
            act = QActivation(learned_bits(6, 2, granularity="channel"), name=f"a{i}")
            x = act(x)
            integer = np.full(units, 2)
            integer[[1, 4] if i == 0 else [2]] = -8
            act.quantizer.set_bits(np.full(units, 3), integer)
    return keras.Model(inp, x)


def test_vanished_channels_lose_their_columns_and_the_numbers_stay() -> None:
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = fpgaq.convert(model)
    d0, d1 = design.graph.node("d0"), design.graph.node("d1")
    assert set(d0.attrs["dead_channels"]) == {1, 4}
    assert not d0.weights["kernel"].values[:, [1, 4]].any() and not d0.weights["bias"].values[[1, 4]].any()
    assert set(d1.attrs["dead_channels"]) == {2}
    x = np.random.default_rng(1).uniform(-10, 10, size=(500, 8)).astype(np.float32)
    want = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), dtype=np.float64)
    assert np.array_equal(design.predict(x), want)


def test_a_channel_nobody_reads_is_pruned_too() -> None:
    model = _model()
    d2 = model.get_layer("d2")
    kernel, bias = d2.get_weights()
    kernel[0] = 0  # d2 no longer reads channel 0 of a1, so d1's column 0 is dead, though a1 keeps its bits
    d2.set_weights([kernel, bias])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = fpgaq.convert(model)
    assert set(design.graph.node("d1").attrs["dead_channels"]) == {0, 2}
    x = np.random.default_rng(2).uniform(-10, 10, size=(500, 8)).astype(np.float32)
    want = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), dtype=np.float64)
    assert np.array_equal(design.predict(x), want)


def test_a_tensor_also_read_by_a_branch_keeps_every_channel() -> None:
    """A learned activation read first by a dense layer and then by an add (a residual branch): the add
    reads every element, whatever the dense layer reads (found by the random-model soak, seed 114:
    the mask of the dense reader came back inverted, and every live column was zeroed)."""
    rng = np.random.default_rng(3)
    inp = keras.Input((8,))
    x = QActivation("quantized_bits(8,3,alpha=1)")(inp)
    d0 = QDense(6, kernel_quantizer="quantized_bits(6,1,alpha=1)", bias_quantizer="quantized_bits(6,2,alpha=1)")
    x = d0(x)
    act = QActivation(learned_bits(6, 2, granularity="channel"), name="a0")
    x = act(x)
    act.quantizer.set_bits(np.full(6, 3), np.full(6, 2))
    side = QDense(6, kernel_quantizer="quantized_bits(4,0,alpha=1)", bias_quantizer="quantized_bits(4,0,alpha=1)")
    y = keras.layers.Add()([side(x), x])  # the dense reader comes first, the add second
    for layer in (d0, side):
        layer.set_weights([rng.normal(0, 0.7, w.shape).astype(np.float32) for w in layer.get_weights()])
    model = keras.Model(inp, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = fpgaq.convert(model)
    assert not design.graph.node(d0.name).attrs.get("dead_channels")
    assert design.graph.node(d0.name).weights["kernel"].values.any()
    x = np.random.default_rng(4).uniform(-10, 10, size=(500, 8)).astype(np.float32)
    want = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), dtype=np.float64)
    assert np.array_equal(design.predict(x), want)
