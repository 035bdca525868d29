"""Ternary adders (``Adders: ternary``): the netlist op, the 3:1 adder trees, the Verilog spellings.

The Xilinx spelling instantiates LUT6_2 and CARRY4/CARRY8, whose behaviour Verilator learns from
fpgaq's own models: Yosys proves those models equal to its own (``+/xilinx/cells_sim.v``) and the
adder module equal to ``+-a +-b +-c`` for several widths and sign patterns, and the bulk Verilator
model of a design with ternary adders (the Xilinx spelling) equals the reference.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _rtl_testing import build, cosim_exact, mismatches, random_design, with_options

from fpgaq.config import ConfigError, load_config
from fpgaq.converters.rtl import build_rtl, project_sources
from fpgaq.resource_model import estimate
from fpgaq.rtl import features
from fpgaq.rtl.csd import signed_sum
from fpgaq.rtl.netlist import Netlist, add3_pass_through, simulate
from fpgaq.rtl.verilog import XILINX_CELLS, adder_module, adder_module_name, xilinx_cell_models
from fpgaq.sim.synth import synthesize
from fpgaq.sim.verilator import lint

YOSYS = shutil.which("yosys")
needs_yosys = pytest.mark.skipif(YOSYS is None, reason="needs a native yosys (Debian's) with its Xilinx cell library")


# ---------------------------------------------------------------- the netlist op
def _random_terms(net: Netlist, rng: random.Random, n: int) -> list[tuple]:
    """Input signals of random ranges and binary points, each with a sign, and their sample values."""
    terms = []
    for i in range(n):
        lo = rng.randint(-300, 50)
        hi = lo + rng.randint(1, 400)
        frac = rng.randint(0, 4)
        terms.append((net.add_input(f"x{i}", _type_for(lo, hi, frac), 1)[0], rng.random() < 0.5))
    return terms


def _type_for(lo: int, hi: int, frac: int):
    from fpgaq.fixed import FixedType

    width = max(lo.bit_length(), hi.bit_length(), (-lo - 1).bit_length() if lo < 0 else 0) + 1
    return FixedType(width, width - frac, True)


def _values(net: Netlist, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Every input's extremes, zero and the midpoint first, then random codes."""
    out = []
    for _, _sigs, t in net.inputs:
        lo, hi = t.min_int, t.max_int
        fixed = np.array([lo, hi, 0, (lo + hi) // 2, lo, hi])
        out.append(np.concatenate([fixed, rng.integers(lo, hi, n, endpoint=True)]).reshape(-1, 1))
    return out


def test_add3_computes_the_signed_sum_and_its_exact_range() -> None:
    rng = random.Random(5)
    for case in range(60):
        net = Netlist()
        terms = _random_terms(net, rng, 3)
        if sum(neg for _, neg in terms) == 3:
            terms[case % 3] = (terms[case % 3][0], False)
        out = net.add3(terms)
        net.add_output("y", [out], _type_for(out.lo, out.hi, out.frac))
        xs = _values(net, 200, np.random.default_rng(case))
        got = simulate(net, xs)[0][:, 0]
        frac = out.frac
        want = sum((-1 if neg else 1) * x[:, 0].astype(object) * 2 ** (frac - s.frac) for (s, neg), x in zip(terms, xs))
        assert [int(v) for v in got] == [int(v) for v in want]
        assert out.lo <= min(want) and max(want) <= out.hi
        corners = [  # every corner of the operands' ranges is reachable: the range is exact
            sum((-1 if neg else 1) * v * 2 ** (frac - s.frac) for (s, neg), v in zip(terms, pick))
            for pick in itertools.product(*[(s.lo, s.hi) for s, _ in terms])
        ]
        assert (out.lo, out.hi) == (min(corners), max(corners))


def test_add3_refuses_three_negated_operands_and_folds_constants() -> None:
    net = Netlist()
    terms = _random_terms(net, random.Random(1), 3)
    with pytest.raises(ValueError, match="at most two operands may be negated"):
        net.add3([(s, True) for s, _ in terms])
    s = net.add3([(terms[0][0], False), (net.const(3), False), (terms[1][0], True)])
    assert net.producer(s).kind == "add"  # a constant operand: plain adders, no ternary one


def test_add3_is_shared_whatever_the_operand_order() -> None:
    net = Netlist()
    (a, _), (b, _), (c, _) = _random_terms(net, random.Random(2), 3)
    assert net.add3([(a, False), (b, True), (c, False)]) is net.add3([(c, False), (a, False), (b, True)])


def test_pass_through_bits() -> None:
    assert add3_pass_through((0, 3, 5, False, True, False)) == 3  # unshifted operand added: its 3 low bits
    assert add3_pass_through((2, 0, 2, False, False, True)) == 2
    assert add3_pass_through((0, 3, 5, True, False, False)) == 0  # subtracted: complemented, no pass-through
    assert add3_pass_through((0, 0, 4, False, False, False)) == 0  # two unshifted operands


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7, 10, 16])
def test_ternary_sum_is_exact_with_fewer_adders(n: int) -> None:
    rng = random.Random(n)
    for trial in range(8):
        net = Netlist()
        terms = _random_terms(net, rng, n)
        ternary = signed_sum(net, terms, adders="ternary")
        binary = signed_sum(net, terms, adders="binary")
        for s in (ternary, binary):
            net.add_output("y", [s], _type_for(s.lo, s.hi, s.frac))
        xs = _values(net, 100, np.random.default_rng(trial))
        got_t, got_b = simulate(net, xs)
        assert np.array_equal(got_t * 2 ** (binary.frac - ternary.frac), got_b) or np.array_equal(
            got_t, got_b * 2 ** (ternary.frac - binary.frac)
        )
        adders = [op.kind for op in net.live([ternary]) if op.kind in ("add", "add3")]
        assert len(adders) <= n // 2, adders  # n - 1 two-input adders become about n / 2
        if n > 3:  # a negation at the root may remain, but never more adders than the binary tree has
            binary_ops = [op for op in net.live([binary]) if op.kind in ("add", "neg")]
            assert len([op for op in net.live([ternary]) if op.kind in ("add", "add3", "neg")]) <= len(binary_ops)
        assert all(sum(op.param[3:]) <= 2 for op in net.live([ternary]) if op.kind == "add3")


