"""Verilog spelling: lint-clean output, exact widths, low-bit pass-through, module structure, the top's ports."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from _rtl_testing import build, convert, digits_design, jet_design, lint_design, random_design, with_options

import fpgaq
from fpgaq.layers import QActivation, QDense
from fpgaq.rtl.verilog import emit_verilog, verilog_identifier


def _dense(weights: list[list[int]], name: str = "hand") -> fpgaq.Design:
    inp = keras.Input((len(weights),), name="x")
    x = QActivation("quantized_bits(4,3,alpha=1)", name="in_q")(inp)
    layer = QDense(len(weights[0]), use_bias=False, kernel_quantizer="quantized_bits(5,4,alpha=1)", name="d")
    y = layer(x)
    layer.kernel.assign(np.array(weights, dtype=np.float32))
    return convert(keras.Model(inp, y, name=name))


@pytest.mark.parametrize(
    ("name", "ident"),
    [("jet_tagger", "jet_tagger"), ("my-model.v2", "my_model_v2"), ("3layers", "n_3layers"), ("output", "output_")],
)
def test_verilog_identifier(name: str, ident: str) -> None:
    assert verilog_identifier(name) == ident


def test_shifted_operand_low_bits_pass_through_and_widths_are_exact() -> None:
    """x0 + 4*x1 with x in [-8, 7]: the sum spans [-40, 35] (7 bits); x0's two low bits are wired through."""
    p = build(_dense([[1], [4]]))
    files = emit_verilog(p, "t")
    text = files["rtl/t_d.v"]
    (line,) = [ln for ln in text.splitlines() if re.search(r"wire \[6:0\] s\d+ = \{", ln)]
    assert re.search(r"= \{\{.*\} \+ \{.*\}, s\d+\[1:0\]\};$", line), line  # high part added, low bits passed
    assert "in_data[3:0]" in files["rtl/t.v"] and "in_data[7:4]" in files["rtl/t.v"]


def test_top_level_ports_and_handshake() -> None:
    design = with_options(_dense([[1, 2], [3, -4]]), reuse_factor=2)
    p = build(design)
    files = emit_verilog(p, "t")
    assert list(files) == ["rtl/t_d.v", "rtl/t.v"]  # layer modules first, the top last
    top = files["rtl/t.v"]
    ports = re.findall(r"^\s+(input|output) wire (\[\d+:0\] )?(\w+)", top, re.M)
    assert [(d, w.strip(), n) for d, w, n in ports] == [
        ("input", "", "clk"),
        ("input", "", "rst"),
        ("input", "", "in_valid"),
        ("output", "", "in_ready"),
        ("input", "[7:0]", "in_data"),  # two 4-bit elements
        ("output", "", "out_valid"),
        ("input", "", "out_ready"),
        ("output", "[13:0]", "out_data"),  # two 7-bit outputs: x0 + 3 x1 in [-32, 28], 2 x0 - 4 x1 in [-44, 46]
    ]
    (ready,) = [ln for ln in top.splitlines() if "assign in_ready" in ln]
    assert "in_valid" not in ready and "vq[1:1]" in ready  # II 2: no accept in the cycle after one
    assert re.search(r"if \(rst\)\s+vq <= \d+'d0;", top)
    assert "module t_d (" in files["rtl/t_d.v"] and "t_d u_d (" in top


def test_every_module_name_carries_the_top_prefix() -> None:
    files = emit_verilog(build(jet_design()), "jet")
    for path, text in files.items():
        (module,) = re.findall(r"^module (\w+)", text, re.M)
        assert Path(path).stem == module and (module == "jet" or module.startswith("jet_"))
    assert "rtl/jet_output_.v" in files  # 'output' is a Verilog keyword


@pytest.mark.parametrize(
    "options",
    [
        {"pipeline_every": 0},
        {"pipeline_every": 1, "multiplier": "dsp"},
        {"reuse_factor": 3, "pipeline_every": 2},
        {"reuse_factor": 2, "multiplier": "lut"},
    ],
)
def test_small_designs_lint_clean(options: dict, tmp_path: Path) -> None:
    design = with_options(_dense([[1, -3, 0], [5, 8, 2], [0, -1, 7], [6, 6, -6]]), **options)
    assert lint_design(design, tmp_path) == []


@pytest.mark.parametrize(("seed", "learned"), [(0, False), (1, False), (2, False), (3, False), (4, True), (5, True)])
def test_random_models_lint_clean(seed: int, learned: bool, tmp_path: Path) -> None:
    design, _ = random_design(seed, learned)
    assert lint_design(with_options(design, reuse_factor=2, pipeline_every=2), tmp_path) == []


def test_jet_tagger_lints_clean(tmp_path: Path) -> None:
    assert lint_design(jet_design(), tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("options", [{"pipeline_every": 1}, {"pipeline_every": 3, "reuse_factor": 4}])
def test_zoo_designs_lint_clean(options: dict, tmp_path: Path) -> None:
    assert lint_design(with_options(jet_design(), **options), tmp_path / "jet") == []
    assert lint_design(with_options(digits_design(), **options), tmp_path / "digits") == []


def _hls_op_models():
    """The HLS tests' models that between them use every op (tests/hls/_hls_testing.py)."""
    path = Path(__file__).resolve().parent.parent / "hls" / "_hls_testing.py"
    if "_hls_testing" not in sys.modules:
        spec = importlib.util.spec_from_file_location("_hls_testing", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["_hls_testing"] = module
        spec.loader.exec_module(module)
    return sys.modules["_hls_testing"].op_models()


@pytest.mark.slow
def test_every_op_lints_clean(tmp_path: Path) -> None:
    for i, (model, config) in enumerate(_hls_op_models()):
        design = convert(model, config)
        for options in ({"pipeline_every": 0}, {"pipeline_every": 2, "reuse_factor": 2}):
            assert lint_design(with_options(design, **options), tmp_path / f"{i}_{len(options)}") == []
