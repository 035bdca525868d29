"""Lowering of activation, piecewise_linear and step, and the integer building blocks they share.

Building blocks are checked exhaustively against exact rational arithmetic
written out in the test; whole ops against the reference (the numeric
truth) on every input code, in every rounding and overflow mode, with ROMs
allowed and with ROMs disabled (so the arithmetic circuits are checked too).
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import keras
import numpy as np
import pytest
from _lower_testing import (
    MODES,
    ROUNDINGS,
    assert_exact,
    assign,
    every_code,
    keras_design,
    kinds,
    lower,
    one_node,
    round_by_hand,
)

import fpgaq
from fpgaq.fixed import FixedType, Rounding
from fpgaq.layers import QActivation
from fpgaq.rtl.csd import csd
from fpgaq.rtl.lower import RtlLoweringError, blocks
from fpgaq.rtl.lower.activations import apply_activation
from fpgaq.rtl.lower.blocks import _reciprocal, below, divide, relabel, select, times_const
from fpgaq.rtl.netlist import Netlist, simulate


@pytest.fixture
def no_roms(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only arithmetic circuits: no ROM over an input's range is ever a candidate."""
    monkeypatch.setattr(blocks, "ROM_LIMIT", 0)


def _run(build, t: FixedType) -> tuple[np.ndarray, list[Fraction], Netlist]:
    """``build(net, x)`` on every code of ``t``: (codes, values of the result, netlist)."""
    net = Netlist()
    x = net.add_input("x", t, 1)[0]
    out = build(net, x)
    net.add_output("y", [out], t)
    codes = np.arange(t.min_int, t.max_int + 1)
    mantissas = simulate(net, [codes.reshape(-1, 1)])[0][:, 0]
    if out.frac <= 0:  # integer values: exact Python ints, quick to compare
        return codes, (mantissas.astype(object) << -out.frac).tolist(), net
    return codes, [Fraction(int(m)) / Fraction(2) ** out.frac for m in mantissas], net


@pytest.mark.parametrize("c", [-129, -7, -1, 0, 1, 2, 3, 7, 45, 85, 1000, (1 << 40) + 3])
def test_times_const_exact_with_at_most_one_adder_per_extra_digit(c: int) -> None:
    t = FixedType(9, 9, True)
    codes, got, net = _run(lambda n, x: times_const(n, x, c), t)
    assert got == [int(m) * c for m in codes]
    adders = kinds(net)["add"] + kinds(net)["neg"]
    assert adders <= max(len(csd(c)) - 1, 0) + int(c < 0)  # at most one adder per extra CSD digit
    assert kinds(net)["mul"] == kinds(net)["mulc"] == 0


def test_times_const_keeps_powers_of_two_in_the_binary_point() -> None:
    net = Netlist()
    x = net.add_input("x", FixedType(6, 3, True), 1)[0]  # frac 3
    y = times_const(net, x, 5 * 8, frac=4)  # value x * 40 / 16: mantissa x * 5, binary point 3 + 4 - 3
    assert y.frac == 4 and (y.lo, y.hi) == (-32 * 5, 31 * 5)
    net.add_output("y", [y], FixedType(12, 8))
    assert kinds(net)["add"] == 1 and kinds(net)["neg"] == 0


@pytest.mark.parametrize("t", [FixedType(8, 8, True), FixedType(7, 7, False), FixedType(8, 3, True)])
def test_below_every_threshold(t: FixedType) -> None:
    for thr in range(t.min_int - 2, t.max_int + 3):
        codes, got, _ = _run(lambda n, x, thr=thr: below(n, x, thr), t)
        assert got == (codes < thr).astype(int).tolist(), thr


def test_below_zero_is_the_sign_bit_and_decided_comparisons_fold() -> None:
    net = Netlist()
    x = net.add_input("x", FixedType(8, 8, True), 1)[0]
    assert net.producer(below(net, x, 0)).kind == "bit"
    assert below(net, x, -128).is_const and below(net, x, -128).lo == 0
    assert below(net, x, 128).is_const and below(net, x, 128).lo == 1
    # a threshold with trailing zeros compares the high bits only: 96 = 3 * 32, a 3-bit comparison
    cmp = net.producer(net.producer(below(net, x, 96)).args[0])
    assert cmp.kind == "add" and cmp.out.width <= 4


