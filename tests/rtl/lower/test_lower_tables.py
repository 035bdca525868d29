"""Lowering of the table functions (sigmoid, tanh) and softmax: ROMs with the contract's contents."""

from __future__ import annotations

from fractions import Fraction

import keras
import numpy as np
import pytest
from _lower_testing import assert_exact, every_code, keras_design, kinds, lower, one_node

from fpgaq.fixed import FixedType
from fpgaq.ir.ops import tables
from fpgaq.rtl.lower import RtlLoweringError, blocks
from fpgaq.rtl.lower.activations import apply_activation
from fpgaq.rtl.netlist import Netlist, simulate

T18 = FixedType(18, 8)  # the config's default TablePrecision
U8 = FixedType(8, 0, False)


def _table(fn: str, size: int, t: FixedType, tin: FixedType, tout: FixedType | None = None, shape=(1,)):
    return one_node("activation", {"function": fn, "table_size": size}, tin, shape, tout, types={"table": t})


@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
@pytest.mark.parametrize(
    ("size", "table_type", "tin", "tout"),
    [
        (16, U8, FixedType(10, 5), None),  # right shift; inputs beyond the range on both sides
        (1024, T18, FixedType(10, 5), None),  # left shift: every other entry is read
        (256, T18, FixedType(12, 5), FixedType(8, 1, True, "RND_CONV", "SAT")),  # the output cast rounds
        (64, FixedType(12, 2), FixedType(7, 5, False), FixedType(6, 0, True, "TRN", "SAT")),  # unsigned input
        (32, FixedType(10, 1, False), FixedType(9, 3), FixedType(10, 2, True, "RND", "WRAP")),
        (8, FixedType(8, 1), FixedType(4, 6), FixedType(5, 1, True, "RND_ZERO", "SAT_ZERO")),  # lsb 4
    ],
)
def test_table_activation_every_code(fn, size, table_type, tin, tout, monkeypatch: pytest.MonkeyPatch) -> None:
    design = _table(fn, size, table_type, tin, tout)
    for limit in (0, 4096):  # clamp + ROM only, then a ROM over the shifted input where cheaper
        monkeypatch.setattr(blocks, "ROM_LIMIT", limit)
        assert_exact(design, every_code(tin))


def test_table_rom_holds_entries_already_in_the_output_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocks, "ROM_LIMIT", 0)
    tout = FixedType(4, 1, True, "RND", "SAT")
    net = lower(_table("sigmoid", 16, U8, FixedType(12, 6), tout))
    assert kinds(net) == {"shr": 1, "clip": 1, "rom": 1}  # index, clamp, table: no logic after the ROM
    (rom,) = [op for op in net.live() if op.kind == "rom"]
    # bins 4..9 (centres -3.5 .. 1.5): sigmoid in ufixed<8,0> is 8, 19, 47, 97, 159, 209; times 8/256,
    # rounded half up: 0.25 -> 0, 0.59 -> 1, 1.47 -> 1, 3.03 -> 3, 4.97 -> 5, 6.53 -> 7.  Bins below read
    # 0 and bins above 7 (saturated) as well, so the index is clamped to [4, 9] - 8 and the ROM holds 6
    assert rom.param == ((0, 1, 1, 3, 5, 7), -4)


def test_narrow_input_reads_a_rom_without_a_clamp() -> None:
    net = lower(_table("tanh", 64, T18, FixedType(6, 4)))
    assert kinds(net)["rom"] == 1 and kinds(net)["clip"] == 0


def test_wide_input_table() -> None:
    tin = FixedType(70, 10)
    design = _table("sigmoid", 1024, T18, tin)
    m = np.array([tin.min_int, -(1 << 59) - 1, -1, 0, 1 << 59, tin.max_int, 3 << 50], dtype=object)
    # floats cannot carry 70-bit inputs: mantissas go to the netlist and to the reference's kernel directly
    got = simulate(lower(design), [m.reshape(-1, 1)])[0][:, 0]
    want = tables.table_activation(m, tin, T18, "sigmoid", 1024, T18)
    assert got.tolist() == want.tolist()
    assert len(set(want.tolist())) > 3


def test_table_function_without_settings_is_refused() -> None:
    net = Netlist()
    xs = net.add_input("x", FixedType(8, 4), 1)
    with pytest.raises(RtlLoweringError) as err:
        apply_activation(net, {"function": "tanh"}, xs, FixedType(8, 4), T18, where="node 'd1'")
    assert str(err.value) == (
        "node 'd1': no table settings (attrs['table_size'], types['table']); lower a graph that went through "
        "fpgaq.convert (precision inference records them), and do not fuse table activations into linear nodes"
    )


# ----------------------------------------------------------------------------- softmax
def _softmax(size: int, t: FixedType, tin: FixedType, k: int, tout: FixedType | None = None, rows: int = 1):
    shape = (rows, k) if rows > 1 else (k,)
    return one_node("softmax", {"axis": -1, "table_size": size}, tin, shape, tout, types={"table": t})


def _softmax_inputs(tin: FixedType, k: int, h: Fraction, rng: np.random.Generator, n: int = 600) -> np.ndarray:
    """Random rows, rows of equal values, tied maxima, differences at exactly half a table step, and
    differences far beyond the exp table."""
    m = rng.integers(tin.min_int, tin.max_int + 1, size=(n, k))
    m[:20] = m[:20, :1]
    if k > 1:
        m[20:40, 1] = m[20:40, 0]
        m[80:90, 0], m[80:90, 1:] = tin.max_int, tin.min_int
    half = h / 2 * 2**tin.frac
    if half.denominator == 1 and half >= 1:
        m[40:80] = np.clip(m[40:80, :1] - int(half) * np.arange(1, 2 * k, 2)[:k], tin.min_int, tin.max_int)
    return tin.from_int(m)


