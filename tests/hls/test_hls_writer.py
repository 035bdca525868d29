"""The HLS project writer: layout, spellings, exact constants, determinism, atomic writes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from _hls_testing import convert

from fpgaq import zoo
from fpgaq.converters import HlsError, render_hls, write_hls
from fpgaq.converters.hls import _identifier
from fpgaq.fixed import FixedType

pytestmark = pytest.mark.usefixtures("csim_environment")


@pytest.fixture(scope="module")
def jet():
    return convert(zoo.jet_tagger())


@pytest.fixture(scope="module")
def jet_files(jet):
    return render_hls(jet, samples=20)


def _array(text: str, name: str) -> list[str]:
    body = re.search(rf"{name}\[\d+\] = \{{(.*?)\}};", text, re.S)
    assert body, f"no array {name}"
    return [v.strip() for v in body.group(1).replace("\n", " ").split(",") if v.strip()]


def test_project_layout(jet_files) -> None:
    expected = {
        "firmware/jet_tagger.cpp",
        "firmware/jet_tagger.h",
        "firmware/defines.h",
        "firmware/parameters.h",
        "firmware/weights/fc1.h",
        "firmware/weights/softmax.h",
        "tb/jet_tagger_test.cpp",
        "tb/jet_tagger_bridge.cpp",
        "tb_data/inputs.txt",
        "tb_data/expected.txt",
        "tb_data/trace_expected.txt",
        "include/fpgaq_layers.h",
        "include/ac_fixed.h",
        "Makefile",
        "build_prj.tcl",
        "fpgaq.yaml",
        "README.md",
        "fpgaq_project.json",
    }
    assert expected <= set(jet_files)
    assert "catapult" in jet_files["build_prj.tcl"].lower()
    assert "Model:" in jet_files["fpgaq.yaml"]


def test_types_are_spelled_from_the_ir(jet, jet_files) -> None:
    defines = jet_files["firmware/defines.h"]
    # hand-spelled: quantized_bits(16,5) input and quantized_relu(6) outputs
    assert "typedef ac_fixed<16, 6, true, AC_RND_CONV, AC_SAT> features_t;" in defines
    assert "typedef ac_fixed<6, 0, false, AC_RND_CONV, AC_SAT> relu1_t;" in defines
    acc = jet.graph.node("fc1").types["accum"]
    assert f"typedef ac_fixed<{acc.width}, {acc.integer}, true, AC_TRN, AC_WRAP> fc1_accum_t;" in defines
    vitis = render_hls(jet, flavor="vitis", samples=2)
    assert "#define FPGAQ_AP_TYPES" in vitis["firmware/defines.h"]
    assert "typedef ap_ufixed<6, 0, AP_RND_CONV, AP_SAT> relu1_t;" in vitis["firmware/defines.h"]
    assert "typedef ap_fixed<16, 6, AP_RND_CONV, AP_SAT> features_t;" in vitis["firmware/defines.h"]
    assert "vitis_hls" in vitis["build_prj.tcl"] and "include/ac_fixed.h" not in vitis


def test_weights_are_exact_literals(jet, jet_files) -> None:
    text = jet_files["firmware/weights/fc1.h"]
    values = np.array([float(v) for v in _array(text, "w_fc1_weight")])
    assert np.array_equal(values, jet.graph.node("fc1").weights["kernel"].values.reshape(-1))
    # quantized_bits(6,0) weights are multiples of 1/32 in [-1, 31/32]
    assert np.array_equal(values * 32, np.round(values * 32)) and values.min() >= -1 and values.max() <= 31 / 32


def test_softmax_tables_come_from_the_ir_tables(jet_files) -> None:
    text = jet_files["firmware/weights/softmax.h"]
    exp = [float(v) for v in _array(text, "w_softmax_table")]
    recip = [float(v) for v in _array(text, "w_softmax_recip")]
    assert len(exp) == len(recip) == 1024
    assert exp[0] == 1.0  # exp(0) in ap_fixed<18,8>
    assert exp[1] == round(np.exp(-8 / 1024) * 1024) / 1024  # far from a tie: 1016.06... -> 1016
    # R[0] = q(2048 / 2049, ufixed<11,1>) = round(1023.50024) / 1024 = 1.0; R[1023] = q(2048 / 4095) = 512/1024
    assert recip[0] == 1.0 and recip[-1] == 512 / 1024


def test_testbench_data_matches_the_reference(jet, jet_files) -> None:
    rows = [[int(v) for v in line.split()] for line in jet_files["tb_data/inputs.txt"].splitlines()]
    expected = [[int(v) for v in line.split()] for line in jet_files["tb_data/expected.txt"].splitlines()]
    assert len(rows) == len(expected) == 20 and all(len(r) == 16 for r in rows)
    m = np.array(rows)
    assert m.min() >= -(2**15) and m.max() <= 2**15 - 1
    x = m * 2.0**-10  # fixed<16,6>: 10 fraction bits
    assert np.array_equal(np.array(expected), jet.predict_int(x)[0])


def test_regeneration_is_byte_identical(tmp_path) -> None:
    model = zoo.digits_cnn()  # the same model and config, converted twice
    a = write_hls(convert(model), tmp_path / "a", samples=10)
    b = write_hls(convert(model), tmp_path / "b", samples=10)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 10
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_existing_directory_is_not_overwritten(jet, tmp_path) -> None:
    target = tmp_path / "prj"
    target.mkdir()
    (target / "mine.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="force=True"):
        write_hls(jet, target, samples=2)
    assert (target / "mine.txt").read_text() == "user data"
    write_hls(jet, target, samples=2, force=True)
    assert not (target / "mine.txt").exists() and (target / "firmware" / "jet_tagger.cpp").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prj"]  # no temporary directories left


def test_failed_write_leaves_nothing(jet, tmp_path, monkeypatch) -> None:
    calls = {"n": 0}
    original = Path.write_text

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", flaky)
    with pytest.raises(OSError, match="disk full"):
        write_hls(jet, tmp_path / "new", samples=2)
    assert list(tmp_path.iterdir()) == []
    old = tmp_path / "old"
    old.mkdir()
    (old / "keep.txt").write_text("x")
    calls["n"] = 0
    with pytest.raises(OSError, match="disk full"):
        write_hls(jet, old, samples=2, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["old"] and (old / "keep.txt").exists()


def test_errors_name_the_setting(jet) -> None:
    with pytest.raises(HlsError, match="flavor 'xilinx' is not supported; choose one of catapult, vitis"):
        render_hls(jet, flavor="xilinx")
    # io_stream is supported now (tests/hls/test_hls_stream.py): ports become streams of pixels
    stream = convert(zoo.jet_tagger(), {"Model": {"IOType": "io_stream"}})
    assert "fpgaq::stream<fpgaq::pixel<" in render_hls(stream, test_data=False)["firmware/jet_tagger.h"]


def test_identifiers() -> None:
    assert _identifier("conv-1/relu") == "conv_1_relu"
    assert _identifier("1st") == "n_1st"
    assert _identifier("int") == "int_"
    assert _identifier("_x") == "n_x"


def test_reuse_factor_and_strategy_reach_the_config(tmp_path) -> None:
    design = convert(zoo.jet_tagger(), {"Model": {"ReuseFactor": 4, "Strategy": "Resource"}})
    params = render_hls(design, samples=1)["firmware/parameters.h"]
    fc1 = params[params.index("struct config_fc1") :]
    fc1 = fc1[: fc1.index("};")]
    assert "static const int reuse_factor = 4;" in fc1 and "static const bool resource = true;" in fc1
    assert "static const int n_in = 16;" in fc1 and "static const int n_out = 64;" in fc1


def test_fixed_spelling_of_all_modes() -> None:
    t = FixedType(7, -2, False, "RND_MIN_INF", "SAT_SYM")
    assert t.ac_fixed() == "ac_fixed<7, -2, false, AC_RND_MIN_INF, AC_SAT_SYM>"
    assert t.ap_fixed() == "ap_ufixed<7, -2, AP_RND_MIN_INF, AP_SAT_SYM>"