def test_binary_is_the_default_and_the_setting_is_validated() -> None:
    config = load_config({"Model": {"Adders": "ternary"}, "LayerName": {"fc1": {"Adders": "binary"}}})
    assert config.layer("fc1", "QDense").adders == "binary"
    assert config.layer("fc2", "QDense").adders == "ternary"
    assert load_config({}).layer("fc1", "QDense").adders == "binary"
    assert "Adders" not in load_config({}).to_dict()["Model"]  # configs from before the key read the same
    with pytest.raises(ConfigError, match=r"Model\.Adders: 'quaternary' is invalid: expected one of binary, ternary"):
        load_config({"Model": {"Adders": "quaternary"}})


# ---------------------------------------------------------------- random models, netlist level
@pytest.mark.parametrize("seed", [0, 2, 4, 8, 9, 11])
def test_random_models_are_bit_exact_with_ternary_adders(seed: int) -> None:
    design, x = random_design(seed)
    for options in ({}, {"pipeline_every": 2}, {"reuse_factor": 2, "pipeline_every": 1}):
        variant = with_options(design, adders="ternary", **options)
        p = build(variant)
        assert mismatches(variant, x, p) == [], (seed, options)
    assert any(op.kind == "add3" for op in build(with_options(design, adders="ternary")).net.live())


# ---------------------------------------------------------------- the Verilog spellings
def _project(tmp_path: Path, seed: int = 11, **options) -> tuple[Path, dict]:
    design, _ = random_design(seed)
    root = tmp_path / f"prj{seed}"
    with_options(design, adders="ternary", **options).write_rtl(root, samples=8)
    return root, json.loads((root / "fpgaq_rtl.json").read_text())


