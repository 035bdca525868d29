"""fpgaq.sim.timing: the longest path of a Xilinx netlist from the cells' own delays plus a routing allowance.

Hand-built netlists check the arithmetic against the published table (Yosys' techlibs/xilinx/cells_sim.v
specify blocks, Project X-Ray Artix-7): FDRE clock to Q 303 ps, LUT2 I0 238 / I1 127 ps, LUT6 I0 642 / I5 127 ps,
CARRY4 S[0] -> CO[3] 508 ps, CI -> CO[3] 114 ps, CI -> O[0] 222 ps, CE set-up 109 ps.  A real synth_xilinx
netlist is timed against Yosys' own ``sta`` on the same cells (no routing there, so ``routing_ns=0`` here).
"""

from __future__ import annotations

import json
import re
import subprocess
from itertools import count
from pathlib import Path

import pytest

from fpgaq.sim import synth
from fpgaq.sim.timing import critical_path

CLK_TO_Q, LUT2_I0, LUT2_I1, LUT6_I0, LUT6_I5 = 303, 238, 127, 642, 127
S0_TO_CO3, CI_TO_CO3, CI_TO_O0, CE_SETUP = 508, 114, 222, 109


class Netlist:
    """A Yosys-JSON module built cell by cell; bits are numbered from 2 as Yosys does."""

    def __init__(self) -> None:
        self._bits = count(2)
        self.module: dict = {"ports": {}, "cells": {}, "netnames": {}}

    def bit(self) -> int:
        return next(self._bits)

    def port(self, name: str, direction: str, bits: list[int]) -> list[int]:
        self.module["ports"][name] = {"direction": direction, "bits": bits}
        self.module["netnames"][name] = {"bits": bits}
        return bits

    def cell(self, name: str, kind: str, inputs: dict[str, list], outputs: dict[str, list]) -> None:
        self.module["cells"][name] = {
            "type": kind,
            "port_directions": {**dict.fromkeys(inputs, "input"), **dict.fromkeys(outputs, "output")},
            "connections": {**inputs, **outputs},
        }

    def ff(self, name: str, clk: int, d: int, ce: int | str = "1") -> int:
        q = self.bit()
        self.cell(name, "FDRE", {"C": [clk], "D": [d], "CE": [ce], "R": ["0"]}, {"Q": [q]})
        self.module["netnames"][name] = {"bits": [q]}
        return q


def _lut_between_registers(pin: str) -> tuple[dict, int]:
    n = Netlist()
    clk, a, b = (n.port(p, "input", [n.bit()])[0] for p in ("clk", "a", "b"))
    qa, qb = n.ff("ra", clk, a), n.ff("rb", clk, b)
    y = n.bit()
    other = "I1" if pin == "I0" else "I0"
    n.cell("lut", "LUT2", {pin: [qa], other: [qb]}, {"O": [y]})
    n.ff("ry", clk, y)
    return n.module, y


def test_one_lut_between_registers_adds_clock_to_q_lut_and_two_nets() -> None:
    module, _ = _lut_between_registers("I0")
    for routing in (0.0, 0.4, 1.0):
        t = critical_path(module, routing_ns=routing)
        assert t.kind == "reg->reg" and t.end == "ry" and t.start in ("ra", "rb")
        assert t.delay_ns == pytest.approx((CLK_TO_Q + LUT2_I0) / 1000 + 2 * routing)
        assert t.fmax_mhz == pytest.approx(1000 / t.delay_ns, abs=0.1)
        assert (t.nets, t.lut_levels, t.carry_cells) == (2, 1, 0)
        assert t.cell_ns == pytest.approx((CLK_TO_Q + LUT2_I0) / 1000)
        assert [s.arc for s in t.steps] == ["I0->O"]


def test_the_slow_pin_decides() -> None:
    n = Netlist()
    clk, a = n.port("clk", "input", [n.bit()])[0], n.port("a", "input", [n.bit()])[0]
    q = n.ff("ra", clk, a)
    fast, slow = n.bit(), n.bit()
    n.cell("fast", "LUT6", {f"I{i}": ["0"] for i in range(5)} | {"I5": [q]}, {"O": [fast]})
    n.cell("slow", "LUT6", {"I0": [q]} | {f"I{i}": ["0"] for i in range(1, 6)}, {"O": [slow]})
    n.ff("rf", clk, fast)
    n.ff("rs", clk, slow)
    t = critical_path(n.module, routing_ns=0)
    by_end = {e["endpoint"]: e["delay_ns"] for e in t.endpoints}
    assert by_end["rs"] == pytest.approx((CLK_TO_Q + LUT6_I0) / 1000)
    assert by_end["rf"] == pytest.approx((CLK_TO_Q + LUT6_I5) / 1000)
    assert t.end == "rs"


