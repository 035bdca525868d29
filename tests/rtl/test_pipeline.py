"""Pipelining: balanced registers, logic depth per PipelineEvery, exact latency, unchanged function."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from _rtl_testing import build, convert, digits_design, inputs_for, jet_design, mismatches, with_options

from fpgaq.layers import QActivation, QDense
from fpgaq.rtl.netlist import Netlist, Op, simulate
from fpgaq.rtl.pipeline import Pipelined

# Logic levels as the pipeline module documents them (carry chains count, wiring and muxes do not).
_LEVELS = {"add": 1, "neg": 1, "max": 1, "min": 1, "clip": 1, "rom": 1, "accum": 1, "mul": 2, "mulc": 2}


def _registers_on_paths(net: Netlist) -> dict[int, int | None]:
    """Registers between the input port and every signal, asserting that all paths agree (balance)."""
    count: dict[int, int | None] = {}
    for op in net.live():
        args = [count[a.id] for a in op.args]
        if op.kind == "input":
            c = 0
        elif op.kind in ("const", "phase"):
            c = None  # timeless: constants and valid bits
        elif op.kind in ("reg", "hold"):
            c = args[0] + 1
        elif op.kind == "accum":
            c = args[0] + op.param[1] - 1
        else:
            known = {a for a in args if a is not None}
            assert len(known) <= 1, f"unbalanced {op.kind} s{op.out.id}: inputs after {sorted(known)} registers"
            c = known.pop() if known else None
        count[op.out.id] = c
    return count


def _levels(net: Netlist) -> dict[int, int]:
    depth: dict[int, int] = {}
    for op in net.live():
        if op.kind in ("input", "const", "phase", "reg", "hold"):
            depth[op.out.id] = 0
        else:
            depth[op.out.id] = max((depth[a.id] for a in op.args), default=0) + _LEVELS.get(op.kind, 0)
    return depth


def _check_schedule(p: Pipelined) -> dict[int, int | None]:
    count = _registers_on_paths(p.net)
    for _, sigs, _ in p.net.outputs:
        for s in sigs:
            assert count[s.id] in (None, p.latency)
    ops: list[Op] = p.net.live()
    for op in ops:
        if op.kind == "hold":
            assert op.param[1] == count[op.args[0].id]  # loads when its input's stage is valid
        if op.kind == "accum":
            assert op.param[4] == count[op.args[0].id]  # cleared by the first phase at its input's stage
        for a in op.args:
            producer = p.net.producer(a)
            if producer.kind == "phase" and count[op.out.id] is not None:
                _, phase, _, valid = producer.param
                here = count[op.out.id] if op.kind not in ("reg", "hold", "accum") else count[op.args[0].id]
                assert valid == here + phase  # phase p at stage k is the valid bit of stage k + p
    return count


@pytest.mark.parametrize("every", [0, 1, 2, 3, 5])
def test_jet_tagger_is_balanced_exact_and_shallow(every: int) -> None:
    design = with_options(jet_design(), pipeline_every=every)
    p = build(design)
    _check_schedule(p)
    assert mismatches(design, inputs_for(design, 2000), p) == []
    if every:
        assert max(_levels(p.net).values()) <= max(every, 2)
    else:
        # input registers + one register stage after each of fc1, fc2, fc3, output and softmax
        assert p.latency == 6
        assert p.node_stages == {"fc1": (1, 2), "fc2": (2, 3), "fc3": (3, 4), "output": (4, 5), "softmax": (5, 6)}


@pytest.mark.parametrize("every", [0, 1, 3])
def test_digits_cnn_is_balanced_and_exact(every: int) -> None:
    design = with_options(digits_design(), pipeline_every=every)
    p = build(design)
    _check_schedule(p)
    assert mismatches(design, inputs_for(design, 1000), p) == []
    if every == 0:
        assert p.latency == 6  # input, conv1, pool1, conv2, output, softmax; flatten is wiring
        assert p.node_stages["flatten"] == (4, 4)


def _sum4(every: int) -> Pipelined:
    """y = x0 + x1 + x2 + x3 (integers): an adder tree two levels deep, output type exact."""
    inp = keras.Input((4,), name="x")
    x = QActivation("quantized_bits(4,3,alpha=1)", name="in_q")(inp)
    layer = QDense(1, use_bias=False, kernel_quantizer="quantized_bits(4,3,alpha=1)", name="d")
    y = layer(x)
    layer.kernel.assign(np.ones((4, 1), dtype=np.float32))
    design = with_options(convert(keras.Model(inp, y, name="sum4")), pipeline_every=every)
    return build(design)


@pytest.mark.parametrize(("every", "latency", "registers"), [(0, 2, 4 + 1), (1, 3, 4 + 2 + 1), (2, 2, 4 + 1)])
def test_latency_of_a_two_level_adder_tree(every: int, latency: int, registers: int) -> None:
    """Input registers (stage 1), then: PipelineEvery 0 or 2 registers the sum (stage 2); 1 also registers
    the two first-level sums (stage 2) and the total (stage 3)."""
    p = _sum4(every)
    assert p.latency == latency
    assert sum(op.kind == "reg" for op in p.net.live()) == registers
    x = np.array([[1, 2, 3, 4], [-8, -8, -8, -8], [7, 7, 7, 7]])
    assert simulate(p.net, [x])[0][:, 0].tolist() == [10, -32, 28]


def test_delay_registers_balance_a_skip_connection() -> None:
    """x -> dense -> relu, concatenated with x itself: x is delayed by the dense layer's stages."""
    inp = keras.Input((3,), name="x")
    x = QActivation("quantized_bits(6,2,alpha=1)", name="in_q")(inp)
    y = QDense(3, kernel_quantizer="quantized_bits(4,0,alpha=1)", name="d")(x)
    y = QActivation("quantized_relu(5,2)", name="r")(y)
    z = keras.layers.Concatenate(name="cat")([x, y])
    design = with_options(convert(keras.Model(inp, z, name="skip")), pipeline_every=1)
    p = build(design)
    count = _check_schedule(p)
    ((_, outs, _),) = p.net.outputs
    assert {count[s.id] for s in outs if count[s.id] is not None} == {p.latency}
    assert p.latency > 2
    assert mismatches(design, inputs_for(design, 500), p) == []
