"""Shared helpers of the lowering tests: one-node designs, exhaustive inputs, exact rounding by hand."""

from __future__ import annotations

import warnings
from collections import Counter
from fractions import Fraction
from typing import Any

import keras
import numpy as np

import fpgaq
from fpgaq.config import load_config
from fpgaq.design import Design
from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.ir.graph import Graph, Node, Tensor
from fpgaq.ir.precision import infer_precision
from fpgaq.layers import QActivation
from fpgaq.rtl.lower import lower_graph
from fpgaq.rtl.netlist import Netlist
from fpgaq.testing.rtl_check import netlist_mismatches

ROUNDINGS = list(Rounding)
OVERFLOWS = list(Overflow)
MODES = [(r, o) for r in ROUNDINGS for o in OVERFLOWS]


def one_node(
    op: str,
    attrs: dict[str, Any],
    tin: FixedType,
    shape: tuple[int, ...],
    tout: FixedType | None = None,
    out_shape: tuple[int, ...] | None = None,
    types: dict[str, FixedType] | None = None,
) -> Design:
    """A design ``x -> op -> f``; ``tout`` None lets precision inference choose."""
    nodes = [Node("x", "input", [], "x"), Node("f", op, ["x"], "f", attrs, types=dict(types or {}), source="f")]
    tensors = {"x": Tensor("x", shape, tin), "f": Tensor("f", out_shape or shape, tout)}
    return Design(infer_precision(Graph("g", nodes, tensors, ["x"], ["f"])), load_config(None))


def keras_design(layer: Any, quantizer: str, shape: tuple[int, ...], config: Any = None) -> Design:
    """``input -> QActivation(quantizer) -> layer``, converted (warnings about defaults silenced)."""
    inp = keras.Input(shape)
    model = keras.Model(inp, layer(QActivation(quantizer, name="in_q")(inp)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fpgaq.convert(model, config)


def every_code(t: FixedType, shape: tuple[int, ...] = (1,)) -> np.ndarray:
    """Every value of ``t`` (one per sample, in every element of ``shape``)."""
    m = np.arange(t.min_int, t.max_int + 1)
    return np.broadcast_to(t.from_int(m).reshape(-1, *([1] * len(shape))), (len(m), *shape)).copy()


def random_codes(t: FixedType, shape: tuple[int, ...], n: int, seed: int = 0, spread: int | None = None) -> np.ndarray:
    """Values of ``t``: uniform codes, extremes, and (with ``spread``) codes near 0 so that sums tie often."""
    rng = np.random.default_rng(seed)
    m = rng.integers(t.min_int, t.max_int + 1, size=(n, *shape))
    m[: n // 8] = t.max_int
    m[n // 8 : n // 4] = t.min_int
    if spread is not None:
        lo, hi = max(t.min_int, -spread), min(t.max_int, spread)
        m[n // 4 : n // 2] = rng.integers(lo, hi + 1, size=(n // 2 - n // 4, *shape))
    return t.from_int(m)


def lower(design: Design) -> Netlist:
    return lower_graph(design.graph)


def assert_exact(design: Design, x: Any) -> Netlist:
    """The lowered netlist equals the reference on ``x``, bit for bit."""
    net = lower(design)
    problems = netlist_mismatches(design, net, x)
    assert problems == [], "\n".join(problems)
    return net


def kinds(net: Netlist) -> Counter:
    """How many live primitives of each kind (wiring included)."""
    return Counter(op.kind for op in net.live() if op.kind != "input")


def round_by_hand(value: Fraction, rounding: Rounding) -> int:
    """An exact rational rounded to an integer by ``rounding``, written out case by case."""
    floor = value.numerator // value.denominator
    rem = value - floor
    if rounding is Rounding.TRN:
        return floor
    if rounding is Rounding.TRN_ZERO:
        return floor + 1 if value < 0 and rem else floor
    half = Fraction(1, 2)
    if rem != half:
        return floor + int(rem > half)
    up = {
        Rounding.RND: True,
        Rounding.RND_ZERO: value < 0,
        Rounding.RND_INF: value > 0,
        Rounding.RND_MIN_INF: False,
        Rounding.RND_CONV: floor % 2 == 1,
    }[rounding]
    return floor + int(up)


def overflow_by_hand(q: int, t: FixedType) -> int:
    lo, hi = t.min_int, t.max_int
    if t.overflow is Overflow.WRAP:
        return (q - lo) % (1 << t.width) + lo
    if t.overflow is Overflow.SAT:
        return min(max(q, lo), hi)
    if t.overflow is Overflow.SAT_ZERO:
        return q if lo <= q <= hi else 0
    return min(max(q, -hi if t.signed else lo), hi)


def assign(value: Fraction, t: FixedType) -> int:
    """``value`` assigned into ``t``: rounding, then overflow."""
    return overflow_by_hand(round_by_hand(value * Fraction(2) ** t.frac, t.rounding), t)
