"""Learned precision (``learned_bits``) through the IR: the ``quantize`` op and per-element types.

Keras' own float32 output is the truth: the reference must equal it on every
rounding and overflow mode, at midpoints and beyond the bounds, with inputs
on a fixed-point grid and with raw floats at the graph input.
"""

from __future__ import annotations

import itertools
import warnings

import keras
import numpy as np
import pytest

import fpgaq
from fpgaq.hwtypes import ElementTypes
from fpgaq.layers import QActivation, QDense
from fpgaq.quantizers import learned_bits
from fpgaq.reference import quantize_elements
from fpgaq.testing.random_models import build_model, random_inputs, random_spec

MODES = list(itertools.product(["RND", "TRN"], ["SAT", "WRAP"], [True, False]))


def _convert(model: keras.Model) -> fpgaq.Design:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fpgaq.convert(model)


def _single(rounding: str, overflow: str, signed: bool, after_input_quantizer: bool) -> keras.Model:
    """One per-element learned_bits on 24 elements whose bits cover vanishing, narrow and wide elements."""
    inp = keras.Input((24,))
    x = QActivation("quantized_bits(10,4,alpha=1)", name="grid")(inp) if after_input_quantizer else inp
    act = QActivation(
        learned_bits(6, 1, keep_negative=signed, granularity="element", overflow=overflow, rounding=rounding),
        name="q",
    )
    y = act(x)
    frac = np.tile([-1, 0, 1, 2, 3, 4], 4)
    integer = np.repeat([-2, 0, 1, 3], 6)  # i + f < 0 for some: those elements are the constant zero
    act.quantizer.set_bits(frac, integer)
    return keras.Model(inp, y, name=f"learned_{rounding}_{overflow}_{int(signed)}_{int(after_input_quantizer)}")


def _keras(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Keras' inference, eagerly (tracing learned quantizers into a graph costs seconds per model)."""
    return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), dtype=np.float64)


def _grid_inputs(n: int, step: float, top: float, seed: int) -> np.ndarray:
    """Values on a grid of ``step`` from -top to top: every element's midpoints and bounds, beyond them too."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(int(-top / step), int(top / step) + 1, size=(n, 24))
    return (codes * step).astype(np.float32)


@pytest.mark.parametrize(("rounding", "overflow", "signed"), MODES)
def test_quantize_equals_keras_on_every_mode(rounding: str, overflow: str, signed: bool) -> None:
    for after_input_quantizer in (True, False):
        model = _single(rounding, overflow, signed, after_input_quantizer)
        design = _convert(model)
        assert [n.op for n in design.graph.nodes] == ["input", "quantize"]
        x = _grid_inputs(3000, 2.0**-6, 40.0, seed=len(rounding) + len(overflow))
        want = _keras(model, x)
        assert np.array_equal(design.predict(x), want), model.name
        et = design.graph.tensors["q"].elements
        assert np.all(want[:, et.width == 0] == 0)  # vanished elements
        lo, hi = et.lo * 2.0**-et.frac, et.hi * 2.0**-et.frac
        assert np.any(want == hi) and (not signed or np.any(want == lo))  # saturated or wrapped to the bounds


def test_float_input_gets_an_exact_port_type() -> None:
    model = _single("RND", "SAT", True, after_input_quantizer=False)
    design = _convert(model)
    port = design.graph.tensors[design.graph.inputs[0]].type
    et = design.graph.tensors["q"].elements
    assert port.frac == et.frac.max() + 1 and port.rounding.value == "TRN"
    # between grid points of the port: floats the port truncates, yet every element rounds as Keras
    # does, compiled (predict) as well as eagerly
    x = np.random.default_rng(3).uniform(-20, 20, size=(2000, 24)).astype(np.float32)
    assert np.array_equal(design.predict(x), np.asarray(model.predict(x, verbose=0), dtype=np.float64))
    assert np.array_equal(design.predict(x), _keras(model, x))


def test_quantize_elements_matches_a_scalar_definition() -> None:
    rng = np.random.default_rng(0)
    frac = rng.integers(-2, 5, size=(3, 4))
    width = rng.integers(0, 6, size=(3, 4))
    top = np.where(width > 0, 1 << np.maximum(width - 1, 0), 0)
    et = ElementTypes(frac, -top, np.maximum(top - 1, 0), "RND", "SAT")
    m = rng.integers(-300, 300, size=(50, 3, 4))
    got = quantize_elements(m, 3, et)
    out_frac = et.container().frac
    for s, i, j in itertools.product(range(50), range(3), range(4)):
        if width[i, j] == 0:
            assert got[s, i, j] == 0
            continue
        q = int(np.floor(m[s, i, j] * 2.0 ** (frac[i, j] - 3) + 0.5))
        q = min(max(q, -top[i, j]), top[i, j] - 1)
        assert got[s, i, j] == q << (out_frac - frac[i, j])


def test_tensors_and_weights_carry_per_element_types() -> None:
    keras.utils.set_random_seed(1)
    inp = keras.Input((8,))
    x = QActivation("quantized_bits(8,3,alpha=1)")(inp)
    layer = QDense(
        6,
        kernel_quantizer=learned_bits(6, 0, granularity="element"),
        bias_quantizer=learned_bits(6, 1),
        activation=learned_bits(5, 2, keep_negative=False, granularity="element"),
        name="d",
    )
    model = keras.Model(inp, layer(x))
    kernel_q = layer.kernel_quantizer_internal
    frac = np.random.default_rng(2).integers(-1, 5, size=(8, 6))
    kernel_q.set_bits(frac, np.where(np.arange(48).reshape(8, 6) % 5 == 0, -3, 0))  # every fifth weight vanishes
    design = _convert(model)
    dense = design.graph.node("d_linear")
    hw = dense.weights["kernel"].hardware
    assert isinstance(hw, ElementTypes) and hw.shape == (8, 6)
    dead = hw.width == 0
    assert dead.any() and np.all(dense.weights["kernel"].values[dead] == 0)
    assert not np.any(dense.attrs["nonzero_mask"][dead])  # pruned: no multiplier for a vanished weight
    out = design.graph.tensors[design.graph.outputs[0]]
    assert out.elements is not None and out.type == out.elements.container()
    assert design.graph.copy().tensors[out.name].elements == out.elements
    assert "per-element" in design.summary()


@pytest.mark.parametrize("seed", range(16))
def test_learned_random_models_equal_keras(seed: int) -> None:
    spec = random_spec(seed, learned=True)
    model = build_model(spec)
    design = _convert(model)
    assert any(n.op == "quantize" for n in design.graph.nodes)
    x = random_inputs(spec, 500, seed)
    assert np.array_equal(design.predict(x), _keras(model, x)), spec.describe()


def test_learned_random_models_are_heterogeneous() -> None:
    """The generator draws what the back-end tests must cover: mixed widths, vanished elements and
    weights, every granularity, rounding and overflow."""
    widths, modes, vanished_weights = set(), set(), 0
    for seed in range(12):
        design = _convert(build_model(random_spec(seed, learned=True)))
        for node in design.graph.nodes:
            et = design.graph.tensors[node.output].elements
            if et is not None:
                widths |= set(np.unique(et.width).tolist())
                modes.add((et.rounding, et.overflow, bool(np.any(et.signed))))
            for w in node.weights.values():
                if isinstance(w.hardware, ElementTypes):
                    vanished_weights += int(np.sum(w.hardware.width == 0))
    assert {0, 1, 2, 3, 4, 5} <= widths
    assert len(modes) >= 6 and vanished_weights > 0
