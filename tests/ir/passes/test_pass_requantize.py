"""requantize / reopen_types / with_options: exact re-quantization, re-inferred types, purity, errors."""

from __future__ import annotations

from fractions import Fraction

import keras
import numpy as np
import pytest
from _pass_testing import freeze

import fpgaq
from fpgaq.fixed import FixedType
from fpgaq.hwtypes import Po2Type
from fpgaq.ir.graph import Weight
from fpgaq.ir.passes.requantize import REUSE_OPS, reopen_types, requantize, reuse_limit, with_options
from fpgaq.layers import QActivation, QDense

WQ = "quantized_bits(6,0,alpha=1)"


def small_model() -> keras.Model:
    """4 -> 6 (quantized_relu(6,1)) -> 3: two dense layers, one fused and one bare."""
    x = keras.Input((4,), name="x")
    h = QActivation("quantized_bits(8,2,alpha=1)", name="in_q")(x)
    h = QDense(6, kernel_quantizer=WQ, bias_quantizer=WQ, name="fc1")(h)
    h = QActivation("quantized_relu(6,1)", name="relu1")(h)
    out = QDense(3, kernel_quantizer=WQ, bias_quantizer=WQ, name="out")(h)
    return keras.Model(x, out, name="small")


@pytest.fixture(scope="module")
def design() -> fpgaq.Design:
    keras.utils.set_random_seed(3)
    return fpgaq.convert(small_model())


def samples(n: int = 300, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 2.5, size=(n, 4))


def test_weights_are_the_fixed_point_quantization_of_the_old_values(design: fpgaq.Design) -> None:
    for bits in (2, 3, 4, 5):
        g = requantize(design.graph, weight_bits=bits, config=design.config)
        for name in ("fc1", "out"):
            for key in ("kernel", "bias"):
                old = design.graph.node(name).weights[key]
                new = g.node(name).weights[key]
                grid = FixedType(bits, old.type.integer, old.type.signed, "RND_CONV", "SAT")
                assert np.array_equal(new.values, grid.quantize(old.values))
                assert (new.type.width, new.type.integer, new.type.signed) == (bits, old.type.integer, True)
                # every value sits on the new grid: the mantissas reproduce the values exactly
                assert np.array_equal(new.type.from_int(new.mantissa), new.values)


def test_round_to_nearest_by_hand() -> None:
    """Independent of FixedType: 6-bit values rounded to 3 bits (step 1/4, range [-1, 3/4]) by hand."""
    x = keras.Input((1,), name="x")
    h = QActivation("quantized_bits(8,2,alpha=1)", name="in_q")(x)
    out = QDense(1, kernel_quantizer=WQ, use_bias=False, name="fc")(h)
    model = keras.Model(x, out)
    d = fpgaq.convert(model)
    old = d.graph.node("fc").weights["kernel"]
    values = np.array([[0.96875]])  # 31/32 -> 1.0 is out of range: saturates to 3/4
    d.graph.node("fc").weights["kernel"] = Weight(values, old.type)
    g = requantize(d.graph, weight_bits=3)
    assert g.node("fc").weights["kernel"].values.tolist() == [[0.75]]
    d.graph.node("fc").weights["kernel"] = Weight(np.array([[-0.40625]]), old.type)  # -13/32 -> -1/2 (nearer)
    assert requantize(d.graph, weight_bits=3).node("fc").weights["kernel"].values.tolist() == [[-0.5]]
    d.graph.node("fc").weights["kernel"] = Weight(np.array([[0.375]]), old.type)  # 3/8: a tie -> even (1/2)
    assert requantize(d.graph, weight_bits=3).node("fc").weights["kernel"].values.tolist() == [[0.5]]


def test_wider_types_change_no_number(design: fpgaq.Design) -> None:
    """6-bit weights are exact in 10 bits; with the same activations every output is the same."""
    g = requantize(design.graph, weight_bits=10, config=design.config)
    assert g.node("fc1").weights["kernel"].type.width == 10
    x = samples()
    assert np.array_equal(fpgaq.Design(g, design.config).predict(x), design.predict(x))


def test_activation_bits_keep_integer_bits_and_sign(design: fpgaq.Design) -> None:
    g = requantize(design.graph, activation_bits=4, config=design.config)
    old = design.graph.tensors["relu1"].type
    new = g.tensors["relu1"].type
    assert (new.width, new.integer, new.signed) == (4, old.integer, old.signed)
    assert (new.rounding, new.overflow) == (old.rounding, old.overflow)
    assert g.tensors["x"].type == design.graph.tensors["x"].type  # the input is the interface
    g2 = requantize(design.graph, input_bits=6, config=design.config)
    assert g2.tensors["x"].type.width == 6
    assert g2.tensors["x"].type.integer == design.graph.tensors["x"].type.integer


def _hand_bounds(kernel: np.ndarray, bias: np.ndarray, tin: FixedType) -> tuple[Fraction, Fraction]:
    lo_x, hi_x = tin.min, tin.max
    his, los = [], []
    for c in range(kernel.shape[1]):
        hi = Fraction(float(bias[c]))
        lo = Fraction(float(bias[c]))
        for w in kernel[:, c]:
            w = Fraction(float(w))
            hi += max(w * lo_x, w * hi_x)
            lo += min(w * lo_x, w * hi_x)
        his.append(hi)
        los.append(lo)
    return min(los), max(his)


