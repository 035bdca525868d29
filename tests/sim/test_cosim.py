"""Co-simulation of the hand-written fixture projects: bit-exactness, timing, caching, the design path.

Expected outputs come from each fixture's formula, written out here by hand;
the fixtures' Verilog says what they compute.
"""

import json
import uuid
from types import SimpleNamespace

import numpy as np
import pytest

from fpgaq.fixed import FixedType
from fpgaq.sim.cosim import CosimError, CosimMismatch, cosimulate, design_cosim

pytestmark = pytest.mark.usefixtures("cosim_cache")


def pipe3_inputs(n: int, seed: int = 0) -> np.ndarray:
    """Random signed 8-bit mantissas, with both range ends in every element."""
    x = np.random.default_rng(seed).integers(-128, 128, size=(n, 4))
    x[0], x[1] = -128, 127
    x[x == 7] = 6  # 7 in element 2 triggers fx_wrongbit's planted bug: only where a test puts it
    return x


def pipe3_expected(x: np.ndarray) -> np.ndarray:
    return 3 * x - np.arange(4)  # y[i] = 3*x[i] - i; fits the 10-bit output for every 8-bit input


def test_pipelined_design_is_bit_exact_with_latency_and_ii_as_reported(fixture_project):
    x = pipe3_inputs(300)
    result = cosimulate(fixture_project("pipe3"), x, expected=pipe3_expected(x))
    assert result.passed, result.report()
    assert (result.measured_latency, result.reported_latency) == (3, 3)
    assert (result.measured_ii, result.reported_ii) == (1, 1)
    assert result.n_samples == 300 and result.latency_samples == 16
    np.testing.assert_array_equal(result.outputs[0], pipe3_expected(x))
    # the handshake was exercised: back-pressure stalls, idle inputs, inputs held while not ready
    assert result.stall_cycles > 0 and result.idle_cycles > 0 and result.input_wait_cycles > 0
    assert result.ready_probes > 0
    assert "PASSED: bit-exact, protocol clean" in result.report()
    assert "latency 3 cycles (manifest 3), II 1 (manifest 1)" in result.report()


def test_without_idle_or_backpressure_nothing_stalls(fixture_project):
    x = pipe3_inputs(100)
    result = cosimulate(fixture_project("pipe3"), x, expected=pipe3_expected(x), idle=0.0, backpressure=0.0)
    assert result.passed, result.report()
    assert (result.stall_cycles, result.idle_cycles, result.input_wait_cycles) == (0, 0, 0)
    # reset, then 16 + 100 beats back to back (with a drain of the latency phase), then the drain
    assert result.cycles < 16 + 100 + 2 * 3 + 40


def test_the_seed_fixes_the_handshake_pattern(fixture_project):
    x = pipe3_inputs(100)
    project = fixture_project("pipe3")
    runs = [cosimulate(project, x, expected=pipe3_expected(x), seed=s) for s in (5, 5, 6)]
    assert all(r.passed for r in runs)
    assert runs[0].cycles == runs[1].cycles and runs[0].stall_cycles == runs[1].stall_cycles
    assert (runs[0].cycles, runs[0].stall_cycles) != (runs[2].cycles, runs[2].stall_cycles)


def test_planted_bug_is_reported_by_sample_output_and_element(fixture_project):
    x = pipe3_inputs(200)
    x[57, 2] = 7  # fx_wrongbit flips bit 0 of y[2] when it should be 3*7 - 2 = 19
    result = cosimulate(fixture_project("wrongbit"), x, expected=pipe3_expected(x))
    assert not result.passed
    assert result.mismatches == [CosimMismatch(sample=57, output="y", index=2, expected=19, got=18)]
    assert result.mismatch_count == 1
    assert not result.protocol_errors and not result.timing_errors
    assert "sample 57 output y[2]: expected 19, got 18" in result.report()


def test_planted_bug_in_the_latency_phase_is_reported_once(fixture_project):
    x = pipe3_inputs(40)
    x[3, 2] = 7  # sample 3 goes through both the back-to-back phase and the randomised one
    result = cosimulate(fixture_project("wrongbit"), x, expected=pipe3_expected(x))
    assert result.mismatches == [CosimMismatch(3, "y", 2, 19, 18)]


def test_wrong_latency_or_ii_in_the_manifest_is_reported(fixture_project):
    project = fixture_project("pipe3")
    manifest = json.loads((project / "fpgaq_rtl.json").read_text())
    (project / "fpgaq_rtl.json").write_text(json.dumps(dict(manifest, latency=4, ii=2)))
    x = pipe3_inputs(50)
    result = cosimulate(project, x, expected=pipe3_expected(x))
    assert not result.passed
    assert result.measured_latency == 3 and result.measured_ii == 1
    assert result.timing_errors == [
        "measured latency 3 cycles, the manifest says 4",
        "measured II 1 cycles, the manifest says 2",
    ]
    assert result.mismatch_count == 0 and not result.protocol_errors
    assert "timing: measured latency 3 cycles, the manifest says 4" in result.report()


