"""quantized_hswish in the generated C++: C-simulation (g++, fpgaq's ac_fixed) equals the reference bit for bit.

The hard swish is a ``step`` node (every input code's exact output); the designs cover an input quantizer feeding
it directly (every input code, saturating and tie values) and a dense layer's accumulator feeding it.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from _hls_testing import BQ, WQ, check_all, convert, inputs_for, randomize

from fpgaq.layers import QActivation, QDense

pytestmark = pytest.mark.usefixtures("csim_environment")


def _designs() -> list[tuple[str, object, list[np.ndarray]]]:
    out = []
    inp = keras.Input((1,), name="x")
    x = QActivation("quantized_bits(10,3,alpha=1)", name="in_q")(inp)
    direct = keras.Model(inp, QActivation("quantized_hswish(8,2,1)", name="act")(x), name="hswish_direct")
    design = convert(direct)
    codes = np.arange(-512, 512, dtype=np.float64).reshape(-1, 1) / 64  # every code of fixed<10,4>
    out.append(("direct", design, [np.concatenate([codes, inputs_for(design, 300, seed=5)[0]])]))

    inp = keras.Input((6,), name="x")
    x = QActivation("quantized_bits(8,2,alpha=1)", name="in_q")(inp)
    x = QDense(5, kernel_quantizer=WQ, bias_quantizer=BQ, name="fc")(x)
    x = QActivation("quantized_hswish(6,1,0,relu_shift=2,relu_upper_bound=5)", name="act")(x)
    dense = randomize(keras.Model(inp, x, name="hswish_dense"), 7)
    design = convert(dense)
    out.append(("after dense", design, inputs_for(design, 500, seed=6)))
    return out


def test_hswish_csim_bit_exact() -> None:
    designs = _designs()
    for _, design, _ in designs:
        assert design.graph.node("act").op == "step"
    assert check_all(designs) == []
    _, design, x = designs[0]
    got = design.compile().predict_int(x[0])[0]
    assert np.array_equal(got, design.predict_int(x[0])[0])
    assert len(np.unique(got)) > 50  # the outputs vary: the comparison is not vacuous
