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
