"""absorb_input_elements: a learned quantizer right after the input becomes the input's own types.

The removed node's work (per-element rounding and overflow of the float
inputs) moves to where data enters; the reference, the RTL netlist and the
C-simulation must still equal Keras bit for bit, at midpoints and beyond the
bounds, and no logic may remain for the quantizer.
"""

from __future__ import annotations

import shutil
import warnings

import keras
import numpy as np
import pytest

import fpgaq
from fpgaq.converters.rtl import build_rtl
from fpgaq.ir.passes import absorb_input_elements
from fpgaq.layers import QActivation, QDense
from fpgaq.quantizers import learned_bits
from fpgaq.rtl.features import graph_features
from fpgaq.testing.rtl_check import netlist_mismatches


def _model(rounding: str, overflow: str) -> keras.Model:
    inp = keras.Input((12,))
    act = QActivation(learned_bits(6, 1, granularity="element", rounding=rounding, overflow=overflow), name="iq")
    dense = QDense(4, kernel_quantizer="quantized_bits(6,1,alpha=1)", bias_quantizer="quantized_bits(6,2,alpha=1)")
    y = dense(act(inp))
    dense.set_weights([np.random.default_rng(4).normal(0, 0.7, w.shape) for w in dense.get_weights()])
    frac = np.tile([-1, 0, 1, 2, 3, 4], 2)
    integer = np.repeat([-2, 2], 6)  # i + f < 0: constant-zero inputs
    act.quantizer.set_bits(frac, integer)
    return keras.Model(inp, y, name=f"absorb_{rounding}_{overflow}")


def _convert(model: keras.Model, passes=None) -> fpgaq.Design:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fpgaq.convert(model) if passes is None else fpgaq.convert(model, passes=passes)


def _inputs() -> np.ndarray:
    rng = np.random.default_rng(0)
    grid = rng.integers(-40 * 64, 40 * 64 + 1, size=(3000, 12)) / 64  # midpoints of every element, saturation
    raw = rng.uniform(-20, 20, size=(1000, 12))  # between any grid points
    return np.concatenate([grid, raw]).astype(np.float32)


@pytest.mark.parametrize(("rounding", "overflow"), [("RND", "SAT"), ("TRN", "WRAP")])
def test_input_quantizer_is_absorbed_and_bit_exact(rounding: str, overflow: str) -> None:
    model = _model(rounding, overflow)
    design = _convert(model)
    assert "quantize" not in [n.op for n in design.graph.nodes]
    x_name = design.graph.inputs[0]
    et = design.graph.tensors[x_name].elements
    assert et is not None and design.graph.tensors[x_name].type == et.container()
    x = _inputs()
    want = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), dtype=np.float64)
    assert np.array_equal(design.predict(x), want)
    assert netlist_mismatches(design, build_rtl(design).net, x) == []
    # no node of the resource model for the quantizer; the input's used bits are the elements' own
    features, _, input_bits = graph_features(design.graph)
    assert [nf.op for nf in features] == ["dense"]
    assert input_bits <= int(et.width.sum()) < design.graph.tensors[x_name].type.width * 12
    assert "per-element" in design.summary().splitlines()[3]


def test_absorbing_changes_no_number_and_is_pure() -> None:
    model = _model("RND", "SAT")
    from fpgaq.ir.passes import DEFAULT_PASSES

    kept = _convert(model, passes=[p for p in DEFAULT_PASSES if p is not absorb_input_elements])
    assert "quantize" in [n.op for n in kept.graph.nodes]
    before = repr(kept.graph.tensors) + repr([n.name for n in kept.graph.nodes])
    out, changed = absorb_input_elements(kept.graph)
    assert "quantize" not in [n.op for n in out.nodes]
    assert changed and repr(kept.graph.tensors) + repr([n.name for n in kept.graph.nodes]) == before
    absorbed = _convert(model)
    x = _inputs()
    assert np.array_equal(absorbed.predict_int(x)[0], kept.predict_int(x)[0])


def test_c_simulation_feeds_each_element_its_own_type() -> None:
    if shutil.which("g++") is None:
        pytest.skip("no g++: the C-simulation cannot be built")
    design = _convert(_model("RND", "SAT"))
    x = _inputs()[::8]
    assert np.array_equal(design.predict_hls(x), design.predict(x))
