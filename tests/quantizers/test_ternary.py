"""ternary and stochastic_ternary."""

import copy
import pickle

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from fpgaq.hwtypes import TernaryType
from fpgaq.quantizers import get_quantizer
from fpgaq.quantizers.ternary import stochastic_ternary, ternary

F32 = np.float32
T33 = F32(0.33)  # the default threshold as float32 compares it


def run(q, x, **kwargs) -> np.ndarray:
    return ops.convert_to_numpy(q(np.asarray(x, dtype=F32), **kwargs))


def grad(q, x, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    x = tf.constant(np.asarray(x, dtype=F32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = q(x, **kwargs)
    return y.numpy(), tape.gradient(y, x).numpy()


def below(v) -> np.float32:
    return np.nextafter(F32(v), F32(0))


# ----------------------------------------------------------- fixed alpha
def test_ternary_default_threshold():
    x = [0.0, T33, below(T33), -T33, -below(T33), 0.5, -2.0, 1e30, -1e30]
    np.testing.assert_array_equal(run(ternary(), x), [0, 1, 0, -1, 0, 1, -1, 1, -1])
    assert ternary().hardware() == TernaryType(scale=1.0)


def test_ternary_threshold_applies_to_raw_input():
    q = ternary(alpha=0.5, threshold=0.5)
    np.testing.assert_array_equal(run(q, [0.5, below(0.5), -0.5, 2.0, 0.0]), [0.5, 0, -0.5, 0.5, 0])
    # alpha does not scale the default threshold: 0.4 >= 0.33 gives alpha = 2
    np.testing.assert_array_equal(run(ternary(alpha=2.0), [0.4, 0.3]), [2, 0])
    assert q.hardware() == TernaryType(scale=0.5)


def test_ternary_per_channel_fixed_alpha():
    x = np.array([[1.0, -1.0], [0.1, 0.5]], dtype=F32)
    np.testing.assert_array_equal(run(ternary(alpha=[0.5, 2.0]), x), [[0.5, -2.0], [0, 2.0]])
    assert ternary(alpha=[0.5, 2.0]).hardware() == TernaryType(scale=(0.5, 2.0))


# --------------------------------------------------------- learned alpha
# Column 0: max 1, start 2/3 -> po2 0.5.  Round 1: x / 0.5 = [2, 0.5, -1, 0] rounds (half to even)
# to [2, 0, -1, 0], so q = [1, 0, -1, 0], scale (1 + 0.5)/4 / (2/4 + eps) = 0.75 -> po2 1.
# Round 2: x / 1 = [1, 0.25, -0.5, 0] -> q = [1, 0, 0, 0] (-0.5 is the tie), scale 0.25/(0.25+eps) -> 1.
# Column 1: max 3, start 2 -> po2 2.  x / 2 = [0, -1.5, 1, 0.5] -> [0, -2, 1, 0] (0.5 is the tie),
# q = [0, -1, 1, 0], scale (3 + 2)/4 / (2/4 + eps) = 2.5 -> po2 2: a fixed point.
KERNEL_PO2 = np.array([[1.0, 0.0], [0.25, -3.0], [-0.5, 2.0], [0.0, 1.0]], dtype=F32)


def test_ternary_auto_po2_per_channel_with_ties():
    q = ternary(alpha="auto_po2")
    np.testing.assert_array_equal(run(q, KERNEL_PO2), [[1, 0], [0, -2], [0, 2], [0, 0]])
    assert q.hardware(KERNEL_PO2) == TernaryType(scale=(1.0, 2.0))


def test_ternary_auto_per_channel():
    # Column 0 [0.5, -0.25, 0]: start 1/3, x/s = [1.5, -0.75, 0] -> q = [1, -1, 0],
    # scale mean(0.5, 0.25, 0) / (mean(1, 1, 0) + eps) = 0.25 / (2/3 + eps); stable afterwards.
    # Column 1 [-1, 2, 0.75]: start 4/3, x/s = [-0.75, 1.5, 0.5625] -> q = [-1, 1, 1],
    # scale 1.25 / (1 + eps); stable afterwards.
    x = np.array([[0.5, -1.0], [-0.25, 2.0], [0.0, 0.75]], dtype=F32)
    s0 = F32(0.25) / (F32(2) / F32(3) + F32(1e-7))
    s1 = F32(1.25) / (F32(1) + F32(1e-7))
    q = ternary(alpha="auto")
    np.testing.assert_array_equal(run(q, x), np.array([[1, -1], [-1, 1], [0, 1]], dtype=F32) * [s0, s1])
    assert q.hardware(x) == TernaryType(scale=(float(s0), float(s1)))


def test_ternary_auto_po2_on_1d_scales_each_element():
    # Start from the global max: 2/3 -> 0.5, q = [1, 0, 0, 1] (-0.25 / 0.5 is a tie), then QKeras
    # scales each element of a 1-D tensor on its own: [1, 0, 0, 0.5] -> po2 [1, 2**-23, 2**-23, 0.5];
    # next round -0.25 / 2**-23 is far from 0, so q = [1, -1, 0, 1] and the scales settle at
    # [1, 0.25, 2**-23, 0.5]: the output equals the input.
    x = np.array([1.0, -0.25, 0.0, 0.5], dtype=F32)
    q = ternary(alpha="auto_po2")
    np.testing.assert_array_equal(run(q, x), x)
    assert q.hardware(x) == TernaryType(scale=(1.0, 0.25, 2.0**-23, 0.5))


@pytest.mark.parametrize("q", [ternary(), ternary(alpha="auto"), ternary(alpha="auto_po2"), stochastic_ternary("auto")])
def test_ternary_outputs_are_values_of_the_hardware_type(q, rng):
    w = rng.normal(size=(6, 3, 5)).astype(F32)
    out = run(q, w)
    scale = np.broadcast_to(np.asarray(q.hardware(w).scale, dtype=F32), out.shape)
    assert np.all((out == scale) | (out == -scale) | (out == 0))
    assert np.any(out == 0) and np.any(out != 0)


def test_ternary_hardware_needs_the_tensor_for_learned_scales():
    with pytest.raises(ValueError, match=r"ternary\(alpha='auto'\): alpha='auto' learns its scale"):
        ternary(alpha="auto").hardware()


def test_ternary_rejects_what_qkeras_asserts():
    with pytest.raises(ValueError, match=r"ternary: alpha='auto' learns the threshold too"):
        ternary(alpha="auto", threshold=0.5)
    with pytest.raises(ValueError, match="use_stochastic_rounding needs alpha='auto' or 'auto_po2'"):
        ternary(alpha=1.0, use_stochastic_rounding=True)
    with pytest.raises(ValueError, match=r"stochastic_ternary: threshold=1\.0 is not allowed"):
        stochastic_ternary(threshold=1.0)
    with pytest.raises(ValueError, match="number_of_unrolls must be >= 1"):
        ternary(alpha="auto", number_of_unrolls=0)


def test_ternary_gradient():
    x = [-2.0, -0.2, 0.0, 0.5, 3.0]
    y, g = grad(ternary(), x)  # straight through tanh when alpha is None
    np.testing.assert_array_equal(y, [-1, 0, 0, 1, 1])
    np.testing.assert_allclose(g, 1 - np.tanh(np.array(x)) ** 2, rtol=1e-5)
    _, g = grad(ternary(alpha=0.5), x)
    np.testing.assert_array_equal(g, np.ones(5))
    _, g = grad(ternary(alpha="auto_po2"), [[-2.0], [0.1], [3.0]])
    np.testing.assert_array_equal(g, np.ones((3, 1)))


def test_ternary_stochastic_rounding_only_while_training(rng):
    w = rng.normal(size=(200, 2)).astype(F32)
    q = ternary(alpha="auto_po2", use_stochastic_rounding=True, seed=3)
    want = run(ternary(alpha="auto_po2"), w)
    np.testing.assert_array_equal(run(q, w), want)
    trained = run(q, w, training=True)
    assert not np.array_equal(trained, want)
    np.testing.assert_array_equal(
        trained, run(ternary(alpha="auto_po2", use_stochastic_rounding=True, seed=3), w, training=True)
    )


# ------------------------------------------------------ stochastic_ternary
def test_stochastic_ternary_is_ternary_at_inference(rng):
    w = rng.normal(size=(40, 3)).astype(F32)
    for kwargs in (
        {},
        {"alpha": "auto"},
        {"alpha": "auto_po2", "number_of_unrolls": 2},
        {"alpha": 0.5, "threshold": 0.1},
    ):
        q = stochastic_ternary(seed=1, **kwargs)
        want = run(ternary(**kwargs), w)
        np.testing.assert_array_equal(run(q, w), want)
        np.testing.assert_array_equal(run(q, w, training=False), want)


def test_stochastic_ternary_samples_while_training(rng):
    w = rng.normal(size=(300, 2)).astype(F32)
    q = stochastic_ternary(alpha="auto_po2", seed=6)
    out = run(q, w, training=True)
    scale = np.asarray(q.hardware(w).scale, dtype=F32)  # training uses the same po2 scales here
    assert np.all((out == scale) | (out == -scale) | (out == 0))
    assert not np.array_equal(out, run(q, w))
    np.testing.assert_array_equal(out, run(stochastic_ternary(alpha="auto_po2", seed=6), w, training=True))
    # large magnitudes are (almost surely) kept with their sign
    big = np.array([[10.0], [-10.0], [0.0], [0.1]], dtype=F32)
    np.testing.assert_array_equal(run(q, big, training=True)[:2], [[8.0], [-8.0]])
    _, g = grad(q, w[:4], training=True)
    np.testing.assert_array_equal(g, np.ones((4, 2)))


def test_stochastic_ternary_training_needs_learned_alpha():
    with pytest.raises(ValueError, match=r"stochastic_ternary\(\): training samples only with alpha='auto'"):
        stochastic_ternary()(np.ones((2, 2), dtype=F32), training=True)


# ------------------------------------------------------ config and strings
@pytest.mark.parametrize(
    ("q", "text"),
    [
        (ternary(), "ternary()"),
        (ternary(alpha=1), "ternary(alpha=1)"),
        (ternary(alpha=0.5, threshold=0.25), "ternary(alpha=0.5,threshold=0.25)"),
        (ternary(alpha="auto_po2", number_of_unrolls=3), "ternary(alpha='auto_po2',number_of_unrolls=3)"),
        (
            ternary(alpha="auto", use_stochastic_rounding=True, seed=1),
            "ternary(alpha='auto',use_stochastic_rounding=1,seed=1)",
        ),
        (stochastic_ternary(), "stochastic_ternary()"),
        (
            stochastic_ternary("auto", temperature=4.0, use_real_sigmoid=0),
            "stochastic_ternary(alpha='auto',temperature=4.0,use_real_sigmoid=0)",
        ),
    ],
)
def test_ternary_string_round_trip(q, text):
    assert str(q) == text
    back = get_quantizer(text)
    assert type(back) is type(q)
    assert back == q


def test_ternary_copy_and_pickle():
    for q in (ternary(alpha=[0.5, 1.0]), stochastic_ternary("auto_po2", seed=2)):
        assert copy.deepcopy(q) == q
        assert pickle.loads(pickle.dumps(q)) == q


def test_ternary_per_channel_alpha_must_match_channels():
    with pytest.raises(ValueError, match=r"ternary\(alpha=\[0\.5, 2\.0\]\): 2 per-channel alphas for a tensor of 1"):
        ternary(alpha=[0.5, 2.0])(np.ones((2, 1), dtype=F32))


def test_ternary_config_keys_and_round_trip():
    config = {"alpha": "auto", "threshold": None, "use_stochastic_rounding": False, "number_of_unrolls": 5}
    assert ternary(alpha="auto").get_config() == config
    assert get_quantizer({"class_name": "ternary", "config": config}) == ternary(alpha="auto")
    q = stochastic_ternary(alpha="auto_po2", temperature=5.0, number_of_unrolls=2)
    assert q.get_config() == {
        "alpha": "auto_po2",
        "threshold": None,
        "temperature": 5.0,
        "use_real_sigmoid": True,
        "number_of_unrolls": 2,
    }
    assert stochastic_ternary.from_config(q.get_config()) == q
    assert get_quantizer("ternary") == ternary()


@pytest.mark.parametrize(
    ("q", "hi", "lo"),
    [
        (ternary(), 1.0, -1.0),
        (ternary(alpha=3), 3.0, -3.0),
        (ternary(alpha=0.5), 1.0, -1.0),  # max(1, alpha)
        (ternary(alpha="auto_po2"), 1.0, -1.0),
        (stochastic_ternary(alpha=2.0), 2.0, -2.0),
    ],
)
def test_ternary_max_min(q, hi, lo):
    assert q.max() == hi
    assert q.min() == lo
