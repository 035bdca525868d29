"""io_stream HLS designs: streams of pixels at the ports, line-buffer convolutions and pooling.

Only the data movement differs from io_parallel, so C-simulation must give exactly the
reference's (and io_parallel's) mantissas; fpgaq's C-simulation builds with -Wall -Werror.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _hls_testing import check_all, convert, inputs_for, op_models, vendor_headers

from fpgaq import zoo
from fpgaq.converters import CXXFLAGS, write_hls
from fpgaq.converters.hls import INCLUDE_DIR, render_hls
from fpgaq.sim import csim
from fpgaq.testing.random_models import build_model, random_inputs, random_spec

pytestmark = pytest.mark.usefixtures("csim_environment")

STREAM = {"Model": {"IOType": "io_stream"}}
CNN2D_SEEDS = range(6)
CNN1D_SEEDS = range(6)


def _stream(config: dict[str, Any] | None) -> dict[str, Any]:
    cfg = copy.deepcopy(config or {})
    cfg.setdefault("Model", {})["IOType"] = "io_stream"
    return cfg


def test_digits_cnn_stream_bit_exact_and_equal_to_io_parallel() -> None:
    assert "-Werror" in CXXFLAGS and "-Wall" in CXXFLAGS
    model = zoo.digits_cnn()
    stream = convert(model, STREAM)
    parallel = convert(model)
    x = inputs_for(stream, 300, seed=3)[0]
    assert check_all([("digits_cnn io_stream", stream, [x])]) == []
    got = stream.compile().predict_int(x)[0]
    assert np.array_equal(got, parallel.compile().predict_int(x)[0])
    assert np.array_equal(got, stream.predict_int(x)[0])
    # the per-layer trace reads each layer's output stream in pixel order (= row-major)
    trace = stream.compile().trace_int(x[:4])
    assert np.array_equal(trace["pool1"], stream.trace(x[:4])["pool1"] * 4)  # ufixed<4,2>: 2 fraction bits
    assert np.array_equal(trace["conv2"], parallel.compile().trace_int(x[:4])["conv2"])


def test_generated_code_streams_and_line_buffers() -> None:
    model = zoo.digits_cnn()
    design = convert(model, STREAM)
    files = render_hls(design, test_data=False)
    assert files == render_hls(design, test_data=False)  # deterministic
    header = files["firmware/digits_cnn.h"]
    assert "fpgaq::stream<fpgaq::pixel<image_t, 1> >& image" in header
    assert "fpgaq::stream<fpgaq::pixel<softmax_t, 10> >& softmax" in header
    top = files["firmware/digits_cnn.cpp"]
    assert re.search(r"fpgaq::conv_stream<config_conv1>\(image, relu1,", top)
    assert re.search(r"fpgaq::maxpool_stream<config_pool1>\(relu1, pool1\)", top)
    assert "fpgaq::dense<config_output>" in top  # dense runs on an array read from the stream
    parallel = render_hls(convert(model), test_data=False)
    assert "fpgaq::stream" not in parallel["firmware/digits_cnn.cpp"]
    assert parallel["firmware/defines.h"] == files["firmware/defines.h"]  # the same exact types


def _random(family: str, seeds: range) -> list[tuple[str, Any, list[np.ndarray], Any]]:
    out = []
    for seed in seeds:
        spec = random_spec(seed, family=family)
        design = convert(build_model(spec), STREAM)
        out.append((f"{family} seed {seed}: {spec.describe()}", design, [random_inputs(spec, 100, seed=seed)], spec))
    return out


def test_random_cnns_stream_bit_exact() -> None:
    items = _random("cnn2d", CNN2D_SEEDS) + _random("cnn1d", CNN1D_SEEDS)
    described = " ".join(name for name, _, _, _ in items)
    # the set covers what line buffers must get right
    for needle in ("padding=same, strides=2", "padding=valid, strides=2", "depthwise2d(kernel=3", "avgpool", "maxpool"):
        assert needle in described, needle
    assert check_all([(name, d, x) for name, d, x, _ in items]) == []


def test_every_op_model_stream_bit_exact() -> None:
    designs = []
    for model, config in op_models():
        design = convert(model, _stream(config))
        designs.append((model.name, design, inputs_for(design, 150, seed=4)))
    assert check_all(designs) == []


def test_written_stream_project_testbench_passes(tmp_path) -> None:
    spec = random_spec(1, family="cnn2d")  # conv 'same' with strides 2, then an average pool
    design = convert(build_model(spec), STREAM)
    prj = write_hls(design, tmp_path / "stream", x=random_inputs(spec, 25, seed=1))
    assert "stream_" in (prj / "tb" / f"{design.graph.name}_test.cpp").read_text()
    report = csim(prj)
    assert report.passed and report.samples == 25, str(report)


def test_vitis_flavor_with_real_ap_types_stream() -> None:
    found = vendor_headers(Path.home() / ".cache" / "fpgaq" / "vendor_types")
    if found is None:
        pytest.skip("cannot download the hls4ml wheel from PyPI (pip download --no-deps hls4ml) for its headers")
    spec = random_spec(2, family="cnn2d")  # depthwise 'same' with strides 2 after an average pool
    design = convert(build_model(spec), STREAM)
    x = random_inputs(spec, 100, seed=2)
    compiled = design.compile(flavor="vitis", types_dir=found["ap"])
    assert np.array_equal(compiled.predict_int(x)[0], design.predict_int(x)[0])


# A line buffer emits each output pixel as soon as the last input cell of its window has
# arrived.  This harness counts the reads done before each write (a stream class of its
# own) for two max pools on pixels whose value is their raster index:
#  - 2x2, stride 2, no padding, on 4x4: windows end at cells 5, 7, 13, 15 -> 6, 8, 14, 16 reads;
#    maxima 5, 7, 13, 15;
#  - 3x3, stride 1, padding 1 ('same'), on 3x3: output (oh, ow) needs cell
#    (min(oh + 1, 2), min(ow + 1, 2)), and outputs leave in raster order -> 5, 6, 6, 8, 9, 9, 9, 9, 9
#    reads; maxima over the cells inside: 4, 5, 5, 7, 8, 8, 7, 8, 8.
_HARNESS = r"""
#include <cstdio>
#include <deque>
#include "fpgaq_layers.h"

