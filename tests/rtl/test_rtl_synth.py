"""Generated RTL synthesizes with Yosys' synth_xilinx: no errors, a complete mapped netlist.

The jet tagger takes minutes on two cores, so it is marked slow (run with
``-m slow``); a random conv model with every kind of layer runs by default.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _rtl_testing import jet_design, random_design, with_options

from fpgaq.sim.synth import synthesize_project


def _synth(design, tmp_path: Path, **kw):
    project = tmp_path / "prj"
    design.write_rtl(project)
    result, report = synthesize_project(project, device="xc7", dsp=False, **kw)
    assert report.exists()
    assert result.luts > 0 and result.ffs > 0
    assert result.dsp == 0  # dsp=False: every multiplication in LUTs and carry chains
    assert result.logic_depth is not None and result.logic_depth > 0
    return result


def test_random_cnn_synthesizes(tmp_path: Path) -> None:
    design, _ = random_design(3)
    assert any(n.op.startswith("conv") for n in design.graph.nodes)
    _synth(with_options(design, pipeline_every=2), tmp_path)


@pytest.mark.slow
def test_jet_tagger_synthesizes(tmp_path: Path) -> None:
    result = _synth(jet_design(), tmp_path, timeout=3600)
    # the naive one-multiplier-per-weight RTL needs ~141,604 LUTs on this flow
    assert result.luts < 141_604
    print(result.table())
