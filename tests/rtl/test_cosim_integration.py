"""Generated RTL in Verilator, driven by the cocotb bench: bit for bit against the reference.

Every run drives random idle cycles on ``in_valid`` and random back-pressure
on ``out_ready`` and measures latency and II on a back-to-back burst; a run
passes only when every output word equals ``design.predict_int``, the
AXI-Stream rules hold and the measured latency and II equal the manifest's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _rtl_testing import digits_design, inputs_for, jet_design, random_design, with_options

from fpgaq.sim.cosim import design_cosim


def _run(design, x, tmp_path: Path, **kw):
    project = tmp_path / "prj"
    result = design_cosim(design, x, directory=project, idle=0.25, backpressure=0.3, **kw)
    manifest = json.loads((project / "fpgaq_rtl.json").read_text())
    assert result.passed, result.report()
    assert result.mismatch_count == 0 and not result.protocol_errors and not result.timing_errors
    assert result.measured_latency == manifest["latency"] == result.reported_latency
    assert result.measured_ii == manifest["ii"]
    assert result.stall_cycles > 0 and result.idle_cycles > 0  # back-pressure and idle really happened
    return result, manifest


def test_jet_tagger_10000_samples(tmp_path: Path) -> None:
    design = jet_design()
    x = inputs_for(design, 10_000, seed=11)[0]
    result, manifest = _run(design, x, tmp_path)
    assert result.n_samples == 10_000
    assert manifest["ii"] == 1


def test_jet_tagger_pipelined_and_folded(tmp_path: Path) -> None:
    design = with_options(jet_design(), pipeline_every=2, reuse_factor=2)
    x = inputs_for(design, 600, seed=12)[0]
    _, manifest = _run(design, x, tmp_path)
    assert manifest["ii"] == 2
    assert manifest["latency"] > 6  # registers every 2 adder levels lengthen the pipeline


def test_digits_cnn(tmp_path: Path) -> None:
    design = digits_design()
    x = inputs_for(design, 800, seed=13)[0]
    _run(design, x, tmp_path)


OPTIONS = [
    {"pipeline_every": 0},
    {"pipeline_every": 1, "multiplier": "dsp"},
    {"pipeline_every": 3, "reuse_factor": 3},
    {"pipeline_every": 0, "reuse_factor": 2, "multiplier": "lut"},
]


@pytest.mark.parametrize(
    ("seed", "learned"),
    [(s, False) for s in range(20)] + [(s, True) for s in (1, 2)],  # learned: per-element quantize nodes
    ids=[str(s) for s in range(20)] + ["learned-1", "learned-2"],
)
def test_random_models(seed: int, learned: bool, tmp_path: Path) -> None:
    design, x = random_design(seed, learned)
    design = with_options(design, **OPTIONS[seed % len(OPTIONS)])
    x = np.asarray(x)[:300]
    _run(design, x, tmp_path)
