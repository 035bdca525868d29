"""quantized_ulaw in the generated C++: C-simulation (g++, fpgaq's ac_fixed) equals the reference bit for bit.

The u-law is a ``step`` node whose levels are float32 values (26 fractional bits here), so the C++ must carry
every level exactly; the design feeds it every code of its input grid plus saturating and tie values.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from _hls_testing import check_all, convert, inputs_for

from fpgaq.layers import QActivation

pytestmark = pytest.mark.usefixtures("csim_environment")


def test_ulaw_csim_bit_exact() -> None:
    inp = keras.Input((1,), name="x")
    x = QActivation("quantized_bits(10,1,alpha=1)", name="in_q")(inp)
    model = keras.Model(inp, QActivation("quantized_ulaw(8,1,1,u=100.0)", name="act")(x), name="ulaw_direct")
    design = convert(model)
    assert design.graph.node("act").op == "step"
    codes = np.arange(-512, 512, dtype=np.float64).reshape(-1, 1) / 256  # every code of fixed<10,2>
    x = np.concatenate([codes, inputs_for(design, 300, seed=5)[0]])
    assert check_all([("direct", design, [x])]) == []
    got = design.compile().predict_int(x)[0]
    assert np.array_equal(got, design.predict_int(x)[0])
    assert len(np.unique(got)) > 100  # the outputs vary: the comparison is not vacuous
    # and the reference is Keras' own compiled output on every code (one batch of 1024: no scalar tail)
    want = np.asarray(model.predict(codes.astype(np.float32), verbose=0, batch_size=len(codes)), dtype=np.float64)
    assert np.array_equal(design.predict(codes), want)