def test_project_lists_a_spelling_per_tool_and_lints_clean(tmp_path: Path) -> None:
    root, m = _project(tmp_path)
    adder = f"rtl/{adder_module_name(m['top'])}.v"
    assert m["files"][0] == adder and (root / "filelist.f").read_text().splitlines() == m["files"]
    assert project_sources(m, "generic-lut4") == m["files"]
    for family in ("xc7", "xcup"):
        assert project_sources(m, family) == [f"rtl/{family}/{Path(adder).name}", *m["files"][1:]]
    sim = project_sources(m)
    assert sim[: len(XILINX_CELLS)] == [f"sim/xilinx/{cell}.v" for cell in XILINX_CELLS]
    assert sim[len(XILINX_CELLS) :] == project_sources(m, "xc7")
    assert not any(f.startswith("sim/") for f in project_sources(m, "xc7") + project_sources(m, "xcup"))
    cells = sim[: len(XILINX_CELLS)]
    for files in (m["files"], sim, [*cells, *project_sources(m, "xcup")]):
        assert lint([root / f for f in files], m["top"]) == [], files


def test_binary_projects_have_no_adder_module(tmp_path: Path) -> None:
    design, _ = random_design(11)
    root = tmp_path / "binary"
    design.write_rtl(root, samples=0)
    m = json.loads((root / "fpgaq_rtl.json").read_text())
    assert "device_files" not in m and "simulation_files" not in m
    assert not (root / "sim").exists() and not any("add3" in f for f in m["files"])


def test_bulk_model_of_the_xilinx_spelling_is_bit_exact() -> None:
    """predict_rtl compiles the xc7 spelling with fpgaq's primitive models (simulation_files)."""
    design, x = random_design(9)
    variant = with_options(design, adders="ternary", pipeline_every=1)
    assert sum(op.kind == "add3" for op in build(variant).net.live()) >= 10
    assert np.array_equal(np.asarray(variant.predict_rtl(x, optimize=False)), np.asarray(variant.predict(x)))


# ---------------------------------------------------------------- against Yosys' own cell models
_REFERENCE = """
module ref_add3 #(parameter integer W = 8, NA = 0, NB = 0, NC = 0) (
    input wire [W-1:0] a, input wire [W-1:0] b, input wire [W-1:0] c, output wire [W-1:0] s);
    assign s = (NA ? ~a + 1'b1 : a) + (NB ? ~b + 1'b1 : b) + (NC ? ~c + 1'b1 : c);
endmodule
"""


def _yosys(script: str, cwd: Path) -> subprocess.CompletedProcess:
    (cwd / "run.ys").write_text(script)
    return subprocess.run([YOSYS, "run.ys"], cwd=cwd, capture_output=True, text=True, timeout=600)


def _cases() -> list[tuple[int, int, int, int]]:
    signs = [(0, 0, 0), (1, 0, 0), (0, 1, 1), (1, 0, 1)]
    return [(w, *ns) for w in (1, 3, 4, 5, 8, 9, 13) for ns in signs]


def _equivalence_script(family: str, models: str, cases: list[tuple[int, int, int, int]]) -> str:
    lines = [f"read_verilog {models}", f"read_verilog add3_{family}.v", "read_verilog ref.v", "design -save base"]
    for w, na, nb, nc in cases:
        params = f"-set W {w} -set NA {na} -set NB {nb} -set NC {nc}"
        lines += [
            "design -load base",
            f"chparam {params} {adder_module_name('t')} ref_add3",
            f"hierarchy -top {adder_module_name('t')}",
            "hierarchy -check",
            "proc",
            "flatten",
            f"rename {adder_module_name('t')} impl",
            "design -stash impl",
            "design -load base",
            f"chparam {params} ref_add3",
            "hierarchy -top ref_add3",
            "proc",
            "rename ref_add3 gold",
            "design -copy-from impl -as impl impl",
            "miter -equiv -flatten -make_assert gold impl miter",
            "hierarchy -top miter",
            "sat -verify -prove-asserts miter",
            f"log fpgaq-case {w} {na} {nb} {nc} proved",
        ]
    return "\n".join(lines) + "\n"


