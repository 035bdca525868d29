"""Every quantized compute layer survives ``model.save`` / ``keras.models.load_model``
with no ``custom_objects``: same class, weights, quantizers, constraints and outputs."""

import keras
import numpy as np
import pytest
from _qlayer_testing import GRID, TestGrid, grid_inputs, has_quantizer, use_grid, weights

from fpgaq.layers.activation import QActivation
from fpgaq.layers.common import Clip
from fpgaq.layers.conv import QConv1D, QConv2D, QConv2DTranspose
from fpgaq.layers.dense import QDense
from fpgaq.layers.depthwise import QDepthwiseConv2D
from fpgaq.layers.separable import QSeparableConv1D, QSeparableConv2D


@pytest.fixture(autouse=True)
def _grid(monkeypatch: pytest.MonkeyPatch) -> None:
    use_grid(monkeypatch)


GRID_DICT = {"class_name": GRID, "config": {"bits": 6, "integer": 2}}

CASES = {
    "QDense": (
        lambda: QDense(3, kernel_quantizer=f"{GRID}(4)", bias_quantizer=GRID_DICT, activation=f"{GRID}(5, 1)"),
        (4,),
    ),
    "QConv1D": (lambda: QConv1D(3, 2, padding="causal", kernel_quantizer=TestGrid(), activation="relu"), (6, 2)),
    "QConv2D": (
        lambda: QConv2D(3, 2, strides=2, padding="same", kernel_quantizer=TestGrid(), bias_quantizer=TestGrid(6, 2)),
        (5, 5, 2),
    ),
    "QConv2DTranspose": (
        lambda: QConv2DTranspose(
            3, 3, strides=2, padding="same", output_padding=1, kernel_quantizer=TestGrid(), bias_quantizer=TestGrid()
        ),
        (3, 3, 2),
    ),
    "QDepthwiseConv2D": (
        lambda: QDepthwiseConv2D(3, depth_multiplier=2, depthwise_quantizer=f"{GRID}(4)", bias_quantizer=GRID_DICT),
        (5, 5, 2),
    ),
    "QSeparableConv1D": (
        lambda: QSeparableConv1D(
            3, 3, depth_multiplier=2, depthwise_quantizer=TestGrid(), pointwise_quantizer=TestGrid(), activation=GRID
        ),
        (6, 2),
    ),
    "QSeparableConv2D": (
        lambda: QSeparableConv2D(
            3,
            3,
            padding="same",
            depthwise_quantizer=TestGrid(),
            pointwise_quantizer=TestGrid(6, 2),
            bias_quantizer=TestGrid(),
        ),
        (5, 5, 2),
    ),
    "QActivation-quantizer": (lambda: QActivation(f"{GRID}(4)"), (5,)),
    "QActivation-keras": (lambda: QActivation("relu"), (5,)),
}


def round_trip(tmp_path, make_layer, input_shape, rng):
    model = keras.Sequential([keras.Input(input_shape), make_layer()])
    layer = model.layers[0]
    layer.set_weights([weights(rng, w.shape) for w in layer.get_weights()])
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    return model, layer, loaded, loaded.layers[0]


@pytest.mark.parametrize("case", CASES)
def test_round_trip(tmp_path, rng, case):
    make_layer, input_shape = CASES[case]
    model, layer, loaded, again = round_trip(tmp_path, make_layer, input_shape, rng)
    assert type(again) is type(layer)
    assert again.get_config() == layer.get_config()
    assert again.get_quantizers() == layer.get_quantizers()
    assert again.quantizer_config() == layer.quantizer_config()
    assert len(again.get_weights()) == len(layer.get_weights())
    for got, want in zip(again.get_weights(), layer.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    x = grid_inputs(rng, (4, *input_shape))
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))


def test_round_trip_keeps_the_qkeras_clip_constraints(tmp_path, rng):
    _, layer, _, again = round_trip(tmp_path, *CASES["QSeparableConv2D"], rng)
    for name in ("depthwise_constraint", "pointwise_constraint", "bias_constraint"):
        got, want = getattr(again, name), getattr(layer, name)
        assert isinstance(got, Clip)
        assert (got.min_value, got.max_value) == (want.min_value, want.max_value)
    assert again.pointwise_constraint.max_value == 4.0


@pytest.mark.skipif(
    not (has_quantizer("quantized_bits") and has_quantizer("quantized_relu")), reason="real quantizers not written yet"
)
def test_round_trip_with_real_quantizers(tmp_path, rng):
    def make():
        return QDense(
            3,
            kernel_quantizer="quantized_bits(4,0,alpha=1)",
            bias_quantizer="quantized_bits(8,3,alpha=1)",
            activation="quantized_relu(4,2)",
        )

    model, layer, loaded, again = round_trip(tmp_path, make, (4,), rng)
    assert again.get_config() == layer.get_config()
    assert again.get_quantizers() == layer.get_quantizers()
    assert again.activation == layer.activation
    x = grid_inputs(rng, (8, 4))
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
