"""Constant multiplication with and without DSP cells (native Yosys).

x * 733 with a 12-bit x needs a 12 x 11 signed product: well within one DSP48 (25 x 18 / 27 x 18), so with
DSPs allowed it is exactly one DSP and no fabric logic (its output register may go into the DSP's P
register or stay in 23 FDREs, depending on the Yosys version).  With -nodsp the 23 product bits are
registered in 23 FDREs and the shift-add network needs LUTs and carry chains.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fpgaq.sim import synth
from fpgaq.sim.synth import synthesize

FIXTURES = Path(__file__).parent / "fixtures_synth"


@pytest.fixture(scope="module")
def yosys() -> synth.Yosys:
    try:
        return synth.find_yosys("native")
    except synth.YosysNotFound:
        pytest.skip("needs a native yosys (apt-get install yosys)")


@pytest.mark.parametrize(("device", "cell"), [("xc7", "DSP48E1"), ("xcup", "DSP48E2")])
def test_constant_multiplier_in_one_dsp(yosys, device: str, cell: str) -> None:
    r = synthesize([FIXTURES / "fx_cmul.v"], "fx_cmul", device=device, yosys=yosys)
    assert r.dsp == 1 and r.cells[cell] == 1 and r.use_dsp
    assert r.luts == 0 and r.carry == 0
    assert r.ffs in (0, 23)


def test_constant_multiplier_without_dsp(yosys, tmp_path) -> None:
    r = synthesize([FIXTURES / "fx_cmul.v"], "fx_cmul", dsp=False, workdir=tmp_path, yosys=yosys)
    assert " -nodsp" in r.script and not r.use_dsp
    assert r.dsp == 0 and not any(k.startswith("DSP") for k in r.cells)
    assert r.ffs == 23
    assert r.luts > 23 and r.carry >= 1
    assert r.logic_depth is not None and r.logic_depth >= 2  # 12 inputs reach the top bits: more than one 6-LUT