@needs_yosys
@pytest.mark.parametrize("models", ["yosys", "fpgaq"])
@pytest.mark.parametrize("family", ["xc7", "xcup"])
def test_xilinx_adder_module_equals_the_sum(tmp_path: Path, family: str, models: str) -> None:
    (tmp_path / f"add3_{family}.v").write_text(adder_module("t", family))
    (tmp_path / "ref.v").write_text(_REFERENCE)
    if models == "yosys":
        library = "+/xilinx/cells_sim.v"
    else:
        for cell, text in xilinx_cell_models().items():
            (tmp_path / f"{cell}.v").write_text(text)
        library = " ".join(f"{cell}.v" for cell in XILINX_CELLS)
    cases = _cases()
    run = _yosys(_equivalence_script(family, library, cases), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-3000:]
    assert run.stdout.count("fpgaq-case") == len(cases)


@needs_yosys
def test_a_wrong_adder_fails_the_proof(tmp_path: Path) -> None:
    """The proof can fail: the carry chain's +1 for a second negated operand dropped."""
    text = adder_module("t", "xc7").replace("localparam [0:0] CIN = NEGATED >= 2;", "localparam [0:0] CIN = 1'b0;")
    (tmp_path / "add3_xc7.v").write_text(text)
    (tmp_path / "ref.v").write_text(_REFERENCE)
    run = _yosys(_equivalence_script("xc7", "+/xilinx/cells_sim.v", [(5, 0, 1, 1)]), tmp_path)
    assert run.returncode != 0 and "proof did fail" in (run.stdout + run.stderr)


@needs_yosys
def test_fpgaq_cell_models_equal_yosys_cell_models(tmp_path: Path) -> None:
    """Each model against Yosys' own, on every input (LUT6_2 for random INITs, CARRY8 in both modes)."""
    for cell, text in xilinx_cell_models().items():
        (tmp_path / f"{cell}.v").write_text(text.replace(f"module {cell} ", f"module fpgaq_{cell} "))
    rng = random.Random(7)
    params = [("LUT6_2", f"-set INIT 64'h{rng.getrandbits(64):016x}") for _ in range(4)]
    params += [("CARRY4", ""), ("CARRY8", '-set CARRY_TYPE "SINGLE_CY8"'), ("CARRY8", '-set CARRY_TYPE "DUAL_CY4"')]
    lines = ["read_verilog +/xilinx/cells_sim.v"] + [f"read_verilog {cell}.v" for cell in XILINX_CELLS]
    lines.append("design -save base")
    for cell, p in params:
        set_params = f"chparam {p} {cell} fpgaq_{cell}" if p else ""
        lines += [
            "design -load base",
            set_params,
            f"hierarchy -top {cell}",
            "proc",
            f"rename {cell} gold",
            "design -stash gold",
            "design -load base",
            set_params.replace(f" {cell} ", " "),
            f"hierarchy -top fpgaq_{cell}",
            "proc",
            f"rename fpgaq_{cell} impl",
            "design -copy-from gold -as gold gold",
            "miter -equiv -flatten -make_assert gold impl miter",
            "hierarchy -top miter",
            "sat -verify -prove-asserts miter",
            f"log fpgaq-cell {cell} proved",
        ]
    run = _yosys("\n".join(lines) + "\n", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-3000:]
    assert run.stdout.count("fpgaq-cell") == len(params)


# ---------------------------------------------------------------- what the estimate counts
@pytest.mark.parametrize("seed", [8, 9, 11])
def test_features_count_the_ternary_adders_the_rtl_builds(seed: int) -> None:
    """Latency as built, and the ternary adders' bits are their own feature (one LUT per bit on Xilinx),
    part of the add bits, in the share the RTL has; the estimate falls with them where no DSP takes products."""
    design, _ = random_design(seed)
    for options in ({"pipeline_every": 0}, {"pipeline_every": 2}, {"pipeline_every": 1, "reuse_factor": 2}):
        binary = with_options(design, **options)
        ternary = with_options(design, adders="ternary", **options)
        features.clear_cache()
        nfs, latency, _ = features.graph_features(ternary.graph)
        p = build_rtl(ternary)
        assert latency == p.latency, options
        real = features.op_features(p.net.live())
        counted = {k: sum(nf.features[k] for nf in nfs) for k in ("add_bits", "add3_bits", "adders")}
        assert real["add3_bits"] > 0 and counted["add3_bits"] > 0
        share = counted["add3_bits"] / counted["add_bits"]
        assert share == pytest.approx(real["add3_bits"] / real["add_bits"], rel=0.1), options
        binary_adders = sum(nf.features["adders"] for nf in features.graph_features(binary.graph)[0])
        assert counted["adders"] < binary_adders
        flat, three = estimate(binary), estimate(ternary)
        # with products in DSPs the estimate may rise: a DSP's post-adder absorbs a two-operand adder
        # after its product (dsp_add_bits, nearly free), never a three-operand one
        if flat.total.dsp == 0:
            assert three.total.lut < flat.total.lut, options


