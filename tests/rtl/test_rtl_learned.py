"""RTL of learned precision: each element of a ``quantize`` node keeps its own grid, so the logic after it
is as narrow as the elements, not as their container type, and vanished elements are constants."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from _rtl_testing import convert, mismatches

from fpgaq.fixed import FixedType
from fpgaq.layers import QActivation, QDense
from fpgaq.quantizers import learned_bits
from fpgaq.rtl.build import lower
from fpgaq.rtl.features import graph_features, op_features


def _model(activation: object, frac: np.ndarray | None = None, integer: np.ndarray | None = None) -> keras.Model:
    """input -> 16 activations (learned per element, or one uniform quantizer) -> dense(8), fixed weights."""
    inp = keras.Input((16,))
    x = QActivation("quantized_bits(10,4,alpha=1)", name="grid")(inp)
    act = QActivation(activation, name="act")
    x = act(x)
    dense = QDense(8, kernel_quantizer="quantized_bits(6,1,alpha=1)", bias_quantizer="quantized_bits(6,2,alpha=1)")
    y = dense(x)
    dense.set_weights([w * 0 + np.random.default_rng(4).normal(0, 0.7, w.shape) for w in dense.get_weights()])
    if frac is not None:
        act.quantizer.set_bits(frac, integer)
    return keras.Model(inp, y, name="learned_dense" if frac is not None else "uniform_dense")


def _adder_bits(design) -> tuple[float, int]:
    """Adder bits of the dense node's logic, and how many quantize outputs are constants."""
    lowered = lower(design.graph)
    dense = next(n.name for n in design.graph.nodes if n.op == "dense")
    ops = [op for op in lowered.net.live() if lowered.owner.get(op.out.id) == dense]
    quantized = lowered.node_outputs.get("act", [])
    return op_features(ops).counts["add_bits"], sum(s.is_const for s in quantized)


@pytest.mark.parametrize(("rounding", "overflow"), [("RND", "SAT"), ("TRN", "WRAP")])
def test_dense_after_per_element_quantize_is_narrow(rounding: str, overflow: str) -> None:
    rng = np.random.default_rng(7)
    frac = rng.integers(-1, 5, size=16)
    integer = rng.integers(-2, 3, size=16)
    integer[:3] = -frac[:3] - 1  # these elements vanish (and others the draw made so)
    learned = _model(learned_bits(6, 1, granularity="element", rounding=rounding, overflow=overflow), frac, integer)
    design = convert(learned)
    x = np.random.default_rng(1).uniform(-20, 20, size=(2000, 16)).astype(np.float32)
    x = np.round(x * 64) / 64  # on a grid: many midpoints of every element
    assert mismatches(design, x) == []
    want = np.asarray(keras.ops.convert_to_numpy(learned(x, training=False)), dtype=np.float64)
    assert np.array_equal(design.predict(x), want)
    bits, constants = _adder_bits(design)
    assert constants == np.sum(frac + integer < 0) >= 3
    # the resource model probes the dense layer on the same per-element grids
    estimated = next(nf for nf in graph_features(design.graph)[0] if nf.op == "dense").features.counts["add_bits"]
    assert abs(estimated - bits) <= 0.03 * bits, (estimated, bits)
    # the same network with one uniform type: the container of the learned elements
    c: FixedType = design.graph.tensors["act"].type
    uniform_q = f"quantized_bits({c.width},{c.integer - int(c.signed)},keep_negative={int(c.signed)},alpha=1)"
    uniform = convert(_model(uniform_q))
    uniform.graph.node(next(n.name for n in uniform.graph.nodes if n.op == "dense")).weights = dict(
        design.graph.node(next(n.name for n in design.graph.nodes if n.op == "dense")).weights
    )
    assert uniform.graph.tensors["act"].type.width == c.width
    uniform_bits, _ = _adder_bits(uniform)
    assert bits < 0.8 * uniform_bits, (bits, uniform_bits)


def test_absorbed_input_quantizer_cosimulates_bit_exact(tmp_path) -> None:
    """A learned quantizer right after the input is the port's per-element types: no node, no logic;
    Verilator sees port codes the bench casts per element, and agrees with Keras on raw floats."""
    from fpgaq.sim.cosim import design_cosim

    inp = keras.Input((16,))
    act = QActivation(learned_bits(6, 1, granularity="element"), name="act")
    dense = QDense(8, kernel_quantizer="quantized_bits(6,1,alpha=1)", bias_quantizer="quantized_bits(6,2,alpha=1)")
    model = keras.Model(inp, dense(act(inp)), name="learned_port")
    dense.set_weights([np.random.default_rng(4).normal(0, 0.7, w.shape) for w in dense.get_weights()])
    rng = np.random.default_rng(7)
    frac, integer = rng.integers(-1, 5, size=16), rng.integers(-2, 3, size=16)
    integer[:2] = -frac[:2] - 1  # two inputs vanish: their port bits go unused
    act.quantizer.set_bits(frac, integer)
    design = convert(model)
    assert [n.op for n in design.graph.nodes] == ["input", "dense"]
    x = np.concatenate([np.round(rng.uniform(-20, 20, (300, 16)) * 64) / 64, rng.uniform(-20, 20, (100, 16))])
    x = x.astype(np.float32)
    want = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), dtype=np.float64)
    assert np.array_equal(design.predict(x), want)
    assert mismatches(design, x) == []
    result = design_cosim(design, x, directory=tmp_path / "prj")
    assert result.passed, result.report()


def test_a_vanished_input_element_finer_than_the_live_ones_is_estimated() -> None:
    """The port's container takes its binary point from live elements only; a dead element may be finer."""
    inp = keras.Input((4,))
    act = QActivation(learned_bits(6, 1, granularity="element"), name="act")
    dense = QDense(2, kernel_quantizer="quantized_bits(6,1,alpha=1)", bias_quantizer="quantized_bits(6,2,alpha=1)")
    model = keras.Model(inp, dense(act(inp)), name="dead_fine_input")
    dense.set_weights([np.random.default_rng(4).normal(0, 0.7, w.shape) for w in dense.get_weights()])
    act.quantizer.set_bits(np.array([2, 3, 9, 1]), np.array([2, 1, -10, 3]))  # element 2: 9 fractional bits, dead
    design = convert(model)
    assert design.graph.tensors[design.graph.inputs[0]].type.frac == 3
    assert design.estimate(use_dsp=False).total.lut > 0
    x = np.random.default_rng(2).uniform(-9, 9, (500, 4)).astype(np.float32)
    assert mismatches(design, x) == []
