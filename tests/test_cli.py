"""The command line: the demo, qstats on a saved model, and honest stubs."""

from __future__ import annotations

import subprocess
import sys

from fpgaq import zoo
from fpgaq.cli import main

# The demo's full run (training, HLS, RTL, simulation, synthesis, report) is tested in tests/test_report.py.


def test_demo_refuses_a_non_empty_directory(tmp_path, capsys) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["demo", "--quick", "--epochs", "1", "-o", str(tmp_path)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_qstats_of_saved_model(tmp_path, capsys) -> None:
    path = tmp_path / "m.keras"
    zoo.digits_cnn().save(path)
    assert main(["qstats", str(path)]) == 0
    out = capsys.readouterr().out
    assert "conv2" in out and "smult_4_4" in out


def test_qstats_of_missing_file(tmp_path, capsys) -> None:
    assert main(["qstats", str(tmp_path / "nope.keras")]) == 2
    assert "cannot load" in capsys.readouterr().err


def test_entry_point_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "fpgaq", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("fpgaq ")


def test_summary_and_config_of_saved_model(tmp_path, capsys) -> None:
    path = tmp_path / "jet.keras"
    zoo.jet_tagger().save(path)
    cfg = tmp_path / "fpgaq.yaml"
    assert main(["config", str(path), "-o", str(cfg)]) == 0
    assert "LayerName:" in cfg.read_text()
    assert main(["config", str(path), "-o", str(cfg)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["summary", str(path), "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    fc1 = next(line for line in out.splitlines() if line.startswith("fc1"))
    assert "dense" in fc1 and "fixed<6,1>" in fc1  # the 6-bit weights' type
