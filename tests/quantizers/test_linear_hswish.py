"""quantized_linear, quantized_hswish, the function forms and set_internal_sigmoid: forms and hardware.

Their numbers are checked against QKeras itself in test_qkeras_conformance.py; here the
contract around them: string and dict forms, hardware types and the errors that replace them.
"""

from __future__ import annotations

import pickle

import keras
import numpy as np
import pytest

import fpgaq.quantizers as fq
from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.hwtypes import BinaryType, ScaledType
from fpgaq.quantizers import get_quantizer, serialize_quantizer

FORMS = [
    "quantized_linear(4,1)",
    "quantized_linear(8,2,0,keep_negative=0)",
    "quantized_linear(1)",
    "quantized_linear(4,alpha=2.0)",
    "quantized_linear(4,alpha='auto_po2',scale_axis=1)",
    "quantized_hswish(8,2,0,relu_shift=2,relu_upper_bound=4)",
    "binary(alpha='auto',scale_axis=0)",
    "binary_sigmoid",
    "hard_sigmoid",
]


@pytest.mark.parametrize("text", FORMS)
def test_string_dict_and_pickle_round_trips(text: str) -> None:
    q = get_quantizer(text)
    assert str(q) == text
    assert get_quantizer(serialize_quantizer(q)) == q
    assert pickle.loads(pickle.dumps(q)) == q


def test_quantized_linear_hardware() -> None:
    assert fq.quantized_linear(4, 1).hardware() == FixedType(4, 2, True, Rounding.RND_CONV, Overflow.SAT_SYM)
    assert fq.quantized_linear(8, 2, 0, keep_negative=False).hardware() == FixedType(
        8, 2, False, Rounding.RND_CONV, Overflow.SAT
    )
    # one signed bit is a scaled sign: +-2**(integer-1), never 0
    assert fq.quantized_linear(1, 2).hardware() == BinaryType(scale=2.0)
    hw = fq.quantized_linear(4, alpha=[0.5, 2.0]).hardware()
    assert isinstance(hw, ScaledType) and hw.scale == (0.5, 2.0) and hw.po2


def test_quantized_linear_outputs_lie_on_its_hardware_grid(rng: np.random.Generator) -> None:
    q = fq.quantized_linear(5, 1, alpha="auto_po2")
    w = (rng.normal(size=(6, 3)) * [0.1, 1.0, 5.0]).astype(np.float32)
    out = np.asarray(q(w))
    hw = q.hardware(w)
    step = np.asarray(hw.scale) * 2.0 ** -(hw.base.width - hw.base.integer)
    codes = out / step
    assert np.array_equal(codes, np.round(codes))
    assert np.abs(codes).max() <= 2 ** (hw.base.width - 1) - 1


def test_quantized_linear_auto_needs_the_tensor() -> None:
    with pytest.raises(ValueError, match=r"computes its scales from the tensor it quantizes; call hardware\(x\)"):
        fq.quantized_linear(4, alpha="auto").hardware()


def test_quantized_linear_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match=r"^quantized_linear: alpha='max' is not supported; use None"):
        fq.quantized_linear(4, alpha="max")
    with pytest.raises(ValueError, match=r"^quantized_linear: bits must be an integer >= 1, got 0"):
        fq.quantized_linear(0)


def test_quantized_hswish_hardware_is_its_grid() -> None:
    q = fq.quantized_hswish(8, 2)
    assert q.hardware() == q.grid() == FixedType(8, 3, True, Rounding.RND_CONV, Overflow.SAT)
    assert q.nonlinearity == "hswish"  # not a cast: the IR builds a step function (tests/ir/ops/test_op_hswish.py)
    with pytest.raises(ValueError, match=r"^quantized_hswish: relu_shift must be a positive value, got 0"):
        fq.quantized_hswish(8, relu_shift=0)