typedef ac_fixed<8, 8, true> v_t;
static int reads = 0;
struct counting_in {
  std::deque<fpgaq::pixel<v_t, 1> > q;
  fpgaq::pixel<v_t, 1> read() { reads++; fpgaq::pixel<v_t, 1> v = q.front(); q.pop_front(); return v; }
};
struct recording_out {
  void write(const fpgaq::pixel<v_t, 1>& v) { std::printf("%d:%lld ", reads, fpgaq::mantissa(v.data[0])); }
};
template <int H, int W, int OH, int OW, int P, int S, int PAD>
struct pool_cfg {
  typedef v_t in_t;
  typedef v_t out_t;
  static const int in_h = H, in_w = W, n_chan = 1, out_h = OH, out_w = OW;
  static const int pool_h = P, pool_w = P, stride_h = S, stride_w = S, pad_top = PAD, pad_left = PAD;
};
template <class CFG>
void run() {
  counting_in x;
  for (int i = 0; i < CFG::in_h * CFG::in_w; i++) {
    fpgaq::pixel<v_t, 1> p;
    p.data[0] = i;
    x.q.push_back(p);
  }
  reads = 0;
  recording_out y;
  fpgaq::maxpool_op<CFG> op;
  fpgaq::window_stream<CFG, CFG::pool_h, CFG::pool_w, 1, 1, 1>(x, y, op);
  std::printf("\n");
}
int main() {
  run<pool_cfg<4, 4, 2, 2, 2, 2, 0> >();
  run<pool_cfg<3, 3, 3, 3, 3, 1, 1> >();
  return 0;
}
"""


def test_line_buffer_emits_each_pixel_when_its_window_is_complete(tmp_path) -> None:
    cxx = shutil.which("g++")
    if cxx is None:
        pytest.skip("g++ is not installed")
    src = tmp_path / "harness.cpp"
    src.write_text(_HARNESS)
    exe = tmp_path / "harness"
    subprocess.run([cxx, *CXXFLAGS, "-I", str(INCLUDE_DIR), str(src), "-o", str(exe)], check=True)
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines[0].split() == ["6:5", "8:7", "14:13", "16:15"]
    assert lines[1].split() == ["5:4", "6:5", "6:5", "8:7", "9:8", "9:8", "9:7", "9:8", "9:8"]


def test_random_cnns_stream_with_reuse_factor_bit_exact() -> None:
    # Stream convolutions fold their per-pixel matrix-vector product like io_parallel ones.
    folded = {"Model": {"IOType": "io_stream", "ReuseFactor": 3, "Strategy": "Resource"}}
    items = []
    for family in ("cnn2d", "cnn1d"):
        for seed in range(2):
            spec = random_spec(seed, family=family)
            design = convert(build_model(spec), folded)
            assert {n.options.get("reuse_factor") for n in design.graph.nodes if n.op.startswith("conv")} == {3}
            items.append((f"{family} seed {seed} RF 3", design, [random_inputs(spec, 100, seed=seed)]))
    assert check_all(items) == []
