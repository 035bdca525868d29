"""Lookup-table sigmoid, tanh and softmax against the contract in fpgaq.ir.ops.tables.

Expected values come from an independent reading of the documented
definition: indices and sums in exact rationals (``Fraction``), function
values in float64 NumPy/``math`` rounded half to even by ``round()`` on a
Fraction, and casts written out by hand.  A handful of entries are checked
against numbers worked out by hand.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import keras
import numpy as np
import pytest

import fpgaq.ir.ops  # noqa: F401  (registers the table ops)
from fpgaq import zoo
from fpgaq.design import convert
from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Graph, Node, Tensor
from fpgaq.ir.ops import tables
from fpgaq.ir.precision import infer_precision
from fpgaq.ir.trace import UnsupportedLayerError
from fpgaq.layers import QActivation
from fpgaq.reference import evaluate

T18 = FixedType(18, 8)  # the config's default TablePrecision, ap_fixed<18,8>
U8 = FixedType(8, 0, False)


# ------------------------------------------------------------------ independent model of the contract
def q_real(value: float, t: FixedType) -> int:
    """Nearest-even onto t's grid, then clipped to t's range (AC_RND_CONV, AC_SAT)."""
    m = round(Fraction(value) * Fraction(2) ** t.frac)  # round() on a Fraction: half to even
    return min(max(m, t.min_int), t.max_int)


def assign(value: Fraction, t: FixedType) -> int:
    """An exact rational assigned into t by its own rounding and overflow modes."""
    scaled = value * Fraction(2) ** t.frac
    mode = t.rounding.value
    if mode == "TRN":
        m = math.floor(scaled)
    elif mode == "RND":
        m = math.floor(scaled + Fraction(1, 2))
    elif mode == "RND_CONV":
        m = round(scaled)
    else:
        raise AssertionError(f"test helper lacks rounding {mode}")
    if t.overflow.value == "SAT":
        return min(max(m, t.min_int), t.max_int)
    assert t.overflow.value == "WRAP"
    return (m - t.min_int) % (1 << t.width) + t.min_int


def sigmoid64(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


REAL = {"sigmoid": sigmoid64, "tanh": math.tanh}
RANGES = {"sigmoid": (-8, 8), "tanh": (-4, 4)}


def expected_table_activation(xs, fn: str, size: int, t: FixedType, tout: FixedType) -> list[int]:
    lo, hi = RANGES[fn]
    h = Fraction(hi - lo, size)
    out = []
    for x in xs:
        i = min(max(math.floor((x - lo) / h), 0), size - 1)
        entry = q_real(REAL[fn](float(lo + (i + Fraction(1, 2)) * h)), t)
        out.append(assign(entry * t.lsb, tout))
    return out


def expected_softmax(row, size: int, t: FixedType, tout: FixedType, exp_range: int = 8) -> list[int]:
    h = Fraction(exp_range, size)
    n = size.bit_length() - 1
    top = max(row)
    e = [q_real(math.exp(-float(min(size - 1, math.floor((top - x) / h + Fraction(1, 2))) * h)), t) for x in row]
    total = sum(e)
    p = 0
    while 2 ** (p + 1) <= total:
        p += 1
    r = math.floor(Fraction(total, 2**p) * 2**n) - 2**n
    recip_t = FixedType(t.frac + 1, 1, False)
    recip = q_real(Fraction(2**n) / (2**n + r + Fraction(1, 2)), recip_t)
    # value: e * 2**-F  *  recip * 2**-Fr  *  2**(F - p)
    return [assign(Fraction(ei * recip, 2 ** (recip_t.frac + p)), tout) for ei in e]


# ------------------------------------------------------------------ IR helpers
def one_node_graph(op: str, attrs: dict, types: dict, tin: FixedType, shape: tuple[int, ...], tout=None) -> Graph:
    nodes = [Node("x", "input", [], "x"), Node("f", op, ["x"], "f", attrs, types=types, source="f")]
    tensors = {"x": Tensor("x", shape, tin), "f": Tensor("f", shape, tout)}
    return Graph("g", nodes, tensors, ["x"], ["f"])


def run(graph: Graph, values: np.ndarray) -> tuple[Graph, np.ndarray]:
    g = infer_precision(graph)
    return g, np.asarray(evaluate(g, [values])["f"]).astype(np.int64)


def grid(t: FixedType) -> np.ndarray:
    return t.from_int(np.arange(t.min_int, t.max_int + 1))


def table_graph(fn, size, t, tin, tout=None, shape=(1,)):
    return one_node_graph("activation", {"function": fn, "table_size": size}, {"table": t}, tin, shape, tout)


# ------------------------------------------------------------------ sigmoid and tanh
def test_entries_worked_out_by_hand() -> None:
    # sigmoid, 16 bins over [-8, 8): bin 8 is [0, 1), centre 0.5; bin 7 centre -0.5
    table = tables.function_table("sigmoid", 16, U8)
    assert table[8] == 159  # sigmoid(0.5) * 256 = 159.35
    assert table[7] == 97  # sigmoid(-0.5) * 256 = 96.65
    assert table[15] == 255  # sigmoid(7.5) * 256 = 255.86 -> 256, saturated to 255
    # tanh, 16 bins over [-4, 4): bin 0 centre -3.75, in fixed<8,1>: tanh(-3.75) * 128 = -127.86
    tanh16 = tables.function_table("tanh", 16, FixedType(8, 1))
    assert tanh16[0] == -128
    assert tanh16[9] == 81  # centre -4 + 9.5 * 0.5 = 0.75: tanh(0.75) * 128 = 81.30


@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
@pytest.mark.parametrize(
    ("size", "table_type", "tin", "tout"),
    [
        (16, U8, FixedType(10, 5), None),  # k = 0 < f: right shift; range beyond [-8, 8) on both sides
        (1024, T18, FixedType(10, 5), None),  # k = 6 > f = 5: left shift, several entries never read
        (256, T18, FixedType(12, 5), FixedType(8, 1, True, "RND_CONV", "SAT")),  # output cast rounds
        (64, FixedType(12, 2), FixedType(7, 5, False), FixedType(6, 0, True, "TRN", "SAT")),  # unsigned input
        (32, FixedType(10, 1, False), FixedType(9, 3), FixedType(10, 2, True, "RND", "WRAP")),
    ],
)
def test_table_activation_matches_definition(fn, size, table_type, tin, tout) -> None:
    xs = grid(tin)  # every input code: bin edges, both saturated ends
    g, got = run(table_graph(fn, size, table_type, tin, tout), xs[:, None])
    tout = tout or table_type
    assert g.tensors["f"].type == tout
    assert g.node("f").attrs["table_range"] == RANGES[fn]
    want = expected_table_activation([Fraction(float(v)) for v in xs], fn, size, table_type, tout)
    assert got[:, 0].tolist() == want


def test_index_edges_and_saturation() -> None:
    # 16 sigmoid bins of width 1 over [-8, 8); x has 2 fraction bits
    tin = FixedType(8, 6)
    m = tin.to_int(np.array([-32.0, -8.25, -8.0, -7.75, -0.25, 0.0, 0.75, 1.0, 7.75, 8.0, 31.75]))
    assert tables.table_index(m, tin, 16, (-8, 8)).tolist() == [0, 0, 0, 0, 7, 8, 8, 9, 15, 15, 15]
    # tanh's 8 bins of width 1 over [-4, 4), with an input lsb of 4 (negative fraction bits)
    coarse = FixedType(4, 6)
    m = np.arange(coarse.min_int, coarse.max_int + 1)  # x = -32, -28, ..., 28
    want = [min(max(math.floor(4 * v + 4), 0), 7) for v in m]
    assert tables.table_index(m, coarse, 8, (-4, 4)).tolist() == want


def test_wide_inputs_use_python_integers() -> None:
    tin = FixedType(70, 10)
    m = np.array([tin.min_int, -(1 << 59) - 1, -1, 0, 1 << 59, tin.max_int], dtype=object)
    idx = tables.table_index(m, tin, 1024, (-8, 8))
    # x = m * 2**-60: -512, -0.5 - 2**-60 (just below bin 480), -2**-60 (just below 0), 0, 0.5, about 512
    assert idx.tolist() == [0, 479, 511, 512, 544, 1023]


@pytest.mark.parametrize(("fn", "slope"), [("sigmoid", Fraction(1, 4)), ("tanh", Fraction(1))])
def test_approximation_error_is_bounded(fn, slope) -> None:
    size, tin = 1024, FixedType(16, 6)
    xs = grid(tin)[::7]
    _, got = run(table_graph(fn, size, T18, tin), xs[:, None])
    lo, hi = RANGES[fn]
    h = (hi - lo) / size
    limit = 1.0 - REAL[fn](hi - h / 2)  # beyond the range: distance to the function's limit
    bound = float(slope) * h / 2 + T18.lsb_value / 2 + limit
    err = np.abs(T18.from_int(got[:, 0]) - np.array([REAL[fn](v) for v in xs]))
    assert err.max() <= bound
    inside = np.abs(xs) < hi
    assert err[inside].max() <= float(slope) * h / 2 + T18.lsb_value / 2


def test_table_size_and_precision_change_results_as_documented() -> None:
    tin = FixedType(16, 6)
    xs = grid(tin)[::5]
    real = np.array([sigmoid64(v) for v in xs])
    errors = {}
    for size in (64, 4096):
        g, got = run(table_graph("sigmoid", size, FixedType(24, 2), tin), xs[:, None])
        errors[size] = np.abs(FixedType(24, 2).from_int(got[:, 0]) - real)[np.abs(xs) < 7].max()
    # the in-range error is about slope * h / 2: h shrinks 64-fold
    assert errors[4096] < errors[64] / 32
    # the output (no Precision.result) is the table type; its grid is visible in the values
    g, got = run(table_graph("sigmoid", 1024, FixedType(6, 0, False), tin), xs[:, None])
    assert g.tensors["f"].type == FixedType(6, 0, False)
    assert set(np.unique(got)) <= set(range(64))
    assert got.max() == 63  # sigmoid(8) rounds to 64/64, saturated to 63/64


@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
def test_correct_rounding_of_entries(fn) -> None:
    """With 50 fraction bits float64 cannot decide the rounding: the decimal path does."""
    mpmath = pytest.importorskip("mpmath")
    t = FixedType(52, 2)
    table = tables.function_table(fn, 64, t)
    lo, hi = RANGES[fn]
    h = Fraction(hi - lo, 64)
    mpmath.mp.prec = 200
    f = {"sigmoid": lambda c: 1 / (1 + mpmath.exp(-c)), "tanh": mpmath.tanh}[fn]
    for i in range(64):
        c = lo + (i + Fraction(1, 2)) * h
        exact = f(mpmath.mpf(c.numerator) / c.denominator) * mpmath.mpf(2) ** t.frac
        assert table[i] == int(mpmath.nint(exact)), i  # no ties: the values are irrational


# ------------------------------------------------------------------ softmax
def test_softmax_tables_worked_out_by_hand() -> None:
    exp16 = tables.exp_table(16, T18)  # step 8/16 = 0.5, 10 fraction bits
    assert exp16[0] == 1024  # exp(0) = 1 exactly
    assert exp16[1] == 621  # exp(-0.5) * 1024 = 621.09
    assert exp16[15] == 1  # exp(-7.5) * 1024 = 0.56
    rtype = tables.reciprocal_type(T18)
    assert rtype == FixedType(11, 1, False, "RND_CONV", "SAT")
    recip = tables.reciprocal_table(16, rtype)
    assert recip[0] == 993  # 16 / 16.5 * 1024 = 992.97
    assert recip[15] == 520  # 16 / 31.5 * 1024 = 520.13
    # 5 entries of at most 1, 10 fraction bits: ufixed<13,3>
    assert tables.exp_sum_type(T18, 16, 5) == FixedType(13, 3, False)


def softmax_graph(size, t, tin, k, tout=None):
    return one_node_graph("softmax", {"axis": -1, "table_size": size}, {"table": t}, tin, (k,), tout)


def softmax_inputs(tin: FixedType, k: int, rng: np.random.Generator, h: Fraction) -> np.ndarray:
    m = rng.integers(tin.min_int, tin.max_int + 1, size=(300, k))
    m[:20] = m[:20, :1]  # all equal
    if k > 1:
        m[20:40, 1] = m[20:40, 0]  # tied maxima (or not)
    # differences at exactly half a table step (round half up), where the step is on the input grid
    half = h / 2 * 2**tin.frac
    if half.denominator == 1 and half >= 1:
        base = m[40:80, :1]
        m[40:80] = np.clip(base - int(half) * np.arange(1, 2 * k, 2)[:k], tin.min_int, tin.max_int)
    m[80:90, 0] = tin.max_int  # huge differences: far beyond the exp table
    m[80:90, 1:] = tin.min_int
    m[90:100, -1] = tin.max_int  # the maximum last
    return tin.from_int(m)


@pytest.mark.parametrize(
    ("size", "table_type", "tin", "tout", "k"),
    [
        (1024, T18, FixedType(15, 4), None, 5),  # the jet tagger's case: f = 11 > k = 7
        (16, T18, FixedType(10, 6), FixedType(8, 1, False, "RND_CONV", "SAT"), 5),  # f = 4 > k = 1
        (256, FixedType(12, 2), FixedType(8, 8), FixedType(10, 2, True, "RND", "SAT"), 3),  # f = 0 < k = 5
        (64, FixedType(8, 1, False), FixedType(12, 3), FixedType(6, 0, False, "TRN", "SAT"), 10),
        (2048, T18, FixedType(9, 3, False), FixedType(18, 8), 1),  # one element: always about 1
    ],
)
def test_softmax_matches_definition(size, table_type, tin, tout, k, rng) -> None:
    xs = softmax_inputs(tin, k, rng, Fraction(8, size))
    g, got = run(softmax_graph(size, table_type, tin, k, tout), xs)
    tout = tout or table_type
    node = g.node("f")
    assert g.tensors["f"].type == tout
    assert node.types["reciprocal"] == FixedType(table_type.frac + 1, 1, False, "RND_CONV", "SAT")
    for row, out in zip(xs, got):
        assert out.tolist() == expected_softmax([Fraction(float(v)) for v in row], size, table_type, tout)


def test_softmax_worked_out_by_hand() -> None:
    # 16 exp entries, step 0.5; inputs with 4 fraction bits; output fixed<24,2> (22 fraction bits, TRN)
    tin, tout = FixedType(10, 6), FixedType(24, 2)
    g, got = run(softmax_graph(16, T18, tin, 2, tout), np.array([[1.0, 0.75], [1.0, 0.8125]]))
    # difference 0.25 is exactly half a step: rounds up to entry 1.  e = [1024, 621], S = 1645, p = 10,
    # r = floor(1645 / 1024 * 16) - 16 = 9, R = 16 / 25.5 * 1024 = 642.51 -> 643, y = e * 643 * 2**-20
    assert got[0].tolist() == [1024 * 643 * 4, 621 * 643 * 4]
    # difference 0.1875 is below half a step: entry 0 twice.  S = 2048, p = 11, r = 0, R = 993, y = e * 993 * 2**-21
    assert got[1].tolist() == [1024 * 993 * 2, 1024 * 993 * 2]
    assert g.node("f").types["exp_sum"] == FixedType(12, 2, False)  # two entries of at most 1


def test_softmax_sum_and_shift_bounds(rng) -> None:
    tin = FixedType(15, 4)
    xs = tin.from_int(rng.integers(tin.min_int, tin.max_int + 1, size=(500, 5)))
    _, got = run(softmax_graph(1024, T18, tin, 5), xs)
    probs = T18.from_int(got)
    # T18 truncates: each output loses under one lsb; the reciprocal is within 2**-11 + 2**-10 (relative)
    rel = 2.0**-11 + 2.0**-10
    assert np.all(probs.sum(axis=1) <= 1 + rel)
    assert np.all(probs.sum(axis=1) >= 1 - rel - 5 * T18.lsb_value)
    exact = np.exp(xs - xs.max(axis=1, keepdims=True))
    exact /= exact.sum(axis=1, keepdims=True)
    # exp step 1/128: each exp within 2**-8 relative, plus entry rounding, reciprocal and the output cast
    assert np.abs(probs - exact).max() <= 2 * 2.0**-8 + rel + 2.0**-11 + T18.lsb_value


# ------------------------------------------------------------------ errors
def test_non_power_of_two_table_size() -> None:
    with pytest.raises(
        ValueError,
        match=re.escape(
            "node 'f' (layer 'f'): TableSize 1000 is not supported: table indices are cut from the input's bits by a "
            "shift, which needs a power of two >= 2; the nearest powers of two are 512 and 1024"
        ),
    ):
        run(table_graph("sigmoid", 1000, T18, FixedType(8, 4)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="TableSize 1000 is not supported"):
        run(softmax_graph(1000, T18, FixedType(8, 4), 3), np.zeros((1, 3)))


def test_range_must_give_a_power_of_two_step() -> None:
    g = table_graph("sigmoid", 1024, T18, FixedType(8, 4))
    g.node("f").attrs["table_range"] = (-6, 6)
    with pytest.raises(ValueError, match=re.escape(
        "node 'f' (layer 'f'): TableSize 1024 over the range [-6, 6) gives 256/3 entries per unit, not a power "
        "of two, so the index is not a shift of the input; use a range whose width is a power of two"
    )):  # fmt: skip
        run(g, np.zeros((1, 1)))


def test_settings_missing_from_a_hand_made_graph_come_from_the_config() -> None:
    g = one_node_graph("activation", {"function": "tanh"}, {}, FixedType(8, 4), (1,))
    typed = infer_precision(g, {"LayerName": {"f": {"TableSize": 64, "TablePrecision": "ap_fixed<9,1>"}}})
    node = typed.node("f")
    assert (node.attrs["table_size"], node.types["table"], node.attrs["table_range"]) == (64, FixedType(9, 1), (-4, 4))
    assert "table_size" not in g.node("f").attrs  # the pass worked on a copy


def test_softmax_type_errors() -> None:
    with pytest.raises(
        ValueError,
        match=re.escape(
            "node 'f' (layer 'f'): TablePrecision ap_fixed<8, 8, AP_TRN, AP_WRAP> has no fractional bits, so "
            "exp(-u) <= 1 and its reciprocal cannot be tabulated; give TablePrecision fractional bits, "
            "e.g. 'ap_fixed<18,8>'"
        ),
    ):
        run(softmax_graph(64, FixedType(8, 8), FixedType(8, 4), 3), np.zeros((1, 3)))
    with pytest.raises(ValueError, match=re.escape("rounds exp(0) = 1 to 0.0, so the softmax sum could be 0")):
        run(softmax_graph(64, FixedType(1, -3), FixedType(8, 4), 3), np.zeros((1, 3)))
    g = one_node_graph("softmax", {"axis": 0, "table_size": 64}, {"table": T18}, FixedType(8, 4), (2, 3))
    with pytest.raises(ValueError, match=re.escape("softmax over axis 0 is not supported; only the last axis")):
        run(g, np.zeros((1, 2, 3)))


def test_kernel_needs_precision_inference() -> None:
    g = one_node_graph("activation", {"function": "tanh"}, {}, FixedType(8, 4), (1,), FixedType(8, 1))
    with pytest.raises(ValueError, match=re.escape("run fpgaq.ir.precision.infer_precision on the graph first")):
        evaluate(g, [np.zeros((1, 1))])


def test_other_activations_still_work() -> None:
    tin = FixedType(6, 3)
    g, got = run(one_node_graph("activation", {"function": "relu"}, {}, tin, (1,)), grid(tin)[:, None])
    assert g.tensors["f"].type == FixedType(5, 2, False)
    assert got[:, 0].tolist() == [max(m, 0) for m in range(-32, 32)]


# ------------------------------------------------------------------ Keras models
def single(activation, input_quantizer: str = "quantized_bits(12,3,alpha=1)", name: str = "act") -> keras.Model:
    inputs = keras.Input((1,), name="x")
    x = QActivation(input_quantizer, name="input_q")(inputs)
    return keras.Model(inputs, QActivation(activation, name=name)(x))


@pytest.mark.parametrize(
    ("quantizer", "tie_step"),
    [("quantized_tanh(6)", 2.0**-6), ("quantized_tanh(6, symmetric=True)", 2.0**-6), ("quantized_sigmoid(6)", 2.0**-6)],
)
def test_hard_quantizers_equal_keras(quantizer, tie_step) -> None:
    """Inputs are on ac_fixed<12,4> (8 fraction bits), so QKeras' float32 x/2 + 1/2 and the rounding
    are exact: Keras and the reference must agree exactly, including ties and saturation."""
    model = single(quantizer)
    design = convert(model)
    node = design.graph.nodes[-1]
    assert node.attrs["function"] in ("hard_tanh", "hard_sigmoid")
    codes = np.arange(-(2**11), 2**11) / 256.0  # every input code in [-8, 8)
    xs = np.concatenate([codes, [-100.0, -8.5, 7.99, 100.0]])[:, None]
    ties = np.abs(np.mod(codes, 2 * tie_step) - tie_step) == 0  # odd multiples of half the output step
    assert ties.sum() > 100
    want = model.predict(xs.astype(np.float32), verbose=0, batch_size=8192).astype(np.float64)
    assert np.array_equal(design.predict(xs), want)


@pytest.mark.parametrize(
    ("quantizer", "fn", "hw"),
    [
        ("quantized_sigmoid(8, use_real_sigmoid=True)", "sigmoid", FixedType(8, 0, False, "RND_CONV", "SAT")),
        ("quantized_tanh(8, use_real_tanh=True)", "tanh", FixedType(8, 1, True, "RND_CONV", "SAT")),
    ],
)
def test_real_quantizers_are_tables(quantizer, fn, hw) -> None:
    model = single(quantizer)
    design = convert(model)
    node = design.graph.nodes[-1]
    assert (node.op, node.attrs["function"], node.attrs["table_size"]) == ("activation", fn, 1024)
    assert node.types["table"] == hw  # the quantizer's own grid: one rounding
    assert design.graph.tensors[node.output].type == hw
    xs = np.concatenate([np.arange(-(2**11), 2**11) / 256.0, [-100.0, 100.0]])[:, None]
    got = design.predict(xs)
    xin = np.clip(xs[:, 0], -8, 8 - 2**-8)
    assert got[:, 0].tolist() == [
        v * hw.lsb_value for v in expected_table_activation([Fraction(v) for v in xin], fn, 1024, hw, hw)
    ]
    # Keras rounds the float64 function: the table is within one output lsb (bin error h * slope / 2
    # and the entry's rounding are each at most half an lsb at 8 bits)
    keras_out = model.predict(xs.astype(np.float32), verbose=0, batch_size=8192).astype(np.float64)
    assert np.abs(got - keras_out).max() <= hw.lsb_value


def test_real_quantizer_table_precision_from_layer_config() -> None:
    model = single("quantized_sigmoid(8, use_real_sigmoid=True)")
    design = convert(model, {"LayerName": {"act": {"TablePrecision": "ap_ufixed<12,0>", "TableSize": 64}}})
    node = design.graph.nodes[-1]
    assert node.types["table"] == FixedType(12, 0, False)
    assert node.attrs["table_size"] == 64
    assert design.graph.tensors[node.output].type == FixedType(8, 0, False, "RND_CONV", "SAT")


def test_symmetric_real_sigmoid_is_refused() -> None:
    with pytest.raises(UnsupportedLayerError, match="not supported in the IR yet"):
        convert(single("quantized_sigmoid(8, symmetric=True, use_real_sigmoid=True)"))


def test_keras_activations_take_table_settings_from_config() -> None:
    inputs = keras.Input((3,), name="x")
    x = QActivation("quantized_bits(8,3,alpha=1)", name="input_q")(inputs)
    x = keras.layers.Activation("tanh", name="t")(x)
    x = QActivation("quantized_bits(10,3,alpha=1)", name="requant")(x)
    y = keras.layers.Activation("sigmoid", name="s")(x)
    model = keras.Model(inputs, y)
    config = {
        "LayerName": {
            "t": {"TableSize": 64, "TablePrecision": "ap_fixed<10,2>"},
            "s": {"Precision": {"result": "ap_ufixed<6,0,AP_RND_CONV,AP_SAT>"}},
        }
    }
    design = convert(model, config)
    t, s = design.graph.node("t"), design.graph.node("s")
    assert (t.attrs["table_size"], t.types["table"]) == (64, FixedType(10, 2))
    assert design.graph.tensors[t.output].type == FixedType(10, 2)  # no Precision.result: the table type
    assert (s.attrs["table_size"], s.types["table"]) == (1024, T18)  # Model defaults
    assert design.graph.tensors[s.output].type == FixedType(6, 0, False, "RND_CONV", "SAT")
    xs = np.linspace(-20, 20, 301)[:, None].repeat(3, axis=1)
    trace = design.trace(xs)
    tin = design.graph.tensors[s.inputs[0]].type
    want = expected_table_activation(
        [Fraction(v) for v in trace[s.inputs[0]][:, 0]], "sigmoid", 1024, T18, FixedType(6, 0, False, "RND_CONV", "SAT")
    )
    assert tin.width <= 53
    assert (trace["s"][:, 0] * 64).astype(int).tolist() == want


def test_jet_tagger_softmax_end_to_end() -> None:
    keras.utils.set_random_seed(3)
    model = zoo.jet_tagger()
    design = convert(model)
    node = design.graph.node("softmax")
    assert node.op == "softmax" and node.types["table"] == T18
    assert design.graph.tensors["softmax"].type == T18
    x = np.random.default_rng(7).normal(0, 1.5, size=(3000, 16))
    probs = design.predict(x)
    rel = 2.0**-11 + 2.0**-10  # reciprocal's relative error; each truncated output loses < 1 lsb
    assert np.all(probs.sum(axis=1) <= 1 + rel)
    assert np.all(probs.sum(axis=1) >= 1 - rel - 5 * T18.lsb_value)
    keras_probs = model.predict(x.astype(np.float32), verbose=0, batch_size=1024)
    agree = np.mean(np.argmax(probs, axis=1) == np.argmax(keras_probs, axis=1))
    assert agree >= 0.99
