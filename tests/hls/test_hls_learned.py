"""Learned precision in the generated C++: the ``quantize`` kernel (each element its own rounding shift and
bounds) equals the reference bit for bit on every rounding, overflow and sign, at midpoints and beyond the
bounds, reading a fixed-point tensor or the floats of a graph input, with arrays or streams at the ports."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
from _hls_testing import check_all, convert

from fpgaq.layers import QActivation, QDense
from fpgaq.quantizers import learned_bits

pytestmark = pytest.mark.usefixtures("csim_environment")


def _model(rounding: str, overflow: str, signed: bool, after_input_quantizer: bool) -> keras.Model:
    """A per-element learned_bits (vanishing, narrow and wide elements) and a dense layer reading it."""
    inp = keras.Input((12,), name="x")
    x = QActivation("quantized_bits(10,4,alpha=1)", name="grid")(inp) if after_input_quantizer else inp
    act = QActivation(
        learned_bits(6, 1, keep_negative=signed, granularity="element", overflow=overflow, rounding=rounding),
        name="q",
    )
    y = act(x)
    act.quantizer.set_bits(np.tile([-1, 0, 2, 4], 3), np.repeat([-2, 0, 2], 4))
    dense = QDense(3, kernel_quantizer=learned_bits(5, 0, granularity="element"), name="fc")
    out = dense(y)
    dense.kernel.assign(np.random.default_rng(0).normal(0, 0.7, (12, 3)).astype(np.float32))
    dense.kernel_quantizer_internal.set_bits(np.full((12, 3), 3), np.random.default_rng(1).integers(-4, 2, (12, 3)))
    name = f"learned_{rounding}_{overflow}_{int(signed)}_{int(after_input_quantizer)}"
    return keras.Model(inp, [out, y] if after_input_quantizer else out, name=name)


def _keras(model: keras.Model, x: np.ndarray) -> list[np.ndarray]:
    outs = model(x, training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return [np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float64) for v in outs]


def test_quantize_kernel_on_every_mode() -> None:
    codes = np.random.default_rng(2).integers(-40 * 64, 40 * 64, size=(600, 12))
    x = (codes / 64).astype(np.float32)  # midpoints of every element, and far beyond every bound
    designs = []
    modes = itertools.product(["RND", "TRN"], ["SAT", "WRAP"], [True, False], [True, False])
    for rounding, overflow, signed, after_input_quantizer in modes:
        model = _model(rounding, overflow, signed, after_input_quantizer)
        design = convert(model)
        got = design.predict(x)
        got = got if isinstance(got, list) else [got]
        assert all(np.array_equal(g, w) for g, w in zip(got, _keras(model, x), strict=True)), model.name
        designs.append((model.name, design, [x]))
    stream = convert(_model("RND", "SAT", True, True), {"Model": {"IOType": "io_stream"}})
    designs.append(("io_stream", stream, [x]))
    assert check_all(designs) == []
