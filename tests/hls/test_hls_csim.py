"""C-simulation of the generated C++ (g++ -Wall -Werror, fpgaq's own ac_fixed) is bit-exact with the reference.

Every design is compiled once into a shared library (several at a time), and
all its samples run in one call; the comparison is np.array_equal on mantissas.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from _hls_testing import check_all, convert, inputs_for, mode_model, narrow_accumulators, op_models

from fpgaq import zoo
from fpgaq.cli import main
from fpgaq.converters import CXXFLAGS, write_hls
from fpgaq.sim import compile_design, csim
from fpgaq.testing.random_models import build_model, random_inputs, random_spec

RANDOM_SEEDS = range(22)

pytestmark = pytest.mark.usefixtures("csim_environment")


def test_flags_are_strict() -> None:
    assert {"-Wall", "-Werror", "-O2", "-std=c++17"} <= set(CXXFLAGS)


def test_jet_tagger_bit_exact_with_softmax() -> None:
    design = convert(zoo.jet_tagger())
    x = inputs_for(design, 2000, seed=1)[0]
    x[:50] *= 40  # far outside the input range: saturates
    got = design.compile().predict_int(x)[0]
    want = design.predict_int(x)[0]
    assert np.array_equal(got, want)
    assert len(np.unique(want[:, 0])) > 20  # the outputs vary: the comparison is not vacuous
    assert np.array_equal(design.predict_hls(x), design.predict(x))


def test_digits_cnn_bit_exact() -> None:
    design = convert(zoo.digits_cnn())
    x = inputs_for(design, 500, seed=2)[0]
    assert check_all([("digits_cnn", design, [x])]) == []
    trace = design.compile().trace_int(x[:5])
    assert set(trace) == {"conv1", "pool1", "conv2", "flatten", "output", "softmax"}
    assert np.array_equal(trace["pool1"], design.trace(x[:5])["pool1"] * 4)  # ufixed<4,2>: 2 fraction bits


#: Learned precision: per-element quantize nodes, weights of per-element widths (some vanished).
LEARNED_SEEDS = range(6)


def _random_designs(config, learned: bool = False):
    out = []
    for seed in LEARNED_SEEDS if learned else RANDOM_SEEDS:
        spec = random_spec(seed, learned=learned)
        model = build_model(spec)
        out.append((f"seed {seed}: {spec.describe()}", model, spec))
    return [(name, convert(model, config), [random_inputs(spec, 300, seed=spec.seed)]) for name, model, spec in out]


@pytest.mark.parametrize("learned", [False, True], ids=["quantizers", "learned"])
def test_random_models_latency_and_resource(learned: bool) -> None:
    latency = _random_designs(None, learned)
    resource = _random_designs({"Model": {"ReuseFactor": 3, "Strategy": "Resource"}}, learned)
    families = {name.split(": ")[1].split(" ")[0] for name, _, _ in latency}
    assert len(families) > 3 - learned  # MLPs, 1-D and 2-D CNNs of several input shapes
    assert learned == any(n.op == "quantize" for _, d, _ in latency for n in d.graph.nodes)
    assert check_all(latency + resource) == []
    for (name, d1, x), (_, d3, _) in zip(latency, resource):
        # folding changes the schedule, never the numbers
        assert np.array_equal(d1.compile().predict_int(x)[0], d3.compile().predict_int(x)[0]), name


def test_every_op() -> None:
    designs = []
    for model, config in op_models():
        design = convert(model, config)
        designs.append((model.name, design, inputs_for(design, 300, seed=3)))
    ops = {n.op for _, d, _ in designs for n in d.graph.nodes}
    ops |= {n.attrs["activation"]["function"] for _, d, _ in designs for n in d.graph.nodes if "activation" in n.attrs}
    ops |= {n.attrs.get("function") for _, d, _ in designs for n in d.graph.nodes if n.op == "activation"}
    wanted = {
        "dense", "conv1d", "conv2d", "depthwise1d", "depthwise2d", "conv2d_transpose", "scale", "softmax",
        "sigmoid", "tanh", "relu", "leaky_relu", "linear", "hard_sigmoid", "hard_tanh", "piecewise_linear", "step",
        "maxpool2d", "avgpool2d", "padded_maxpool1d", "padded_maxpool2d", "padded_avgpool1d", "padded_avgpool2d",
        "global_maxpool1d", "global_maxpool2d", "global_avgpool1d", "global_avgpool2d", "scaled_avgpool2d",
        "global_scaled_avgpool2d", "zeropad1d", "zeropad2d", "reshape", "add", "concatenate",
    }  # fmt: skip
    assert wanted <= ops, wanted - ops
    assert check_all(designs) == []


def test_rounding_and_overflow_modes_and_narrow_accumulators() -> None:
    designs = []
    for i in range(7):  # 7 models x 4 layers: all 28 rounding/overflow pairs
        model, config = mode_model(i)
        design = convert(model, config)
        x = inputs_for(design, 400, seed=i)
        designs.append((model.name, design, x))
        narrow = narrow_accumulators(design, model, config)
        accums = [n.types["accum"] for n in narrow.graph.nodes if n.op == "dense"]
        assert any(a != n.types["exact"] for a, n in zip(accums, [n for n in narrow.graph.nodes if n.op == "dense"]))
        designs.append((f"{model.name} narrow accumulators", narrow, x))
    assert check_all(designs) == []


def test_csim_of_a_written_project_reports_mismatches(tmp_path) -> None:
    design = convert(zoo.jet_tagger())
    prj = write_hls(design, tmp_path / "jet", samples=30)
    report = csim(prj, samples=12)
    assert report.passed and report.samples == 12 and "bit-exact" in str(report)
    # break one weight of fc2 (a literal of the generated C++): the report names fc2 as the first diverging layer
    path = prj / "firmware" / "weights" / "fc2.h"
    text = path.read_text()
    body = text.index("w_fc2_weight[")
    first = re.compile(r"(-?\d+\.\d+(?:e-?\d+)?)").search(text, body + len("w_fc2_weight[2048] = {"))
    broken = "0.96875" if first.group(1) != "0.96875" else "-1.0"
    path.write_text(text[: first.start()] + broken + text[first.end() :])
    report = csim(prj)
    assert not report.passed and report.samples == 30
    bad = {m.sample for m in report.mismatches}
    assert bad and set(report.first_diverging) == bad and set(report.first_diverging.values()) == {"fc2"}
    assert all(0 <= m.output_index < 5 and m.output == "softmax" for m in report.mismatches)


def test_makefile_builds_and_passes(tmp_path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    prj = write_hls(convert(zoo.digits_cnn()), tmp_path / "cnn", samples=20)
    done = subprocess.run(["make", "csim"], cwd=prj, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fpgaq csim: 20 samples, 0 mismatches" in done.stdout
    assert (prj / "tb_data" / "csim_outputs.txt").read_text() == (prj / "tb_data" / "expected.txt").read_text()


def test_cli_convert_and_csim(tmp_path, capsys) -> None:
    model_path = tmp_path / "jet.keras"
    zoo.jet_tagger().save(model_path)
    out = tmp_path / "prj"
    assert main(["convert", str(model_path), "--backend", "hls", "-o", str(out)]) == 0
    assert (out / "firmware" / "jet_tagger.cpp").is_file()
    assert main(["convert", str(model_path), "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["convert", str(model_path), "-o", str(out), "--force", "--hls-flavor", "vitis"]) == 0
    assert "ap_fixed" in (out / "firmware" / "defines.h").read_text()
    assert main(["convert", str(model_path), "-o", str(out), "--force"]) == 0
    capsys.readouterr()
    assert main(["csim", str(out), "--samples", "7"]) == 0
    assert "7 samples, bit-exact" in capsys.readouterr().out
    assert main(["csim", str(tmp_path)]) == 2
    assert "not an fpgaq HLS project" in capsys.readouterr().err


def test_library_cache_is_reused() -> None:
    model = zoo.jet_tagger()
    first = compile_design(convert(model))
    again = compile_design(convert(model))  # a new Design with the same sources: the cached library
    assert again.path == first.path and again.path.is_file()
    other = compile_design(convert(model, {"Model": {"ReuseFactor": 2}}))
    assert other.path != first.path


def test_symmetric_tanh_never_reaches_minus_one() -> None:
    """quantized_tanh(7, symmetric=1) on a dense pre-activation of the same <7,1> format: an exact -1.0
    must still become -(1 - 2**-6) (soak seed 778: the header's widening shortcut kept -1)."""
    import keras

    from fpgaq.layers import QActivation, QDense
    from fpgaq.quantizers import quantized_bits, quantized_tanh

    inp = keras.Input((2,), name="x")
    x = QActivation(quantized_bits(4, 0, alpha=1), name="q")(inp)
    out = QDense(
        3,
        kernel_quantizer=quantized_bits(4, 0, 1, alpha=1),
        bias_quantizer=quantized_bits(3, 0, alpha=1),
        activation=quantized_tanh(7, symmetric=1),
        name="fc",
    )(x)
    model = keras.Model(inp, out, name="sym_tanh")
    # unit 0 is a constant -1 (zero weights), unit 1 reaches -1 at x = (-1, -1), unit 2 never does
    kernel = np.array([[0.0, 0.5, 0.375], [0.0, 0.5, 0.0]], np.float32)
    model.get_layer("fc").set_weights([kernel, np.array([-1.0, 0.0, -0.5], np.float32)])
    design = convert(model)
    dense = next(n for n in design.graph.nodes if n.op == "dense")
    assert str(dense.types["exact"]) == "fixed<7,1>"  # the same format as the output: the case that broke
    grid = np.arange(-10, 10, dtype=np.float32) / 8  # every input code, midpoints after the sums, saturation
    x = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
    want = design.predict(x)
    assert want.min() == -(1 - 2.0**-6) and (want == want.min()).sum() > len(x)  # the floor is reached often
    assert np.array_equal(design.predict_hls(x), want)
