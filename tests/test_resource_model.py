"""The resource model: features agree with the RTL back end, estimates are sane, calibration fits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

import fpgaq
from fpgaq import zoo
from fpgaq.calibrate import all_items, corpus, design_features, errors, fit
from fpgaq.converters.rtl import build_rtl
from fpgaq.design import Design
from fpgaq.devices import DEVICES, get_device
from fpgaq.fixed import FixedType
from fpgaq.resource_model import FEW_WEIGHTS, FF_FEATURES, LUT_FEATURES, dsp_slices, estimate
from fpgaq.rtl import features as F
from fpgaq.rtl.netlist import Netlist
from fpgaq.testing.random_models import build_model, random_spec


def _with(design: Design, **options) -> Design:
    graph = design.graph.copy()
    for node in graph.nodes:
        if node.op != "input":
            node.options.update(options)
    return Design(graph, design.config)


@pytest.fixture(scope="module")
def jet() -> Design:
    keras.utils.set_random_seed(2)
    return fpgaq.convert(zoo.jet_tagger())


@pytest.fixture(scope="module")
def digits() -> Design:
    keras.utils.set_random_seed(3)
    return fpgaq.convert(zoo.digits_cnn())


def _real(design: Design) -> tuple[int, int, int]:
    """(latency, adders, register bits) of the generated RTL."""
    p = build_rtl(design)
    adders = sum(1 for op in p.net.live() if op.kind in ("add", "neg", "accum"))
    regs = sum(op.out.width for op in p.net.live() if op.kind in ("reg", "hold", "accum"))
    return p.latency, adders, regs


OPTIONS = [
    {"pipeline_every": 0, "reuse_factor": 1},
    {"pipeline_every": 1, "reuse_factor": 1},
    {"pipeline_every": 3, "reuse_factor": 1},
    {"pipeline_every": 2, "reuse_factor": 2},
    {"pipeline_every": 0, "reuse_factor": 4},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: f"N{o['pipeline_every']}-R{o['reuse_factor']}")
@pytest.mark.parametrize("which", ["jet", "digits"])
def test_latency_is_exact_and_structure_matches_the_rtl(which: str, options: dict, request) -> None:
    design = _with(request.getfixturevalue(which), **options)
    latency, adders, regs = _real(design)
    est = estimate(design, device="xcvu9p")
    nfs, feat_latency, input_bits = F.graph_features(design.graph)
    assert est.total.latency_cycles == latency == feat_latency
    assert sum(nf.features["adders"] for nf in nfs) == pytest.approx(adders, rel=0.01)
    # register bits: every pipeline, delay, hold and accumulator register, plus the input registers,
    # less the bits no logic reads (the low bits a rounding shift drops), which synthesis removes
    ours = sum(nf.features["reg_bits"] for nf in nfs) + input_bits
    assert 0.9 * regs <= ours <= 1.03 * regs


@pytest.mark.parametrize("seed", [0, 2, 3, 8, 12, 18, 19])
def test_latency_matches_random_designs(seed: int) -> None:
    design = fpgaq.convert(build_model(random_spec(seed)))
    for options in OPTIONS[:4]:
        d = _with(design, **options)
        assert estimate(d).total.latency_cycles == build_rtl(d).latency, options


@pytest.mark.parametrize("seed", [1, 2, 11])
def test_learned_designs_have_the_rtl_latency(seed: int) -> None:
    """Learned precision: each linear layer's ``quantize`` reader is counted with it (its rounding rides on
    the bias adder in the RTL, and the layer's own output is no register then), and a layer reading
    per-element grids is scheduled from them; what later layers ignore the features still count."""
    design = fpgaq.convert(build_model(random_spec(seed, learned=True)))
    for options in OPTIONS[:2]:
        d = _with(design, **options)
        latency, adders, _ = _real(d)
        nfs, feat_latency, _ = F.graph_features(d.graph)
        assert estimate(d).total.latency_cycles == latency == feat_latency, options
        assert adders <= sum(nf.features["adders"] for nf in nfs) <= 1.6 * adders, options


def test_a_quantize_after_a_linear_layer_is_counted_with_it() -> None:
    design = fpgaq.convert(build_model(random_spec(0, family="mlp", depth=2, learned=True)))
    graph = design.graph
    nfs = {nf.name: nf for nf in F.graph_features(graph)[0]}
    fused = [n for n in graph.nodes if n.op == "quantize" and graph.producer(n.inputs[0]).op == "dense"]
    assert fused
    for node in fused:
        assert nfs[node.name].features.counts == F.Features().counts


def test_replayed_schedule_equals_the_real_scheduler(jet: Design, digits: Design, monkeypatch) -> None:
    """Cores are scheduled by replaying the rule; the real scheduler must give the same timing."""
    for design in (jet, digits):
        for options in OPTIONS[1:]:
            d = _with(design, **options)
            F.clear_cache()
            replayed = F.graph_features(d.graph)
            monkeypatch.setattr(F, "_REPLAY_CORES", False)
            F.clear_cache()
            real = F.graph_features(d.graph)
            monkeypatch.setattr(F, "_REPLAY_CORES", True)
            assert replayed[1] == real[1]
            for a, b in zip(replayed[0], real[0]):
                assert a.stages == b.stages
                # the real scheduler's count leaves out SRL and DSP detail only
                assert a.features["reg_bits"] == pytest.approx(b.features["reg_bits"], rel=0.02)


def test_fast_timing_is_an_upper_bound(jet: Design) -> None:
    for options in OPTIONS:
        d = _with(jet, **options)
        exact = estimate(d, exact=True).total
        fast = estimate(d, exact=False).total
        assert fast.latency_cycles >= exact.latency_cycles
        if options["pipeline_every"] == 0:
            assert fast.latency_cycles == exact.latency_cycles
        assert fast.lut == pytest.approx(exact.lut, rel=0.01)


def test_width_rescaling_matches_a_fresh_probe() -> None:
    """A core probed at one input width and reused at another gives the features of a fresh probe."""
    keras.utils.set_random_seed(5)
    wide = fpgaq.convert(zoo.jet_tagger(input_bits=16))
    keras.utils.set_random_seed(5)
    narrow = fpgaq.convert(zoo.jet_tagger(input_bits=10))
    F.clear_cache()
    F.graph_features(wide.graph)  # probes fc1 at 16 bits
    reused = F.graph_features(narrow.graph)[0][0].features
    F.clear_cache()
    fresh = F.graph_features(narrow.graph)[0][0].features
    assert reused["adders"] == fresh["adders"]
    assert reused["add_bits"] == pytest.approx(fresh["add_bits"], rel=0.02)


def test_estimate_api(jet: Design) -> None:
    est = jet.estimate(device="xc7a100t", clock_mhz=200)
    assert [n.name for n in est.nodes] == [n.name for n in jet.graph.nodes if n.op != "input"]
    assert est.total.lut == pytest.approx(sum(n.lut for n in est.nodes))
    assert est.total.lut > 10_000 and est.total.ff > 500
    assert est.latency_ns == pytest.approx(est.total.latency_cycles * 5.0)
    use = est.utilization()
    assert use["lut"] == pytest.approx(est.total.lut / 63_400)
    assert est.fits() == all(v <= 1 for v in use.values() if v is not None)
    data = json.loads(json.dumps(est.to_dict()))
    assert data["label"].startswith("RTL estimate") and data["device"] == "xc7a100t"
    assert "jet_tagger on xc7a100t" in est.table()
    hls = jet.estimate(device="xcvu9p", backend="hls")
    assert "HLS estimate" in hls.label and "not calibrated" in hls.label
    assert hls.total.dsp > 0  # 6-bit weights times 16-bit inputs bind to DSPs in the HLS model
    no_dsp = jet.estimate(device="xc7a100t", use_dsp=False)
    assert no_dsp.total.dsp == 0 and no_dsp.total.lut > est.total.lut


def test_lut4_costs_more_luts_than_lut6(jet: Design) -> None:
    assert jet.estimate(device="generic-lut4").total.lut > jet.estimate(device="xcvu9p").total.lut


def test_devices_and_errors(jet: Design) -> None:
    assert {"xcvu9p", "xc7a100t", "generic-lut4"} <= set(DEVICES)
    assert get_device("vu9p").name == "xcvu9p"
    with pytest.raises(ValueError, match="not a known preset; choose one of xcvu9p, xc7a100t"):
        get_device("xc9zz")
    with pytest.raises(ValueError, match="backend 'vhdl' is not supported; choose one of rtl, hls"):
        estimate(jet, backend="vhdl")
    with pytest.raises(ValueError, match="clock_mhz must be positive"):
        estimate(jet, clock_mhz=0)
    assert get_device("generic-lut4").budget()["lut"] is None
    assert jet.estimate(device="generic-lut4").fits()


def test_dsp_packing_rule() -> None:
    assert dsp_slices(16, 0, "xc7") == 0  # a power of two is a shift
    assert dsp_slices(4, 3, "xc7") == 0  # too small: LUTs
    assert dsp_slices(16, 7, "xc7") == 1
    assert dsp_slices(30, 7, "xc7") == 2  # wider than the 25-bit port: two slices
    assert dsp_slices(30, 7, "xcup") == 2 and dsp_slices(26, 7, "xcup") == 1
    assert dsp_slices(16, 7, "generic-lut4") == 0
    assert dsp_slices(6, 3, "xc7", 8) == 0 and dsp_slices(6, 3, "xc7", 9) == 1  # mul2dsp's 9-bit product
    assert dsp_slices(10, 1, "xc7", 11) == 0  # a 1-bit operand: LUTs


def test_dsp_count_matches_yosys_on_the_calibration_designs() -> None:
    """The DSP rule against what Yosys did with every calibration design on xc7 (folded layers
    multiply held inputs by multiplexed weights, whose widths the rule must read as Yosys does)."""
    import json

    from fpgaq.resource_model import lut_terms

    path = Path(__file__).parents[1] / "fpgaq" / "data" / "calibration" / "xc7.json"
    records = [r for r in json.loads(path.read_text())["records"] if r["mul_shapes"]]
    assert len(records) >= 25
    predicted = {
        r["name"]: lut_terms(r["features"], r["mul_shapes"], "xc7", r.get("use_dsp", True))[1] for r in records
    }
    measured = {r["name"]: r["synth"]["dsp"] for r in records}
    dense = [r["name"] for r in records if r["description"].startswith("dense")]
    assert len(dense) >= 15
    assert {n: predicted[n] for n in dense} == {n: measured[n] for n in dense}
    assert sum(predicted.values()) == pytest.approx(sum(measured.values()), rel=0.15)


def test_fit_recovers_known_coefficients() -> None:
    """Records made from known coefficients (with the features calibration stores) are fitted back."""
    rng = np.random.default_rng(0)
    truth_lut = dict(zip(LUT_FEATURES, rng.uniform(0.2, 1.2, len(LUT_FEATURES)).round(2)))
    truth_ff = dict(zip(FF_FEATURES, [1.0, 0.2, 0.6, 1.0, 4.0]))
    assert len(truth_ff) == len(FF_FEATURES)
    products = ("mul_bits", "smul_bits", "gmul_bits")
    direct = [k for k in LUT_FEATURES if k != "lut_add_bits" and k not in products]  # counted as they are
    records = []
    for i in range(60):
        f = {k: float(rng.integers(0, 3000)) for k in direct}
        f["dsp_add_bits"] = float(rng.integers(0, 500))
        f["carry_bits"] = float(rng.integers(0, 1500))
        f["add_bits"] = f["dsp_add_bits"] + f["carry_bits"] + f["add3_bits"] + float(rng.integers(0, 5000))
        f.update(reg_bits=float(rng.integers(500, 3000)), srl_bits=0.0, dsp_reg_bits=float(rng.integers(0, 50)))
        by_constant, chosen, general = (int(v) for v in rng.integers(0, 20, 3))
        # too small for a DSP: LUT multipliers by a constant, by a weight among 2 (3 adder rows), of two signals
        shapes = [[3, 2, 4, 0, 0]] * by_constant + [[3, 2, 4, 2, 3]] * chosen + [[3, 2, 4, -1, 0]] * general
        latency = int(rng.integers(1, 20))
        lut_add_bits = f["add_bits"] - f["dsp_add_bits"] - f["carry_bits"] - f["add3_bits"]
        products = {"mul_bits": 6.0 * by_constant, "smul_bits": 9.0 * chosen, "gmul_bits": 3.0 * general}
        parts = {**f, "lut_add_bits": lut_add_bits, **products}
        lut = sum(truth_lut[k] * parts[k] for k in LUT_FEATURES)
        ff = (
            truth_ff["ff_bits"] * (f["reg_bits"] - f["dsp_reg_bits"] + 16)
            + truth_ff["dsp_reg_bits"] * f["dsp_reg_bits"]
            + truth_ff["srl_cells"] * f["srl_cells"]
            + truth_ff["latency"] * latency
            + truth_ff["const"]
        )
        records.append(
            {
                "split": "fit" if i < 45 else "holdout",
                "features": f,
                "mul_shapes": shapes,
                "latency": latency,
                "input_bits": 16,
                "synth": {"lut": lut, "ff": ff},
            }
        )
    coef = fit(records, "xc7")
    for k, v in truth_lut.items():
        assert coef["lut"][k] == pytest.approx(float(v), rel=0.03, abs=0.02), k
    assert coef["ff"]["ff_bits"] == pytest.approx(1.0, rel=0.03)
    err = errors([r for r in records if r["split"] == "holdout"], coef, "xc7")
    assert err["lut_median_error"] < 0.01 and err["ff_median_error"] < 0.02


def test_fit_needs_enough_designs() -> None:
    with pytest.raises(ValueError, match="too few to fit"):
        fit([], "xc7")


def test_shipped_calibration_records_reproduce_the_features() -> None:
    """The stored records were measured on designs the corpus still builds the same way."""
    from importlib import resources

    records = json.loads(resources.files("fpgaq").joinpath("data/calibration/xc7.json").read_text())["records"]
    items = {it.name: it for it in all_items()}
    for rec in records[:3] + [r for r in records if r["name"].startswith("cal_")][:3]:
        again = design_features(items[rec["name"]].build())
        assert again["latency"] == rec["latency"] == rec["rtl_latency"]
        assert again["features"]["adders"] == rec["features"]["adders"]


def test_shipped_model_errors_are_within_the_targets() -> None:
    from importlib import resources

    shipped = json.loads(resources.files("fpgaq").joinpath("data/resource_model.json").read_text())
    # generic-lut4 keeps only the shipped designs the ternary-adder corpus left unchanged (not resynthesized)
    for flow, designs in (("xc7", 30), ("xcup", 12), ("generic-lut4", 8)):
        held = shipped["flows"][flow]["holdout"]
        assert held["designs"] >= designs
        assert held["lut_median_error"] <= 0.15, flow
        assert held["ff_median_error"] <= 0.10, flow


@pytest.mark.skipif(shutil.which("yosys") is None, reason="needs Debian's yosys for synth_xilinx")
def test_estimate_against_a_fresh_synthesis(tmp_path) -> None:
    """Layers from seeds the calibration never saw, synthesized now: estimates within the targets'
    neighbourhood (the benchmark measures the medians over many designs)."""
    from fpgaq.sim.synth import synthesize_project

    for item in corpus("holdout", 2, seed=7000):
        design = item.build()
        design.write_rtl(tmp_path / item.name, samples=0)
        result, _ = synthesize_project(tmp_path / item.name, device="xc7")
        est = design.estimate(device="xc7a100t")
        assert est.total.lut == pytest.approx(result.luts, rel=0.3), item.description
        assert est.total.ff == pytest.approx(result.ffs, rel=0.2), item.description
        assert abs(est.total.dsp - result.dsp) <= max(2, 0.1 * result.dsp), item.description


def test_estimate_cli(tmp_path, capsys) -> None:
    from fpgaq.cli import main

    keras.utils.set_random_seed(1)
    model = build_model(random_spec(3))
    path = tmp_path / "m.keras"
    model.save(path)
    out = tmp_path / "est.json"
    assert main(["estimate", str(path), "--device", "xcvu9p", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "RTL estimate" in printed and "latency" in printed
    assert json.loads(out.read_text())["device"] == "xcvu9p"
    assert main(["estimate", str(path), "--device", "nope"]) == 2
    assert "not a known preset" in capsys.readouterr().err


def test_calibrate_cli_refits_stored_records(tmp_path, capsys) -> None:
    from importlib import resources

    from fpgaq.cli import main

    (tmp_path / "calibration").mkdir()
    src = resources.files("fpgaq").joinpath("data/calibration/xc7.json").read_text()
    (tmp_path / "calibration" / "xc7.json").write_text(src)
    assert main(["calibrate", "--refit", "-o", str(tmp_path), "--fit", "48", "--holdout", "24"]) == 0
    model = json.loads((tmp_path / "resource_model.json").read_text())
    assert set(model["flows"]["xc7"]["lut"]) == set(LUT_FEATURES)
    assert "FPGAQ_RESOURCE_MODEL" in capsys.readouterr().out


# ----------------------------------------------------------------------------- what one op counts
def _counts(build) -> dict[str, float]:
    net = Netlist()
    x = net.add_input("x", FixedType(12, 12, True), 1)[0]
    y = net.add_input("y", FixedType(3, 3, False), 1)[0]
    z = net.add_input("z", FixedType(3, 3, True), 1)[0]
    out = build(net, x, y, z)
    return F.op_features([op for op in net.live([out]) if op.kind not in ("input", "const")]).counts


def test_adder_bits_above_an_unsigned_operand_only_carry() -> None:
    c = _counts(lambda n, x, y, z: n.add(x, y))
    assert (c["add_bits"], c["carry_bits"]) == (13, 10)  # 13-bit sum, y's 3 low bits need a LUT each
    assert _counts(lambda n, x, y, z: n.add(x, z))["carry_bits"] == 0  # z's sign extends over every bit
    assert _counts(lambda n, x, y, z: n.sub(x, y))["carry_bits"] == 0  # ~y's high ones take inverters
    # an unsigned operand wholly below the other's lowest bit: a concatenation, no LUT at all
    fraction = FixedType(3, 0, False)
    shifted = _counts(lambda n, x, y, z: n.add(x, n.add_input("w", fraction, 1)[0]))
    assert shifted["add_bits"] == shifted["carry_bits"] == 12


def test_rounding_constant_trailing_zeros_pass_through() -> None:
    c = _counts(lambda n, x, y, z: n.add(x, n.const(8)))  # + 0b1000: the 3 low bits are x's own
    assert c["add_bits"] == 13 - 3


def test_saturation_to_whole_bits_compares_the_bits_above() -> None:
    whole = _counts(lambda n, x, y, z: n.clip(x, 0, 15))
    assert whole["cmp_bits"] == 12 - 4 + 1  # the sign and the 8 bits above the result's 4
    assert _counts(lambda n, x, y, z: n.clip(x, -16, 15))["cmp_bits"] == 12 - 5 + 1
    assert _counts(lambda n, x, y, z: n.clip(x, -3, 20))["cmp_bits"] == 2 * 12  # two comparators


def test_lut_products_are_priced_by_kind() -> None:
    """A product of two signals is an array of partial products (an adder row per bit of the narrower
    operand after the first: about 2.3 LUTs per bit in Yosys 0.23), a product by a weight chosen among
    a few constants is those constant products by shifts and adds, and a product by a constant is cheap:
    three terms, fitted apart."""
    from fpgaq.resource_model import lut_terms

    counts = dict.fromkeys(("add_bits", "dsp_add_bits", "carry_bits", "add3_bits"), 0.0)
    shapes = [(16, 6, 21, -1, 0), (16, 6, 21, -1, 0), (6, 2, 7, 0, 0), (8, 3, 11, 2, 3), (8, 3, 11, 9, 0)]
    terms, dsp = lut_terms(counts, shapes, "xc7", use_dsp=False)
    assert dsp == 0 and terms["mul_bits"] == 12 and terms["smul_bits"] == 8 * 3
    assert terms["gmul_bits"] == 2 * 16 * 5 + 8 * 2  # 9 weights are too many: a general multiplier
    terms, dsp = lut_terms(counts, shapes, "xc7", use_dsp=True)  # the 16x6 and 8x3 ones go to DSP slices
    assert dsp == 4 and terms["gmul_bits"] == terms["smul_bits"] == 0 and terms["mul_bits"] == 12


def test_a_folded_layer_counts_its_multipliers_as_general() -> None:
    from fpgaq.calibrate import design_features, fold_corpus

    item = fold_corpus("holdout", 4)[0]  # folded 16 times
    shapes = design_features(item.build())["mul_shapes"]
    assert shapes and all(s[3] == -1 or s[3] > FEW_WEIGHTS for s in shapes)