def test_second_run_of_the_same_rtl_does_not_rebuild(fixture_project):
    project = fixture_project("pipe3")
    verilog = project / "rtl" / "fx_pipe3.v"
    verilog.write_text(verilog.read_text() + f"// {uuid.uuid4().hex}: a content no earlier test built\n")
    x = pipe3_inputs(20)
    first = cosimulate(project, x, expected=pipe3_expected(x))
    second = cosimulate(project, x, expected=pipe3_expected(x), seed=1)
    assert not first.cached and first.build_time > 0
    assert second.cached and second.build_time == 0.0
    assert first.passed and second.passed
    assert "build cached" in second.report()


def test_samples_limits_the_run(fixture_project):
    x = pipe3_inputs(100)
    result = cosimulate(fixture_project("pipe3"), x, expected=pipe3_expected(x), samples=10)
    assert result.passed and result.n_samples == 10 and result.latency_samples == 10
    assert result.outputs[0].shape == (10, 4)


def test_wrong_expected_values_fail_every_affected_element(fixture_project):
    x = pipe3_inputs(30)
    want = pipe3_expected(x)
    want[[4, 9], [0, 3]] += 1
    result = cosimulate(fixture_project("pipe3"), x, expected=want)
    assert [(m.sample, m.index, m.expected - m.got) for m in result.mismatches] == [(4, 0, 1), (9, 3, 1)]


def test_a_design_supplies_the_input_types_and_the_expected_outputs(fixture_project):
    """Float inputs quantized as the reference does (here: ac_fixed<8,4>, truncation, wrap) before driving."""
    t = FixedType(8, 4, True)
    graph = SimpleNamespace(inputs=["x"], outputs=["y"], tensors={"x": SimpleNamespace(type=t, elements=None)})
    design = SimpleNamespace(graph=graph, predict_int=lambda xs: [3 * t.to_int(xs[0]) - np.arange(4)])
    values = np.array([[0.5, -8.0, 7.9375, 0.03], [1.0, 2.0, -0.0625, -0.07]])
    # mantissas (x * 16, truncated): [8, -128, 127, 0] and [16, 32, -1, -2]
    result = cosimulate(fixture_project("pipe3"), values, design)
    assert result.passed, result.report()
    np.testing.assert_array_equal(result.outputs[0], [[24, -385, 379, -3], [48, 95, -5, -9]])


def test_design_cosim_writes_the_project_and_removes_it_after_a_pass(fixture_project, tmp_path):
    source = fixture_project("pipe3")
    t = FixedType(8, 8, True)
    written = []

    def write_rtl(directory, force=False):
        import shutil

        shutil.copytree(source, directory)
        written.append(directory)

    graph = SimpleNamespace(inputs=["x"], outputs=["y"], tensors={"x": SimpleNamespace(type=t, elements=None)})
    design = SimpleNamespace(
        graph=graph, write_rtl=write_rtl, predict_int=lambda xs: [3 * t.to_int(xs[0]) - np.arange(4)]
    )
    x = pipe3_inputs(20).astype(float)
    result = design_cosim(design, x)
    assert result.passed, result.report()
    assert not written[0].exists()  # temporary project removed after a clean pass
    kept = tmp_path / "kept"
    result = design_cosim(design, x, directory=kept)
    assert result.passed and (kept / "sim" / "results.json").is_file()


def test_inputs_that_do_not_fit_the_project_are_rejected(fixture_project):
    project = fixture_project("pipe3")
    x = pipe3_inputs(4)
    with pytest.raises(CosimError, match=r"expected shape \(N, 4\), got \(4, 3\)"):
        cosimulate(project, x[:, :3], expected=pipe3_expected(x))
    with pytest.raises(CosimError, match="needs the expected output mantissas"):
        cosimulate(project, x)
    with pytest.raises(CosimError, match="mantissa 128 of sample 2 element 1 does not fit 8 signed bits"):
        cosimulate(project, np.where(np.arange(16).reshape(4, 4) == 9, 128, x), expected=pipe3_expected(x))
    with pytest.raises(ValueError, match=r"backpressure=1.0 is not a probability in \[0, 1\)"):
        cosimulate(project, x, expected=pipe3_expected(x), backpressure=1.0)
    with pytest.raises(ValueError, match="cxx_opt='-O9' is not supported; use one of -O0, -O1"):
        cosimulate(project, x, expected=pipe3_expected(x), cxx_opt="-O9")


def test_verilog_that_does_not_compile_reports_verilators_message(fixture_project):
    project = fixture_project("pipe3")
    verilog = project / "rtl" / "fx_pipe3.v"
    verilog.write_text(verilog.read_text().replace("assign in_ready  = ce;", "assign in_ready  = ce"))
    x = pipe3_inputs(4)
    with pytest.raises(CosimError, match="Verilator could not build 'fx_pipe3'") as info:
        cosimulate(project, x, expected=pipe3_expected(x))
    assert "%Error" in str(info.value)
