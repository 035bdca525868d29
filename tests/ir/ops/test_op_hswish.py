"""``quantized_hswish`` as an activation: a ``step`` node, bit-exact with Keras and with QKeras.

Three independent expectations: QKeras' own outputs (the committed corpus), the Keras model's
float32 outputs, and the exact rational hard swish rounded by hand.  On the coarse input grids
below (at most 12 significant bits) Keras' float32 arithmetic decides every rounding exactly
(``x * r`` is exact; ``/ bound`` rounds, but a value off a rounding boundary stays further from it
than a float32 ulp), so the three must agree on every input code, ties of the output grid included.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import keras
import numpy as np
import pytest
from _op_testing import assert_bit_exact, every_code, keras_output, quantized_input, sample_inputs

import fpgaq
from fpgaq.design import convert
from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.ir.ops.hswish import FLOAT32_EXACT_BITS, HswishSteps
from fpgaq.ir.trace import UnsupportedLayerError
from fpgaq.layers import QActivation, QDense

CORPUS = Path(__file__).parents[2] / "fixtures" / "qkeras" / "models"

#: (hard swish quantizer, input quantizer): widths, integer bits, symmetric, relu_shift and relu_upper_bound
#: settings, including bounds that are not powers of two (a float32 division that rounds).
SETTINGS = [
    ("quantized_hswish(8,3)", "quantized_bits(8,3,alpha=1)"),  # the corpus models' setting
    ("quantized_hswish(6,0)", "quantized_bits(8,2,alpha=1)"),
    ("quantized_hswish(8,2,1)", "quantized_bits(10,3,alpha=1)"),  # symmetric: -2**(bits-1) is never output
    ("quantized_hswish(8,2,0,relu_shift=2,relu_upper_bound=4)", "quantized_bits(9,3,alpha=1)"),
    ("quantized_hswish(5,1,0,relu_shift=1,relu_upper_bound=3)", "quantized_bits(10,3,alpha=1)"),
    ("quantized_hswish(12,1)", "quantized_bits(12,3,alpha=1)"),
    (
        "quantized_hswish(7,2,0,relu_shift=2.5,relu_upper_bound=5)",
        "quantized_bits(9,4,keep_negative=0,alpha=1)",
    ),  # unsigned
    ("quantized_hswish(4,0,0,relu_shift=6,relu_upper_bound=1)", "quantized_bits(8,3,alpha=1)"),  # dip below -1
]


def _model(hswish: str, in_q: str) -> keras.Model:
    inp, x = quantized_input((1,), in_q)
    return keras.Model(inp, QActivation(hswish, name="act")(x))


def _every_code(design: fpgaq.Design) -> np.ndarray:
    assert design.graph.tensors[design.graph.inputs[0]].type.width <= FLOAT32_EXACT_BITS
    return every_code(design, "act")


def _by_hand(x: float, q: fpgaq.quantizers.quantized_hswish) -> tuple[float, Fraction]:
    """QKeras' definition in exact rationals, rounded half to even and saturated: (value, exact hard swish in lsbs)."""
    v, shift, bound = Fraction(x), Fraction(q.relu_shift), Fraction(q.relu_upper_bound)
    h = v * min(max(v + shift, Fraction(0)), bound) / bound
    frac = q.bits - 1 - q.integer
    scaled = h * 2**frac
    top = 2 ** (q.bits - 1) - 1
    low = -top if q.symmetric else -top - 1
    return min(max(round(scaled), low), top) / 2**frac, scaled


@pytest.mark.parametrize(("hswish", "in_q"), SETTINGS)
def test_every_input_code_equals_keras_and_the_exact_hard_swish(hswish: str, in_q: str) -> None:
    model = _model(hswish, in_q)
    design = convert(model)
    node = design.graph.node("act")
    assert node.op == "step" and isinstance(node.attrs["rule"], HswishSteps)
    q = model.get_layer("act").quantizer
    assert design.graph.tensors["act"].type == q.hardware()
    x = _every_code(design)
    got = design.predict(x)
    assert np.array_equal(got, keras_output(model, x))
    assert np.array_equal(got, np.asarray(model.predict(x, verbose=0), dtype=np.float64))  # graph mode too
    hand = [_by_hand(float(v), q) for v in x[:, 0]]
    assert np.array_equal(got[:, 0], np.array([v for v, _ in hand]))
    assert len(np.unique(got)) > 8  # the comparison is not vacuous


@pytest.mark.parametrize(("hswish", "in_q"), [s for s in SETTINGS if s[0] != "quantized_hswish(6,0)"])  # it has none
def test_output_ties_round_half_to_even(hswish: str, in_q: str) -> None:
    model = _model(hswish, in_q)
    design = convert(model)
    q = model.get_layer("act").quantizer
    x = _every_code(design)
    exact = np.array([_by_hand(float(v), q)[1] for v in x[:, 0]], dtype=object)
    ties = np.array([e.denominator == 2 for e in exact])
    assert ties.sum() >= 4  # inputs whose exact hard swish sits half-way between two outputs
    got = design.predict(x[ties])[:, 0] * 2 ** (q.bits - 1 - q.integer)
    assert np.array_equal(got, keras_output(model, x[ties])[:, 0] * 2 ** (q.bits - 1 - q.integer))
    even = [g % 2 == 0 or abs(e) > 2 ** (q.bits - 1) - 1 for g, e in zip(got, exact[ties])]  # saturated aside
    assert all(even)
    if ties.sum() >= 100:  # enough ties that half-up or half-away rounding would show
        assert {g < e for g, e in zip(got, exact[ties])} == {True, False}