def test_select_is_a_balanced_tree() -> None:
    t = FixedType(8, 8, True)
    starts = [-100, -3, 0, 1, 64, 100, 120]
    outs = list(range(10, 18))
    codes, got, net = _run(lambda n, x: select(n, x, starts, [n.const(v) for v in outs]), t)
    assert got == [outs[int(np.searchsorted(starts, m, side="right"))] for m in codes]
    assert kinds(net)["mux"] == len(starts)
    depth = {}
    for op in net.live():
        depth[op.out.id] = 1 + max((depth[a.id] for a in op.args), default=0) if op.kind == "mux" else 0
    assert max(depth.values()) == 3  # 8 outputs: log2(8) levels of multiplexers


@pytest.mark.parametrize("den", [1, 2, 3, 5, 6, 7, 9, 10, 12, 24, 25, 48, 96, 127])
@pytest.mark.parametrize("t", [FixedType(11, 11, True), FixedType(10, 10, False)])
def test_divide_every_numerator_every_mode(den: int, t: FixedType) -> None:
    for rounding in ROUNDINGS:
        codes, got, _ = _run(lambda n, x, r=rounding: divide(n, x, den, r), t)
        want = [round_by_hand(Fraction(int(m), den), rounding) for m in codes]
        assert got == want, (den, rounding)


@pytest.mark.parametrize("den", [3, 6, 8, 9])
def test_divide_with_an_offset_every_mode(den: int) -> None:
    t = FixedType(9, 9, True)
    for offset in (-7, 5, 64):
        for rounding in ROUNDINGS:
            codes, got, _ = _run(lambda n, x, r=rounding, o=offset: divide(n, x, den, r, offset=o), t)
            assert got == [round_by_hand(Fraction(int(m) + offset, den), rounding) for m in codes], (offset, rounding)


def test_divide_reads_the_value_of_a_scaled_numerator() -> None:
    # mantissa m with binary point -3 is the integer 8m: (8m) / 12 = 2m / 3, rounded half to even
    t = FixedType(8, 8, True)
    codes, got, _ = _run(lambda n, x: divide(n, relabel(n, x, -3), 12, Rounding.RND_CONV), t)
    assert got == [round_by_hand(Fraction(8 * int(m), 12), Rounding.RND_CONV) for m in codes]
    with pytest.raises(ValueError, match="integer-valued numerator"):
        _run(lambda n, x: divide(n, relabel(n, x, 1), 3, Rounding.TRN), t)


