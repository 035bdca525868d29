"""The ``projects/`` examples run end to end in ``--quick`` mode and prove what they claim.

Each script runs as a user would run it (a subprocess with this interpreter), so an import that only
works inside the repository, a step that prints but does not check, or a summary that lies would fail
here. The numbers asserted are the examples' own claims: bit-exact C-simulation and co-simulation, the
reported latency measured, estimate and synthesis counts present, and the sweep's files written.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = ROOT / "projects"


def _run(project: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, str(PROJECTS / project / "run.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _check_summary(out: Path, project: str) -> dict[str, Any]:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["project"] == project
    assert summary["mode"] == "quick"
    # 2: a trained model whose reference agrees with Keras on (nearly) every test sample.
    training = summary["training"]
    assert 0.0 < training["reference_accuracy"] <= 1.0
    assert training["same_class_fraction"] > 0.98
    assert (out / "model.keras").is_file()
    # 3: C-simulation bit for bit.
    assert summary["csim"]["samples"] > 0
    assert summary["csim"]["mismatches"] == 0
    assert summary["csim"]["bit_exact"] is True
    assert (out / "hls_project").is_dir()
    # 4: co-simulation bit for bit, protocol clean, latency and II as the project reports them.
    cosim = summary["cosim"]
    assert cosim["samples"] == summary["csim"]["samples"]
    assert cosim["mismatches"] == 0
    assert cosim["passed"] is True
    assert cosim["protocol_errors"] == [] and cosim["timing_errors"] == []
    assert cosim["latency_measured"] == cosim["latency_reported"] > 0
    assert cosim["ii_measured"] == cosim["ii_reported"] >= 1
    manifest = json.loads((out / "rtl_project" / "fpgaq_rtl.json").read_text())
    assert manifest["latency"] == cosim["latency_reported"]
    # 5: estimate and synthesis side by side, both real numbers.
    compare = summary["estimate_vs_synth"]
    for key in ("lut", "ff"):
        assert compare[key]["estimate"] > 0 and compare[key]["synth"] > 0
        expected = round(100.0 * (compare[key]["estimate"] - compare[key]["synth"]) / compare[key]["synth"], 1)
        assert compare[key]["error_pct"] == expected
    assert summary["synth"]["luts"] == compare["lut"]["synth"]
    assert summary["estimate"]["total"]["lut"] == compare["lut"]["estimate"]
    synth_reports = list((out / "rtl_project" / "synth").glob("*.json"))
    assert len(synth_reports) == 1
    assert json.loads(synth_reports[0].read_text())["luts"] == summary["synth"]["luts"]
    assert summary["estimate_latency"]["cycles"] > 0
    assert (out / "estimate.txt").read_text().strip()
    # 6: the sweep's files, consistent with the counts in the summary.
    sweep = summary["sweep"]
    assert sweep["points"] > 1 and 1 <= sweep["pareto"] <= sweep["survivors"] <= sweep["points"]
    files = [out / f for f in sweep["files"]]
    assert {f.suffix for f in files} >= {".csv", ".json", ".png"}
    assert all(f.is_file() and f.stat().st_size > 0 for f in files)
    (table,) = [f for f in files if f.suffix == ".csv"]
    with table.open() as fh:
        assert len(list(csv.DictReader(fh))) == sweep["points"]
    (points,) = [f for f in files if f.name == "sweep.json"]
    assert json.loads(points.read_text())["counts"]["pareto"] == sweep["pareto"]
    assert set(summary["seconds"]) == {"data", "train", "csim", "cosim", "estimate", "sweep"}
    return summary


@pytest.mark.parametrize("project", ["jet_tagger", "digits_cnn"])
def test_quick_run(project: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    start = time.perf_counter()
    result = _run(project, "--quick", "--out", str(out), cwd=tmp_path)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, f"{project}/run.py failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("[")]
    assert [ln[:5] for ln in lines] == [f"[{i}/6]" for i in range(1, 7)], result.stdout
    assert all(ln.rstrip().endswith(" s)") for ln in lines), lines
    assert str(out.resolve()) in result.stdout
    _check_summary(out, project)
    print(f"{project} --quick: {elapsed:.0f} s")


@pytest.mark.parametrize("project", ["jet_tagger", "digits_cnn"])
def test_refuses_non_empty_out(project: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = _run(project, "--quick", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2
    assert "--force" in result.stderr and str(out) in result.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("project", ["jet_tagger", "digits_cnn"])
def test_sweep_grid_is_valid(project: str) -> None:
    """The shipped grid passes the sweep's validation, and --quick's cut of it keeps every axis."""
    import yaml

    from fpgaq.sweep import load_grid

    raw = yaml.safe_load((PROJECTS / project / "sweep.yaml").read_text())
    grid = load_grid(raw)
    assert len(grid) > 100  # the full run is a real sweep
    quick = {**raw, "grid": {k: list(v)[:2] for k, v in raw["grid"].items()}}
    assert 1 < len(load_grid(quick)) <= 2 ** len(raw["grid"])
