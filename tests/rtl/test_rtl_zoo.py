"""The zoo models through the RTL generator: bit-exact on many inputs, and what sharing saves."""

from __future__ import annotations

from collections import Counter

import numpy as np
from _rtl_testing import digits_design, inputs_for, jet_design, mismatches, with_options

import fpgaq.rtl.lower.linear as linear
from fpgaq import datasets
from fpgaq.rtl.build import lower


def test_jet_tagger_on_ten_thousand_samples() -> None:
    design = jet_design()
    x, _ = datasets.jet_like(8000, seed=3)
    x = np.concatenate([np.asarray(x, dtype=np.float64), inputs_for(design, 2000)[0]])
    assert mismatches(design, x) == []


def test_digits_cnn_on_real_and_saturating_images() -> None:
    design = digits_design()
    images = np.asarray(datasets.digits()[0], dtype=np.float64)[:1500].reshape(-1, 8, 8, 1)
    x = np.concatenate([images, inputs_for(design, 1000)[0]])
    assert mismatches(design, x) == []


def _adders(design) -> int:
    kinds = Counter(op.kind for op in lower(design.graph).net.live())
    return kinds["add"] + kinds["neg"]


def test_shared_odd_multiples_save_adders_on_the_jet_tagger(monkeypatch) -> None:
    design = with_options(jet_design(), multiplier="lut")
    shared = _adders(design)
    original = linear.dot_products
    monkeypatch.setattr(linear, "dot_products", lambda net, taps, kfrac, m: original(net, taps, kfrac, m, share=False))
    digit_by_digit = _adders(design)
    assert shared < 0.85 * digit_by_digit


def test_dsp_multipliers_replace_the_shift_add_products() -> None:
    """Every product by a weight other than 0 and 1 is a '*' by a constant, one per input and weight value."""
    design = with_options(jet_design(), multiplier="dsp")
    low = lower(design.graph)
    for node in design.graph.nodes:
        if node.op != "dense":
            continue
        w = node.weights["kernel"].mantissa
        expected = sum(len({int(v) for v in row} - {0, 1}) for row in w)
        got = sum(op.kind == "mulc" and low.owner[op.out.id] == node.name for op in low.net.live())
        assert got == expected, node.name
