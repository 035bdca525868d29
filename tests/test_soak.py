"""benchmarks/soak.py: random models agree bit for bit on the reference, Keras, C-simulation and RTL.

The CI suite runs a 20-model slice on two workers; the full 1000-model soak is
marked slow.  The planted-bug tests show the check itself can fail: a back end
(or the reference) that is one LSB off on a single element is reported with its
seed and makes the soak exit with 1.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import fpgaq
from fpgaq.errors import FpgaqError
from fpgaq.testing.random_models import SOAK_ACTIVATIONS, soak_spec, soak_variant

SOAK = Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"


@pytest.fixture(scope="module")
def soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soak_benchmark", SOAK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def _run(*args: str, timeout: float | None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SOAK), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _summary(soak: ModuleType, stdout: str) -> tuple[int, int, int, int]:
    found = soak.SUMMARY.findall(stdout)
    assert len(found) == 1, stdout[-2000:]
    return tuple(int(v) for v in found[0])


def test_a_20_model_slice_agrees_on_every_back_end(soak: ModuleType) -> None:
    # 84 s on the 2-core machine at a load of about 1.5 (most of it the 20 Verilator builds)
    run = _run("--models", "20", "--samples", "1000", "--workers", "2", timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert _summary(soak, run.stdout) == (20, 0, 0, 0)
    assert "models/hour with 2 worker(s)" in run.stdout


@pytest.mark.slow
def test_the_full_soak_of_1000_models_agrees_on_every_back_end(soak: ModuleType) -> None:
    run = _run("--models", "1000", "--samples", "1000", "--workers", "2", timeout=None)
    assert run.returncode == 0, run.stdout[-8000:]
    assert _summary(soak, run.stdout) == (1000, 0, 0, 0)


def _one_lsb_off(values: np.ndarray, design: fpgaq.Design) -> np.ndarray:
    lsb = design.graph.tensors[design.graph.outputs[0]].type.lsb_value
    wrong = np.array(values, dtype=np.float64, copy=True)
    wrong.reshape(-1)[3] += lsb  # a single element of a single sample
    return wrong


def test_a_reference_one_lsb_off_is_reported_with_its_seed(soak, monkeypatch, capsys) -> None:
    right = fpgaq.Design.predict
    monkeypatch.setattr(fpgaq.Design, "predict", lambda self, x: _one_lsb_off(right(self, x), self))
    assert soak.main(["--models", "1", "--start", "7", "--samples", "40", "--backends", "keras"]) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("MISMATCH"))
    assert line.startswith("MISMATCH seed 7 [")
    assert "keras != reference on output 0 at sample " in line and "(1 of " in line
    assert soak_spec(7).describe() in line
    assert _summary(soak, out) == (1, 1, 0, 0)


def test_a_c_simulation_one_lsb_off_is_reported(soak, monkeypatch, capsys) -> None:
    right = fpgaq.Design.predict_hls
    monkeypatch.setattr(fpgaq.Design, "predict_hls", lambda self, x, **kw: _one_lsb_off(right(self, x, **kw), self))
    assert soak.main(["--models", "1", "--start", "3", "--samples", "40", "--backends", "csim"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH seed 3 [" in out and "csim != reference on output 0" in out
    assert _summary(soak, out) == (1, 1, 0, 0)


def test_a_refused_model_is_counted_and_fails_the_soak(soak, monkeypatch, capsys) -> None:
    def refuse(model, config=None, passes=None):
        raise FpgaqError("layer 'l0': planted refusal")

    monkeypatch.setattr(fpgaq, "convert", refuse)
    assert soak.main(["--models", "2", "--samples", "8", "--backends", "keras"]) == 1
    out = capsys.readouterr().out
    assert out.count("REFUSED seed") == 2 and "planted refusal" in out
    assert _summary(soak, out) == (2, 0, 2, 0)


def test_first_difference_names_the_first_differing_sample_and_element(soak) -> None:
    want = np.zeros((4, 3))
    got = want.copy()
    got[2, 1] = 0.5
    got[3, 0] = -1.0
    assert soak.first_difference(want, want.copy()) is None
    text = soak.first_difference(want, got)
    assert text.startswith("sample 2 element (1,): ") and "(2 of 12 elements differ)" in text
    assert "shape" in soak.first_difference(want, got[:2])


def test_the_soak_draws_every_kind_family_and_variant() -> None:
    """What the soak claims to cover, it draws within its first 300 seeds; specs are reproducible."""
    specs = [soak_spec(seed) for seed in range(300)]
    kinds = {ls.kind for spec in specs for ls in spec.layers}
    assert {
        "dense",
        "conv1d",
        "conv2d",
        "depthwise2d",
        "separable1d",
        "separable2d",
        "batchnorm",
        "zeropad",
        "maxpool",
        "avgpool",
        "global_maxpool",
        "global_avgpool",
        "branch_add",
        "branch_concat",
        "act",
    } <= kinds
    text = " ".join(spec.describe() for spec in specs)
    assert all(SOAK_ACTIVATIONS[family](np.random.default_rng(0)).split("(")[0] in text for family in SOAK_ACTIVATIONS)
    assert any(spec.learned for spec in specs) and not all(spec.learned for spec in specs)
    variants = {tuple(soak_variant(seed).items()) for seed in range(300)}
    assert {dict(v)["pipeline_every"] for v in variants} == {0, 1, 3}
    assert {dict(v)["reuse_factor"] for v in variants} == {1, 2, 3}
    assert {dict(v)["multiplier"] for v in variants} == {"lut", "dsp", "auto"}
    assert soak_spec(42).describe() == soak_spec(42).describe()
