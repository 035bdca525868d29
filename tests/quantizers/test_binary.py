"""binary, stochastic_binary, bernoulli and binary_tanh."""

import copy
import pickle

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from fpgaq.hwtypes import BinaryType
from fpgaq.quantizers import get_quantizer
from fpgaq.quantizers.binary import bernoulli, binary, binary_tanh, stochastic_binary

F32 = np.float32
ONE_PLUS_EPS = F32(1) + F32(1e-7)  # QKeras' mean(q*q) + epsilon for q = +-1, in float32

# A tiny kernel (3 inputs, 2 output channels) whose per-channel means are exact:
# mean|col0| = (0.5 + 0.25 + 0) / 3 = 0.25, mean|col1| = (1 + 2 + 0.75) / 3 = 1.25.
KERNEL = np.array([[0.5, -1.0], [-0.25, 2.0], [0.0, 0.75]], dtype=F32)
SIGNS = np.array([[1, -1], [-1, 1], [1, 1]], dtype=F32)  # zero counts as +


def run(q, x, **kwargs) -> np.ndarray:
    return ops.convert_to_numpy(q(np.asarray(x, dtype=F32), **kwargs))


def grad(q, x, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    x = tf.constant(np.asarray(x, dtype=F32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = q(x, **kwargs)
    return y.numpy(), tape.gradient(y, x).numpy()


# ------------------------------------------------------------------ binary
def test_binary_signs_with_zero_positive():
    x = [-2.0, -1e-30, -0.0, 0.0, 1e-30, 0.5, 1e30, -1e30]
    np.testing.assert_array_equal(run(binary(), x), [-1, -1, 1, 1, 1, 1, 1, -1])
    np.testing.assert_array_equal(run(binary(use_01=True), x), [0, 0, 1, 1, 1, 1, 1, 0])


def test_binary_fixed_alpha():
    np.testing.assert_array_equal(run(binary(alpha=0.5), [-3.0, 0.0, 2.0]), [-0.5, 0.5, 0.5])
    np.testing.assert_array_equal(run(binary(use_01=True, alpha=3), [-3.0, 0.0]), [0, 3])
    # a per-channel alpha broadcasts along the last axis
    np.testing.assert_array_equal(run(binary(alpha=[0.5, 2.0]), KERNEL), SIGNS * [0.5, 2.0])


def test_binary_auto_per_channel():
    scale = np.array([F32(0.25) / ONE_PLUS_EPS, F32(1.25) / ONE_PLUS_EPS], dtype=F32)
    q = binary(alpha="auto")
    np.testing.assert_array_equal(run(q, KERNEL), SIGNS * scale)
    assert q.hardware(KERNEL) == BinaryType(scale=tuple(float(s) for s in scale), use_01=False)


def test_binary_auto_po2_per_channel():
    # log2(0.25) = -2; log2(1.25) = 0.32 rounds to 0
    q = binary(alpha="auto_po2")
    np.testing.assert_array_equal(run(q, KERNEL), SIGNS * [0.25, 1.0])
    assert q.hardware(KERNEL) == BinaryType(scale=(0.25, 1.0), use_01=False)


def test_binary_auto_po2_conv_kernel():
    # (kh, kw, cin, cout) = (2, 1, 2, 2): channel 0 magnitudes mean 3/4, channel 1 mean 1/16.
    k = np.zeros((2, 1, 2, 2), dtype=F32)
    k[..., 0] = [[[0.5, -1.0]], [[-0.75, 0.75]]]  # mean 0.75 -> log2 -0.415 -> 2**0
    k[..., 1] = [[[0.0625, 0.0625]], [[-0.0625, 0.0625]]]  # mean 0.0625 -> 2**-4
    q = binary(alpha="auto_po2")
    out = run(q, k)
    np.testing.assert_array_equal(out[..., 0], np.where(k[..., 0] < 0, -1.0, 1.0))
    np.testing.assert_array_equal(out[..., 1], np.where(k[..., 1] < 0, -0.0625, 0.0625))
    assert q.hardware(k) == BinaryType(scale=(1.0, 0.0625))


def test_binary_auto_use_01_counts_only_ones():
    # q = [1, 0, 1] in channel 0: mean(x q) = 0.5/3, mean(q q) = 2/3
    s0 = (F32(0.5) / F32(3)) / (F32(2) / F32(3) + F32(1e-7))
    # q = [0, 1, 1] in channel 1: mean(x q) = 2.75/3, mean(q q) = 2/3
    s1 = (F32(2.75) / F32(3)) / (F32(2) / F32(3) + F32(1e-7))
    q = binary(use_01=True, alpha="auto")
    np.testing.assert_array_equal(run(q, KERNEL), (SIGNS + 1) / 2 * np.array([s0, s1], dtype=F32))
    assert q.hardware(KERNEL) == BinaryType(scale=(float(s0), float(s1)), use_01=True)


def test_binary_auto_on_1d_scales_each_element():
    # QKeras gives each element of a 1-D tensor its own scale: |x| / (1 + eps); for 0 that is 0,
    # and 'auto_po2' then rounds 0 + eps = 1e-7 to 2**-23.
    x = np.array([0.5, -2.0, 0.0], dtype=F32)
    np.testing.assert_array_equal(run(binary(alpha="auto"), x), [F32(0.5) / ONE_PLUS_EPS, F32(-2) / ONE_PLUS_EPS, 0])
    np.testing.assert_array_equal(run(binary(alpha="auto_po2"), x), [0.5, -2.0, 2.0**-23])


@pytest.mark.parametrize(
    "q", [binary(), binary(alpha="auto"), binary(use_01=True, alpha="auto_po2"), stochastic_binary(alpha="auto_po2")]
)
def test_binary_outputs_are_values_of_the_hardware_type(q, rng):
    w = rng.normal(size=(5, 3, 4)).astype(F32)
    out = run(q, w)
    t = q.hardware(w)
    scale = np.broadcast_to(np.asarray(t.scale, dtype=F32), out.shape)
    low = np.zeros_like(scale) if t.use_01 else -scale
    assert np.all((out == scale) | (out == low))


def test_binary_hardware_needs_the_tensor_for_learned_scales():
    with pytest.raises(ValueError, match=r"binary\(alpha='auto_po2'\): alpha='auto_po2' learns its scale"):
        binary(alpha="auto_po2").hardware()
    assert binary(alpha=[1.0, 0.5]).hardware() == BinaryType(scale=(1.0, 0.5))


def test_binary_per_channel_alpha_must_match_channels():
    with pytest.raises(
        ValueError, match=r"binary\(alpha=\[0\.5, 2\.0\]\): 2 per-channel alphas for a tensor of 3 channels"
    ):
        binary(alpha=[0.5, 2.0])(np.ones((2, 3), dtype=F32))


def test_binary_rejects_unknown_alpha():
    with pytest.raises(ValueError, match=r"binary: alpha='max' is not supported"):
        binary(alpha="max")


def test_binary_gradient():
    x = [-2.0, -0.5, 0.0, 0.5, 3.0]
    y, g = grad(binary(), x)  # straight through tanh when alpha is None
    np.testing.assert_array_equal(y, [-1, -1, 1, 1, 1])
    np.testing.assert_allclose(g, 1 - np.tanh(np.array(x)) ** 2, rtol=1e-5)
    _, g = grad(binary(alpha=1), x)
    np.testing.assert_array_equal(g, np.ones(5))
    _, g = grad(binary(alpha="auto_po2"), x)
    np.testing.assert_array_equal(g, np.ones(5))


def test_binary_stochastic_rounding_only_while_training():
    q = binary(use_stochastic_rounding=True, seed=5)
    zeros = np.zeros(2000, dtype=F32)
    np.testing.assert_array_equal(run(q, zeros), np.ones(2000))
    trained = run(q, zeros, training=True)
    assert set(np.unique(trained)) == {-1.0, 1.0}
    assert abs(trained.mean()) < 0.1
    # a clear sign survives dithering: 0.9 of a channel whose max is 1 stays positive
    np.testing.assert_array_equal(run(q, [[0.9], [-1.0]], training=True), [[1], [-1]])


# ------------------------------------------------------- stochastic_binary
def test_stochastic_binary_is_binary_at_inference():
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(F32)
    for alpha in (None, 0.5, "auto", "auto_po2"):
        q = stochastic_binary(alpha=alpha, seed=1)
        want = run(binary(alpha=alpha), x)
        np.testing.assert_array_equal(run(q, x), want)
        np.testing.assert_array_equal(run(q, x, training=False), want)
        np.testing.assert_array_equal(run(q, x), want)  # no state advanced


def test_stochastic_binary_samples_while_training():
    q = stochastic_binary(seed=1)
    x = np.full(4000, 0.1, dtype=F32)
    out = run(q, x, training=True)
    assert set(np.unique(out)) == {-1.0, 1.0}
    p_plus = 1 / (1 + np.exp(-0.6))  # sigmoid(temperature 6 * 0.1)
    assert abs((out == 1).mean() - p_plus) < 0.03
    _, g = grad(q, x[:3], training=True)
    np.testing.assert_array_equal(g, [1, 1, 1])


def test_stochastic_binary_is_seeded():
    x = np.zeros(500, dtype=F32)
    a = run(stochastic_binary(seed=9), x, training=True)
    b = run(stochastic_binary(seed=9), x, training=True)
    c = run(stochastic_binary(seed=10), x, training=True)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_stochastic_quantizers_copy_and_pickle():
    for q in (stochastic_binary(alpha="auto", seed=3), bernoulli(seed=1), binary(use_stochastic_rounding=True)):
        assert copy.deepcopy(q) == q
        assert pickle.loads(pickle.dumps(q)) == q
    q = stochastic_binary(seed=3)
    twin = copy.deepcopy(q)  # restarts from the seed
    x = np.zeros(300, dtype=F32)
    np.testing.assert_array_equal(run(q, x, training=True), run(twin, x, training=True))


class _Wrap(keras.layers.Layer):
    """A layer that calls its quantizer without passing ``training``."""

    def __init__(self, quantizer, **kwargs):
        super().__init__(**kwargs)
        self.quantizer = quantizer

    def call(self, x):
        return self.quantizer(x)


def test_training_flag_comes_from_the_keras_call():
    layer = _Wrap(stochastic_binary(seed=4))
    model = keras.Sequential([keras.Input((1000,)), layer])
    zeros = np.zeros((1, 1000), dtype=F32)
    np.testing.assert_array_equal(ops.convert_to_numpy(model(zeros, training=False)), np.ones((1, 1000)))
    np.testing.assert_array_equal(model.predict(zeros, verbose=0), np.ones((1, 1000)))
    trained = ops.convert_to_numpy(model(zeros, training=True))
    assert set(np.unique(trained)) == {-1.0, 1.0}


# --------------------------------------------------------------- bernoulli
def test_bernoulli_stays_random_at_inference():
    q = bernoulli(seed=2)
    x = np.zeros(1000, dtype=F32)  # probability sigmoid(0) = 1/2
    a, b = run(q, x), run(q, x, training=False)
    assert set(np.unique(a)) == {0.0, 1.0}
    assert not np.array_equal(a, b)
    assert abs(a.mean() - 0.5) < 0.06


def test_bernoulli_is_seeded():
    x = np.linspace(-0.5, 0.5, 300).astype(F32)
    np.testing.assert_array_equal(run(bernoulli(seed=8), x), run(bernoulli(seed=8), x))


def test_bernoulli_scale_and_gradient():
    # 'auto_po2' scale from the {0, 1} code of x >= 0: column means (x q) 0.5/3 and 2.75/3 over
    # (q q) 2/3 are 0.25 and 1.375 -> 2**-2 and 2**0.
    q = bernoulli(alpha="auto_po2", seed=1)
    out = run(q, KERNEL)
    assert np.all((out == 0) | (out == np.array([0.25, 1.0], dtype=F32)))
    assert q.hardware(KERNEL) == BinaryType(scale=(0.25, 1.0), use_01=True)
    _, g = grad(bernoulli(), [-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(g, [1, 1, 1])


# ------------------------------------------------------------- binary_tanh
def test_binary_tanh_zero_is_minus_one():
    # 2 round(clip(x/2 + 1/2, 0, 1)) - 1, float32, round half to even: 0.5 + 2**-25 is a tie
    # that rounds to 0.5, hence x = 2**-24 still gives -1; 2**-23 gives 0.5 + 2**-24 -> +1.
    x = [-2.0, -1.0, -1e-3, -0.0, 0.0, 2.0**-24, 2.0**-23, 1e-3, 0.5, 3.0]
    np.testing.assert_array_equal(run(binary_tanh(), x), [-1, -1, -1, -1, -1, -1, 1, 1, 1, 1])
    assert binary_tanh().hardware() == BinaryType(scale=1.0, use_01=False)


def test_binary_tanh_gradient_is_hard_tanh():
    _, g = grad(binary_tanh(), [-1.5, -1.0, 0.0, 0.99, 1.0, 1.01])
    np.testing.assert_array_equal(g, [0, 1, 1, 1, 1, 0])


# ------------------------------------------------------ config and strings
@pytest.mark.parametrize(
    ("q", "text"),
    [
        (binary(), "binary()"),
        (binary(alpha=1), "binary(alpha=1)"),
        (binary(use_01=True, alpha="auto_po2"), "binary(use_01=1,alpha='auto_po2')"),
        (binary(alpha=[0.5, 2.0]), "binary(alpha=[0.5, 2.0])"),
        (binary(use_stochastic_rounding=True, seed=3), "binary(use_stochastic_rounding=1,seed=3)"),
        (stochastic_binary(), "stochastic_binary()"),
        (
            stochastic_binary(alpha="auto", temperature=4.0, use_real_sigmoid=False),
            "stochastic_binary(alpha='auto',temperature=4.0,use_real_sigmoid=0)",
        ),
        (bernoulli(alpha=0.5), "bernoulli(alpha=0.5)"),
        (binary_tanh(), "binary_tanh"),
    ],
)
def test_binary_string_round_trip(q, text):
    assert str(q) == text
    back = get_quantizer(text)
    assert type(back) is type(q)
    assert back == q


def test_binary_reads_bare_names_and_configs():
    assert get_quantizer("binary") == binary()
    assert isinstance(get_quantizer("binary_tanh"), binary_tanh)
    config = {"use_01": False, "alpha": "auto", "use_stochastic_rounding": False}
    assert binary(alpha="auto").get_config() == config
    assert get_quantizer({"class_name": "binary", "config": config}) == binary(alpha="auto")
    assert stochastic_binary.from_config(stochastic_binary(alpha=2.0).get_config()) == stochastic_binary(alpha=2.0)
    assert bernoulli(alpha="auto").get_config() == {"alpha": "auto", "temperature": 6.0, "use_real_sigmoid": True}


@pytest.mark.parametrize(
    ("q", "hi", "lo"),
    [
        (binary(), 1.0, -1.0),
        (binary(alpha=2), 2.0, -2.0),
        (binary(alpha=0.5), 1.0, -1.0),  # max(1, alpha)
        (binary(alpha="auto"), 1.0, -1.0),
        (binary(use_01=True, alpha=3), 3.0, 0.0),
        (stochastic_binary(alpha=4), 4.0, -4.0),
        (bernoulli(alpha=2), 2.0, 0.0),
        (binary_tanh(), 1.0, -1.0),
    ],
)
def test_binary_max_min(q, hi, lo):
    assert q.max() == hi
    assert q.min() == lo