@pytest.mark.parametrize("den", [3, 9, 11, 25, 127, 255])
def test_divide_by_odd_constants_over_16_bits(den: int) -> None:
    t = FixedType(16, 16, True)
    codes, got, net = _run(lambda n, x: divide(n, x, den, Rounding.TRN), t)
    assert got == (codes // den).tolist()
    assert kinds(net)["mul"] == kinds(net)["mulc"] == 0  # shift-add only
    _, got_dsp, net_dsp = _run(lambda n, x: divide(n, x, den, Rounding.TRN, dsp=True), t)
    assert got_dsp == (codes // den).tolist()
    assert kinds(net_dsp)["mulc"] == 1


def test_reciprocal_constants_are_exact_over_their_whole_range() -> None:
    # floor((n*M + C) / 2**s) == floor(n / d) for every n in [-k*d, top - k*d]
    for d in range(3, 100, 2):
        for top in (d - 1, d, 5 * d, 5 * d + 1, 1000, 4096 * d, (1 << 16) + 7):
            for k in (0, 3):
                s, m, c = _reciprocal(k, top, d)
                n = np.arange(top + 1, dtype=np.int64) - k * d
                assert np.array_equal((n * m + c) >> s, n // d), (d, top, k, s, m, c)


def test_divide_by_a_power_of_two_is_a_rounded_shift() -> None:
    _, _, net = _run(lambda n, x: divide(n, x, 16, Rounding.RND), FixedType(10, 10, True))
    assert kinds(net)["add"] == 1  # + 8, then the shift is wiring
    assert kinds(net)["mux"] == 0


# ----------------------------------------------------------------------------- activation
_TINS = [FixedType(9, 4, True), FixedType(7, 5, False), FixedType(6, -1, True)]
_TOUT_SHAPES = [(5, 2, True), (4, 1, False)]


@pytest.mark.parametrize("fn", ["linear", "relu", "hard_sigmoid", "hard_tanh"])
@pytest.mark.parametrize("tin", _TINS, ids=str)
def test_activation_every_code_every_mode(fn: str, tin: FixedType, no_roms: None) -> None:
    x = every_code(tin)
    for rounding, overflow in MODES:
        for width, integer, signed in _TOUT_SHAPES:
            tout = FixedType(width, integer, signed, rounding, overflow)
            assert_exact(one_node("activation", {"function": fn}, tin, (1,), tout), x)


@pytest.mark.parametrize("fn", ["relu", "hard_sigmoid"])
def test_activation_with_roms_allowed(fn: str) -> None:
    tin = FixedType(8, 3, True)
    for rounding, overflow in MODES[::3]:
        tout = FixedType(5, 1, fn == "relu", rounding, overflow)
        assert_exact(one_node("activation", {"function": fn}, tin, (2,), tout), every_code(tin, (2,)))


def test_relu_into_unsigned_saturating_type_is_one_cast() -> None:
    # the reference's shortcut: negative inputs saturate to 0 by themselves, no comparison with 0
    tout = FixedType(6, 2, False, "TRN", "SAT")
    net = lower(one_node("activation", {"function": "relu"}, FixedType(12, 4), (1,), tout))
    assert kinds(net) == {"shr": 1, "clip": 1}


def test_relu_into_signed_type_zeroes_negatives_with_the_sign_bit() -> None:
    tout = FixedType(6, 3, True, "TRN", "WRAP")
    net = lower(one_node("activation", {"function": "relu"}, FixedType(12, 4), (1,), tout))
    (mux,) = [op for op in net.live() if op.kind == "mux"]
    assert net.producer(mux.args[0]).kind == "bit" and mux.args[1].is_const and mux.args[1].lo == 0
    assert kinds(net)["clip"] == kinds(net)["max"] == 0


def test_hard_sigmoid_leaves_out_clips_that_saturation_makes_redundant(no_roms: None) -> None:
    # ufixed<4,0,SAT> tops out at 15/16 and bottoms at 0: the clip to [0, 1] changes nothing
    tin = FixedType(8, 4)
    sat = lower(one_node("activation", {"function": "hard_sigmoid"}, tin, (1,), FixedType(4, 0, False, "RND", "SAT")))
    wrap = lower(one_node("activation", {"function": "hard_sigmoid"}, tin, (1,), FixedType(4, 0, False, "RND", "WRAP")))
    assert kinds(sat)["clip"] == 1  # the output's own saturation only
    assert kinds(wrap)["clip"] == 1  # the clip to [0, 1]; wrapping needs no clip of its own


def test_apply_activation_for_fused_relu_by_hand() -> None:
    tin, tout = FixedType(8, 4, True), FixedType(5, 2, True, "RND_CONV", "SAT")
    net = Netlist()
    xs = net.add_input("acc", tin, 3)
    ys = apply_activation(net, {"function": "relu"}, xs, tin, tout)
    net.add_output("y", ys, tout)
    codes = np.arange(tin.min_int, tin.max_int + 1)
    got = simulate(net, [np.stack([codes, codes[::-1], np.zeros_like(codes)], axis=1)])[0]
    for column, source in ((0, codes), (1, codes[::-1])):
        want = [assign(Fraction(max(int(m), 0), 2**tin.frac), tout) for m in source]
        assert got[:, column].tolist() == want
    assert got[:, 2].tolist() == [0] * len(codes)


def test_apply_activation_relabels_inputs_to_the_input_type() -> None:
    # a signal carrying other fraction bits is read as tin's mantissas, as the reference reads arrays
    tin, tout = FixedType(8, 4, True), FixedType(8, 4, True)
    net = Netlist()
    (x,) = net.add_input("acc", FixedType(8, 8, True), 1)  # frac 0
    (y,) = apply_activation(net, {"function": "linear"}, [x], tin, tout)
    assert y.frac == tin.frac and net.producer(y).args[0] is x


def test_unsupported_function_names_the_node_and_the_choices() -> None:
    net = Netlist()
    xs = net.add_input("x", FixedType(8, 4), 1)
    with pytest.raises(RtlLoweringError) as err:
        apply_activation(net, {"function": "swish"}, xs, FixedType(8, 4), FixedType(8, 4), where="node 'act'")
    assert str(err.value) == (
        "node 'act': activation function 'swish' has no RTL implementation; supported: linear, relu, leaky_relu, "
        "hard_sigmoid, hard_tanh, sigmoid, tanh; use one of them or the HLS back end"
    )


@pytest.mark.parametrize(
    "quantizer",
    ["quantized_relu(4,2,negative_slope=0.25)", "quantized_relu(6,2,negative_slope=0.5)", "quantized_relu(5,1)"],
)
def test_quantized_relu_activations(quantizer: str, no_roms: None) -> None:
    design = keras_design(QActivation(quantizer, name="act"), "quantized_bits(9,3,alpha=1)", (1,))
    assert design.graph.node("act").op == "activation"
    assert_exact(design, every_code(design.graph.tensors[design.graph.inputs[0]].type))


@pytest.mark.parametrize("quantizer", ["quantized_tanh(4,0)", "quantized_sigmoid(5,0)"])
def test_hard_quantizers(quantizer: str) -> None:
    design = keras_design(QActivation(quantizer, name="act"), "quantized_bits(10,3,alpha=1)", (1,))
    assert design.graph.node("act").attrs["function"] in ("hard_tanh", "hard_sigmoid")
    assert_exact(design, every_code(design.graph.tensors[design.graph.inputs[0]].type))


# ----------------------------------------------------------------------------- piecewise_linear
_RESULTS = [
    None,
    "ap_fixed<7,3,AP_RND_CONV,AP_SAT>",
    "ap_ufixed<5,1,AP_RND,AP_WRAP>",
    "ap_fixed<8,2,AP_RND_INF,AP_SAT_SYM>",
    "ap_fixed<6,2,AP_RND_ZERO,AP_SAT_ZERO>",
    "ap_fixed<12,2,AP_TRN_ZERO,AP_WRAP>",
    "ap_fixed<9,3,AP_RND_MIN_INF,AP_SAT>",
]
_LAYERS = {
    "leaky_0.3": lambda: keras.layers.LeakyReLU(negative_slope=0.3, name="act"),
    "leaky_0.25": lambda: keras.layers.LeakyReLU(negative_slope=0.25, name="act"),
    "relu_max": lambda: keras.layers.ReLU(max_value=6.0, name="act"),
    "relu_all": lambda: keras.layers.ReLU(max_value=2.5, threshold=0.5, negative_slope=0.125, name="act"),
    "relu_threshold": lambda: keras.layers.ReLU(max_value=2.5, threshold=0.75, name="act"),  # jumps from 0 to 0.75
    "hard_sigmoid": lambda: keras.layers.Activation("hard_sigmoid", name="act"),  # slope 1/6: a division by 3
    "relu6": lambda: keras.layers.Activation("relu6", name="act"),
    "hard_tanh": lambda: keras.layers.Activation("hard_tanh", name="act"),
}


@pytest.mark.parametrize("name", list(_LAYERS))
def test_piecewise_linear_every_code_every_mode(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for result in _RESULTS:
        config = {"LayerName": {"act": {"Precision": {"result": result}}}} if result else None
        design = keras_design(_LAYERS[name](), "quantized_bits(9,3,alpha=1)", (1,), config)
        assert design.graph.node("act").op == "piecewise_linear"
        x = every_code(design.graph.tensors[design.graph.inputs[0]].type)
        for limit in (0, 4096):
            monkeypatch.setattr(blocks, "ROM_LIMIT", limit)
            assert_exact(design, x)


def test_relu6_is_a_single_clip(no_roms: None) -> None:
    # the constant pieces 0 and 6 join the sloped piece: no comparison, no multiplexer
    net = lower(keras_design(_LAYERS["relu6"](), "quantized_bits(12,3,alpha=1)", (1,)))
    assert kinds(net)["clip"] == 1
    assert kinds(net)["mux"] == kinds(net)["add"] == 0


def test_leaky_relu_pieces_are_separated_by_the_sign_bit(no_roms: None) -> None:
    config = {"LayerName": {"act": {"Precision": {"result": "ap_fixed<10,4,AP_RND,AP_SAT>"}}}}
    net = lower(keras_design(_LAYERS["leaky_0.25"](), "quantized_bits(12,3,alpha=1)", (1,), config))
    (mux,) = [op for op in net.live() if op.kind == "mux"]
    sel = net.producer(mux.args[0])
    assert sel.kind == "bit" and net.producer(sel.args[0]).kind == "input" and sel.param == 11


# ----------------------------------------------------------------------------- step
_STEPS = [
    "binary(alpha=1)",
    "binary(use_01=1)",
    "ternary(alpha=1)",
    "ternary(threshold=0.2,alpha=0.5)",
    "binary_tanh",
    "quantized_po2(4,1)",
    "quantized_relu_po2(5,2)",
    "quantized_relu_po2(5,2,negative_slope=0.25)",
]


@pytest.mark.parametrize("quantizer", _STEPS)
def test_step_every_code(quantizer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    design = keras_design(QActivation(quantizer, name="act"), "quantized_bits(10,3,alpha=1)", (1,))
    assert design.graph.node("act").op == "step"
    x = every_code(design.graph.tensors[design.graph.inputs[0]].type)
    for limit in (0, 4096):
        monkeypatch.setattr(blocks, "ROM_LIMIT", limit)
        assert_exact(design, x)


def test_step_picks_a_rom_for_narrow_inputs_with_many_levels() -> None:
    narrow = lower(keras_design(QActivation("quantized_po2(5,1)", name="act"), "quantized_bits(6,3,alpha=1)", (1,)))
    assert kinds(narrow)["rom"] == 1 and kinds(narrow)["mux"] == 0
    wide = lower(keras_design(QActivation("binary(alpha=1)", name="act"), "quantized_bits(12,3,alpha=1)", (1,)))
    assert kinds(wide)["rom"] == 0 and kinds(wide)["mux"] == 1


def test_binary_step_of_unsigned_input_is_a_constant() -> None:
    t = FixedType(6, 2, False)
    design = one_node("step", {"rule": _binary_rule()}, t, (2,))
    net = assert_exact(design, every_code(t, (2,)))
    assert all(s.is_const for _, sigs, _ in net.outputs for s in sigs)


def _binary_rule():
    from fpgaq.ir.ops.quantized_activations import StepCuts

    return StepCuts(((Fraction(0), True),), (Fraction(-1), Fraction(1)))


@pytest.mark.parametrize(
    "activation",
    ["quantized_relu(5,2)", "quantized_relu(6,2,negative_slope=0.25)", "quantized_tanh(5,0)", "relu"],
)
def test_activation_fused_into_a_dense_layer(activation: str) -> None:
    # passes.fuse_activation moves the activation into the dense node; its lowering calls apply_activation
    from fpgaq.layers import QDense

    layer = QDense(
        4,
        kernel_quantizer="quantized_bits(4,0,alpha=1)",
        bias_quantizer="quantized_bits(6,2,alpha=1)",
        activation=activation,
        name="fc",
    )
    inp = keras.Input((5,))
    model = keras.Model(inp, layer(QActivation("quantized_bits(7,2,alpha=1)", name="in_q")(inp)))
    rng = np.random.default_rng(5)
    for w in model.weights:
        w.assign(rng.normal(0.0, 0.7, size=tuple(w.shape)).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = fpgaq.convert(model)
    (node,) = [n for n in design.graph.nodes if n.op == "dense"]
    assert "activation" in node.attrs
    assert_exact(design, every_code(FixedType(7, 3), (5,))[::3] * np.array([1, -1, 0.5, -0.25, 2]))
