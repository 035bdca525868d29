"""ReuseFactor > 1: folded layers are exact, use about 1/R of the multipliers, and time out as documented."""

from __future__ import annotations

import re
from collections import Counter

import keras
import numpy as np
import pytest
from _rtl_testing import build, convert, digits_design, inputs_for, jet_design, mismatches, with_options
from test_pipeline import _check_schedule

import fpgaq
from fpgaq.layers import QActivation, QDense
from fpgaq.rtl.netlist import simulate
from fpgaq.rtl.verilog import emit_verilog


def _dense(weights: list[list[int]]) -> fpgaq.Design:
    """Integer inputs in [-8, 7] times integer weights, no bias, exact output type."""
    n_in = len(weights)
    inp = keras.Input((n_in,), name="x")
    x = QActivation("quantized_bits(4,3,alpha=1)", name="in_q")(inp)
    layer = QDense(len(weights[0]), use_bias=False, kernel_quantizer="quantized_bits(5,4,alpha=1)", name="d")
    y = layer(x)
    layer.kernel.assign(np.array(weights, dtype=np.float32))
    return convert(keras.Model(inp, y, name="folded"))


def test_hand_folded_dot_product() -> None:
    """y = x0 + 2 x1 + 3 x2 + 4 x3 over 2 phases: slot 0 multiplies x0*1 then x2*3, slot 1 x1*2 then x3*4.

    Stages: input registers (1), hold registers (2), sum of phase 1 at stage 2 + 1, output register (4).
    """
    design = with_options(_dense([[1], [2], [3], [4]]), reuse_factor=2, pipeline_every=0)
    p = build(design)
    kinds = Counter(op.kind for op in p.net.live())
    assert kinds["mul"] == 2 and kinds["accum"] == 1 and kinds["hold"] == 4
    assert (p.latency, p.ii) == (4, 2)
    x = np.array([[1, 1, 1, 1], [-8, 7, -8, 7], [7, -8, 7, -8]])
    assert simulate(p.net, [x])[0][:, 0].tolist() == [10, 10, -20]  # 1+2+3+4; -8+14-24+28; 7-16+21-32
    _check_schedule(p)


def test_accumulator_register_holds_the_prefix_sums_before_the_last_phase() -> None:
    """Phase 0 adds x0 * 1 in [-8, 7], phase 1 adds x1 * -2 in [-14, 16]: the sum is in [-22, 23], but
    the register only ever holds phase 0's sum (it is zeroed as the last phase leaves): [-8, 7], and
    the Verilog declares it 4 bits wide beside a 6-bit adder."""
    design = with_options(_dense([[1], [-2]]), reuse_factor=2)
    (acc,) = [op for op in build(design).net.live() if op.kind == "accum"]
    _, phases, reg_lo, reg_hi, _ = acc.param
    assert (phases, reg_lo, reg_hi) == (2, -8, 7)
    assert (acc.out.lo, acc.out.hi) == (-22, 23)
    verilog = "".join(emit_verilog(build(design), "t").values())
    assert re.search(r"reg \[3:0\] s\d+_acc;", verilog) and re.search(r"wire \[5:0\] s\d+_next", verilog)


def test_equal_weights_in_every_phase_need_no_multiplier() -> None:
    """Slot 0 sees weight 3 in both phases (x0*3, x1*3): a shift-add, not a '*'."""
    design = with_options(_dense([[3], [3]]), reuse_factor=2, multiplier="lut")
    p = build(design)
    assert Counter(op.kind for op in p.net.live())["mul"] == 0
    assert simulate(p.net, [np.array([[1, 2], [-8, 7]])])[0][:, 0].tolist() == [9, -3]


@pytest.mark.parametrize(("reuse", "every"), [(2, 0), (3, 3), (5, 1), (64, 0)])
def test_jet_tagger_folded(reuse: int, every: int) -> None:
    design = with_options(jet_design(), reuse_factor=reuse, pipeline_every=every)
    p = build(design)
    _check_schedule(p)
    assert p.ii == reuse
    assert mismatches(design, inputs_for(design, 1500), p) == []
    # one '*' per slot at most: ceil(fan-in / R) slots per output (fewer where a slot's weights are all 0 or equal)
    kernels = [n.weights["kernel"].mantissa for n in design.graph.nodes if n.op == "dense"]
    slots = sum(w.shape[1] * -(-w.shape[0] // reuse) for w in kernels)
    dense = {n.name for n in design.graph.nodes if n.op == "dense"}
    multipliers = sum(op.kind == "mul" and p.owner.get(op.out.id) in dense for op in p.net.live())
    assert 0.8 * slots <= multipliers <= slots


def test_digits_cnn_folded() -> None:
    design = with_options(digits_design(), reuse_factor=4, pipeline_every=1)
    p = build(design)
    _check_schedule(p)
    assert p.ii == 4
    assert mismatches(design, inputs_for(design, 800), p) == []


def test_reuse_factor_of_one_layer_sets_the_design_ii() -> None:
    base = jet_design()
    graph = base.graph.copy()
    graph.node("fc2").options["reuse_factor"] = 3
    design = fpgaq.Design(graph, base.config)
    p = build(design)
    assert p.ii == 3
    s_in, s_out = p.node_stages["fc2"]
    assert s_out - s_in == 1 + 3  # hold register, two more phases, output register
    assert p.node_stages["fc1"] == (1, 2)
    assert mismatches(design, inputs_for(design, 500), p) == []


def test_a_folded_layer_whose_inputs_are_constants_sums_every_phase() -> None:
    """d0 has no weights, so its outputs are its biases: constants.  d1 folds over them in two phases;
    each phase's partial sum is then one constant, and the layer's sum is that constant times two
    (it was taken for 'no products' and became 0: found by the random-model soak, seed 357)."""
    inp = keras.Input((3,), name="x")
    x = QActivation("quantized_bits(4,3,alpha=1)", name="in_q")(inp)
    d0 = QDense(2, kernel_quantizer="quantized_bits(5,4,alpha=1)", bias_quantizer="quantized_bits(5,4,alpha=1)")
    d1 = QDense(1, use_bias=False, kernel_quantizer="quantized_bits(5,4,alpha=1)", name="d1")
    y = d1(d0(x))
    d0.set_weights([np.zeros((3, 2), np.float32), np.array([2.0, 2.0], np.float32)])
    d1.set_weights([np.array([[3.0], [3.0]], np.float32)])  # the same weight in both phases: one slot, no mux
    model = keras.Model(inp, y)
    design = convert(model)
    x = np.random.default_rng(0).uniform(-9, 9, size=(20, 3)).astype(np.float32)
    assert np.array_equal(design.predict(x), np.asarray(model(x), dtype=np.float64))
    assert np.all(design.predict(x) == 12.0)
    for reuse in (1, 2):
        variant = with_options(design, reuse_factor=reuse)
        assert mismatches(variant, x, build(variant)) == [], reuse