@pytest.mark.parametrize(("hswish", "in_q"), SETTINGS)
def test_random_saturating_and_midpoint_inputs(rng, hswish: str, in_q: str) -> None:
    model = _model(hswish, in_q)
    graph = convert(model).graph
    step = 2.0 ** -graph.tensors[graph.node("act").inputs[0]].type.frac
    xs = sample_inputs(rng, (1,), n=800, step=step)  # grid points, ties of the input quantizer, far out of range
    assert_bit_exact(model, xs)


def test_after_a_dense_layer_like_the_corpus(rng) -> None:
    inp, x = quantized_input((8,), "quantized_bits(8,3,alpha=1)")
    x = QDense(4, kernel_quantizer="quantized_bits(4,0,alpha=1)", bias_quantizer="quantized_bits(4,0,alpha=1)")(x)
    model = keras.Model(inp, QActivation("quantized_hswish(8,3)", name="act")(x))
    for w in model.weights:
        w.assign(rng.normal(0.0, 0.6, tuple(w.shape)).astype(np.float32))
    design = assert_bit_exact(model, sample_inputs(rng, (8,), n=1200, step=1 / 16))
    assert design.graph.tensors[design.graph.node("act").inputs[0]].type.width > 8  # an accumulator, not a cast


def test_a_24_bit_input_is_exact(rng) -> None:
    model = _model("quantized_hswish(10,2)", "quantized_bits(24,3,alpha=1)")  # 2**24 codes, steps of 2**-20
    xs = np.concatenate([sample_inputs(rng, (1,), n=800, step=2.0**-20), rng.uniform(-4, 4, (4000, 1))])
    design = assert_bit_exact(model, xs.astype(np.float32))
    assert len(design.graph.node("act").attrs["thresholds"]) < 3 * 2**10  # one cut per output change, no more


# ----------------------------------------------------------------------------- the QKeras corpus
@pytest.fixture(scope="module")
def corpus_hswish() -> keras.Model:
    return fpgaq.load_qkeras(CORPUS / "activation_hswish.h5")


def test_corpus_model_equals_qkeras(corpus_hswish: keras.Model) -> None:
    data = np.load(CORPUS / "activation_hswish.npz")
    got = convert(corpus_hswish).predict(data["x"])
    assert np.array_equal(got, data["y"].astype(np.float64))  # QKeras' own outputs
    assert len(np.unique(got)) > 8


def test_corpus_one_bit_and_objects_up_to_its_hswish() -> None:
    """The model's part up to the hard swish (its quantized_ulaw after it: tests/ir/ops/test_op_ulaw.py)."""
    model = fpgaq.load_qkeras(CORPUS / "one_bit_and_objects.h5")
    layer = next(
        la for la in model.layers if getattr(la, "quantizer", None) is not None and "hswish" in str(la.quantizer)
    )
    head = keras.Model(model.inputs[0], layer.output)
    x = np.load(CORPUS / "one_bit_and_objects.npz")["x"]
    design = convert(head)
    assert design.graph.node(layer.name).op == "step"
    assert np.array_equal(design.predict(x), keras_output(head, x))


# ----------------------------------------------------------------------------- refusals
def test_a_wider_input_than_float32_holds_is_refused() -> None:
    model = _model("quantized_hswish(8,3)", "quantized_bits(26,4,alpha=1)")
    with pytest.raises(UnsupportedLayerError) as err:
        convert(model)
    assert str(err.value) == (
        "layer 'act' (QActivation): activation quantizer quantized_hswish(8,3,0,relu_shift=3,relu_upper_bound=6) "
        "reads a 26-bit input (ap_fixed<26, 5, AP_RND_CONV, AP_SAT>), wider than float32's 24-bit significand, "
        "so Keras rounds the input before the hard swish and no exact fixed-point form exists; put a quantizer of at "
        "most 24 bits before it (e.g. quantized_bits(16, ...) on the previous layer's output)"
    )


@pytest.mark.parametrize(
    ("hswish", "message"),
    [
        ("quantized_hswish(8,3,alpha='auto')", r"learns its scale alpha='auto' from the tensor it quantizes"),
        ("quantized_hswish(8,3,alpha=0.5)", r"a scaled grid, which is not supported for activations; use alpha=1"),
        ("quantized_hswish(8,3,qnoise_factor=0.5)", r"qnoise_factor=0.5 mixes the float input into the output"),
    ],
)
def test_settings_without_a_fixed_grid_are_refused(hswish: str, message: str) -> None:
    with pytest.raises(UnsupportedLayerError, match=r"^layer 'act' \(QActivation\): .*" + message):
        convert(_model(hswish, "quantized_bits(8,3,alpha=1)"))


def test_the_rule_is_the_grid_and_costs_like_a_step() -> None:
    design = convert(_model("quantized_hswish(8,3)", "quantized_bits(8,3,alpha=1)"))
    assert design.graph.node("act").attrs["rule"].output_type() == FixedType(
        8, 4, True, Rounding.RND_CONV, Overflow.SAT
    )
    estimate = design.estimate()
    node = next(n for n in estimate.nodes if n.name == "act")
    assert node.op == "step" and node.lut > 0 and node.dsp == 0  # comparisons or a ROM, no multiplier
