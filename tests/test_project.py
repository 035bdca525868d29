"""fpgaq project: a user's model through the whole flow into a reported project directory."""

from __future__ import annotations

import json

import keras
import numpy as np

from fpgaq.cli import main
from fpgaq.testing.random_models import build_model, random_inputs, random_spec


def test_project_command_verifies_costs_and_reports_a_model(tmp_path, capsys) -> None:
    keras.utils.set_random_seed(0)
    spec = random_spec(11)
    model = build_model(spec)
    model.save(tmp_path / "m.keras")
    x = random_inputs(spec, 40, seed=1)
    np.savez(tmp_path / "d.npz", x=x)
    out = tmp_path / "prj"
    assert (
        main(["project", str(tmp_path / "m.keras"), "-o", str(out), "--data", str(tmp_path / "d.npz"), "-n", "40"]) == 0
    )
    printed = capsys.readouterr().out
    assert "everything is in" in printed
    ver = json.loads((out / "verification.json").read_text())
    for check in ("keras", "csim", "cosim"):
        assert ver[check]["bit_exact"] is True and ver[check]["mismatches"] == 0, check
    assert ver["cosim"]["samples"] == 40
    est = json.loads((out / "estimate.json").read_text())
    synth = json.loads((out / "rtl" / "synth" / "xc7.json").read_text())
    assert est["total"]["latency_cycles"] == json.loads((out / "rtl" / "fpgaq_rtl.json").read_text())["latency"]
    assert abs(est["total"]["lut"] - synth["luts"]) <= 0.3 * synth["luts"] + 20
    html = (out / "report.html").read_text()
    for section in ("summary", "graph", "layers", "resources", "verification", "energy", "sweep"):
        assert f'id="{section}"' in html, section
    # an existing project is not overwritten without --force
    assert main(["project", str(tmp_path / "m.keras"), "-o", str(out), "--no-sweep"]) == 2
    assert "--force" in capsys.readouterr().err


def test_project_command_names_a_bad_data_file(tmp_path, capsys) -> None:
    keras.utils.set_random_seed(0)
    build_model(random_spec(11)).save(tmp_path / "m.keras")
    np.savez(tmp_path / "d.npz", inputs=np.zeros((2, 2)))
    assert (
        main(["project", str(tmp_path / "m.keras"), "-o", str(tmp_path / "p"), "--data", str(tmp_path / "d.npz")]) == 2
    )
    assert "has no array 'x'" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
