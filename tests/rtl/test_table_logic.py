"""fpgaq.rtl.table_logic: what a table's logic costs, and which tables Yosys puts in block RAM."""

from __future__ import annotations

import numpy as np
import pytest

from fpgaq.fixed import FixedType
from fpgaq.rtl import features as F
from fpgaq.rtl.netlist import Netlist
from fpgaq.rtl.table_logic import (
    GATE_LUTS,
    LOGIC_COST_PER_BIT,
    MAX_CONE_SUPPORT,
    RAMB18_COST,
    block_rom_ramb18,
    table_cones,
    table_luts,
    tables_luts,
)


def test_constant_output_bits_cost_nothing() -> None:
    cost = table_luts([5] * 256, 0, 8, 4)  # 0b0101 everywhere
    assert cost.minimal == cost.wide == 0 and cost.support == 0


def test_a_function_of_six_index_bits_is_a_lut_per_bit() -> None:
    rng = np.random.default_rng(0)
    entries = [int(v) for v in rng.integers(0, 1 << 5, 64)]
    cost = table_luts(entries, 0, 6, 5)
    assert cost.minimal == cost.wide == 5 and cost.support == 6


def test_a_threshold_is_cheap_when_minimised_and_wide_bit_by_bit() -> None:
    """``i >= 301`` over a 10-bit index: a comparator of a few LUTs; built bit by bit over the
    10 index bits it depends on, the 16 LUT6 of a raw 1024-entry column."""
    entries = [int(i >= 301) for i in range(1024)]
    cost = table_luts(entries, 0, 10, 1)
    assert cost.minimal < 4
    assert cost.wide == 2 ** (10 - 6) and cost.support == 10


def test_identical_output_bits_are_built_once() -> None:
    rng = np.random.default_rng(1)
    bit = rng.integers(0, 2, 128)
    entries = [int(b) * 0b11 for b in bit]  # two equal output bits
    assert table_luts(entries, 0, 7, 2).wide == table_luts([int(b) for b in bit], 0, 7, 1).wide


def test_unlisted_addresses_read_the_first_entry() -> None:
    """A table of 3 entries on a 2-bit index: address 3 reads entry 0, so the one output bit is
    ``index == 1`` (entries 0, 1, 0, 0) whatever the listed order."""
    assert table_luts([0, 1, 0], 0, 2, 1).support == 2
    assert table_luts([1, 1, 1], 0, 2, 1).support == 0  # address 3 reads entry 0 == 1 too


@pytest.mark.parametrize(
    ("index_bits", "width"), [(10, 8), (10, 9), (10, 12), (9, 14), (9, 17), (11, 9), (11, 4), (12, 5), (14, 2)]
)
def test_block_ram_when_it_costs_less_than_logic(index_bits: int, width: int) -> None:
    """memory_libmap's choice: block RAM when its RAMB18s cost less than the table's bits in logic."""
    blocks = block_rom_ramb18(index_bits, width)
    logic = (1 << index_bits) * width * LOGIC_COST_PER_BIT
    if blocks:
        assert blocks * RAMB18_COST < logic
        assert blocks * 18 * 1024 >= (1 << index_bits) * width  # they hold the table
    else:
        assert logic <= RAMB18_COST * max(1, -(-(1 << index_bits) * width // (18 * 1024)))


def test_block_ram_rule_on_the_tables_yosys_was_seen_to_map() -> None:
    """Yosys 0.23 synth_xilinx, registered sigmoid tables (the calibration's experiments): 1024 x 12
    bits went to one RAMB18, 1024 x 7 and 512 x 12 stayed in LUTs."""
    assert block_rom_ramb18(10, 12) == 1
    assert block_rom_ramb18(10, 7) == 0 and block_rom_ramb18(9, 12) == 0


def _clamped_table(net: Netlist, x_bits: int, shift: int, entries: list[int]) -> tuple[list, object]:
    x = net.add_input("x", FixedType(x_bits, x_bits, True), 1)[0]
    index = net.clip(net.shr(x, shift), 0, len(entries) - 1)
    out = net.rom(index, entries, 0, 0)
    ops = [op for op in net.live([out]) if op.kind not in ("input", "const")]
    return ops, out


def test_a_clamp_is_counted_into_the_table_it_feeds() -> None:
    """The mapper builds clamp and table as one function of the clamp's input: the cone's source is
    the input, its support the input bits the clamp compares, and the clamp's own bits are not
    counted again."""
    rng = np.random.default_rng(2)
    entries = [int(v) for v in rng.integers(0, 1 << 6, 40)]
    net = Netlist()
    ops, out = _clamped_table(net, 9, 1, entries)
    signals = {s.id: s for op in ops for s in (*op.args, op.out)}
    (cone,) = table_cones(ops, signals)
    assert {op.kind for op in cone.ops} == {"shr", "clip", "rom"} and cone.exits == [out]
    assert cone.luts.support == 8  # x's 8 high bits, not the 6-bit index
    counts = F.op_features(ops).counts
    assert counts["cmp_bits"] == 0 and counts["rom_luts"] == cone.luts.minimal
    assert counts["rom_wide_luts"] == cone.luts.wide > table_luts(entries, 0, 6, 6).wide


def test_a_cone_too_wide_for_one_function_counts_its_tables_alone() -> None:
    rng = np.random.default_rng(3)
    entries = [int(v) for v in rng.integers(0, 1 << 6, 64)]
    net = Netlist()
    ops, _ = _clamped_table(net, MAX_CONE_SUPPORT + 4, 0, entries)
    signals = {s.id: s for op in ops for s in (*op.args, op.out)}
    (cone,) = table_cones(ops, signals)
    assert [op.kind for op in cone.ops] == ["rom"]
    assert cone.luts == table_luts(entries, 0, 6, 6)
    assert F.op_features(ops).counts["cmp_bits"] > 0  # the clamp is counted on its own


def test_a_function_of_eight_bits_with_no_constant_half_is_a_whole_wide_lut() -> None:
    """ABC maps it as a LUT8 (four LUT6 under MUXF7/MUXF8) and shares no LUT6 inside it, even when
    two of its quarters are the same function."""
    rng = np.random.default_rng(5)
    quarter = rng.integers(0, 2, 64)
    bit = np.concatenate([quarter, rng.integers(0, 2, 64), quarter, rng.integers(0, 2, 64)])
    assert table_luts([int(b) for b in bit], 0, 8, 1).minimal == 4


def test_a_constant_half_is_a_gate_on_the_other() -> None:
    rng = np.random.default_rng(6)
    bit = np.concatenate([np.zeros(128, dtype=int), rng.integers(0, 2, 128)])  # x7 AND f(x0..x6)
    assert table_luts([int(b) for b in bit], 0, 8, 1).minimal == pytest.approx(2 + GATE_LUTS)


def test_exits_that_are_shifts_of_one_table_share_its_bits() -> None:
    """A softmax's reciprocal table and its shifted copies: each bit built once."""
    rng = np.random.default_rng(7)
    entries = [int(v) for v in rng.integers(0, 1 << 6, 1 << 9)]
    alone = tables_luts([(entries, 6)], 0, 9).minimal
    shifted = [[v << k for v in entries] for k in (1, 2, 3)]
    together = tables_luts([(entries, 6), *((s, 6 + k) for k, s in zip((1, 2, 3), shifted))], 0, 9).minimal
    assert together == alone > 8