def test_carry_chain_wires_get_no_routing_allowance() -> None:
    """LUT -> S and CO -> CI are a slice's own wires; the register output into the LUT and the sum out are nets."""
    n = Netlist()
    clk, a = n.port("clk", "input", [n.bit()])[0], n.port("a", "input", [n.bit()])[0]
    q = n.ff("ra", clk, a)
    s0, co_low, co_high = n.bit(), [n.bit() for _ in range(4)], [n.bit() for _ in range(4)]
    o_high = [n.bit() for _ in range(4)]
    n.cell("lut", "LUT2", {"I0": [q], "I1": ["0"]}, {"O": [s0]})
    zeros = ["0"] * 4
    n.cell(
        "c0",
        "CARRY4",
        {"CI": ["0"], "CYINIT": ["0"], "DI": zeros, "S": [s0, "0", "0", "0"]},
        {"CO": co_low, "O": [n.bit() for _ in range(4)]},
    )
    n.cell("c1", "CARRY4", {"CI": [co_low[3]], "CYINIT": ["0"], "DI": zeros, "S": zeros}, {"CO": co_high, "O": o_high})
    n.ff("rs", clk, o_high[0])
    routing = 0.5
    t = critical_path(n.module, routing_ns=routing)
    cells = CLK_TO_Q + LUT2_I0 + S0_TO_CO3 + CI_TO_O0
    assert t.delay_ns == pytest.approx(cells / 1000 + 2 * routing)
    assert (t.nets, t.lut_levels, t.carry_cells) == (2, 1, 2)
    assert [s.arc for s in t.steps] == ["I0->O", "S[0]->CO[3]", "CI->O[0]"]


def test_clock_enable_setup_and_kinds_of_path() -> None:
    n = Netlist()
    clk, a, en = (n.port(p, "input", [n.bit()])[0] for p in ("clk", "a", "en"))
    q = n.ff("ra", clk, a)
    gated = n.bit()
    n.cell("lut", "LUT2", {"I0": [en], "I1": ["0"]}, {"O": [gated]})
    n.ff("rb", clk, q, ce=gated)
    y = n.bit()
    n.cell("out_lut", "LUT2", {"I0": [q], "I1": [a]}, {"O": [y]})
    n.port("y", "output", [y])
    t = critical_path(n.module, routing_ns=0)
    assert t.worst_by_kind["in->reg"] == pytest.approx((LUT2_I0 + CE_SETUP) / 1000)
    assert t.worst_by_kind["reg->out"] == pytest.approx((CLK_TO_Q + LUT2_I0) / 1000)
    assert t.worst_by_kind["in->out"] == pytest.approx(LUT2_I1 / 1000)
    assert t.worst_by_kind["reg->reg"] == pytest.approx(CLK_TO_Q / 1000)
    # The clock is set by the register-to-register path even when a port path is longer.
    assert t.kind == "reg->reg" and t.delay_ns == pytest.approx(CLK_TO_Q / 1000)


def test_combinational_loop_and_unknown_device() -> None:
    n = Netlist()
    x, y = n.bit(), n.bit()
    n.cell("l1", "LUT1", {"I0": [y]}, {"O": [x]})
    n.cell("l2", "LUT1", {"I0": [x]}, {"O": [y]})
    n.port("y", "output", [y])
    t = critical_path(n.module)
    assert t.delay_ns is None and t.summary() == "no timed path"
    with pytest.raises(ValueError, match="'ecp5' has no cell delay table; use 'xc7' or 'xcup'"):
        critical_path(n.module, device="ecp5")
    with pytest.raises(ValueError, match="routing_ns must be >= 0"):
        critical_path(n.module, routing_ns=-1)


FIXTURE = """
module sta_fixture(input clk, input [23:0] a, input [7:0] b, input [7:0] c, output reg p, output reg [8:0] s);
  reg [23:0] ra; reg [7:0] rb, rc;
  always @(posedge clk) begin ra <= a; rb <= b; rc <= c; p <= ^ra; s <= rb + rc; end
endmodule
"""


def test_same_delay_as_yosys_sta_on_a_synthesized_netlist(tmp_path: Path) -> None:
    """A 24-bit parity (LUT6, MUXF7, MUXF8, LUT6) and a registered adder, with Yosys' STA as the reference."""
    try:
        yosys = synth.find_yosys("native")
    except synth.YosysNotFound:
        pytest.skip("needs a native yosys (apt-get install yosys)")
    (tmp_path / "sta_fixture.v").write_text(FIXTURE)
    result = synth.synthesize([tmp_path / "sta_fixture.v"], "sta_fixture", device="xc7", workdir=tmp_path, yosys=yosys)
    assert result.timing is not None and result.timing["kind"] == "reg->reg"
    module = json.loads((tmp_path / "netlist.json").read_text())["modules"]["sta_fixture"]
    ours = critical_path(module, routing_ns=0)
    script = "read_json netlist.json; read_verilog -lib -specify +/xilinx/cells_sim.v; tee -q -o sta.txt sta"
    done = subprocess.run([*yosys.command, "-q", "-p", script], cwd=tmp_path, capture_output=True)
    assert done.returncode == 0, done.stderr
    latest = re.search(r"Latest arrival time in '\w+' is (\d+)", (tmp_path / "sta.txt").read_text())
    assert latest is not None
    assert ours.delay_ns == pytest.approx(int(latest.group(1)) / 1000)
    assert ours.end == "p" and ours.lut_levels == 2
    # The default allowance adds one per net on the same path.
    assert result.timing["delay_ns"] >= ours.delay_ns + ours.nets * result.timing["routing_ns"] - 1e-9
