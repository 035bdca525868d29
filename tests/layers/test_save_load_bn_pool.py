"""Batchnorm, folded and pooling layers survive model.save / keras.models.load_model unchanged."""

import json
import zipfile

import keras
import numpy as np
import pytest
from _qlayer_testing import TestGrid, grid_inputs, has_quantizer, use_grid

from fpgaq.layers.batchnorm import QBatchNormalization
from fpgaq.layers.folded import QConv2DBatchnorm, QDenseBatchnorm
from fpgaq.layers.pooling import QAveragePooling2D, QGlobalAveragePooling2D


@pytest.fixture(autouse=True)
def _grid(monkeypatch: pytest.MonkeyPatch) -> None:
    use_grid(monkeypatch)


NO_STATS_Q = {"mean_quantizer": None, "variance_quantizer": None}


def build_model(kernel_q, bias_q, act_q, bn_kwargs):
    inputs = keras.Input((8, 8, 2))
    x = QConv2DBatchnorm(
        4,
        3,
        padding="same",
        kernel_quantizer=kernel_q,
        bias_quantizer=bias_q,
        activation=act_q,
        ema_freeze_delay=3,
        name="conv_bn",
    )(inputs)
    x = QAveragePooling2D(2, average_quantizer=TestGrid(8, 0), activation=act_q, name="avg")(x)
    x = QBatchNormalization(name="bn", **bn_kwargs)(x)
    x = QConv2DBatchnorm(
        3, 3, strides=2, padding="same", kernel_quantizer=kernel_q, folding_mode="batch_stats_folding", name="conv_bn2"
    )(x)
    x = QGlobalAveragePooling2D(average_quantizer=TestGrid(8, 0), name="gap")(x)
    outputs = QDenseBatchnorm(2, kernel_quantizer=kernel_q, bias_quantizer=bias_q, name="dense_bn")(x)
    return keras.Model(inputs, outputs)


def trained(model, rng):
    """Four eager training steps' worth of statistics and step counts, and perturbed weights
    (fit's graph would cost seconds; the layers' fit is tested on its own)."""
    for _ in range(4):
        model(grid_inputs(rng, (8, 8, 8, 2)), training=True)
    for weight in model.trainable_weights:
        weight.assign(np.asarray(weight) + rng.normal(0, 0.05, weight.shape).astype(np.float32))
    return model


def assert_round_trip(model, path, rng):
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects
    x = grid_inputs(rng, (16, 8, 8, 2))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), np.asarray(model(x, training=False)))
    for layer in model.layers[1:]:
        twin = loaded.get_layer(layer.name)
        assert type(twin) is type(layer)
        assert twin.get_config() == layer.get_config()
        assert twin.get_quantizers() == layer.get_quantizers()
        for a, b in zip(layer.weights, twin.weights, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    return loaded


def test_round_trip_with_quantizer_objects_after_training(tmp_path, rng):
    model = trained(
        build_model(
            TestGrid(6, 0),
            TestGrid(8, 3),
            TestGrid(6, 2),
            {**NO_STATS_Q, "gamma_quantizer": TestGrid(6, 2), "beta_quantizer": TestGrid(6, 2)},
        ),
        rng,
    )
    loaded = assert_round_trip(model, tmp_path / "m.keras", rng)
    conv = loaded.get_layer("conv_bn")
    assert int(conv.iteration.numpy()) == 3  # -1 + 4 training steps, resumed on load
    assert conv.folding_mode == "ema_stats_folding" and conv.ema_freeze_delay == 3
    assert loaded.get_layer("conv_bn2").folding_mode == "batch_stats_folding"
    for a, b in zip(
        model.get_layer("dense_bn").get_folded_weights(), loaded.get_layer("dense_bn").get_folded_weights(), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_saved_config_names_quantizers_qkeras_style(tmp_path, rng):
    model = build_model(
        "test_grid(6,0)", None, "relu", {**NO_STATS_Q, "gamma_quantizer": "test_grid(6,2)", "beta_quantizer": None}
    )
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        config = json.loads(archive.read("config.json"))
    layers = {layer["config"]["name"]: layer for layer in config["config"]["layers"]}
    assert layers["conv_bn"]["registered_name"] == "fpgaq>QConv2DBatchnorm"
    assert layers["conv_bn"]["config"]["kernel_quantizer"] == {
        "class_name": "test_grid",
        "config": {"bits": 6, "integer": 0},
    }
    assert layers["conv_bn"]["config"]["bias_quantizer"] is None
    assert layers["bn"]["config"]["gamma_quantizer"] == {"class_name": "test_grid", "config": {"bits": 6, "integer": 2}}
    assert layers["avg"]["config"]["average_quantizer"] == {
        "class_name": "test_grid",
        "config": {"bits": 8, "integer": 0},
    }
    assert layers["avg"]["config"]["activation"] == "relu"
    assert_round_trip(model, tmp_path / "m2.keras", rng)


@pytest.mark.skipif(
    not all(has_quantizer(q) for q in ("quantized_bits", "quantized_relu", "quantized_po2", "quantized_relu_po2")),
    reason="real quantizers not registered yet",
)
def test_round_trip_with_real_quantizer_strings_and_qkeras_default_batchnorm(tmp_path, rng):
    model = trained(
        build_model("quantized_bits(6,0,alpha=1)", "quantized_bits(8,3,alpha=1)", "quantized_relu(6,2)", {}), rng
    )
    assert model.get_layer("bn").get_quantizers()[0].name == "quantized_relu_po2"
    assert_round_trip(model, tmp_path / "m.keras", rng)
