"""``quantized_ulaw`` as an activation: a ``step`` node, bit-exact with Keras' ``predict`` and with QKeras.

Three independent expectations: QKeras' own outputs (the committed corpus), the Keras model's compiled
float32 outputs (``predict``), and the u-law curve in float64 (which every level must be within four
float32 ulps of: QKeras rounds five float32 operations).  TensorFlow's float32 ``log`` is not a function
of its input alone (fpgaq/ir/ops/ulaw.py): eager calls and the scalar tail (the last ``n mod 8``
elements of a tensor) may give another last bit.  So ``predict`` is asked for one batch whose size is a
multiple of 8; the eager and tail differences are measured separately and bounded by one ulp.
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest
from _op_testing import every_code, quantized_input

import fpgaq
from fpgaq.design import convert
from fpgaq.fixed import FixedType
from fpgaq.ir.ops import ulaw as ulaw_op
from fpgaq.ir.ops.ulaw import UlawSteps
from fpgaq.ir.trace import UnsupportedLayerError
from fpgaq.layers import QActivation, QDense
from fpgaq.quantizers import set_internal_sigmoid

CORPUS = Path(__file__).parents[2] / "fixtures" / "qkeras" / "models"

#: (u-law quantizer, input quantizer): bits, integer, symmetric and u, on input grids that reach every code k.
SETTINGS = [
    ("quantized_ulaw(8)", "quantized_bits(10,1,alpha=1)"),  # the corpus setting
    ("quantized_ulaw(8,1,1)", "quantized_bits(12,2,alpha=1)"),  # symmetric, integer=1
    ("quantized_ulaw(6,0,0,u=10.0)", "quantized_bits(8,1,alpha=1)"),
    ("quantized_ulaw(4,2,0,u=1000.0)", "quantized_bits(9,3,alpha=1)"),
    ("quantized_ulaw(12,-1,1,u=50.0)", "quantized_bits(16,0,alpha=1)"),  # integer < 0: output in [-1/2, 1/2)
    ("quantized_ulaw(10,2)", "quantized_bits(14,3,keep_negative=0,alpha=1)"),  # unsigned input
]


def _model(ulaw: str, in_q: str) -> keras.Model:
    inp, x = quantized_input((1,), in_q)
    return keras.Model(inp, QActivation(ulaw, name="act")(x))


def _predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    assert len(x) % 8 == 0  # one batch, no scalar tail
    return np.asarray(model.predict(x, verbose=0, batch_size=len(x)), dtype=np.float64)


def _ulaw64(x: float, q: fpgaq.quantizers.quantized_ulaw) -> float:
    """QKeras' definition in float64: round the hard sigmoid code half to even, u-law it, clip, scale."""
    m = 2 ** (q.bits - 1)
    k = round(min(max(x / 2**q.integer / 2 + 0.5, 0.0), 1.0) * m)  # exact here: few-bit inputs
    r = 2 * k / m - 1
    y = math.copysign(math.log1p(q.u * abs(r)) / math.log1p(q.u), r) if r else 0.0
    return 2.0**q.integer * min(max(y, -1 + (1 / m if q.symmetric else 0)), 1 - 1 / m)


@pytest.mark.parametrize(("ulaw", "in_q"), SETTINGS)
def test_every_input_code_equals_predict(ulaw: str, in_q: str) -> None:
    model = _model(ulaw, in_q)
    design = convert(model)
    node = design.graph.node("act")
    assert node.op == "step" and isinstance(node.attrs["rule"], UlawSteps)
    q = model.get_layer("act").quantizer
    x = every_code(design, "act")
    got = design.predict(x)
    assert np.array_equal(got, _predict(model, x))
    # every level is the u-law curve up to the roundings of QKeras' five float32 operations
    hand = np.array([_ulaw64(float(v), q) for v in x[:, 0]], dtype=np.float32)
    np.testing.assert_array_max_ulp(got[:, 0].astype(np.float32), hand, maxulp=4)
    assert len(np.unique(got)) == len(np.unique(hand)) > 4  # one level per code k the clip leaves distinct
    # the output type holds each level exactly, as the step table demands
    t = design.graph.tensors["act"].type
    assert all(float(v * 2.0**t.frac).is_integer() for v in np.unique(got))


@pytest.mark.parametrize(("ulaw", "in_q"), SETTINGS[:3])
def test_eager_calls_and_the_scalar_tail_are_at_most_one_ulp_away(ulaw: str, in_q: str) -> None:
    """Keras itself is inconsistent here (another float32 log); the hardware keeps predict's vector values."""
    model = _model(ulaw, in_q)
    design = convert(model)
    x = every_code(design, "act")
    got = design.predict(x).astype(np.float32)
    eager = np.asarray(model(x, training=False))
    np.testing.assert_array_max_ulp(got, eager, maxulp=1)
    tail = np.asarray(model.predict(x[:-3], verbose=0, batch_size=len(x)))  # n mod 8 = 5: a scalar tail of 5
    np.testing.assert_array_equal(got[:-8], tail[:-5])
    np.testing.assert_array_max_ulp(got[:-3][-5:], tail[-5:], maxulp=1)


