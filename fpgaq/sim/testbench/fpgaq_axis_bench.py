"""cocotb bench for a generated RTL project: drives input beats, records output beats, checks the handshake.

Runs inside the simulator.  :mod:`fpgaq.sim.cosim` prepares the run directory
named by ``$FPGAQ_COSIM_RUN`` (``bench.json`` with the settings, ``inputs.hex``
with one packed input bus per sample) and reads back ``results.json``.  The
bench compares nothing: bit-exactness is judged on the Python side from the
recorded words, which keeps the per-cycle loop down to one ``await`` per clock
edge.

Timing convention (Verilator with cocotb's trusted inertial writes, as in
event-driven simulators): values read right after ``RisingEdge`` are the ones
the design sampled at that edge, and values written then take effect for the
next edge.  Edge numbers count rising edges after reset, so an input accepted
at edge ``t`` and delivered at edge ``t + L`` has latency ``L``.

Two phases, one stream: the first ``latency_samples`` samples go back to back
with ``out_ready`` held high (latency and II are measured there); once they
have all come out, every sample is sent again with random idle cycles on
``in_valid`` and random back-pressure on ``out_ready``.  On the first
``probe_ready`` cycles of the second phase that offer a beat, ``in_ready`` is
read with ``in_valid`` low and high within the cycle: it must not change.

``bench.json``: samples, latency_samples, idle, backpressure (probabilities
per cycle), seed, reset_cycles, drain_cycles (cycles watched for extra beats
after the last one), watchdog_cycles (cycles without any transfer before
giving up), probe_ready.  ``results.json``: outputs (hex words in arrival
order), accept_cycles and output_cycles (edge numbers per beat), errors
(protocol violations, one line per kind with its count), cycles,
stall_cycles, idle_cycles, input_wait_cycles, probes, extra_beats, wall_time.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, ReadWrite, RisingEdge


@cocotb.test()
async def axis_stream(dut: Any) -> None:
    run = Path(os.environ["FPGAQ_COSIM_RUN"])
    settings = json.loads((run / "bench.json").read_text())
    words = [int(w, 16) for w in (run / "inputs.hex").read_text().split()]
    start = time.perf_counter()
    result = await _run(dut, settings, words)
    result["wall_time"] = time.perf_counter() - start
    (run / "results.json").write_text(json.dumps(result))


async def _in_ready_ignores_in_valid(dut: Any) -> bool:
    """Whether ``in_ready`` reads the same with ``in_valid`` low and high in this cycle (leaves it high)."""
    dut.in_valid.value = 0
    await ReadWrite()
    low = int(dut.in_ready.value)
    dut.in_valid.value = 1
    await ReadOnly()
    return low == int(dut.in_ready.value)


async def _run(dut: Any, cfg: dict[str, Any], words: list[int]) -> dict[str, Any]:
    n, k = cfg["samples"], cfg["latency_samples"]
    beats = k + n  # beat b carries sample b (b < k), then sample b - k
    idle, backpressure = cfg["idle"], cfg["backpressure"]
    watchdog, drain, probes = cfg["watchdog_cycles"], cfg["drain_cycles"], cfg["probe_ready"]
    rng = random.Random(cfg["seed"])
    errors: dict[str, list[Any]] = {}  # kind -> [first message, count, last edge]

    def error(kind: str, message: str) -> None:
        seen = errors.get(kind)
        if seen is None:
            errors[kind] = [message, 1, cycle]
        else:
            seen[1] += 1
            seen[2] = cycle

    in_valid, in_ready, in_data = dut.in_valid, dut.in_ready, dut.in_data
    out_valid, out_ready, out_data = dut.out_valid, dut.out_ready, dut.out_data
    Clock(dut.clk, 2, unit="step").start()
    edge = RisingEdge(dut.clk)
    dut.rst.value = 1
    in_valid.value = 0
    in_data.value = 0
    out_ready.value = 0
    for _ in range(cfg["reset_cycles"]):
        await edge
    dut.rst.value = 0

    accept_cycles: list[int] = []
    output_cycles: list[int] = []
    outputs: list[str] = []
    cycle = sent = received = extra = 0
    stalls = idles = waits = probed = 0
    last_transfer = 0
    driving = False
    v_drive = r_drive = 0
    held: int | None = None  # word offered but not taken at the previous edge
    while True:
        # --- drive what the next edge samples
        if not driving and sent < beats:
            if sent < k:
                driving = True
            elif received >= k:  # the latency phase has drained
                if rng.random() >= idle:
                    driving = True
                else:
                    idles += 1
            if driving:
                in_data.value = words[sent if sent < k else sent - k]
        v = 1 if driving else 0
        if v != v_drive:
            in_valid.value = v_drive = v
        r = 1 if received < k or rng.random() >= backpressure else 0
        if r != r_drive:
            out_ready.value = r_drive = r
        if driving and probed < probes and sent >= k:
            probed += 1
            if not await _in_ready_ignores_in_valid(dut):
                error("ready", f"edge {cycle + 1}: in_ready changes with in_valid (it must not depend on in_valid)")

        # --- what the design did at this edge
        await edge
        cycle += 1
        if driving:
            if int(in_ready.value):
                accept_cycles.append(cycle)
                sent += 1
                driving = False
                last_transfer = cycle
            else:
                waits += 1
        if int(out_valid.value):
            try:
                word = int(out_data.value)
            except ValueError:
                error("xz", f"edge {cycle}: out_data has X or Z bits while out_valid is high")
                word = -1
            if held is not None and word != held:
                error("unstable", f"edge {cycle}: out_data changed while out_valid was high and out_ready low")
            if r_drive:
                held = None
                last_transfer = cycle
                if received >= beats:
                    extra += 1
                    error("extra", f"edge {cycle}: an output beat beyond the {beats} inputs driven")
                else:
                    if received >= sent:
                        error("early", f"edge {cycle}: output beat {received} before its input was accepted")
                    outputs.append(format(word, "x") if word >= 0 else "")
                    output_cycles.append(cycle)
                    received += 1
            else:
                held = word
                stalls += 1
        elif held is not None:
            error("dropped", f"edge {cycle}: out_valid dropped before the offered beat was taken")
            held = None

        if sent >= beats and received >= beats:
            drain -= 1
            if drain < 0:
                break
        elif cycle - last_transfer > watchdog:
            error(
                "stuck",
                f"edge {cycle}: no transfer for {watchdog} cycles with {sent} of {beats} beats accepted and "
                f"{received} delivered; simulation stopped",
            )
            break

    return {
        "accept_cycles": accept_cycles,
        "output_cycles": output_cycles,
        "outputs": outputs,
        "errors": [
            message if count == 1 else f"{message} (and {count - 1} more times, the last at edge {last})"
            for message, count, last in errors.values()
        ],
        "cycles": cycle,
        "stall_cycles": stalls,
        "idle_cycles": idles,
        "input_wait_cycles": waits,
        "probes": probed,
        "extra_beats": extra,
    }
