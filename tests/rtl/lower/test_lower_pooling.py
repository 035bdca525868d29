"""Lowering of max, average, padded and scaled pooling against the reference, and its structure."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from _lower_testing import MODES, ROUNDINGS, assert_exact, keras_design, kinds, lower, one_node, random_codes

from fpgaq.fixed import FixedType, Overflow
from fpgaq.ir.graph import Node
from fpgaq.layers import QAveragePooling2D, QGlobalAveragePooling2D
from fpgaq.rtl.lower import RtlLoweringError, blocks
from fpgaq.rtl.lower.pooling import window_rows

T4 = FixedType(4, 2, True)  # few codes: window sums hit every rounding tie often


def _pool(op: str, pool: tuple[int, ...], strides: tuple[int, ...], padding=None, counts=None) -> dict:
    attrs = {"pool_size": pool, "strides": strides}
    if padding is not None:
        attrs["padding"] = padding
    if counts is not None:
        attrs["counts"] = np.asarray(counts)
    return attrs


def _out_shape(op: str, pool, strides, shape: tuple[int, ...]) -> tuple[int, ...]:
    if op.startswith("global_"):
        return (shape[-1],)
    return (*[(n - p) // s + 1 for n, p, s in zip(shape[:-1], pool, strides)], shape[-1])


def test_window_rows_worked_out_by_hand() -> None:
    # 3x3x1 input, 2x2 pool, stride 1, one padded row after ('same'-like): flat indices row by row
    node = Node("p", "padded_maxpool2d", ["x"], "p", _pool("padded_maxpool2d", (2, 2), (1, 1), [(0, 1), (0, 0)]))
    rows = window_rows(node, (3, 3, 1))
    assert rows.shape == (6, 2, 2)
    assert rows[0].tolist() == [[0, 1], [3, 4]]
    assert rows[1].tolist() == [[1, 2], [4, 5]]
    assert rows[5].tolist() == [[7, 8], [-1, -1]]
    glob = window_rows(Node("g", "global_maxpool2d", ["x"], "g"), (2, 3, 2))
    assert glob.tolist() == [[[0, 2, 4], [6, 8, 10]], [[1, 3, 5], [7, 9, 11]]]  # per channel, row by row


@pytest.mark.parametrize(
    ("op", "pool", "strides", "shape"),
    [
        ("maxpool2d", (2, 2), (2, 2), (4, 6, 2)),
        ("maxpool2d", (3, 3), (1, 1), (5, 4, 1)),
        ("maxpool2d", (3, 2), (2, 1), (6, 5, 2)),
        ("maxpool1d", (3,), (2,), (9, 2)),
        ("global_maxpool2d", None, None, (3, 3, 2)),
        ("global_maxpool1d", None, None, (5, 3)),
    ],
)
def test_maxpool_into_every_mode(op, pool, strides, shape) -> None:
    attrs = {} if pool is None else _pool(op, pool, strides)
    out_shape = _out_shape(op, pool, strides, shape)
    design = one_node(op, attrs, FixedType(7, 3, True), shape, out_shape=out_shape)
    x = random_codes(FixedType(7, 3, True), shape, 400)
    for rounding, overflow in MODES[::2]:
        tout = FixedType(5, 2, True, rounding, overflow)
        assert_exact(one_node(op, attrs, FixedType(7, 3, True), shape, tout, out_shape), x)
    assert_exact(design, x)


def test_overlapping_windows_share_row_maxima() -> None:
    # 3x3 windows with stride 1 over 4x4: 8 row segments (2 max each), then 3 rows per window (2 max each)
    design = one_node("maxpool2d", _pool("maxpool2d", (3, 3), (1, 1)), FixedType(6, 3), (4, 4, 1), out_shape=(2, 2, 1))
    net = assert_exact(design, random_codes(FixedType(6, 3), (4, 4, 1), 200))
    assert kinds(net)["max"] == 8 * 2 + 4 * 2  # 24, where windows one by one would take 4 * 8 = 32


@pytest.mark.parametrize(
    ("op", "pool", "strides", "shape"),
    [
        ("avgpool2d", (2, 2), (2, 2), (4, 4, 2)),  # area 4: a shift
        ("avgpool2d", (3, 3), (1, 1), (4, 4, 1)),  # area 9: odd, no ties
        ("avgpool2d", (2, 3), (1, 2), (4, 7, 1)),  # area 6: even, ties go through the tie test
        ("avgpool1d", (3,), (1,), (6, 2)),
        ("avgpool1d", (5,), (5,), (10, 1)),
        ("global_avgpool2d", None, None, (2, 3, 2)),  # area 6: ties where the output drops bits
        ("global_avgpool1d", None, None, (7, 2)),  # area 7
    ],
)
def test_average_every_rounding(op, pool, strides, shape, monkeypatch: pytest.MonkeyPatch) -> None:
    attrs = {} if pool is None else _pool(op, pool, strides)
    out_shape = _out_shape(op, pool, strides, shape)
    auto = one_node(op, attrs, T4, shape, out_shape=out_shape)
    x = random_codes(T4, shape, 600, spread=2)
    shapes = ((4, 1), (4, 3), (3, 3))  # finer than the input, coarser, coarser still
    for limit, overflows in ((0, (Overflow.SAT, Overflow.WRAP, Overflow.SAT_ZERO)), (4096, (Overflow.SAT,))):
        monkeypatch.setattr(blocks, "ROM_LIMIT", limit)  # arithmetic only, then ROMs where cheaper
        assert_exact(auto, x)
        for rounding in ROUNDINGS:
            for overflow in overflows:
                for width, integer in shapes:
                    tout = FixedType(width, integer, True, rounding, overflow)
                    assert_exact(one_node(op, attrs, T4, shape, tout, out_shape), x)


def test_average_by_a_power_of_two_is_wiring_when_the_output_is_exact() -> None:
    # the inferred type keeps every bit of sum / 4: no rounding, no divider, only the adder tree
    design = one_node("avgpool2d", _pool("avgpool2d", (2, 2), (2, 2)), FixedType(6, 3), (2, 2, 1), out_shape=(1, 1, 1))
    net = assert_exact(design, random_codes(FixedType(6, 3), (2, 2, 1), 100))
    assert kinds(net)["add"] == 3
    assert set(kinds(net)) <= {"add", "shl"}


def test_average_by_nine_is_shift_add_without_multipliers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocks, "ROM_LIMIT", 0)
    tout = FixedType(10, 3, True, "RND_CONV", "SAT")
    design = one_node("avgpool2d", _pool("avgpool2d", (3, 3), (3, 3)), FixedType(8, 3), (3, 3, 1), tout, (1, 1, 1))
    net = assert_exact(design, random_codes(FixedType(8, 3), (3, 3, 1), 2000, spread=3))
    assert kinds(net)["mul"] == kinds(net)["mulc"] == kinds(net)["rom"] == 0


def test_unsigned_input_average() -> None:
    tin = FixedType(5, 2, False)
    for rounding, overflow in MODES[::3]:
        tout = FixedType(4, 1, False, rounding, overflow)
        design = one_node("avgpool1d", _pool("avgpool1d", (3,), (3,)), tin, (6, 1), tout, (2, 1))
        assert_exact(design, random_codes(tin, (6, 1), 500, spread=3))


@pytest.mark.parametrize(
    "layer",
    [
        lambda: keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool"),
        lambda: keras.layers.AveragePooling2D(3, strides=2, padding="same", name="pool"),  # counts 4, 6, 9
        lambda: keras.layers.AveragePooling2D(2, strides=1, padding="same", name="pool"),  # counts 1, 2, 4
        lambda: keras.layers.MaxPooling1D(2, padding="same", name="pool"),
        lambda: keras.layers.AveragePooling1D(3, strides=1, padding="same", name="pool"),
    ],
)
def test_same_padding_pools(layer, monkeypatch: pytest.MonkeyPatch) -> None:
    built = layer()
    shape = (5, 5, 2) if "2D" in type(built).__name__ else (7, 2)
    design = keras_design(built, "quantized_bits(5,2,alpha=1)", shape)
    assert design.graph.node("pool").op.startswith("padded_")
    x = random_codes(design.graph.tensors[design.graph.inputs[0]].type, shape, 500, spread=3)
    for limit in (0, 4096):
        monkeypatch.setattr(blocks, "ROM_LIMIT", limit)
        assert_exact(design, x)


def test_padded_max_of_an_all_padding_window_is_the_input_minimum() -> None:
    # not reachable from Keras, but the op's definition covers it: padded cells count as the minimum
    tin = FixedType(6, 3)
    attrs = _pool("padded_maxpool1d", (2,), (2,), [(0, 2)])
    design = one_node("padded_maxpool1d", attrs, tin, (2, 1), tin, (2, 1))
    net = assert_exact(design, random_codes(tin, (2, 1), 50))
    last = net.outputs[0][1][1]
    assert last.is_const and last.lo == tin.min_int


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_quantized_average_pools(padding: str) -> None:
    q = QAveragePooling2D(2, padding=padding, average_quantizer="quantized_bits(8,0,alpha=1)", name="qap")
    g = QGlobalAveragePooling2D(average_quantizer="quantized_bits(6,0,alpha=1)", name="qgap")
    for layer, op in ((q, "scaled_avgpool2d"), (g, "global_scaled_avgpool2d")):
        design = keras_design(layer, "quantized_bits(6,3,alpha=1)", (6, 6, 2))
        assert op in [n.op for n in design.graph.nodes]
        assert_exact(design, random_codes(design.graph.tensors[design.graph.inputs[0]].type, (6, 6, 2), 300))


def test_scaled_average_by_a_power_of_two_multiplier_has_no_adders_after_the_sum() -> None:
    # average_quantizer(1/4) = 0.25 exactly: the product is wiring
    layer = QAveragePooling2D(2, average_quantizer="quantized_bits(8,0,alpha=1)", name="qap")
    design = keras_design(layer, "quantized_bits(6,3,alpha=1)", (2, 2, 1))
    net = assert_exact(design, random_codes(design.graph.tensors[design.graph.inputs[0]].type, (2, 2, 1), 100))
    assert kinds(net)["add"] == 3


def test_windows_that_disagree_with_the_output_shape_are_refused() -> None:
    design = one_node("maxpool2d", _pool("maxpool2d", (2, 2), (2, 2)), FixedType(6, 3), (4, 4, 1), out_shape=(3, 3, 1))
    with pytest.raises(RtlLoweringError) as err:
        lower(design)
    assert str(err.value) == (
        "node 'f' (maxpool2d): its windows give 4 outputs but the output tensor has 9; the node's pool_size, "
        "strides or padding disagree with its shapes"
    )
