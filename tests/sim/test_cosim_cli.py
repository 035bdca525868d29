"""``fpgaq cosim DIR``: vectors from the project's data files, exit codes, report and waves path."""

import json

import numpy as np
import pytest

from fpgaq.cli import main
from fpgaq.sim.cosim import write_vectors

pytestmark = pytest.mark.usefixtures("cosim_cache")


def with_vectors(project, x, y):
    """Give a fixture project the data files and manifest entry that the RTL writer produces."""
    manifest = json.loads((project / "fpgaq_rtl.json").read_text())
    manifest["data"] = write_vectors(project, [x], [y])
    (project / "fpgaq_rtl.json").write_text(json.dumps(manifest))
    return project


def vectors(n=60):
    x = np.random.default_rng(7).integers(-128, 128, size=(n, 4))
    x[x == 7] = 8
    return x, 3 * x - np.arange(4)


def test_bit_exact_project_exits_0(fixture_project, capsys):
    x, y = vectors()
    project = with_vectors(fixture_project("pipe3"), x, y)
    assert main(["cosim", str(project), "--samples", "40", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "co-simulation of fx_pipe3: 40 samples, PASSED: bit-exact, protocol clean" in out
    assert "latency 3 cycles (manifest 3)" in out


def test_mismatch_exits_1_and_names_sample_output_and_element(fixture_project, capsys):
    x, y = vectors()
    x[21, 2] = 7
    y[21, 2] = 19
    project = with_vectors(fixture_project("wrongbit"), x, y)
    assert main(["cosim", str(project), "--idle", "0.5", "--backpressure", "0.5"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "sample 21 output y[2]: expected 19, got 18" in out


def test_wrong_manifest_latency_exits_1(fixture_project, capsys):
    x, y = vectors(20)
    project = with_vectors(fixture_project("pipe3"), x, y)
    manifest = json.loads((project / "fpgaq_rtl.json").read_text())
    (project / "fpgaq_rtl.json").write_text(json.dumps(dict(manifest, latency=2)))
    assert main(["cosim", str(project)]) == 1
    assert "timing: measured latency 3 cycles, the manifest says 2" in capsys.readouterr().out


def test_project_without_vectors_exits_2(fixture_project, capsys):
    assert main(["cosim", str(fixture_project("pipe3"))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fpgaq cosim: ") and "has no test vectors (data/inputs_int.npy, data/expected_int.npy)" in err


def test_not_a_project_exits_2(tmp_path, capsys):
    assert main(["cosim", str(tmp_path)]) == 2
    assert "is not an fpgaq RTL project (no fpgaq_rtl.json)" in capsys.readouterr().err


def test_probabilities_are_checked(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["cosim", str(tmp_path), "--backpressure", "1"])
    assert info.value.code == 2
    assert "1 is not a probability in [0, 1)" in capsys.readouterr().err


@pytest.mark.slow
def test_waves_go_into_the_project_sim_directory(fixture_project, capsys):
    x, y = vectors(10)
    project = with_vectors(fixture_project("pipe3"), x, y)
    assert main(["cosim", str(project), "--waves"]) == 0
    out = capsys.readouterr().out
    waves = [line.split("waves: ", 1)[1] for line in out.splitlines() if "waves: " in line]
    assert len(waves) == 1 and waves[0].startswith(str((project / "sim").resolve()))


def test_bulk_runs_the_vectors_through_the_compiled_model(fixture_project, capsys):
    x, y = vectors(500)
    project = with_vectors(fixture_project("pipe3"), x, y)
    assert main(["cosim", str(project), "--bulk"]) == 0
    assert "bulk RTL (fx_pipe3): 500 samples, bit-exact" in capsys.readouterr().out


def test_bulk_finds_the_planted_bug_by_sample_and_element(fixture_project, capsys):
    x, y = vectors()
    x[21, 2] = 7
    y[21, 2] = 19
    project = with_vectors(fixture_project("wrongbit"), x, y)
    assert main(["cosim", str(project), "--bulk"]) == 1
    out = capsys.readouterr().out
    assert "sample 21 output y[2]: expected 19, got 18" in out and "1 mismatching elements" in out


def test_bulk_refuses_protocol_options(fixture_project, capsys):
    x, y = vectors()
    project = with_vectors(fixture_project("pipe3"), x, y)
    assert main(["cosim", str(project), "--bulk", "--idle", "0.5"]) == 2
    assert "--bulk streams without stalls" in capsys.readouterr().err
    assert main(["cosim", str(project), "--threads", "2"]) == 2  # cocotb runs one simulator: not honoured
    assert "add --bulk, or drop --threads" in capsys.readouterr().err
