"""fpgaq.sim.synth with the native Yosys: counts of tiny fixtures derived by hand, errors, netlist checks.

Expected counts: a registered n-bit adder on xc7 is one FDRE per sum bit, ceil(n/4) CARRY4 and one LUT2 per
bit for the propagate signal a^b (the carry chain's XORCY makes the sum), so a single LUT level before the
chain.  A k-input XOR in 4-input LUTs needs at least ceil((k-1)/3) LUTs and ceil(log4(k)) levels, and ABC
reaches both bounds on a balanced XOR tree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fpgaq.sim import synth
from fpgaq.sim.synth import SynthError, SynthIncomplete, synthesize

FIXTURES = Path(__file__).parent / "fixtures_synth"


@pytest.fixture(scope="module")
def yosys() -> synth.Yosys:
    try:
        return synth.find_yosys("native")
    except synth.YosysNotFound:
        pytest.skip("needs a native yosys (apt-get install yosys)")


@pytest.fixture(scope="module")
def adder(yosys, tmp_path_factory) -> synth.SynthResult:
    work = tmp_path_factory.mktemp("adder")
    return synthesize([FIXTURES / "fx_adder16.v"], "fx_adder16", device="xc7", workdir=work, yosys=yosys)


def test_registered_adder_on_xc7(adder) -> None:
    assert adder.ffs == 16 and adder.cells["FDRE"] == 16
    assert adder.carry == 4 and adder.cells["CARRY4"] == 4  # ceil(16 / 4)
    assert 15 <= adder.luts <= 17  # one propagate LUT per bit; the LSB may be simplified
    assert adder.dsp == adder.bram18 == adder.bram36 == adder.lutram == adder.srl == 0
    assert adder.other == {}
    assert (adder.logic_depth, adder.carry_depth) == (1, 4)


def test_result_records_how_it_was_made(adder) -> None:
    assert adder.yosys.startswith("Yosys 0.") and adder.yosys_kind == "native"
    assert "synth_xilinx -family xc7 -top fx_adder16 -noiopad -noclkbuf -flatten\n" in adder.script
    assert adder.lut_mapper == ("abc" if synth._xilinx_lut_mapper(tuple(adder.command[:1])) == "abc" else "abc9")
    assert adder.command[-4:] == ["-l", "yosys.log", "-s", "synth.ys"]
    log = Path(adder.log_path)
    assert log.name == "yosys.log" and "End of script." in log.read_text()
    assert (log.parent / "synth.ys").read_text() == adder.script
    assert adder.runtime_s > 0
    report = json.loads(json.dumps(adder.to_dict()))
    assert report["schema"] == "fpgaq-synth/1" and report["ffs"] == 16 and report["lut_sizes"]["LUT2"] == adder.luts


def test_table_lists_the_counts(adder) -> None:
    table = adder.table()
    assert table.splitlines()[0].startswith("fx_adder16 on xc7: Yosys 0.")
    assert "  FF             16" in table and "  CARRY           4" in table
    assert "1 LUT levels (4 carry)" in table


def test_hierarchical_run_counts_every_instance(yosys, tmp_path) -> None:
    r = synthesize([FIXTURES / "fx_hier.v"], "fx_hier", flatten=False, workdir=tmp_path, yosys=yosys)
    assert " -flatten" not in r.script.splitlines()[2]  # the synthesis itself kept the hierarchy
    assert r.ffs == 16 and r.carry == 4  # two 8-bit adders: 2 x (8 FF, 2 CARRY4)
    assert 14 <= r.luts <= 16
    assert (r.logic_depth, r.carry_depth) == (1, 2)


@pytest.mark.parametrize(("top", "ffs", "depth"), [("fx_parity32", 33, 3), ("fx_parity32p", 35, 2)])
def test_xor_tree_on_4_input_luts(yosys, top: str, ffs: int, depth: int) -> None:
    r = synthesize([FIXTURES / "fx_parity.v"], top, device="lut4", yosys=yosys)
    assert r.device == "generic-lut4" and r.log_path is None  # temporary work directory, removed
    assert r.luts == 11 and r.lut_sizes["LUT5"] == r.lut_sizes["LUT6"] == 0
    assert r.ffs == ffs
    assert r.logic_depth == depth and r.carry_depth == 0
    assert r.carry == r.dsp == r.muxf7 == 0 and not r.use_dsp


def test_broken_verilog_names_file_and_line(yosys, tmp_path) -> None:
    source = FIXTURES / "fx_broken.v"
    with pytest.raises(SynthError) as info:
        synthesize([source], "fx_broken", workdir=tmp_path, yosys=yosys)
    assert not isinstance(info.value, SynthIncomplete)
    assert any(e.startswith(f"{source.resolve()}:7: ERROR: syntax error") for e in info.value.errors), info.value.errors
    assert f"{source.resolve()}:7:" in str(info.value)
    assert info.value.log_path == str(tmp_path.resolve() / "yosys.log")


def test_missing_top_module_is_an_error(yosys, tmp_path) -> None:
    with pytest.raises(SynthError, match="fx_nope"):
        synthesize([FIXTURES / "fx_adder16.v"], "fx_nope", device="lut6", workdir=tmp_path, yosys=yosys)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"device": "ice40"}, ValueError, "device 'ice40' is not supported; use one of xc7, xcup, generic-lut4"),
        ({"device": "lut6", "abc9": True}, ValueError, "abc9=True applies to the Xilinx devices only"),
        ({"top": "2bad"}, ValueError, "top '2bad' is not a Verilog module name"),
        ({"files": ["no_such.v"]}, FileNotFoundError, "the Verilog file 'no_such.v' does not exist"),
        ({"files": []}, ValueError, "no Verilog files given"),
    ],
)
def test_argument_errors(yosys, tmp_path, kwargs, error, message) -> None:
    args = {"files": [FIXTURES / "fx_adder16.v"], "top": "fx_adder16", **kwargs}
    with pytest.raises(error, match=message):
        synthesize(args.pop("files"), args.pop("top"), workdir=tmp_path, yosys=yosys, **args)


def test_device_aliases() -> None:
    assert synth.device_name("lut4") == "generic-lut4" and synth.device_name("xcup") == "xcup"


# ----------------------------------------------------------------------------- netlist checks, no Yosys needed
def _cell(kind: str, inputs: dict[str, list], outputs: dict[str, list], **params) -> dict:
    directions = {p: "input" for p in inputs} | {p: "output" for p in outputs}
    return {"type": kind, "parameters": params, "port_directions": directions, "connections": inputs | outputs}


def test_tally_classifies_every_kind() -> None:
    kinds = ["LUT6", "LUT6", "LUT3", "INV", "FDRE", "FDCE", "CARRY4", "CARRY8", "DSP48E2", "RAMB36E1", "RAMB18E1"]
    kinds += ["RAM64M", "SRLC32E", "MUXF7", "MUXF8", "MUXF8", "BUFG", "$scopeinfo"]
    cells = {f"c{i}": {"type": k, "parameters": {}} for i, k in enumerate(kinds)}
    t = synth.tally_cells(cells, generic=False)
    assert t["luts"] == 4 and t["lut_sizes"] == {"LUT1": 1, "LUT2": 0, "LUT3": 1, "LUT4": 0, "LUT5": 0, "LUT6": 2}
    assert (t["ffs"], t["carry"], t["dsp"], t["bram36"], t["bram18"]) == (2, 2, 1, 1, 1)
    assert (t["lutram"], t["srl"], t["muxf7"], t["muxf8"]) == (1, 1, 1, 2)
    assert t["other"] == {"BUFG": 1} and "$scopeinfo" not in t["cells"]


def test_tally_generic_luts_by_width() -> None:
    cells = {
        "a": {"type": "$lut", "parameters": {"WIDTH": "00000000000000000000000000000100"}},
        "b": {"type": "$lut", "parameters": {"WIDTH": 2}},
        "c": {"type": "$_SDFF_PP0_", "parameters": {}},
        "d": {"type": "$_DFF_P_", "parameters": {}},
    }
    t = synth.tally_cells(cells, generic=True)
    assert t["luts"] == 2 and t["lut_sizes"]["LUT4"] == 1 and t["lut_sizes"]["LUT2"] == 1 and t["ffs"] == 2


def test_depth_stops_at_registers_and_counts_carries() -> None:
    # port 2 -> LUT a -> LUT b -> CARRY4 c -> FDRE r -> LUT d -> port 9: depths 2 (before r) and 1 (after).
    cells = {
        "a": _cell("LUT1", {"I0": [2]}, {"O": [3]}),
        "b": _cell("LUT2", {"I0": [3], "I1": [2]}, {"O": [4]}),
        "c": _cell("CARRY4", {"S": [4, "0", "0", "0"], "CI": ["0"]}, {"O": [5, 10, 11, 12], "CO": [13, 14, 15, 16]}),
        "r": _cell("FDRE", {"D": [5], "C": [1], "CE": ["1"], "R": ["0"]}, {"Q": [6]}),
        "d": _cell("LUT1", {"I0": [6]}, {"O": [9]}),
    }
    assert synth._depth({"cells": cells}) == (2, 1)
    cells["e"] = _cell("CARRY4", {"CI": [16]}, {"CO": [17]})  # chained: two carry cells on one path
    assert synth._depth({"cells": cells}) == (2, 2)


def test_depth_of_a_combinational_loop_is_none() -> None:
    cells = {"a": _cell("LUT2", {"I0": [2], "I1": [4]}, {"O": [3]}), "b": _cell("LUT1", {"I0": [3]}, {"O": [4]})}
    assert synth._depth({"cells": cells}) == (None, None)


def _write_outputs(work: Path, cells: dict, stat_cells: dict) -> None:
    (work / "netlist.json").write_text(json.dumps({"modules": {"top": {"cells": cells}}}))
    (work / "stat.json").write_text(json.dumps({"design": {"num_cells_by_type": stat_cells}}))


def test_unmapped_cells_mean_an_incomplete_run(tmp_path) -> None:
    cells = {"a": {"type": "LUT2"}, "b": {"type": "$add"}, "c": {"type": "$__ABC9_LUT7"}, "d": {"type": "$add"}}
    _write_outputs(tmp_path, cells, {"LUT2": 1, "$add": 2, "$__ABC9_LUT7": 1})
    with pytest.raises(SynthIncomplete, match=r"unmapped Yosys cells \(\$__ABC9_LUT7 x1, \$add x2\)"):
        synth._load_outputs(tmp_path, "top", False, tmp_path / "yosys.log")
    cells = {"a": {"type": "$lut"}, "b": {"type": "$_DFF_P_"}, "c": {"type": "$_AND_"}}
    _write_outputs(tmp_path, cells, {"$lut": 1, "$_DFF_P_": 1, "$_AND_": 1})
    with pytest.raises(SynthIncomplete, match=r"unmapped Yosys cells \(\$_AND_ x1\)"):
        synth._load_outputs(tmp_path, "top", True, tmp_path / "yosys.log")


def test_stat_and_netlist_must_agree(tmp_path) -> None:
    _write_outputs(tmp_path, {"a": {"type": "LUT2"}, "s": {"type": "$scopeinfo"}}, {"LUT2": 2})
    with pytest.raises(SynthIncomplete, match=r"stat counts .* differ from the netlist"):
        synth._load_outputs(tmp_path, "top", False, tmp_path / "yosys.log")
    _write_outputs(tmp_path, {"a": {"type": "LUT2"}, "s": {"type": "$scopeinfo"}}, {"LUT2": 1, "$scopeinfo": 1})
    assert synth._load_outputs(tmp_path, "top", False, tmp_path / "yosys.log")["cells"]["a"]["type"] == "LUT2"


def test_missing_outputs_or_module_mean_an_incomplete_run(tmp_path) -> None:
    with pytest.raises(SynthIncomplete, match="without a readable netlist/stat"):
        synth._load_outputs(tmp_path, "top", False, tmp_path / "yosys.log")
    _write_outputs(tmp_path, {}, {})
    with pytest.raises(SynthIncomplete, match="the synthesized netlist has no module 'other'"):
        synth._load_outputs(tmp_path, "other", False, tmp_path / "yosys.log")


def test_error_without_workdir_keeps_the_message(yosys) -> None:
    source = FIXTURES / "fx_broken.v"
    with pytest.raises(SynthError, match=f"{source.resolve()}:7: ERROR: syntax error") as info:
        synthesize([source], "fx_broken", device="lut6", yosys=yosys)
    assert info.value.log_path is None  # the temporary directory is gone
