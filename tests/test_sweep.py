"""fpgaq.sweep and fpgaq sweep: grid validation, Pareto fronts, outputs, end to end on a small model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import keras
import numpy as np
import pytest

import fpgaq
from fpgaq.cli import main
from fpgaq.ir.passes.requantize import requantize
from fpgaq.layers import QActivation, QDense
from fpgaq.sweep import SweepError, SweepPoint, SweepResult, load_grid, pareto_front, sweep

WQ = "quantized_bits(6,0,alpha=1)"


def small_model() -> keras.Model:
    x = keras.Input((4,), name="x")
    h = QActivation("quantized_bits(8,2,alpha=1)", name="in_q")(x)
    h = QDense(6, kernel_quantizer=WQ, bias_quantizer=WQ, name="fc1")(h)
    h = QActivation("quantized_relu(6,1)", name="relu1")(h)
    out = QDense(3, kernel_quantizer=WQ, bias_quantizer=WQ, name="out")(h)
    return keras.Model(x, out, name="small")


@pytest.fixture(scope="module")
def model() -> keras.Model:
    keras.utils.set_random_seed(7)
    return small_model()


@pytest.fixture(scope="module")
def data(model: keras.Model) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, size=(400, 4))
    y = rng.integers(0, 3, size=400)
    return x, y


GRID = {
    "device": "xc7a100t",
    "grid": {"weight_bits": [3, 6], "activation_bits": [4], "reuse_factor": [1, 2], "multiplier": ["lut", "dsp"]},
}


# ------------------------------------------------------------------ grid validation
def test_grid_defaults_and_size() -> None:
    g = load_grid(GRID)
    assert (g.device, g.backend, g.budget, g.clock_mhz) == ("xc7a100t", "rtl", 1.0, None)
    assert len(g) == 8
    settings = list(g.settings())
    assert len(settings) == 8 and len({tuple(s.items()) for s in settings}) == 8
    assert all(s["pipeline_every"] == 0 and s["input_bits"] is None for s in settings)


def test_grid_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "device: xc7a100t\nbackend: hls\nclock_mhz: 200\nbudget: 0.5\nmax_latency_cycles: 100\n"
        "grid:\n  weight_bits: [4, 6, 8]\n  activation_bits: [4, 6, 8]\n  reuse_factor: [1, 2, 4]\n"
        "  pipeline_every: [0, 1, 2, 3]\n  multiplier: [lut, dsp]\n"
    )
    g = load_grid(path)
    assert len(g) == 3 * 3 * 3 * 4 * 2
    assert (g.backend, g.clock_mhz, g.budget, g.max_latency_cycles) == ("hls", 200.0, 0.5, 100)
    assert load_grid(g.to_dict()) == g


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"device": "xc7a100t", "grid": {}, "budgte": 1}, r"unknown key 'budgte' \(did you mean 'budget'\?\)"),
        ({"device": "xc7a100t", "grid": {"reuse": [1]}}, r"unknown setting 'reuse' \(did you mean 'reuse_factor'\?\)"),
        ({"device": "xc7a100t", "grid": {"multiplier": ["lut", "fast"]}}, r"grid.multiplier: 'fast'.*auto, lut, dsp"),
        ({"device": "xc7a100t", "grid": {"weight_bits": []}}, r"grid.weight_bits: the list is empty"),
        ({"device": "xc7a100t", "grid": {"weight_bits": [4, 0]}}, r"grid.weight_bits: 0 is not allowed; use integers"),
        ({"device": "xc7a100t", "grid": {"pipeline_every": [-1]}}, r"grid.pipeline_every: -1 is not allowed"),
        ({"device": "xc7a100t", "grid": {"reuse_factor": [2, 2]}}, r"grid.reuse_factor: values \[2, 2\] repeat"),
        ({"device": "xc7a200", "grid": {}}, r"device: 'xc7a200' is not a known preset.*xc7a100t"),
        ({"grid": {}}, r"'device' is missing"),
        ({"device": "xc7a100t"}, r"'grid' is missing"),
        ({"device": "xc7a100t", "backend": "vhdl", "grid": {}}, r"backend: 'vhdl' is not allowed; use rtl"),
        ({"device": "xc7a100t", "budget": 0, "grid": {}}, r"budget: 0 is not allowed"),
        ({"device": "xc7a100t", "max_latency_cycles": 2.5, "grid": {}}, r"max_latency_cycles: 2.5 is not allowed"),
    ],
)
def test_grid_errors_name_key_and_fix(raw: dict, message: str) -> None:
    with pytest.raises(SweepError, match=message):
        load_grid(raw)


def test_grid_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SweepError, match=r"cannot read"):
        load_grid(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("device: xc7a100t\ngrid: {weight_bits: [4, x]}\n")
    with pytest.raises(SweepError, match=r"bad.yaml: grid.weight_bits: 'x' is not allowed"):
        load_grid(bad)


# ------------------------------------------------------------------ Pareto
def pt(i: int, lut: float, ns: float, acc: float | None = None, reason: str | None = None) -> SweepPoint:
    return SweepPoint(
        i, 4, 4, None, 1, 0, "auto", lut=lut, ff=1.0, dsp=0, bram=0.0, latency_cycles=int(ns / 5),
        latency_ns=ns, ii=1, fits=reason is None, reason=reason, accuracy=acc,
    )  # fmt: skip


def test_pareto_two_objectives() -> None:
    points = [pt(0, 100, 50), pt(1, 200, 20), pt(2, 150, 60), pt(3, 300, 20), pt(4, 50, 100), pt(5, 10, 5, None, "x")]
    # 2 is worse than 0 in both; 3 ties 1 on latency with more LUTs; 5 is discarded
    assert [p.index for p in pareto_front(points)] == [4, 0, 1]


def test_pareto_with_accuracy_and_ties() -> None:
    points = [pt(0, 100, 50, 0.70), pt(1, 120, 50, 0.75), pt(2, 120, 60, 0.75), pt(3, 100, 50, 0.70)]
    # 1 costs more LUTs but is more accurate; 2 is dominated by 1; 0 and 3 are equal: both kept
    assert [p.index for p in pareto_front(points)] == [0, 3, 1]
    assert pareto_front([]) == []


# ------------------------------------------------------------------ outputs
def hand_result() -> SweepResult:
    points = [pt(0, 100, 50, 0.7), pt(1, 200, 20, 0.8), pt(2, 150, 60, 0.6), pt(3, 900, 10, None, "over budget")]
    points[3].lut = None  # discarded before estimating
    timing = {"prepare": 0.0, "estimate": 0.1, "accuracy": 0.0, "synthesize": 0.0, "points_per_s": 40.0}
    return SweepResult("hand", load_grid(GRID), points, timing)


def test_csv_json_png_are_written_and_readable(tmp_path: Path) -> None:
    import matplotlib.image

    r = hand_result()
    files = r.write(tmp_path)
    rows = list(csv.DictReader(files["csv"].open()))
    assert [row["index"] for row in rows] == ["0", "1", "2", "3"]
    assert [row["pareto"] for row in rows] == ["True", "True", "False", "False"]
    assert rows[3]["lut"] == "" and rows[3]["reason"] == "over budget"
    assert float(rows[1]["accuracy"]) == 0.8
    doc = json.loads(files["json"].read_text())
    assert doc["schema"] == "fpgaq-sweep/1"
    assert doc["pareto"] == [0, 1]
    assert doc["counts"] == {"points": 4, "survivors": 3, "pareto": 2}
    assert doc["points"][2]["latency_ns"] == 60
    image = matplotlib.image.imread(files["png"])
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert "hand on xc7a100t (rtl): 4 points, 3 within budget, 2 on the Pareto front" in r.table()


# ------------------------------------------------------------------ end to end
def test_sweep_estimates_filters_and_scores(model: keras.Model, data: tuple) -> None:
    r = sweep(model, GRID, data=data, progress=False)
    assert len(r.points) == 8
    design = fpgaq.convert(model)
    for p in r.points:
        assert p.survives, p.reason
        assert p.lut > 0 and p.latency_cycles >= 1 and p.ii == p.reuse_factor
        assert p.latency_ns == pytest.approx(p.latency_cycles * 1000 / p.fmax_mhz)  # at its Fmax by the delay model
        g = requantize(design.graph, p.weight_bits, p.activation_bits, config=design.config)
        pred = fpgaq.Design(g, design.config).predict(data[0])
        assert p.accuracy == np.mean(np.argmax(pred, axis=1) == data[1])
    # back-end options never change a number: accuracy depends only on the precision
    by_precision = {}
    for p in r.points:
        by_precision.setdefault(p.weight_bits, set()).add(p.accuracy)
    assert all(len(v) == 1 for v in by_precision.values())
    # fewer weight bits must not cost more LUTs at the same options with LUT multipliers
    lut3 = next(p for p in r.points if p.weight_bits == 3 and p.reuse_factor == 1 and p.multiplier == "lut")
    lut6 = next(p for p in r.points if p.weight_bits == 6 and p.reuse_factor == 1 and p.multiplier == "lut")
    assert lut3.lut < lut6.lut
    front = r.pareto()
    assert front and all(p.survives for p in front)


def test_budget_latency_and_reuse_filters(model: keras.Model) -> None:
    grid = {"device": "xc7a100t", "clock_mhz": 100, "grid": {"weight_bits": [6], "reuse_factor": [1, 2, 8]}}
    free = {p.reuse_factor: p for p in sweep(model, grid, progress=False).points}
    assert "reuse_factor 8 exceeds the 4 products per output of node 'fc1'" in free[8].reason
    assert free[8].lut is None
    assert free[1].survives and free[2].survives
    assert free[2].latency_cycles > free[1].latency_cycles  # folding adds cycles
    bound = (free[1].latency_ns + free[2].latency_ns) / 2
    bounded = {p.reuse_factor: p for p in sweep(model, {**grid, "max_latency_ns": bound}, progress=False).points}
    assert bounded[1].survives
    assert bounded[2].reason == f"latency {free[2].latency_ns:.1f} ns > max_latency_ns {bound:g}"
    cycles = {p.reuse_factor: p for p in sweep(model, {**grid, "max_latency_cycles": free[1].latency_cycles},
                                                 progress=False).points}  # fmt: skip
    assert cycles[1].survives and cycles[2].reason.startswith(f"latency {free[2].latency_cycles} cycles >")
    tiny = sweep(model, {**grid, "budget": 1e-6}, progress=False)
    assert all(p.reason.startswith("over budget 1e-06 of xc7a100t: lut") for p in tiny.points if p.reuse_factor < 8)
    assert tiny.pareto() == []


def test_clock_period_axis_places_registers_by_the_delay_model(model: keras.Model) -> None:
    grid = {"device": "xc7a100t", "grid": {"weight_bits": [8], "clock_period": [4.5, 12.0]}}
    points = {p.clock_period: p for p in sweep(model, grid, progress=False).points}
    assert set(points) == {4.5, 12.0} and all(p.survives for p in points.values())
    for period, p in points.items():
        assert p.fmax_mhz >= 1000 / period * (1 - 1e-9)  # every stage meets the period by the model
    assert points[4.5].latency_cycles > points[12.0].latency_cycles
    with pytest.raises(SweepError, match="pipeline_every and clock_period both place registers"):
        load_grid({"device": "xc7a100t", "grid": {"pipeline_every": [1], "clock_period": [3]}})


def test_sweep_arguments(model: keras.Model, data: tuple) -> None:
    with pytest.raises(SweepError, match=r"synthesize needs backend: rtl"):
        sweep(model, {**GRID, "backend": "hls"}, synthesize=1, progress=False)
    with pytest.raises(SweepError, match=r"data has 400 inputs but 3 labels"):
        sweep(model, GRID, data=(data[0], data[1][:3]), progress=False)
    with pytest.raises(SweepError, match=r"expected a keras.Model or an fpgaq Design, got str"):
        sweep("model.keras", GRID, progress=False)


def test_design_input_and_one_hot_labels(model: keras.Model, data: tuple) -> None:
    design = fpgaq.convert(model)
    grid = {"device": "xcvu9p", "backend": "hls", "grid": {"activation_bits": [3, 8]}}
    a = sweep(design, grid, data=data, progress=False)
    b = sweep(design, grid, data=(data[0], np.eye(3)[data[1]]), progress=False)
    assert [p.accuracy for p in a.points] == [p.accuracy for p in b.points]
    assert all(p.accuracy is not None for p in a.points)


# ------------------------------------------------------------------ CLI


def test_cli_writes_outputs(model: keras.Model, data: tuple, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model_path = tmp_path / "m.keras"
    model.save(model_path)
    grid_path = tmp_path / "sweep.yaml"
    grid_path.write_text("device: xc7a100t\ngrid:\n  weight_bits: [4, 6]\n  multiplier: [lut, dsp]\n")
    np.savez(tmp_path / "d.npz", x=data[0], y=data[1])
    out = tmp_path / "out"
    argv = ["sweep", str(model_path), "--grid", str(grid_path), "--data", str(tmp_path / "d.npz"), "-o", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "4 points, 4 within budget" in printed and "on the Pareto front" in printed
    assert {p.name for p in out.iterdir()} == {"sweep.csv", "sweep.json", "pareto.png"}
    doc = json.loads((out / "sweep.json").read_text())
    assert len(doc["points"]) == 4 and all(p["accuracy"] is not None for p in doc["points"])
    # a non-empty output directory is refused without --force
    assert main([*argv, "--no-progress"]) == 2
    assert "is not empty; pass --force" in capsys.readouterr().err
    assert main([*argv, "--no-progress", "--force"]) == 0


def test_cli_bad_inputs(model: keras.Model, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    grid_path = tmp_path / "sweep.yaml"
    grid_path.write_text("device: xc7a100t\ngrid: {mult: [lut]}\n")
    assert main(["sweep", str(tmp_path / "m.keras"), "--grid", str(grid_path)]) == 2
    assert "unknown setting 'mult' (did you mean 'multiplier'?)" in capsys.readouterr().err
    grid_path.write_text("device: xc7a100t\ngrid: {multiplier: [lut]}\n")
    np.savez(tmp_path / "d.npz", inputs=np.zeros((2, 4)))
    assert main(["sweep", "m.keras", "--grid", str(grid_path), "--data", str(tmp_path / "d.npz")]) == 2
    assert "needs x and y" in capsys.readouterr().err


# ------------------------------------------------------------------ synthesis (Yosys)
@pytest.mark.slow
def test_synthesize_pareto_points(model: keras.Model, tmp_path: Path) -> None:
    grid = {"device": "xc7a100t", "grid": {"weight_bits": [3, 6]}}
    r = sweep(model, grid, synthesize=1, out_dir=tmp_path, progress=False)
    done = [p for p in r.points if p.synth_lut is not None]
    assert len(done) == 1 and done[0] in r.pareto()
    assert done[0].synth_lut > 0
    assert (tmp_path / "synth" / f"point_{done[0].index:05d}" / "fpgaq_rtl.json").exists()