# ---------------------------------------------------------------- synthesis and co-simulation
def _synthesized_bits(tmp_path: Path, seed: int, device: str) -> tuple[int, object]:
    root, m = _project(tmp_path, seed=seed)
    p = build(with_options(random_design(seed)[0], adders="ternary"))
    bits = sum(op.out.width - add3_pass_through(op.param) for op in p.net.live() if op.kind == "add3")
    return bits, synthesize([root / f for f in project_sources(m, device)], m["top"], device=device, dsp=False)


@needs_yosys
def test_yosys_keeps_one_lut6_2_per_ternary_adder_bit(tmp_path: Path) -> None:
    """synth_xilinx keeps the instantiated LUT6_2 and CARRY4 cells: one LUT6_2 per spelled bit, counted as a LUT6."""
    bits, result = _synthesized_bits(tmp_path, 11, "xc7")
    assert result.cells.get("LUT6_2", 0) == bits > 0
    assert result.cells.get("CARRY4", 0) > 0 and result.lut_sizes["LUT6"] >= bits


@needs_yosys
@pytest.mark.slow
@pytest.mark.parametrize(("device", "cell"), [("xcup", "CARRY8"), ("generic-lut4", None)])
def test_other_spellings_synthesize(tmp_path: Path, device: str, cell: str | None) -> None:
    bits, result = _synthesized_bits(tmp_path, 9, device)
    assert result.luts > 0
    if cell is not None:
        assert result.cells.get("LUT6_2", 0) == bits and result.cells.get(cell, 0) > 0


@pytest.mark.slow
def test_cocotb_cosimulation_of_the_xilinx_spelling(tmp_path: Path) -> None:
    design, x = random_design(11)
    cosim_exact(with_options(design, adders="ternary", pipeline_every=1), x[:100], tmp_path / "cosim")


@needs_yosys
def test_synthesized_depth_follows_the_lut_pins_a_ternary_adder_really_reads(tmp_path: Path) -> None:
    """A LUT6_2's O5 (its bit's majority) does not read the previous bit's majority on I3: a ternary adder is
    two LUT levels, not a ripple through all its LUTs, in the logic depth and in the critical path; and
    fpgaq synth reads the xc7 spelling a project's manifest names."""
    from fpgaq.sim.synth import synthesize_project

    root, _ = _project(tmp_path, seed=11)
    result, _ = synthesize_project(root, device="xc7", dsp=False)
    assert result.cells.get("LUT6_2", 0) > 0
    widest = max(op.out.width for op in build(with_options(random_design(11)[0], adders="ternary")).net.live())
    assert result.logic_depth is not None and result.logic_depth < widest  # a ripple would count one LUT per bit
    assert result.timing is not None and result.timing["lut_levels"] <= result.logic_depth


def test_the_sweeps_option_setter_takes_adders() -> None:
    from fpgaq.ir.passes.requantize import with_options as set_options

    design, _ = random_design(2)
    graph = set_options(design.graph, adders="ternary")
    assert {n.options.get("adders") for n in graph.nodes if n.op != "input"} == {"ternary"}
    assert all(n.options.get("adders") != "ternary" for n in design.graph.nodes)  # the original is left as it was
    with pytest.raises(ValueError, match="adders must be one of binary, ternary"):
        set_options(design.graph, adders="quaternary")
