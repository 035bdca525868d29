"""ClockPeriod: registers placed by the delay model; every stage meets the period, numbers and latency unchanged."""

from __future__ import annotations

import dataclasses
import types

import keras
import pytest
from _rtl_testing import build, convert, cosim_exact, inputs_for, mismatches, random_design, with_options

import fpgaq
from fpgaq.config import ConfigError, load_config
from fpgaq.fixed import FixedType
from fpgaq.layers import QActivation, QDense
from fpgaq.rtl.delay import DelayModel, Operand, delay_model, fanouts, op_arrival, shortest_stage, stage_delays
from fpgaq.rtl.lower.driver import lower
from fpgaq.rtl.netlist import Netlist
from fpgaq.rtl.pipeline import Scheduler, TooSlow

XC7 = delay_model("xc7a100t")


def _longest_stage(p: object, model: DelayModel = XC7) -> float:
    return model.stage_ns(max(stage_delays(p.net, model).values(), default=0.0))  # type: ignore[attr-defined]


def _shortest_period(design: fpgaq.Design, model: DelayModel = XC7) -> float:
    """The slowest single operation with registered inputs, plus the register: no period can be shorter
    (the periods below are multiples of it, so a recalibrated model does not change what is tested)."""
    return shortest_stage(lower(design.graph).net.live(), model)


def _timed(design: fpgaq.Design, period: float, device: str = "xc7a100t") -> fpgaq.Design:
    return with_options(design, clock_period=period, timing_device=device)


@pytest.mark.parametrize(("seed", "device"), [(0, "xc7a100t"), (1, "xc7a100t"), (2, "xc7a100t"), (4, "xc7a100t"),
                                             (0, "lfe5u-85f"), (4, "lfe5u-85f")])  # fmt: skip
def test_every_stage_meets_the_period_and_the_numbers_do_not_change(seed: int, device: str) -> None:
    design, x = random_design(seed)
    model = delay_model(device)  # ECP5's prices fan-out: the scheduler and the walk must count it alike
    unpipelined = _longest_stage(build(with_options(design, pipeline_every=0)), model)
    shortest = _shortest_period(design, model)
    latencies = []
    for period in (shortest * 1.02, shortest * 1.6, shortest * 2.5):
        timed = _timed(design, period, device)
        p = build(timed)
        assert _longest_stage(p, model) <= period + 1e-9
        assert mismatches(timed, x, p) == []
        latencies.append(p.latency)
    assert latencies == sorted(latencies, reverse=True)  # a longer period never needs more stages
    assert latencies[0] > latencies[-1] or unpipelined <= shortest * 1.02


def test_a_shorter_period_than_one_operation_is_refused_with_the_shortest_possible() -> None:
    design, _ = random_design(0)
    shortest = _shortest_period(design)
    message = rf"ClockPeriod 0.5 ns cannot be met: .* layer .* shortest period this design allows is {shortest:.2f} ns"
    with pytest.raises(TooSlow, match=message):
        build(_timed(design, 0.5))
    assert build(_timed(design, shortest)).latency >= 1  # exactly the shortest is allowed
    with pytest.raises(TooSlow, match="ClockPeriod cannot be met"):  # the estimate refuses it too
        _timed(design, 0.5).estimate()


@pytest.mark.parametrize("device", ["xc7a100t", "lfe5u-85f"])  # ECP5's model prices fan-out, xc7's does not
def test_the_estimate_follows_the_generated_netlist(device: str) -> None:
    """Fmax and latency of the estimate against the scheduled netlist walked by the same model."""
    model = delay_model(device)
    for seed in (0, 2):
        design, _ = random_design(seed)
        period = 1.3 * _shortest_period(design, model)
        for options in ({"pipeline_every": 0}, {"pipeline_every": 2}, {"clock_period": period}):
            d = with_options(design, **options) if "pipeline_every" in options else _timed(design, period, device)
            p = build(d)
            est = d.estimate(device=device)
            assert est.total.latency_cycles == pytest.approx(p.latency, abs=1)
            assert est.total.stage_ns == pytest.approx(_longest_stage(p, model), rel=0.1)
            assert est.fmax_mhz == pytest.approx(1000.0 / est.total.stage_ns)
            assert est.clock_mhz == pytest.approx(est.fmax_mhz)  # no clock given: it runs at its Fmax
            assert est.latency_ns == pytest.approx(est.total.latency_cycles * 1000.0 / est.fmax_mhz)
            slow = d.estimate(device=device, clock_mhz=est.fmax_mhz * 1.5)
            assert slow.meets_clock is False and "NOT met" in slow.table()


def test_a_deeper_pipeline_is_faster_in_ns_by_the_estimate() -> None:
    """The sweep's latency axis: cycles at the design's own Fmax, not at a fixed clock."""
    design, _ = random_design(0)
    flat = with_options(design, pipeline_every=0).estimate(device="xc7a100t")
    deep = with_options(design, pipeline_every=3).estimate(device="xc7a100t")
    assert deep.total.latency_cycles > flat.total.latency_cycles
    assert deep.fmax_mhz > 1.5 * flat.fmax_mhz


