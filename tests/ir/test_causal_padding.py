"""``padding='causal'`` on 1-D convolutions, from Keras through the IR, the reference, C-simulation and RTL.

Causal padding is zero padding of ``(kernel_size - 1) * dilation_rate`` steps
before the sequence and none after it, so that no output sees a later input.
The IR states it as explicit ``(before, after)`` pads, which every back end
already takes; these tests show each one computes it bit for bit: the
reference against Keras' own float32 inference (exact here: every value the
layers form fits in 24 bits, checked first), the generated C++ and the
generated Verilog against the reference.  The inputs saturate the input
quantizer in both directions and sit on its rounding midpoints.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import fpgaq
from fpgaq.ir.trace import UnsupportedLayerError
from fpgaq.layers import QActivation, QConv1D
from fpgaq.testing.inputs import edge_inputs

FLOAT32_EXACT_BITS = 24
STEPS = 9
#: (strides, dilation_rate): Keras refuses strides > 1 together with dilation_rate > 1.
GEOMETRIES = [(1, 1), (2, 1), (1, 2), (3, 1), (1, 3)]


def _randomize(model: keras.Model, seed: int, grid: float | None = None) -> keras.Model:
    """Weights wider than the quantizers' ranges (some saturate); ``grid`` rounds unquantized ones onto it."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        values = rng.normal(0.0, 0.6, size=tuple(w.shape))
        if grid is not None:
            values = np.round(values / grid) * grid
        w.assign(values.astype(np.float32))
    return model


@functools.cache
def causal_model(strides: int, dilation: int, kernel: int = 3, plain: bool = False) -> keras.Model:
    """A quantized input, then one causal convolution: QConv1D, or Keras' Conv1D with weights on a 1/8 grid."""
    inp = keras.Input((STEPS, 2), name="x")
    x = QActivation("quantized_bits(6,2,alpha=1)", name="in_q")(inp)
    kw = {"strides": strides, "dilation_rate": dilation, "padding": "causal", "name": "conv"}
    if plain:
        out = keras.layers.Conv1D(3, kernel, **kw)(x)
    else:
        out = QConv1D(
            3,
            kernel,
            kernel_quantizer="quantized_bits(4,0,alpha=1)",
            bias_quantizer="quantized_bits(6,2,alpha=1)",
            activation="quantized_relu(5,2)",
            **kw,
        )(x)
    model = keras.Model(inp, out, name=f"causal_s{strides}_d{dilation}_k{kernel}{'_plain' if plain else ''}")
    return _randomize(model, seed=10 * strides + dilation + kernel, grid=0.125 if plain else None)


@functools.cache
def stacked_model() -> keras.Model:
    """Two causal convolutions, dilated then strided: the design the C++ and the Verilog are built from."""
    inp = keras.Input((STEPS, 2), name="x")
    x = QActivation("quantized_bits(6,2,alpha=1)", name="in_q")(inp)
    quantizers = {"kernel_quantizer": "quantized_bits(4,0,alpha=1)", "bias_quantizer": "quantized_bits(6,2,alpha=1)"}
    x = QConv1D(
        3, 3, dilation_rate=2, padding="causal", activation="quantized_relu(5,2)", name="dilated", **quantizers
    )(x)
    x = QConv1D(2, 2, strides=2, padding="causal", name="strided", **quantizers)(x)
    return _randomize(keras.Model(inp, x, name="causal_stack"), seed=7)


def _convert(model: keras.Model) -> fpgaq.Design:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the plain Conv1D's unquantized weights: on a grid the default type holds
        return fpgaq.convert(model)


@functools.cache
def design_of(model: keras.Model) -> fpgaq.Design:
    return _convert(model)


def _inputs(design: fpgaq.Design, n: int, seed: int) -> np.ndarray:
    return edge_inputs(design, n, seed, extremes=True)[0]


def _conv_nodes(design: fpgaq.Design) -> list:
    return [node for node in design.graph.nodes if node.op == "conv1d"]