def test_quantized_hswish_min_is_the_quantized_dip() -> None:
    # QKeras: the grid's bound -max(1, 2**integer) when it is above the dip -3**2/(4*6), else the quantized dip
    assert fq.quantized_hswish(8, 2).min() == -0.375
    assert fq.quantized_hswish(4, 0).min() == -0.375
    assert fq.quantized_hswish(8, 0, relu_shift=6, relu_upper_bound=1).min() == -1.0


def test_function_forms_apply_to_tensors_and_name_quantizers() -> None:
    x = np.array([-1.0, 0.0, 0.3, 2.0], np.float32)
    np.testing.assert_array_equal(np.asarray(fq.hard_sigmoid(x)), np.float32([0.0, 0.5, 0.65, 1.0]))
    np.testing.assert_array_equal(np.asarray(fq.binary_sigmoid(x)), [0, 0, 1, 1])  # round(0.5) is 0
    np.testing.assert_array_equal(np.asarray(fq.binary_tanh(x)), [-1, -1, 1, 1])
    assert isinstance(fq.hard_tanh(), fq.BaseQuantizer)
    layer = keras.layers.Activation(fq.smooth_tanh())
    want = np.float32(2.0) * np.clip(np.float32(0.1875) * x + np.float32(0.5), 0, 1) - np.float32(1.0)
    np.testing.assert_array_equal(np.asarray(layer(x)), want)


def test_internal_sigmoid_modes() -> None:
    q = fq.quantized_relu(4, 0, use_sigmoid=1)
    x = np.array([0.3], np.float32)
    try:
        fq.set_internal_sigmoid("smooth")
        assert fq.internal_sigmoid_mode() == "smooth"
        smooth = np.asarray(q(x))
        with pytest.raises(ValueError, match=r"set_internal_sigmoid\('smooth'\) is in effect"):
            fq.quantized_ulaw(8).hardware()
    finally:
        fq.set_internal_sigmoid("hard")
    assert not np.array_equal(smooth, np.asarray(q(x)))
    with pytest.raises(ValueError, match=r"mode='soft' is not supported; use 'hard', 'smooth' or 'real'"):
        fq.set_internal_sigmoid("soft")


def test_quantized_relu_enable_fast_inference_default_loads() -> None:
    assert get_quantizer({"class_name": "quantized_relu", "config": {"bits": 4, "enable_fast_inference": False}}) == (
        fq.quantized_relu(4)
    )
    with pytest.raises(ValueError, match=r"^quantized_relu: enable_fast_inference=True is not supported"):
        fq.quantized_relu(4, enable_fast_inference=True)


def test_quantized_linear_gradient_is_the_clip() -> None:
    """QKeras: straight through the rounding, zero where the input is clipped."""
    import tensorflow as tf

    q = fq.quantized_linear(3, 0)  # codes -3..3, step 1/4: range [-0.75, 0.75]
    x = tf.constant([-2.0, -0.3, 0.1, 0.7, 5.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = q(x)
    np.testing.assert_array_equal(y.numpy(), [-0.75, -0.25, 0.0, 0.75, 0.75])
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0.0, 1.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize(
    "spec",
    [
        "quantized_linear(6,2)",
        "quantized_linear(6,2,0)",
        "quantized_linear(5,1,keep_negative=0)",
        "quantized_linear(8)",
    ],
)
def test_quantized_linear_activation_converts_bit_exactly(spec: str) -> None:
    import fpgaq
    from fpgaq import layers as L

    inp = keras.Input((64,))
    model = keras.Model(inp, L.QActivation(spec, name="q")(L.QActivation("quantized_bits(16,6,alpha=1)")(inp)))
    # saturating values and the midpoints of every grid involved (steps 2**-7 .. 1), which round half to even
    pieces = [np.arange(-64, 64) * 37 / 1024] + [(np.arange(-64, 64) + 0.5) * 2.0**-j for j in (0, 2, 3, 4, 5, 7)]
    x = np.concatenate(pieces).astype(np.float32).reshape(-1, 64)
    np.testing.assert_array_equal(fpgaq.convert(model).predict(x), model.predict(x, verbose=0))
