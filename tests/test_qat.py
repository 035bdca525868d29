"""Quantization-aware training reaches the accuracy the issue promises.

The jet tagger must stay within 2 points of its float twin; the 4-bit digits
CNN must reach 90 %.  Both train on data generated or shipped locally.
"""

from __future__ import annotations

import numpy as np
import pytest

from fpgaq import datasets, zoo
from fpgaq.train import accuracy, train_classifier


@pytest.fixture(scope="module")
def jet_data():
    x, y = datasets.jet_like(30_000, seed=3)
    return datasets.train_test_split(x, y, seed=3)


def test_jet_tagger_qat_within_two_points_of_float(jet_data) -> None:
    x_train, y_train, x_test, y_test = jet_data
    float_model = zoo.jet_tagger(quantized=False)
    train_classifier(float_model, x_train, y_train, epochs=12, seed=1)
    # The usual QAT recipe: start from the trained float weights, fine-tune quantized.
    q_model = zoo.jet_tagger(quantized=True)
    q_model.set_weights(float_model.get_weights())
    train_classifier(q_model, x_train, y_train, epochs=8, seed=1, learning_rate=1e-3)
    acc_float = accuracy(float_model, x_test, y_test)
    acc_q = accuracy(q_model, x_test, y_test)
    # The float model must have learnt something real, or the comparison is empty.
    assert acc_float > 0.6
    assert acc_q >= acc_float - 0.02, (acc_float, acc_q)


def test_jet_tagger_weights_stay_on_the_6_bit_grid(jet_data) -> None:
    x_train, y_train, _, _ = jet_data
    q_model = zoo.jet_tagger(quantized=True)
    train_classifier(q_model, x_train[:2000], y_train[:2000], epochs=1, seed=0)
    for layer in q_model.layers:
        if type(layer).__name__ != "QDense":
            continue
        w = np.asarray(layer.kernel_quantizer_internal(layer.kernel))
        codes = w * 32  # quantized_bits(6,0): step 1/32, range [-1, 31/32]
        assert np.array_equal(codes, np.round(codes))
        assert codes.min() >= -32 and codes.max() <= 31


def test_digits_cnn_4_bit_reaches_90_percent() -> None:
    x, y = datasets.digits()
    x_train, y_train, x_test, y_test = datasets.train_test_split(x, y, seed=0)
    model = zoo.digits_cnn(quantized=True)
    train_classifier(model, x_train, y_train, epochs=40, batch_size=64, learning_rate=1e-2, seed=0)
    acc = accuracy(model, x_test, y_test)
    assert acc >= 0.90, acc