# ----------------------------------------------------------------------------- IR
@pytest.mark.parametrize(("strides", "dilation"), GEOMETRIES)
def test_causal_pads_only_before_the_sequence(strides: int, dilation: int) -> None:
    (node,) = _conv_nodes(design_of(causal_model(strides, dilation)))
    assert node.attrs["padding"] == [(2 * dilation, 0)]  # (kernel_size - 1) * dilation_rate, nothing after
    assert design_of(causal_model(strides, dilation)).graph.tensors[node.output].shape == (-(-STEPS // strides), 3)


def test_other_paddings_are_still_refused_with_the_supported_ones_named() -> None:
    inp = keras.Input((STEPS, 2))
    layer = QConv1D(2, 3, kernel_quantizer="quantized_bits(4,0,alpha=1)", name="conv")
    model = keras.Model(inp, layer(inp))
    layer.padding = "full"  # no Keras constructor takes it; a hand-edited or future config could carry it
    with pytest.raises(UnsupportedLayerError) as err:
        _convert(model)
    assert str(err.value) == (
        "layer 'conv' (QConv1D): padding='full' is not supported; use 'valid', 'same', or 'causal' on a 1-D convolution"
    )


# ----------------------------------------------------------------------------- reference vs Keras
@pytest.mark.parametrize("plain", [False, True], ids=["QConv1D", "Conv1D"])
@pytest.mark.parametrize(("strides", "dilation"), GEOMETRIES)
def test_reference_equals_keras_bit_for_bit(strides: int, dilation: int, plain: bool) -> None:
    model = causal_model(strides, dilation, plain=plain)
    design = design_of(model)
    widths = [n.types["exact"].width for n in design.graph.nodes if "exact" in n.types]
    assert max(widths) <= FLOAT32_EXACT_BITS  # Keras' float32 sums are exact, so equality is the right test
    x = _inputs(design, 400, seed=strides + 5 * dilation)
    want = np.asarray(model(x.astype(np.float32), training=False))
    got = design.predict(x)
    assert np.array_equal(got, want)
    assert len(np.unique(want)) > 10  # the outputs vary: the comparison is not vacuous
    # the first outputs see the zero padding: a symmetric ('same') or shifted window would change them
    assert np.any(want[:, 0] != 0)


def test_the_first_output_sees_only_the_first_input() -> None:
    """Causality itself: changing later steps leaves earlier outputs alone (in the reference and in Keras)."""
    model = causal_model(1, 2)
    design = design_of(model)
    x = _inputs(design, 50, seed=3)
    y = design.predict(x)
    x2 = x.copy()
    x2[:, 5:] = -x2[:, 5:] + 0.5
    y2 = design.predict(x2)
    assert np.array_equal(y[:, :5], y2[:, :5])
    assert not np.array_equal(y[:, 5:], y2[:, 5:])
    assert np.array_equal(y2, np.asarray(model(x2.astype(np.float32), training=False)))


def test_reference_equals_keras_on_the_stacked_design() -> None:
    model = stacked_model()
    design = design_of(model)
    x = _inputs(design, 400, seed=21)
    assert np.array_equal(design.predict(x), np.asarray(model(x.astype(np.float32), training=False)))


# ----------------------------------------------------------------------------- generated C++ and Verilog
@pytest.fixture(scope="module")
def fresh_cache(tmp_path_factory: pytest.TempPathFactory):
    """C-simulation and co-simulation build into a cache of their own, against fpgaq's own ac_fixed."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FPGAQ_CACHE", str(tmp_path_factory.mktemp("causal_cache")))
        for key in ("AC_TYPES_DIR", "AP_TYPES_DIR"):
            if key in os.environ:
                mp.delenv(key)
        yield


@pytest.mark.usefixtures("fresh_cache")
def test_hls_csim_is_bit_exact() -> None:
    design = design_of(stacked_model())
    x = _inputs(design, 600, seed=31)
    want = design.predict_int(x)[0]
    assert np.array_equal(design.compile().predict_int(x)[0], want)
    assert len(np.unique(want)) > 10


@pytest.mark.usefixtures("fresh_cache")
def test_rtl_cosim_is_bit_exact(tmp_path: Path) -> None:
    from fpgaq.sim.cosim import design_cosim

    design = design_of(stacked_model())
    x = _inputs(design, 300, seed=41)
    result = design_cosim(design, x, directory=tmp_path / "prj", idle=0.2, backpressure=0.2)
    assert result.passed, result.report()
    assert result.n_samples == 300 and result.mismatch_count == 0
