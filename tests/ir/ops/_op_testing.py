"""Shared helpers of the op tests: inputs that hit grid points, ties and saturation, and the Keras check.

Keras computes in float32, which is exact as long as every value a layer
forms fits float32's 24-bit significand; :func:`assert_bit_exact` first
checks that this holds (every exact width <= 24 bits) so that demanding
equality is meaningful.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import keras
import numpy as np

from fpgaq.design import Design, convert
from fpgaq.layers import QActivation

FLOAT32_EXACT_BITS = 24
#: The input quantizer of most tests: fixed<6,3> = steps of 1/8 on [-4, 3.875], half-even, saturating.
INPUT_QUANTIZER = "quantized_bits(6,2,alpha=1)"


def quantized_input(shape: tuple[int, ...], quantizer: str = INPUT_QUANTIZER) -> tuple[Any, Any]:
    inp = keras.Input(shape)
    return inp, QActivation(quantizer)(inp)


def sample_inputs(rng: np.random.Generator, shape: tuple[int, ...], n: int = 240, step: float = 1 / 8) -> np.ndarray:
    """Random values, grid points, exact half-way points between them, and far out-of-range values."""
    k = n // 4
    uniform = rng.uniform(-6.0, 6.0, (n - 3 * k, *shape))
    grid = rng.integers(-40, 40, (k, *shape)) * step
    ties = (rng.integers(-40, 40, (k, *shape)) + 0.5) * step
    huge = rng.choice([-1.0, 1.0], (k, *shape)) * rng.uniform(10.0, 1000.0, (k, *shape))
    return np.concatenate([uniform, grid, ties, huge]).astype(np.float32)


def quantize_input(x: np.ndarray, frac: int = 3, width: int = 6) -> np.ndarray:
    """What ``quantized_bits(6,2,alpha=1)`` makes of ``x``, by hand: half-even rounding, saturation."""
    m = np.clip(np.round(np.asarray(x, dtype=np.float64) * 2.0**frac), -(2 ** (width - 1)), 2 ** (width - 1) - 1)
    return m / 2.0**frac


def round_half_even(values: Any, frac: int, width: int, signed: bool = True) -> np.ndarray:
    """Exact rationals rounded half-even onto the 2**-frac grid and saturated to ``width`` bits."""
    out = []
    lo, hi = (-(2 ** (width - 1)), 2 ** (width - 1) - 1) if signed else (0, 2**width - 1)
    for v in np.asarray(values, dtype=object).reshape(-1):
        scaled = Fraction(v) * 2**frac
        m = round(scaled)  # Python's round() of a Fraction is half-even
        out.append(min(max(m, lo), hi) / 2**frac)
    return np.array(out, dtype=np.float64).reshape(np.shape(values))


def max_exact_width(design: Design) -> int:
    widths = [n.types["exact"].width for n in design.graph.nodes if "exact" in n.types]
    widths += [design.graph.tensors[n.output].type.width for n in design.graph.nodes]
    return max(widths)


def every_code(design: Design, node: str) -> np.ndarray:
    """Every code of ``node``'s input type, in code order, as float32 samples of one element."""
    t = design.graph.tensors[design.graph.node(node).inputs[0]].type
    return t.from_int(np.arange(t.min_int, t.max_int + 1)).astype(np.float32).reshape(-1, 1)


def keras_output(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(x, training=False), dtype=np.float64)


def assert_bit_exact(model: keras.Model, x: np.ndarray, config: Any = None, passes: Any = None) -> Design:
    design = convert(model, config, passes)
    assert max_exact_width(design) <= FLOAT32_EXACT_BITS
    want = keras_output(model, x)
    got = design.predict(x)
    assert got.shape == want.shape
    assert np.array_equal(got, want)
    return design


def ops_of(design: Design) -> list[str]:
    return [n.op for n in design.graph.nodes]


def assert_int_and_float_paths_agree(design: Design, x: np.ndarray, ops: tuple[str, ...]) -> None:
    """Each node of ``ops`` gives the same mantissas from int64 inputs as from the reference's float64 ones."""
    from fpgaq.reference import KERNELS, evaluate

    values = evaluate(design.graph, [np.asarray(x, dtype=np.float64)], keep=True)
    checked = 0
    for node in design.graph.nodes:
        if node.op not in ops:
            continue
        tins = [design.graph.tensors[t].type for t in node.inputs]
        tout = design.graph.tensors[node.output].type
        ins = [np.asarray(values[t]) for t in node.inputs]
        ints = KERNELS[node.op](node, [np.rint(v).astype(np.int64) for v in ins], tins, tout)
        floats = KERNELS[node.op](node, [v.astype(np.float64) for v in ins], tins, tout)
        assert np.asarray(ints).dtype.kind == "i"
        assert np.asarray(floats).dtype.kind == "f"
        assert np.array_equal(ints, floats)
        checked += 1
    assert checked > 0
