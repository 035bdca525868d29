"""Silent Yosys failures are never reported as numbers; an ABC9 run that dies is redone with classic ABC.

``fixtures_synth/fake_yosys.py`` plays a Yosys whose synth_xilinx only knows ABC9 and which, like the
WebAssembly build was seen to do on this machine, stops inside ABC9 with exit code 0; the rerun with the
classic mapping goes to the native Yosys.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from fpgaq.sim import synth
from fpgaq.sim.synth import SynthIncomplete, SynthTimeout, synthesize

FIXTURES = Path(__file__).parent / "fixtures_synth"
ADDER = FIXTURES / "fx_adder16.v"


@pytest.fixture
def fake(monkeypatch) -> synth.Yosys:
    try:
        real = synth.find_yosys("native")
    except synth.YosysNotFound:
        pytest.skip("needs a native yosys (apt-get install yosys)")
    monkeypatch.setenv("FAKE_YOSYS_REAL", real.command[0])
    return synth.Yosys((sys.executable, str(FIXTURES / "fake_yosys.py")), "env", "Yosys 0.99 (fake)")


def test_abc9_that_stops_silently_is_redone_with_abc(fake, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FAKE_YOSYS_MODE", "abc9-dies")
    r = synthesize([ADDER], "fx_adder16", workdir=tmp_path, yosys=fake)
    assert (r.ffs, r.carry) == (16, 4) and 15 <= r.luts <= 17  # the adder's counts (see test_synth.py)
    assert r.lut_mapper == "abc"
    assert "-run :map_luts\n" in r.script and "abc -luts 2:2,3,6:5,10,20\n" in r.script and "-run finalize:" in r.script
    assert len(r.notes) == 1
    assert r.notes[0].startswith("Yosys 0.99 stopped in synth_xilinx's ABC9 flow without an error")
    assert r.notes[0].endswith("these counts come from a rerun with the classic 'abc' LUT mapping")
    assert "note: Yosys 0.99 stopped" in r.table()


def test_explicit_abc9_is_not_second_guessed(fake, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FAKE_YOSYS_MODE", "abc9-dies")
    with pytest.raises(SynthIncomplete, match="exited with 0 but stopped early") as info:
        synthesize([ADDER], "fx_adder16", workdir=tmp_path, yosys=fake, abc9=True)
    assert "Executing ABC9." in str(info.value)  # the log's last lines
    assert info.value.log_path == str(tmp_path.resolve() / "yosys.log")


def test_a_stale_netlist_never_passes_for_a_new_one(fake, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FAKE_YOSYS_MODE", "abc9-dies")
    synthesize([ADDER], "fx_adder16", device="lut6", workdir=tmp_path, yosys=fake)  # leaves netlist.json, stat.json
    assert (tmp_path / "netlist.json").exists()
    monkeypatch.setenv("FAKE_YOSYS_MODE", "always-dies")
    with pytest.raises(SynthIncomplete, match="stopped early"):
        synthesize([ADDER], "fx_adder16", device="lut6", workdir=tmp_path, yosys=fake)
    assert not (tmp_path / "netlist.json").exists()


def test_generic_runs_are_not_retried(fake, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FAKE_YOSYS_MODE", "always-dies")
    with pytest.raises(SynthIncomplete, match=r"Yosys \(Yosys 0.99 \(fake\)\) exited with 0 but stopped early"):
        synthesize([ADDER], "fx_adder16", device="lut6", workdir=tmp_path, yosys=fake)


def test_timeout_stops_yosys(fake, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FAKE_YOSYS_MODE", "hang")
    start = time.monotonic()
    with pytest.raises(SynthTimeout, match=r"did not finish 'fx_adder16' for generic-lut6 within 1\.0 s"):
        synthesize([ADDER], "fx_adder16", device="lut6", workdir=tmp_path, yosys=fake, timeout=1.0)
    assert time.monotonic() - start < 10
