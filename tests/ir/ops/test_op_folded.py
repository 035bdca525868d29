"""QDenseBatchnorm and QConv2DBatchnorm become plain dense / conv2d nodes on their folded, quantized weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from _op_testing import assert_bit_exact, ops_of, quantized_input, sample_inputs

from fpgaq.design import convert
from fpgaq.fixed import FixedType
from fpgaq.ir.trace import UnsupportedLayerError
from fpgaq.ir.weights import UnquantizedWarning
from fpgaq.layers import QConv2DBatchnorm, QDenseBatchnorm

KERNEL_Q = "quantized_bits(5,1,alpha=1)"  # fixed<5,2>: steps of 1/8 on [-2, 1.875]
BIAS_Q = "quantized_bits(6,3,alpha=1)"  # fixed<6,4>: steps of 1/4 on [-8, 7.75]
UNIFORM = keras.initializers.RandomUniform(-1, 1)


def _set_statistics(layer, rng: np.random.Generator, c: int) -> None:
    layer.moving_mean.assign(rng.uniform(-1, 1, c))
    layer.moving_variance.assign(rng.uniform(0.3, 2, c))
    layer.gamma.assign(rng.uniform(0.5, 2, c))
    layer.beta.assign(rng.uniform(-1, 1, c))


def _by_hand(values: np.ndarray, frac: int, width: int) -> np.ndarray:
    """quantized_bits with alpha=1: half-even onto the grid, saturating."""
    m = np.clip(np.round(np.asarray(values, dtype=np.float64) * 2**frac), -(2 ** (width - 1)), 2 ** (width - 1) - 1)
    return m / 2**frac


def test_dense_batchnorm_is_a_dense_node_on_the_folded_quantized_weights(rng) -> None:
    inp, x = quantized_input((6,))
    layer = QDenseBatchnorm(
        4,
        kernel_quantizer=KERNEL_Q,
        bias_quantizer=BIAS_Q,
        activation="quantized_relu(6,3)",
        kernel_initializer=UNIFORM,
        name="fc",
    )
    model = keras.Model(inp, layer(x))
    _set_statistics(layer, rng, 4)
    design = assert_bit_exact(model, sample_inputs(rng, (6,)))
    assert "scale" not in ops_of(design)
    dense = next(n for n in design.graph.nodes if n.op == "dense")
    folded_kernel, folded_bias = layer.get_folded_weights()
    assert np.array_equal(dense.weights["kernel"].values, _by_hand(folded_kernel, 3, 5))
    assert np.array_equal(dense.weights["bias"].values, _by_hand(folded_bias, 2, 6))
    assert dense.weights["kernel"].type == FixedType(5, 2)


@pytest.mark.parametrize(("strides", "padding"), [(1, "valid"), (2, "same")])
def test_conv2d_batchnorm_is_bit_exact(rng, strides, padding) -> None:
    inp, x = quantized_input((6, 7, 2))
    layer = QConv2DBatchnorm(
        3,
        3,
        strides=strides,
        padding=padding,
        kernel_quantizer=KERNEL_Q,
        bias_quantizer=BIAS_Q,
        kernel_initializer=UNIFORM,
        name="conv",
    )
    model = keras.Model(inp, layer(x))
    _set_statistics(layer, rng, 3)
    design = assert_bit_exact(model, sample_inputs(rng, (6, 7, 2), n=200))
    conv = design.graph.node("conv")
    assert conv.op == "conv2d"
    assert np.array_equal(conv.weights["kernel"].values, _by_hand(layer.get_folded_weights()[0], 3, 5))


def test_unquantized_folded_weights_take_the_default_precision_with_a_warning(rng) -> None:
    inp, x = quantized_input((3,))
    layer = QDenseBatchnorm(2, kernel_initializer=UNIFORM, name="fc")
    model = keras.Model(inp, layer(x))
    _set_statistics(layer, rng, 2)
    with pytest.warns(UnquantizedWarning) as record:
        design = convert(model)
    messages = [str(w.message) for w in record]
    assert any(m.startswith("layer 'fc': weight has no quantizer") for m in messages)
    assert any(m.startswith("layer 'fc': bias has no quantizer") for m in messages)
    kernel = design.graph.node("fc").weights["kernel"]
    assert kernel.type == FixedType(16, 6, True, "RND_CONV", "SAT")
    assert np.array_equal(kernel.values, _by_hand(layer.get_folded_weights()[0], 10, 16))


def test_channels_first_is_refused() -> None:
    inp = keras.Input((2, 5, 5))
    layer = QConv2DBatchnorm(3, 3, data_format="channels_first", axis=1, kernel_quantizer=KERNEL_Q, name="conv")
    model = keras.Model(inp, layer(inp))
    with pytest.raises(UnsupportedLayerError) as err:
        convert(model)
    assert str(err.value) == (
        "layer 'conv' (QConv2DBatchnorm): data_format='channels_first' is not supported; "
        "use data_format='channels_last'"
    )
