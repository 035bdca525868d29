"""quantized_ulaw in generated RTL, run in Verilator by the cocotb bench: bit for bit against the reference.

One tiny design (an input quantizer, a dense layer, the u-law) on every code of its input grid and on
saturating and tie values, with idle cycles and back-pressure; the reference is first checked against
Keras' own compiled output on that grid.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from _rtl_testing import convert, cosim_exact, inputs_for

from fpgaq.layers import QActivation, QDense


def _design():
    inp = keras.Input((2,), name="x")
    x = QActivation("quantized_bits(4,1,alpha=1)", name="in_q")(inp)
    x = QDense(2, kernel_quantizer="quantized_bits(3,0,alpha=1)", bias_quantizer="quantized_bits(4,1,alpha=1)")(x)
    model = keras.Model(inp, QActivation("quantized_ulaw(5,1)", name="act")(x), name="ulaw_tiny")
    model.get_layer(index=2).set_weights([np.array([[0.75, -0.5], [0.25, 0.5]]), np.array([0.5, -1.0])])
    return model, convert(model)


def test_ulaw_cosim_bit_exact(tmp_path: Path) -> None:
    model, design = _design()
    assert design.graph.node("act").op == "step"
    grid = np.stack(np.meshgrid(np.arange(-8, 8), np.arange(-8, 8)), -1).reshape(-1, 2) / 4.0  # every pair
    want = np.asarray(model.predict(grid.astype(np.float32), verbose=0, batch_size=len(grid)), dtype=np.float64)
    assert np.array_equal(design.predict(grid), want)
    x = np.concatenate([grid, inputs_for(design, 100, seed=21)[0]]).astype(np.float32)
    cosim_exact(design, x, tmp_path / "prj")
    assert len(np.unique(design.predict(x))) > 8  # the outputs vary: the comparison is not vacuous
