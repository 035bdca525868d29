"""design.predict_rtl: the Verilog compiled by Verilator into a bulk model equals the reference bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from _rtl_testing import inputs_for, random_design, with_options

from fpgaq.sim._cosim_data import CosimError
from fpgaq.sim.bulk import compile_rtl

pytestmark = pytest.mark.usefixtures("bulk_cache")

#: pipelined, folded (II > 1) and combinational variants; the numbers never depend on them.
OPTIONS = [
    {"pipeline_every": 0},
    {"pipeline_every": 1, "multiplier": "dsp"},
    {"pipeline_every": 3, "reuse_factor": 3},
    {"pipeline_every": 0, "reuse_factor": 2, "multiplier": "lut"},
]


@pytest.fixture(scope="module")
def bulk_cache(tmp_path_factory):
    import os

    saved = os.environ.get("FPGAQ_CACHE")
    os.environ["FPGAQ_CACHE"] = str(tmp_path_factory.mktemp("bulk_cache"))
    yield
    if saved is None:
        os.environ.pop("FPGAQ_CACHE", None)
    else:
        os.environ["FPGAQ_CACHE"] = saved


def _as_list(y):
    return y if isinstance(y, list) else [y]


@pytest.mark.parametrize(("seed", "learned"), [(3, False), (6, False), (9, False), (2, True)])
def test_random_model_in_bulk_equals_the_reference(seed: int, learned: bool) -> None:
    design, x = random_design(seed, learned)
    design = with_options(design, **OPTIONS[seed % len(OPTIONS)])
    edges = inputs_for(design, 200, seed)  # saturating, zero and midpoint values first
    xs = [np.concatenate([e, np.asarray(v)]) for e, v in zip(edges, _as_list(x))]
    x_all = xs if len(xs) > 1 else xs[0]
    want = [np.asarray(w) for w in _as_list(design.predict(x_all))]
    # optimised C++ once (the default); the rest build unoptimised, in a fraction of the time
    got = [np.asarray(g) for g in _as_list(design.predict_rtl(x_all, optimize=seed == 9))]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and np.array_equal(g, w), (seed, np.argwhere(g != w)[:5])


def test_a_stream_longer_than_one_batch_and_a_rebuild_from_the_cache(tmp_path) -> None:
    design, x = random_design(5)
    project = tmp_path / "p"
    design.write_rtl(project)
    model = compile_rtl(project)
    again = compile_rtl(project)
    assert again.path == model.path  # content-cached: no second build
    x = np.concatenate([np.asarray(x)] * 3)
    mants = [np.asarray(m).reshape(len(x), -1) for m in _as_list(design.predict_int(x))]
    from fpgaq.reference import input_mantissas

    xin = [input_mantissas(design.graph.tensors[design.graph.inputs[0]], x)]
    got = model.run(xin, threads=1, batch=257)  # odd batches: every pipeline drains and refills
    assert all(np.array_equal(g, m) for g, m in zip(got, mants))
    # the stream split across model instances running at once: the same numbers, in order
    for threads, batch in ((2, 100), (3, 64)):
        got = model.run(xin, threads=threads, batch=batch)
        assert all(np.array_equal(g, m) for g, m in zip(got, mants)), (threads, batch)
    with pytest.raises(CosimError, match="threads must be >= 1"):
        model.run(xin, threads=0)


def test_mantissas_that_do_not_fit_the_port_are_refused(tmp_path) -> None:
    design, _ = random_design(5)
    project = tmp_path / "p"
    design.write_rtl(project)
    model = compile_rtl(project)
    port = model.in_ports[0]
    bad = np.zeros((2, port.elements), dtype=np.int64)
    bad[1, 0] = port.max_int + 1
    with pytest.raises(CosimError, match="does not fit"):
        model.run([bad])


def _mixed_project(root, wide: bool):
    """A hand-written pipeline whose elements straddle up to three 32-bit words: a = 4 x signed 40-bit at
    bit 3, b = unsigned 7-bit; y[i] = a[i] + b (4 x signed 41-bit); with ``wide`` also z = a[3] * 2**29
    (signed 70-bit), which no int64 holds, so the buses cross as words."""
    import json

    out_bits = 4 * 41 + (70 if wide else 0)
    sums = "\n".join(
        f"    wire signed [39:0] a{i} = in_data[{3 + 40 * i + 39}:{3 + 40 * i}];\n"
        f"    wire signed [40:0] y{i} = {{a{i}[39], a{i}}} + {{34'd0, b}};"
        for i in range(4)
    )
    z = "    wire signed [69:0] z = {{1{a3[39]}}, a3, 29'd0};\n" if wide else ""
    data = ("z, " if wide else "") + "y3, y2, y1, y0"
    verilog = f"""`default_nettype none
module fx_mixed (
    input wire clk, input wire rst, input wire in_valid, output wire in_ready, input wire [169:0] in_data,
    output wire out_valid, input wire out_ready, output wire [{out_bits - 1}:0] out_data
);
    reg ovalid;
    reg [{out_bits - 1}:0] odata;
    wire ce = ~ovalid | out_ready;
    wire [6:0] b = in_data[169:163];
{sums}
{z}    assign in_ready = ce;
    assign out_valid = ovalid;
    assign out_data = odata;
    always @(posedge clk) begin
        if (rst) ovalid <= 1'b0;
        else if (ce) ovalid <= in_valid;
        if (ce) odata <= {{{data}}};
    end
endmodule
`default_nettype wire
"""
    (root / "rtl").mkdir(parents=True)
    (root / "rtl" / "fx_mixed.v").write_text(verilog)

    def port(t, elements, width, signed, offset, kind):
        return {
            "tensor": t,
            "port": kind,
            "shape": [elements],
            "elements": elements,
            "width": width,
            "signed": signed,
            "type": f"ac_int<{width},{str(signed).lower()}>",
            "frac": 0,
            "offset": offset,
        }

    outputs = [port("y", 4, 41, True, 0, "out_data")] + ([port("z", 1, 70, True, 164, "out_data")] if wide else [])
    manifest = {
        "top": "fx_mixed",
        "latency": 1,
        "ii": 1,
        "files": ["rtl/fx_mixed.v"],
        "inputs": [port("a", 4, 40, True, 3, "in_data"), port("b", 1, 7, False, 163, "in_data")],
        "outputs": outputs,
        "options": {},
        "nodes": [],
    }
    (root / "fpgaq_rtl.json").write_text(json.dumps(manifest))
    return root


@pytest.mark.parametrize("wide", [False, True], ids=["elements", "words"])
def test_elements_that_straddle_three_words_and_wider_than_int64(tmp_path, wide: bool) -> None:
    model = compile_rtl(_mixed_project(tmp_path / "p", wide), optimize=False)
    rng = np.random.default_rng(7)
    n = 300
    a = rng.integers(-(1 << 39), (1 << 39) - 1, size=(n, 4), endpoint=True)
    a[0], a[1] = -(1 << 39), (1 << 39) - 1  # both ends of the range
    b = rng.integers(0, 127, size=(n, 1), endpoint=True)
    b[0], b[1] = 127, 127
    if wide:
        a, b = a.astype(object), b.astype(object)
    got = model.run([a, b], threads=2, batch=64)
    want_y = [[int(a[r, i]) + int(b[r, 0]) for i in range(4)] for r in range(n)]
    assert [[int(v) for v in row] for row in got[0]] == want_y
    if wide:
        assert [int(v) for v in got[1][:, 0]] == [int(a[r, 3]) * (1 << 29) for r in range(n)]
