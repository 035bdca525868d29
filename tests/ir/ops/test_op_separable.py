"""Separable convolutions as a depthwise node plus a pointwise convolution, and Keras' DepthwiseConv1D."""

from __future__ import annotations

import warnings
from fractions import Fraction

import keras
import numpy as np
import pytest
from _op_testing import assert_bit_exact, keras_output, quantized_input, sample_inputs

from fpgaq.design import convert
from fpgaq.fixed import FixedType
from fpgaq.ir.trace import UnsupportedLayerError
from fpgaq.ir.weights import UnquantizedWarning
from fpgaq.layers import QSeparableConv1D, QSeparableConv2D

Q4 = "quantized_bits(4,0,alpha=1)"  # fixed<4,1>: steps of 1/8 on [-1, 0.875]
UNIFORM = keras.initializers.RandomUniform(-1, 1)


def _separable2d(name: str = "sep", **kwargs):
    return QSeparableConv2D(
        4,
        3,
        depth_multiplier=2,
        depthwise_quantizer=Q4,
        pointwise_quantizer=Q4,
        bias_quantizer=Q4,
        depthwise_initializer=UNIFORM,
        pointwise_initializer=UNIFORM,
        bias_initializer=UNIFORM,
        name=name,
        **kwargs,
    )


def _exact_depthwise_type(kernel: np.ndarray, tin: FixedType) -> FixedType:
    """Smallest and largest sum of each (channel, multiplier) column over inputs in ``tin``, by hand."""
    cols = kernel.reshape(-1, kernel.shape[-2] * kernel.shape[-1])
    lo = min(sum(min(Fraction(w) * tin.min, Fraction(w) * tin.max) for w in col) for col in cols.T)
    hi = max(sum(max(Fraction(w) * tin.min, Fraction(w) * tin.max) for w in col) for col in cols.T)
    frac = tin.frac + 3
    mlo, mhi = int(lo * 2**frac), int(hi * 2**frac)
    width = max(mhi.bit_length(), (-mlo - 1).bit_length()) + 1
    return FixedType(width, width - frac, True)


def test_separable2d_same_padding_with_activation_is_bit_exact(rng) -> None:
    inp, x = quantized_input((6, 6, 3))
    layer = _separable2d(padding="same", activation="quantized_relu(8,3)")
    model = keras.Model(inp, layer(x))
    design = assert_bit_exact(model, sample_inputs(rng, (6, 6, 3), n=200))
    depthwise = design.graph.node("sep_depthwise")
    assert depthwise.op == "depthwise2d"
    assert set(depthwise.weights) == {"kernel"}
    kernel = depthwise.weights["kernel"].values
    assert np.array_equal(kernel, np.clip(np.round(keras.ops.convert_to_numpy(layer.depthwise_kernel) * 8), -8, 7) / 8)
    # the intermediate tensor is exactly the depthwise accumulator: no rounding between the two steps
    assert design.graph.tensors[depthwise.output].type == _exact_depthwise_type(kernel, FixedType(6, 3))


def test_separable1d_with_strides_is_bit_exact(rng) -> None:
    inp, x = quantized_input((9, 3))
    layer = QSeparableConv1D(
        4,
        3,
        strides=2,
        depthwise_quantizer=Q4,
        pointwise_quantizer=Q4,
        bias_quantizer=Q4,
        depthwise_initializer=UNIFORM,
        pointwise_initializer=UNIFORM,
        bias_initializer=UNIFORM,
        name="sep",
    )
    design = assert_bit_exact(keras.Model(inp, layer(x)), sample_inputs(rng, (9, 3)))
    assert [n.op for n in design.graph.nodes][1:] == ["depthwise1d", "conv1d"]
    assert design.graph.node("sep").attrs["kernel_size"] == (1,)


def test_layer_precisions_apply_to_the_pointwise_node_only(rng) -> None:
    inp, x = quantized_input((5, 5, 2))
    model = keras.Model(inp, _separable2d()(x))
    result = "ap_fixed<10,4,AP_RND_CONV,AP_SAT>"
    design = convert(model, {"LayerName": {"sep": {"Precision": {"result": result}}}})
    depthwise = design.graph.node("sep_depthwise")
    assert design.graph.tensors[depthwise.output].type == depthwise.types["exact"]
    assert design.graph.tensors["sep"].type == FixedType(10, 4, True, "RND_CONV", "SAT")
    xs = sample_inputs(rng, (5, 5, 2), n=200)
    want = np.clip(np.round(keras_output(model, xs) * 64), -512, 511) / 64  # Keras is exact; then the result cast
    assert np.array_equal(design.predict(xs), want)


def test_keras_separable_and_depthwise1d_on_grid_weights_are_bit_exact(rng) -> None:
    inp, x = quantized_input((8, 8, 2))
    sep = keras.layers.SeparableConv2D(3, 3, padding="same", name="ksep")
    model = keras.Model(inp, sep(x))
    sep.set_weights([np.round(rng.uniform(-1, 1, tuple(w.shape)) * 8) / 8 for w in sep.weights])
    grid = {"LayerName": {"ksep": {"Precision": {"weight": "ap_fixed<5,2>", "bias": "ap_fixed<5,2>"}}}}
    with pytest.warns(UnquantizedWarning) as record:
        assert_bit_exact(model, sample_inputs(rng, (8, 8, 2), n=200), grid)
    messages = [str(w.message) for w in record]
    assert sum(m.startswith("layer 'ksep': weight has no quantizer") for m in messages) == 2  # depthwise, pointwise
    assert any(m.startswith("layer 'ksep': bias has no quantizer") for m in messages)

    inp, x = quantized_input((9, 3))
    dw = keras.layers.DepthwiseConv1D(3, depth_multiplier=2, padding="same", name="dw")
    model = keras.Model(inp, dw(x))
    dw.set_weights([np.round(rng.uniform(-1, 1, tuple(w.shape)) * 8) / 8 for w in dw.weights])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnquantizedWarning)
        design = assert_bit_exact(model, sample_inputs(rng, (9, 3)))
    assert design.graph.node("dw").op == "depthwise1d"


def test_channels_first_is_refused() -> None:
    inp = keras.Input((2, 6, 6))
    model = keras.Model(inp, keras.layers.SeparableConv2D(3, 3, data_format="channels_first", name="sep")(inp))
    with pytest.raises(UnsupportedLayerError) as err:
        convert(model)
    assert str(err.value) == (
        "layer 'sep' (SeparableConv2D): data_format='channels_first' is not supported; use data_format='channels_last'"
    )
