"""The RTL project writer: contents, manifest, test vectors, atomic writing, force, regeneration, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from _rtl_testing import convert, inputs_for, mismatches, with_options

import fpgaq
from fpgaq.cli import main
from fpgaq.converters.rtl import render_rtl, write_rtl
from fpgaq.layers import QActivation, QDense
from fpgaq.rtl.build import check_supported, lower
from fpgaq.rtl.lower import RtlLoweringError
from fpgaq.rtl.lower.registry import LOWERINGS


def _model() -> keras.Model:
    """y = relu(x @ [[1, 4], [-2, 3]] + [0.5, -1]) with x integers in [-8, 7]."""
    inp = keras.Input((2,), name="x")
    x = QActivation("quantized_bits(4,3,alpha=1)", name="in_q")(inp)
    layer = QDense(
        2, kernel_quantizer="quantized_bits(5,4,alpha=1)", bias_quantizer="quantized_bits(6,4,alpha=1)", name="d"
    )
    y = QActivation("quantized_relu(8,6)", name="r")(layer(x))
    layer.kernel.assign(np.array([[1, 4], [-2, 3]], dtype=np.float32))
    layer.bias.assign(np.array([0.5, -1], dtype=np.float32))
    return keras.Model(inp, y, name="tiny-net")


@pytest.fixture(scope="module")
def design() -> fpgaq.Design:
    return convert(_model())


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_project_files_and_manifest(design, tmp_path: Path) -> None:
    out = write_rtl(with_options(design, pipeline_every=0), tmp_path / "proj")
    files = _tree(out)
    assert set(files) == {
        "rtl/tiny_net.v",
        "rtl/tiny_net_d.v",
        "filelist.f",
        "fpgaq_rtl.json",
        "README.md",
        "fpgaq.yaml",
        "data/inputs_int.npy",
        "data/expected_int.npy",
    }
    m = json.loads(files["fpgaq_rtl.json"])
    assert m["top"] == "tiny_net" and m["latency"] == 2 and m["ii"] == 1
    assert m["files"] == ["rtl/tiny_net_d.v", "rtl/tiny_net.v"]
    assert files["filelist.f"].decode().split() == m["files"]
    (inp,) = m["inputs"]
    assert {k: inp[k] for k in ("tensor", "port", "shape", "elements", "width", "signed", "frac", "offset")} == {
        "tensor": "x",
        "port": "in_data",
        "shape": [2],
        "elements": 2,
        "width": 4,
        "signed": True,
        "frac": 0,
        "offset": 0,
    }
    (outp,) = m["outputs"]
    assert (outp["port"], outp["elements"], outp["width"], outp["signed"], outp["frac"]) == ("out_data", 2, 8, False, 2)
    assert [(n["name"], n["op"], n["latency"], n["ii"]) for n in m["nodes"]] == [("d", "dense", 1, 1)]
    assert m["options"]["pipeline_every"] == 0 and m["data"]["samples"] == 5 + 256
    readme = files["README.md"].decode()
    assert "Latency: **2** clock cycles" in readme and "| `in_data` | input | 8 |" in readme


def test_test_vectors_are_reference_outputs_of_extreme_and_random_codes(design, tmp_path: Path) -> None:
    out = write_rtl(design, tmp_path / "proj")
    x = np.load(out / "data/inputs_int.npy")
    y = np.load(out / "data/expected_int.npy")
    assert x.shape == (261, 2) and y.shape == (261, 2) and x.dtype == np.int64
    assert x[:5].tolist() == [[-8, -8], [7, 7], [0, 0], [-8, 7], [7, -8]]
    # by hand, in units of 1/4 (frac 2): relu(x0 - 2 x1 + 0.5), relu(4 x0 + 3 x1 - 1)
    assert y[:5].tolist() == [[34, 0], [0, 192], [2, 0], [0, 0], [94, 12]]


def test_regeneration_is_byte_identical(design, tmp_path: Path) -> None:
    a = _tree(write_rtl(design, tmp_path / "a"))
    b = _tree(write_rtl(design, tmp_path / "b"))
    assert a == b
    assert render_rtl(design).files == render_rtl(design).files


def test_never_overwrites_without_force(design, tmp_path: Path) -> None:
    target = tmp_path / "proj"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already exists; fpgaq does not overwrite a directory unless asked"):
        write_rtl(design, target)
    assert _tree(target) == {"keep.txt": b"mine"}
    write_rtl(design, target, force=True)
    assert "keep.txt" not in _tree(target) and (target / "fpgaq_rtl.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]  # no temporary directories left


def test_unsupported_op_raises_before_anything_is_written(design, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delitem(LOWERINGS, "dense")
    monkeypatch.setattr("fpgaq.rtl.lower.driver.load_families", lambda: None)
    with pytest.raises(RtlLoweringError) as err:
        write_rtl(design, tmp_path / "proj")
    assert str(err.value).startswith(
        "design 'tiny-net': node 'd' (op 'dense', from Keras layer 'd') has no RTL implementation; "
        "the RTL back end supports: "
    )
    assert str(err.value).endswith("; use the HLS back end for this model")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RtlLoweringError):
        check_supported(design.graph)
    with pytest.raises(RtlLoweringError):
        lower(design.graph)


def test_design_write_rtl_and_cli(design, tmp_path: Path, capsys) -> None:
    out = design.write_rtl(tmp_path / "via_design")
    assert json.loads((out / "fpgaq_rtl.json").read_text())["top"] == "tiny_net"
    model_path = tmp_path / "m.keras"
    _model().save(model_path)
    target = tmp_path / "via_cli"
    assert main(["convert", str(model_path), "--backend", "rtl", "-o", str(target)]) == 0
    assert "wrote RTL project" in capsys.readouterr().out
    assert _tree(target)["fpgaq_rtl.json"] == _tree(out)["fpgaq_rtl.json"]
    assert main(["convert", str(model_path), "--backend", "rtl", "-o", str(target)]) == 2
    assert "pass force=True (--force on the command line)" in capsys.readouterr().err
    assert main(["convert", str(model_path), "--backend", "rtl", "-o", str(target), "--force"]) == 0


def _two_by_two() -> keras.Model:
    """Two inputs (4 and 3 elements), two outputs (a dense layer and a concatenation)."""
    a_in, b_in = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    a = QActivation("quantized_bits(6,2,alpha=1)", name="qa")(a_in)
    b = QActivation("quantized_bits(5,1,0,keep_negative=0,alpha=1)", name="qb")(b_in)
    d = QDense(
        2, kernel_quantizer="quantized_bits(4,0,alpha=1)", bias_quantizer="quantized_bits(4,0,alpha=1)", name="d"
    )
    y1 = d(a)
    y2 = keras.layers.Concatenate(name="cat")([y1, b])
    model = keras.Model([a_in, b_in], [y1, y2], name="two_by_two")
    d.kernel.assign(np.array([[0.5, -0.25], [0.125, 0.75], [-0.5, 0.375], [0.25, 0.25]], dtype=np.float32))
    return model


def test_several_inputs_and_outputs(tmp_path: Path) -> None:
    design = convert(_two_by_two())
    assert mismatches(design, inputs_for(design, 500)) == []
    out = write_rtl(design, tmp_path / "proj")
    m = json.loads((out / "fpgaq_rtl.json").read_text())
    assert [(t["tensor"], t["offset"], t["elements"], t["width"]) for t in m["inputs"]] == [
        ("a", 0, 4, 6),
        ("b", 24, 3, 5),
    ]
    widths = [t["width"] for t in m["outputs"]]
    assert [t["offset"] for t in m["outputs"]] == [0, 2 * widths[0]]
    assert m["data"]["inputs"] == ["data/inputs_int_0.npy", "data/inputs_int_1.npy"]
    assert m["data"]["expected"] == ["data/expected_int_0.npy", "data/expected_int_1.npy"]
    assert np.load(out / "data/inputs_int_1.npy").shape == (261, 3)
    assert np.load(out / "data/expected_int_1.npy").shape == (261, 5)
    top = (out / "rtl/two_by_two.v").read_text()
    assert "input wire [38:0] in_data" in top  # 4 * 6 + 3 * 5 bits
    from fpgaq.sim.verilator import lint

    assert lint([out / f for f in m["files"]], m["top"]) == []


def test_flat_partition_is_one_module(design, tmp_path: Path) -> None:
    out = write_rtl(with_options(design, pipeline_every=1), tmp_path / "flat", partition="flat")
    m = json.loads((out / "fpgaq_rtl.json").read_text())
    assert m["files"] == ["rtl/tiny_net.v"] and m["options"]["partition"] == "flat"
    from fpgaq.sim.verilator import lint

    assert lint([out / "rtl/tiny_net.v"], "tiny_net") == []
    with pytest.raises(ValueError, match="partition 'deep' is not supported; choose one of layer, flat"):
        render_rtl(design, partition="deep")


def test_io_stream_is_refused_by_the_rtl_back_end_and_its_estimate(tmp_path: Path) -> None:
    """The RTL is fully parallel: writing it for an io_stream design would ignore the setting."""
    streamed = convert(_model(), {"Model": {"IOType": "io_stream"}})
    target = tmp_path / "prj"
    with pytest.raises(RtlLoweringError, match=r"IOType io_stream is not supported by the RTL back end.*io_parallel"):
        write_rtl(streamed, target)
    assert not target.exists()  # nothing half-written
    with pytest.raises(RtlLoweringError, match="io_stream"):
        streamed.estimate()
    assert streamed.estimate(backend="hls").total.lut > 0  # the HLS back end streams it