def test_after_a_dense_layer(rng) -> None:
    inp, x = quantized_input((8,), "quantized_bits(6,2,alpha=1)")
    x = QDense(8, kernel_quantizer="quantized_bits(4,0,alpha=1)", bias_quantizer="quantized_bits(4,0,alpha=1)")(x)
    model = keras.Model(inp, QActivation("quantized_ulaw(8,2)", name="act")(x))
    for w in model.weights:
        w.assign(rng.normal(0.0, 0.6, tuple(w.shape)).astype(np.float32))
    xs = rng.normal(0.0, 2.0, (1024, 8)).astype(np.float32)
    design = convert(model)
    got = design.predict(xs)
    assert np.array_equal(got, _predict(model, xs))
    assert design.graph.tensors[design.graph.node("act").inputs[0]].type.width > 8  # an accumulator, not a cast
    assert len(np.unique(got)) > 40


def test_a_24_bit_input_is_exact(rng) -> None:
    model = _model("quantized_ulaw(8)", "quantized_bits(24,0,alpha=1)")  # 2**24 codes, evaluated in 16 chunks
    design = convert(model)
    xs = np.concatenate([rng.uniform(-1.2, 1.2, (8000, 1)), (rng.integers(-64, 64, (192, 1)) + 0.5) / 64])
    assert np.array_equal(design.predict(xs.astype(np.float32)), _predict(model, xs.astype(np.float32)))


# ----------------------------------------------------------------------------- the QKeras corpus
@pytest.mark.parametrize("name", ["activation_ulaw", "one_bit_and_objects"])
def test_corpus_models_equal_qkeras(name: str) -> None:
    model = fpgaq.load_qkeras(CORPUS / f"{name}.h5")
    data = np.load(CORPUS / f"{name}.npz")
    design = convert(model)
    assert any(n.op == "step" and n.attrs["function"] == "quantized_ulaw" for n in design.graph.nodes)
    got = design.predict(data["x"])
    assert np.array_equal(got, data["y"].astype(np.float64))  # QKeras' own outputs
    assert len(np.unique(got)) > 8


# ----------------------------------------------------------------------------- refusals
def test_a_wider_input_than_float32_holds_is_refused() -> None:
    with pytest.raises(UnsupportedLayerError) as err:
        convert(_model("quantized_ulaw(8)", "quantized_bits(26,4,alpha=1)"))
    assert str(err.value) == (
        "layer 'act' (QActivation): activation quantizer quantized_ulaw(8) reads a 26-bit input "
        "(ap_fixed<26, 5, AP_RND_CONV, AP_SAT>), wider than float32's 24-bit significand, so Keras rounds the input "
        "before the u-law and no exact fixed-point form exists; put a quantizer of at most 24 bits before it "
        "(e.g. quantized_bits(16, ...) on the previous layer's output)"
    )


def test_a_smooth_internal_sigmoid_is_refused() -> None:
    set_internal_sigmoid("smooth")
    try:
        with pytest.raises(UnsupportedLayerError, match=r"^layer 'act' \(QActivation\): .*set_internal_sigmoid\('hard"):
            convert(_model("quantized_ulaw(8)", "quantized_bits(8,1,alpha=1)"))
    finally:
        set_internal_sigmoid("hard")


def test_outputs_its_levels_do_not_hold_are_refused(monkeypatch) -> None:
    """The table-building pass checks itself: an output that is not one of the levels stops conversion."""
    real = ulaw_op._code_outputs

    def off_by_one_ulp(quantizer: str, tin: FixedType) -> np.ndarray:
        y = real(quantizer, tin).copy()
        y[len(y) // 3] = np.nextafter(y[len(y) // 3], np.float32(2))
        return y

    monkeypatch.setattr(ulaw_op, "_code_outputs", off_by_one_ulp)
    with pytest.raises(UnsupportedLayerError, match=r"gives outputs on .* that its levels do not reproduce"):
        convert(_model("quantized_ulaw(7,0,0,u=20.0)", "quantized_bits(9,1,alpha=1)"))


def test_costs_like_a_step() -> None:
    design = convert(_model("quantized_ulaw(6)", "quantized_bits(8,1,alpha=1)"))
    node = next(n for n in design.estimate().nodes if n.name == "act")
    assert node.op == "step" and node.lut > 0 and node.dsp == 0  # comparisons or a ROM, no logarithm