def test_accumulators_are_reinferred_tight(design: fpgaq.Design) -> None:
    g = requantize(design.graph, weight_bits=3, activation_bits=3, config=design.config)
    for name in ("fc1", "out"):
        node = g.node(name)
        tin = g.tensors[node.inputs[0]].type
        lo, hi = _hand_bounds(node.weights["kernel"].values, node.weights["bias"].values, tin)
        acc = node.types["accum"]
        assert acc.min <= lo and hi <= acc.max
        narrower = FixedType(acc.width - 1, acc.integer - 1, acc.signed)  # same binary point, one bit less
        assert not (narrower.min <= lo and hi <= narrower.max)
        assert acc.frac == tin.frac + node.weights["kernel"].type.frac
    # the bare output layer's type is derived too: it follows the new accumulator
    assert g.tensors["out"].type == g.node("out").types["accum"]
    assert g.tensors["out"].type != design.graph.tensors["out"].type


def test_reference_runs_and_matches_a_hand_computation(design: fpgaq.Design) -> None:
    g = requantize(design.graph, weight_bits=4, activation_bits=4, config=design.config)
    x = samples()
    got = fpgaq.Design(g, design.config).predict(x)
    tin, trelu = g.tensors["x"].type, g.tensors["relu1"].type
    xq = tin.quantize(x)
    fc1 = g.node("fc1").weights
    pre = xq @ fc1["kernel"].values + fc1["bias"].values  # exact in float64: few small dyadic terms
    h = trelu.quantize(np.maximum(pre, 0))
    out = g.node("out").weights
    want = h @ out["kernel"].values + out["bias"].values
    assert np.array_equal(got, want)


def test_pure(design: fpgaq.Design) -> None:
    before = freeze(design.graph)
    requantize(design.graph, 3, 3, config=design.config)
    with_options(design.graph, 2, 1, "dsp")
    reopen_types(design.graph, design.config)
    assert freeze(design.graph) == before


def test_reopen_finds_derived_types(design: fpgaq.Design) -> None:
    opened = reopen_types(design.graph, design.config)
    assert opened.tensors["x"].type is not None  # input: declared
    assert opened.tensors["relu1"].type is not None  # quantizer: declared
    assert opened.tensors["out"].type is None  # derived from the accumulator
    assert "accum" not in opened.node("fc1").types
    # re-inferring the reopened graph gives back the original
    again = requantize(opened, config=design.config)
    assert freeze(again.tensors) == freeze(design.graph.tensors)


def test_config_declared_types_are_kept() -> None:
    keras.utils.set_random_seed(4)
    config = {"LayerName": {"out": {"Precision": {"accum": "ap_fixed<22,8>"}}}}
    d = fpgaq.convert(small_model(), config)
    assert d.graph.node("out").types["accum"] == FixedType(22, 8)
    opened = reopen_types(d.graph, d.config)
    assert opened.node("out").types["accum"] == FixedType(22, 8)
    g = requantize(d.graph, weight_bits=4, config=d.config)
    assert g.node("out").types["accum"] == FixedType(22, 8)
    assert g.node("fc1").types["accum"] != d.graph.node("fc1").types["accum"]


def test_hardware_weights_are_left_alone(design: fpgaq.Design) -> None:
    graph = design.graph.copy()
    k = graph.node("fc1").weights["kernel"]
    graph.node("fc1").weights["kernel"] = Weight(k.values, k.type, Po2Type.__new__(Po2Type), k.quantizer)
    g = requantize(graph, weight_bits=3, config=design.config)
    assert np.array_equal(g.node("fc1").weights["kernel"].values, k.values)
    assert g.node("fc1").weights["bias"].type.width == 3


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "4"])
def test_bad_bits_name_the_setting(design: fpgaq.Design, bad: object) -> None:
    with pytest.raises(ValueError, match=r"weight_bits must be an integer >= 1"):
        requantize(design.graph, weight_bits=bad)
    with pytest.raises(ValueError, match=r"activation_bits must be an integer >= 1"):
        requantize(design.graph, activation_bits=bad)


def test_with_options_sets_where_they_apply(design: fpgaq.Design) -> None:
    g = with_options(design.graph, reuse_factor=3, pipeline_every=2, multiplier="lut")
    for node in g.nodes:
        if node.op == "input":
            assert node.options == design.graph.node(node.name).options
            continue
        assert node.options["pipeline_every"] == 2
        assert node.options["multiplier"] == "lut"
        if node.op in REUSE_OPS:
            assert node.options["reuse_factor"] == 3
    assert design.graph.node("fc1").options["reuse_factor"] == 1
    same = with_options(design.graph)
    assert [n.options for n in same.nodes] == [n.options for n in design.graph.nodes]
    x = samples(50)
    assert np.array_equal(fpgaq.Design(g, design.config).predict(x), design.predict(x))


def test_with_options_errors(design: fpgaq.Design) -> None:
    with pytest.raises(ValueError, match=r"reuse_factor must be an integer >= 1"):
        with_options(design.graph, reuse_factor=0)
    with pytest.raises(ValueError, match=r"pipeline_every must be an integer >= 0"):
        with_options(design.graph, pipeline_every=-1)
    with pytest.raises(ValueError, match=r"multiplier must be one of auto, lut, dsp, got 'fast'"):
        with_options(design.graph, multiplier="fast")


def test_reuse_limit_is_the_fan_in(design: fpgaq.Design) -> None:
    assert reuse_limit(design.graph.node("fc1")) == 4
    assert reuse_limit(design.graph.node("out")) == 6
    assert reuse_limit(design.graph.node("x")) is None