def test_carry_chains_overlap_in_the_model() -> None:
    """An adder reading a rippling adder pays only the chain above it; one fed by a register pays all."""
    fresh = op_arrival(XC7, "add", 20, [Operand(0.0, 19, False), Operand(0.0, 19, False)])
    assert fresh == pytest.approx(XC7.add + 20 * XC7.carry)
    chained = op_arrival(XC7, "add", 20, [Operand(fresh - 0.1, 19, True), Operand(0.0, 19, False)])
    assert chained == pytest.approx(fresh - 0.1 + XC7.add + XC7.carry)
    flat_bits = op_arrival(XC7, "add", 20, [Operand(fresh - 0.1, 19, False)])  # e.g. a table's output: no slope
    assert flat_bits == pytest.approx(fresh - 0.1 + XC7.add + 20 * XC7.carry)
    assert op_arrival(XC7, "shl", 30, [Operand(1.25, 20, True)]) == 1.25  # wiring costs nothing
    assert op_arrival(XC7, "rom", 4, [Operand(1.0, 10, True)], index_bits=10) == pytest.approx(
        1.0 + XC7.rom + 4 * XC7.rom_bit
    )


def test_fan_out_is_counted_through_wiring_and_paid_where_read() -> None:
    """A net's loads are its readers; a shift or a bit of it is the same wires: its readers count for the net."""
    net = Netlist()
    x, y = net.add_input("x", FixedType(8, 8, True), 2)
    shifted = net.shl(x, 2)
    sums = [net.add(shifted, y), net.add(x, y), net.sub(x, y), net.add(net.bit(x, 3), y)]
    loads = fanouts(net.live(sums))
    assert loads[x.id] == 4 and loads[shifted.id] == 1  # three adders and the bit's reader; the shift's one
    assert loads[y.id] == 4 and loads.get(sums[0].id, 0) == 0
    model = dataclasses.replace(XC7, fanout=0.25)
    one = op_arrival(model, "add", 10, [Operand(0.0, 9, False, 1)])
    assert op_arrival(model, "add", 10, [Operand(0.0, 9, False, 16)]) == pytest.approx(one + 4 * 0.25)
    rippling = Operand(1.0, 9, True, 8)  # the net is paid on top of the operand's own arrival
    assert op_arrival(model, "add", 10, [rippling]) == pytest.approx(1.0 + 0.75 + model.add + model.carry)
    assert op_arrival(model, "shl", 10, [rippling]) == 1.0  # wiring passes the operand on; its reader pays


def _fanned_layer(n_out: int) -> Netlist:
    """One input added to each of ``n_out`` others: the input's net drives ``n_out`` adders."""
    net = Netlist()
    xs = net.add_input("x", FixedType(8, 8, True), n_out + 1)
    net.add_output("y", [net.add(xs[0], x) for x in xs[1:]], FixedType(9, 9, True))
    return net


def test_a_wide_fan_out_takes_more_of_the_period_and_the_netlist_agrees() -> None:
    from fpgaq.rtl.lower.driver import Lowered

    model = dataclasses.replace(XC7, fanout=0.3)
    ns = {}
    for n_out in (1, 64):
        net = _fanned_layer(n_out)
        graph = types.SimpleNamespace(nodes=[types.SimpleNamespace(name="d", options={"clock_period": 100.0})])
        low = Lowered(graph, net, {op.out.id: "d" for op in net.ops if op.kind != "input"}, {}, {})
        p = Scheduler(low, clock=model).run()
        ns[n_out] = max(stage_delays(p.net, model).values())
    assert ns[64] == pytest.approx(ns[1] + 6 * 0.3)  # 64 loads: six doublings


def _small_model() -> keras.Model:
    keras.utils.set_random_seed(11)
    inputs = keras.Input((6,), name="x")
    h = QActivation("quantized_bits(8,3,alpha=1)", name="q_in")(inputs)
    h = QDense(12, kernel_quantizer="quantized_bits(6,0,alpha=1)", bias_quantizer="quantized_bits(8,2)", name="fc1")(h)
    h = QActivation("quantized_relu(8,3)", name="r1")(h)
    h = QDense(4, kernel_quantizer="quantized_bits(6,0,alpha=1)", bias_quantizer="quantized_bits(8,2)", name="fc2")(h)
    return keras.Model(inputs, h)


def test_config_clock_period_reaches_the_rtl_and_cosimulates_at_the_reported_latency(tmp_path) -> None:
    model = _small_model()
    period = round(1.1 * _shortest_period(convert(model)), 2)
    design = convert(model, {"Model": {"ClockPeriod": period, "Device": "xc7a100t"}})
    assert all(n.options["clock_period"] == period for n in design.graph.nodes if n.op != "input")
    p = build(design)
    assert p.clock_period == period and p.latency > 2
    assert _longest_stage(p) <= period
    x = inputs_for(design, 300, seed=5)[0]
    cosim_exact(design, x, tmp_path / "cp3")  # bit for bit, at the manifest's latency


def test_config_refuses_clock_period_with_pipeline_every_and_bad_values() -> None:
    with pytest.raises(ConfigError, match=r"Model.ClockPeriod: .*LayerName.fc1.PipelineEvery cannot be honoured"):
        load_config({"Model": {"ClockPeriod": 4}, "LayerName": {"fc1": {"PipelineEvery": 2}}})
    with pytest.raises(ConfigError, match=r"Model\.PipelineEvery"):
        load_config({"Model": {"ClockPeriod": 4, "PipelineEvery": 1}})
    with pytest.raises(ConfigError, match=r"Model\.ClockPeriod"):
        load_config({"Model": {"ClockPeriod": -1}})
    with pytest.raises(ConfigError, match=r"Model\.Device"):
        load_config({"Model": {"ClockPeriod": 4, "Device": "xc9z"}})
    with pytest.raises(ConfigError, match=r"set Model\.ClockPeriod instead"):
        load_config({"LayerName": {"fc1": {"ClockPeriod": 4}}})
    cfg = load_config({"Model": {"ClockPeriod": 4, "Device": "ecp5"}})
    assert (cfg.model.clock_period, cfg.model.device) == (4.0, "lfe5u-85f")
    assert load_config(cfg.to_dict()).to_dict() == cfg.to_dict()