@pytest.mark.parametrize(
    ("size", "table_type", "tin", "tout", "k"),
    [
        (1024, T18, FixedType(15, 4), None, 5),  # the jet tagger's case: f = 11 > k = 7
        (16, T18, FixedType(10, 6), FixedType(8, 1, False, "RND_CONV", "SAT"), 5),  # f = 4 > k = 1
        (256, FixedType(12, 2), FixedType(8, 8), FixedType(10, 2, True, "RND", "SAT"), 3),  # f = 0 < k = 5
        (64, FixedType(8, 1, False), FixedType(12, 3), FixedType(6, 0, False, "TRN", "SAT"), 10),
        (32, FixedType(10, 3), FixedType(9, 5), FixedType(9, 1, True, "RND_INF", "WRAP"), 4),  # f = k = 2
        (2048, T18, FixedType(9, 3, False), FixedType(18, 8), 1),  # one element: a constant
    ],
)
def test_softmax_matches_the_reference(size, table_type, tin, tout, k) -> None:
    rng = np.random.default_rng(size + k)
    design = _softmax(size, table_type, tin, k, tout)
    net = assert_exact(design, _softmax_inputs(tin, k, Fraction(8, size), rng))
    if k == 1:
        assert all(s.is_const for s in net.outputs[0][1])


def test_softmax_rows_are_independent_and_share_nothing_but_constants() -> None:
    tin = FixedType(10, 4)
    design = _softmax(64, T18, tin, 4, rows=3)
    rng = np.random.default_rng(7)
    x = _softmax_inputs(tin, 12, Fraction(8, 64), rng, 400).reshape(-1, 3, 4)
    net = assert_exact(design, x)
    assert kinds(net)["mul"] == 12  # one product per element
    roms = [op for op in net.live() if op.kind == "rom"]
    recip = tables.reciprocal_table(64, tables.reciprocal_type(T18))
    assert sum(op.param[0] == tuple(int(v) for v in recip) for op in roms) == 3  # one reciprocal per row
    assert len(roms) == 12 + 3  # and one exp ROM per element


def test_softmax_exp_tables_span_their_index_instead_of_a_clamp() -> None:
    """1024 entries, 11 fractional input bits: with 13- or 14-bit inputs the exp index needs at most
    one bit more than the table (by the input type), so the ROM spans it and no clamp stands in front
    (Yosys does not merge one into the table behind it: the quick demo's softmax took 226 LUTs per
    exp table clamped, 107 spanning 11 bits); a 15-bit input's index needs 12 bits: clamped."""
    for tin, clamps in ((FixedType(13, 2), 0), (FixedType(14, 3), 0), (FixedType(15, 4), 5)):
        net = lower(_softmax(1024, T18, tin, 5))
        ops = net.live()
        feeding = {op.args[0].id for op in ops if op.kind == "rom"}
        assert sum(op.kind == "clip" and op.out.id in feeding for op in ops) == clamps, tin
    rng = np.random.default_rng(11)
    for tin in (FixedType(13, 2), FixedType(14, 3)):
        assert_exact(_softmax(1024, T18, tin, 5), _softmax_inputs(tin, 5, Fraction(8, 1024), rng))


def test_softmax_tables_wider_than_a_lut_span_up_to_three_more_bits_and_narrow_ones_keep_their_clamp() -> None:
    """A 256-entry exp table read from a 10-bit difference spans it (Yosys 0.23, xc7: a softmax of 10
    such, 1,120 -> 831 LUTs); a 64-entry one read from 8 bits keeps its clamp (spanning made a
    pipelined softmax of 8 cost 476 -> 615 LUTs): both exact on every kind of row."""
    rng = np.random.default_rng(5)
    for size, table_t, tin, k, clamped in ((256, FixedType(9, 2), FixedType(12, 4), 10, False),
                                           (64, FixedType(14, 2), FixedType(10, 4), 8, True)):  # fmt: skip
        design = _softmax(size, table_t, tin, k)
        ops = lower(design).live()
        feeding = {op.args[0].id for op in ops if op.kind == "rom"}
        clips = sum(op.kind == "clip" and op.out.id in feeding for op in ops)
        assert clips == (k if clamped else 0), (size, tin)
        assert_exact(design, _softmax_inputs(tin, k, Fraction(8, size), rng))


def test_softmax_adds_the_rounding_half_once_per_row() -> None:
    # f = 6 > k = 3: the index rounds (u + 4) >> 3; the 4 joins the maximum, not each difference
    tin = FixedType(12, 6)
    net = lower(_softmax(64, T18, tin, 6))
    plus_four = [op for op in net.live() if op.kind == "add" and not op.param[2] and op.args[1].is_const]
    assert [op.args[1].lo for op in plus_four] == [4]


def test_keras_softmax_layer() -> None:
    design = keras_design(keras.layers.Activation("softmax", name="sm"), "quantized_bits(10,4,alpha=1)", (2, 5))
    rng = np.random.default_rng(3)
    tin = design.graph.tensors[design.graph.inputs[0]].type
    assert_exact(design, _softmax_inputs(tin, 10, Fraction(8, 1024), rng, 500).reshape(-1, 2, 5))
