"""The zoo models through the RTL generator: bit-exact on many inputs, and what sharing saves."""

from __future__ import annotations

import numpy as np
from _rtl_testing import digits_design, inputs_for, jet_design, mismatches, with_options

import fpgaq.rtl.csd as csd
import fpgaq.rtl.lower.linear as linear
from fpgaq import datasets
from fpgaq.rtl.build import lower
from fpgaq.rtl.netlist import Netlist


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


def _adder_bits(design, share: bool | None, pairs: bool = True) -> int:
    """Adder bits of the design's dense layers alone, each on fresh inputs."""
    total = 0
    for node in design.graph.nodes:
        if node.op != "dense":
            continue
        net = Netlist()
        tin = design.graph.tensors[node.inputs[0]]
        xs = net.add_input("x", tin.type, tin.size)
        taps = linear.linear_taps(node, design.graph, xs)
        sums = linear.dot_products(net, taps, node.weights["kernel"].type.frac, "lut", share, pairs)
        total += csd.adder_bits(net, sums)
    return total


def test_sharing_saves_adder_bits_on_the_jet_tagger() -> None:
    """Odd multiples beat digit by digit, shared pairs beat both; the default keeps the cheaper start per layer."""
    design = jet_design()
    digits = _adder_bits(design, False, pairs=False)
    multiples = _adder_bits(design, True, pairs=False)
    with_pairs = _adder_bits(design, True)
    default = _adder_bits(design, None)
    assert with_pairs < 0.92 * multiples and multiples < 0.92 * digits
    assert default <= with_pairs and default < 0.85 * multiples


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
