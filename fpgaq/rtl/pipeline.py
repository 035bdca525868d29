"""Pipelining: a pure function from a lowered netlist to one with balanced registers.

Timing model.  A signal's *stage* is the number of registers between the
design's input port and it; its *depth* is the number of logic levels since
its last register.  Levels count carry-chain operations, the part of a
path that grows with width: ``add``/``neg`` (adders and subtractors),
``max``/``min``/``clip`` (a comparison), ``rom`` and ``accum`` one level
each, a ``*`` (``mul``, ``mulc``) two; wiring (shifts, bit selects, wraps)
and multiplexers (one LUT level next to a carry chain) count zero.

Where registers go:

* every input element is registered when accepted (stage 1), so the first
  layer's logic never hangs on the input port;
* ``PipelineEvery: N > 0`` (per layer, ``node.options["pipeline_every"]``):
  an operation's output is registered as soon as its depth reaches ``N``,
  and an operation whose inputs are already ``d > 0`` levels deep and would
  exceed ``N`` gets registered inputs instead; so no register-to-register
  path of that layer has more than ``max(N, 2)`` levels;
* ``PipelineEvery: 0``: one register stage on each layer's outputs (layers
  that are pure wiring, such as reshape, add none);
* the outputs are not registered again: ``out_data`` is the last stage's
  registers, or logic of at most ``N`` levels after them, stable while the
  output is stalled because every register holds.

Balancing: an operation reading signals of different stages reads the
earlier ones through delay registers (one chain per signal, shared by all
readers), so every path from input to output crosses the same number of
registers; all outputs are delayed to the last one's stage.  The design's
latency is that stage: a sample accepted at clock edge ``t`` leaves at edge
``t + latency`` when the output is not stalled.

Folded layers (:mod:`fpgaq.rtl.fold`): the inputs of a fold group are
captured by ``hold`` registers one stage after the latest of them; phase
``p`` of a signal at stage ``k`` is the valid bit of stage ``k + p`` (samples
are at least ``R`` cycles apart, so that bit is the sample's phase); an
``accum`` whose input is at stage ``k`` delivers its sum at stage
``k + R - 1``.  Logic between the holds and the accumulator may be
pipelined like any other; the stages recorded in the ``hold``, ``phase``
and ``accum`` params are what the Verilog emitter reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence

from fpgaq.errors import SettingError
from fpgaq.rtl.delay import (
    DEFAULT_TIMING_DEVICE,
    DelayModel,
    Operand,
    delay_model,
    extra_bits,
    net_loads_and_widths,
    op_arrival,
    shortest_stage,
    sloped_output,
)
from fpgaq.rtl.lower.driver import Lowered
from fpgaq.rtl.netlist import Netlist, Op, Signal

__all__ = [
    "LEVELS",
    "Arrival",
    "Pipelined",
    "Scheduler",
    "TooSlow",
    "clock_period",
    "hold_stage",
    "pipeline",
    "read_stage",
    "registers_output",
]

Arrival = tuple[int, int]  # (stage, logic depth) at which a signal is available

#: Logic levels of each primitive (absent: 0).  A ternary adder (``add3``) is two: on Xilinx each
#: bit's LUT6_2 reads the majority (carry-save carry) that the previous bit's LUT6_2 gives on O5,
#: so an operand crosses two LUTs before the carry chain (Yosys' depth walk counts both).
LEVELS = {
    "add": 1,
    "add3": 2,
    "neg": 1,
    "max": 1,
    "min": 1,
    "clip": 1,
    "rom": 1,
    "accum": 1,
    "mul": 2,
    "mulc": 2,
}


@dataclasses.dataclass
class Pipelined:
    """The registered netlist and its timing.

    ``owner`` maps each op to its node (``None``: the top level: inputs,
    their registers, phase bits); ``stage`` maps each signal id to its
    (stage, depth); ``node_stages`` maps each node to (input stage, output
    stage); ``ii`` is the initiation interval (the largest fold).
    """

    net: Netlist
    owner: dict[int, str | None]
    stage: dict[int, tuple[int, int]]
    latency: int
    ii: int
    node_stages: dict[str, tuple[int, int]]
    every: dict[str, int]
    clock_period: float | None = None  # ns, when ``ClockPeriod`` placed the registers


# ---------------------------------------------------------------- the rule
# Written once: the scheduler below applies it to a netlist, and the resource model
# (fpgaq.rtl.features) replays it on small netlists to count registers without building them.
def read_stage(arrivals: Iterable[Arrival], cost: int, every: int) -> int:
    """The stage at which an operation of ``cost`` levels reads inputs arriving at ``arrivals``.

    The latest input's stage; one stage later (its inputs registered) when the deepest input
    at that stage is already in logic and ``cost`` more levels would exceed ``PipelineEvery``.
    Inputs of earlier stages are read through delay registers, at depth 0.
    """
    arrivals = list(arrivals)
    stage = max(s for s, _ in arrivals)
    deepest = max((d for s, d in arrivals if s == stage), default=0)
    if every > 0 and cost > 0 and deepest > 0 and deepest + cost > every:
        stage += 1
    return stage


def registers_output(depth: int, cost: int, every: int, boundary: bool) -> bool:
    """Whether an operation's output is registered: its depth reached ``PipelineEvery``, or it is
    a layer's output under ``PipelineEvery: 0`` (``boundary``) and still in logic."""
    return (every > 0 and cost > 0 and depth >= every) or (boundary and depth > 0)


class TooSlow(SettingError):
    """``ClockPeriod`` is shorter than one operation of the design takes by the delay model."""


def clock_period(nodes: Iterable[object]) -> tuple[float | None, str]:
    """The design's ``ClockPeriod`` (ns) and the device it is timed for, from the nodes' options
    (no period: ``None`` and the default device).

    The period is one for the whole design (one clock); the config keeps it in
    the Model section, and every node carries a copy.
    """
    for node in nodes:
        options = getattr(node, "options", {}) or {}
        if options.get("clock_period") is not None:
            return float(options["clock_period"]), str(options.get("timing_device") or DEFAULT_TIMING_DEVICE)
    return None, DEFAULT_TIMING_DEVICE


def timed_read_stage(
    arrivals: Sequence[tuple[int, float, int, bool, int]],
    arrival_at: Callable[[list[Operand]], float],
    budget: float,
) -> tuple[int, float]:
    """``ClockPeriod``'s rule: the stage at which an operation reads its operands and its result's delay.

    ``arrivals`` are the operands' (stage, ns, width, sloped, fan-out).  The latest stage,
    operands of earlier stages read fresh from delay registers; one stage later
    (every operand registered) when the result would come after ``budget``.
    """
    stage = max(a[0] for a in arrivals)
    ready = arrival_at([Operand(d if s == stage else 0.0, w, sl, fo) for s, d, w, sl, fo in arrivals])
    if ready > budget and any(a[1] > 0 for a in arrivals if a[0] == stage):
        return stage + 1, arrival_at([Operand(0.0, w, sl, fo) for _, _, w, sl, fo in arrivals])
    return stage, ready


def hold_stage(input_stages: Iterable[int]) -> int:
    """A fold group's ``hold`` registers load one stage after the latest of their inputs."""
    return max(input_stages) + 1


class Scheduler:
    """Applies the rule to a lowered netlist: :func:`pipeline` is ``Scheduler(low).run()``.

    ``arrive`` (optional) gives, per input element, the (stage offset, depth) at which it
    arrives after its input register, as it does when it comes from an earlier layer of the
    design: the resource model schedules one layer's core alone that way.  ``clock`` replaces
    the delay model of ``ClockPeriod``'s device (the resource model's replay check passes its own);
    ``loads`` replaces the fan-out of some signals (a layer's sums, which the rest of the layer
    also reads, when the resource model schedules the core alone).
    """

    def __init__(
        self,
        low: Lowered,
        arrive: Sequence[Arrival] = (),
        clock: DelayModel | None = None,
        loads: Mapping[int, int] | None = None,
    ) -> None:
        self.low = low
        self.arrive = list(arrive)
        self.aligning_from: int | None = None  # ops from here on only align the outputs (set by run)
        self.src = low.net
        self.out = Netlist()
        self.out.fold_groups = dict(self.src.fold_groups)
        self.owner: dict[int, str | None] = {}
        self.st: dict[int, tuple[int, int]] = {}
        self.m: dict[int, Signal] = {}  # source signal id -> new signal (absolute and constant ones)
        self.cls: dict[int, str] = {}  # source signal id -> "const" | "rel" | "abs"
        self.chains: dict[int, list[Signal]] = {}
        self.rel_cache: dict[tuple[int, int], tuple[Signal, int]] = {}
        self.hold_stage: dict[int, int] = {}
        self.every = {n.name: int(n.options.get("pipeline_every", 0) or 0) for n in low.graph.nodes}
        self.boundary = {s.id for name, sigs in low.node_outputs.items() if self.every.get(name, 0) == 0 for s in sigs}
        self.period, device = clock_period(low.graph.nodes)
        self.model: DelayModel | None = None
        self.slope: dict[int, bool] = {}  # scheduled signal id -> its bits ripple (ClockPeriod only)
        self.loads: dict[int, int] = {}  # source signal id -> loads on its net (ClockPeriod only)
        self.widths: dict[int, int] = {}  # source signal id -> bits read (ClockPeriod only: chain lengths)
        if self.period is not None:
            own_loads, self.widths = net_loads_and_widths(self.src)
            self.loads = {**own_loads, **(loads or {})}
            self.model = clock or delay_model(device)
            self.budget = self.model.budget(self.period)
            self.boundary = set()

    def scheduled(self, s: Signal) -> Signal:
        """The registered netlist's signal standing for source signal ``s`` (after :meth:`run`)."""
        return self.m[s.id]

    # ---------------------------------------------------------------- helpers
    def _own(self, s: Signal, owner: str | None, stage: int, depth: int) -> Signal:
        self.owner.setdefault(s.id, owner)
        self.st.setdefault(s.id, (stage, depth))
        return s

    def _copy(self, op: Op, args: tuple[Signal, ...], param: object = None) -> Signal:
        return self.out._new(op.kind, op.out.lo, op.out.hi, op.out.frac, args, op.param if param is None else param)

    def delay(self, s: Signal, target: int) -> Signal:
        """``s`` as seen at stage ``target`` (through a shared chain of delay registers)."""
        if s.is_const:
            return s
        stage, _ = self.st[s.id]
        if stage > target:  # pragma: no cover - the schedule only delays forwards
            raise AssertionError(f"signal {s} at stage {stage} needed at earlier stage {target}")
        chain = self.chains.setdefault(s.id, [s])
        while stage + len(chain) - 1 < target:
            r = self.out.reg(chain[-1])
            self._own(r, self.owner[s.id], stage + len(chain), 0)
            chain.append(r)
        return chain[target - stage]

    def rel(self, sid: int, k: int) -> tuple[Signal, int]:
        """A signal that depends only on phases and constants, built for readers at stage ``k``."""
        if self.cls[sid] == "const":
            return self.m[sid], 0
        key = (sid, k)
        if key in self.rel_cache:
            return self.rel_cache[key]
        op = self.src.producer(self.src.signal(sid))
        if op.kind == "phase":
            g, p, phases, _ = op.param
            s = self._copy(op, (), (g, p, phases, k + p))
            result = (self._own(s, None, k, 0), 0)
        else:
            built = [self.rel(a.id, k) for a in op.args]
            s = self._copy(op, tuple(b[0] for b in built))
            if self.model is None:
                depth = max((b[1] for b in built), default=0) + LEVELS.get(op.kind, 0)
            else:
                parts = [
                    Operand(float(d), self._width(a), self.slope.get(b.id, False), self.loads.get(a.id, 1))
                    for a, (b, d) in zip(op.args, built)
                    if not b.is_const
                ]
                depth = self._ready(op, parts)
                self.slope[s.id] = sloped_output(op.kind, (p.sloped for p in parts))
            result = (self._own(s, self.low.owner.get(op.out.id), k, depth), depth)
        self.rel_cache[key] = result
        return result

    # ---------------------------------------------------------------- the schedule
    def run(self) -> Pipelined:
        src, out = self.src, self.out
        for name, sigs, t in src.inputs:
            news = out.add_input(name, t, len(sigs))
            for i, (old, new) in enumerate(zip(sigs, news)):
                self._own(new, None, 0, 0)
                r = out.reg(new)
                offset, depth = self.arrive[i] if self.arrive else (0, 0)
                self.m[old.id] = self._own(r, None, 1 + offset, depth)
                self.slope[r.id] = depth > 0
                self.cls[old.id] = "abs"
        ops = src.live()
        holds: dict[int, list[Op]] = {}
        for op in ops:
            if op.kind == "hold":
                holds.setdefault(op.param[0], []).append(op)
        for op in ops:
            sid = op.out.id
            if op.kind == "input":
                continue
            if op.kind == "const" or op.out.is_const:
                self.m[sid] = out.const(op.out.lo, op.out.frac)
                self.cls[sid] = "const"
                continue
            kinds = {self.cls[a.id] for a in op.args}
            if op.kind == "phase" or "abs" not in kinds:
                self.cls[sid] = "rel"
                continue
            self.cls[sid] = "abs"
            if op.kind == "hold":
                self._hold(op, holds[op.param[0]])
            else:
                self._op(op)
        return self._finish()

    def _hold(self, op: Op, group: list[Op]) -> None:
        g = op.param[0]
        if g not in self.hold_stage:
            stages = [self.st[self.m[h.args[0].id].id][0] for h in group if self.cls[h.args[0].id] == "abs"]
            self.hold_stage[g] = hold_stage(stages)
        s_g = self.hold_stage[g]
        src = self.delay(self.m[op.args[0].id], s_g - 1)
        new = self._copy(op, (src,), (g, s_g - 1))
        self.m[op.out.id] = self._own(new, self.low.owner.get(op.out.id), s_g, 0)

    def _ready(self, op: Op, parts: list[Operand]) -> float:
        assert self.model is not None
        return op_arrival(self.model, op.kind, self._width(op.out), parts, extra_bits(op))

    def _width(self, s: Signal) -> int:
        """The bits of source signal ``s`` that something reads (what its carry chain must reach)."""
        return self.widths.get(s.id, s.width)

    def _parts(self, op: Op, k: int) -> list[tuple[int, float, int, bool, int]]:
        """(stage, ns, width, sloped, fan-out) of an operation's operands if it read them at stage ``k``."""
        parts = []
        for a in op.args:
            c = self.cls[a.id]
            loads, width = self.loads.get(a.id, 1), self._width(a)
            if c == "abs":
                s = self.m[a.id]
                st, d = self.st[s.id]
                parts.append(
                    (st, float(d), width, self.slope.get(s.id, False), loads)
                    if st == k
                    else (k, 0.0, width, False, loads)
                )
            elif c == "rel":
                s, d = self.rel(a.id, k)
                parts.append((k, float(d), width, self.slope.get(s.id, False), loads))
        return parts

    def _op_timed(self, op: Op, owner: str | None) -> None:
        """``ClockPeriod``: registers go where the delay model says a stage would exceed the period."""
        abs_args = [self.m[a.id] for a in op.args if self.cls[a.id] == "abs"]
        latest = max(self.st[a.id][0] for a in abs_args)
        stage, depth = timed_read_stage(self._parts(op, latest), lambda parts: self._ready(op, parts), self.budget)
        if depth > self.budget:
            raise self._too_slow(op, owner, depth)
        args = []
        for a in op.args:
            c = self.cls[a.id]
            args.append(
                self.delay(self.m[a.id], stage)
                if c == "abs"
                else self.rel(a.id, stage)[0]
                if c == "rel"
                else self.m[a.id]
            )
        parts = self._parts(op, stage)
        new, out_stage = self._placed(op, args, stage)
        self.slope[new.id] = sloped_output(op.kind, (p[3] for p in parts))
        self.m[op.out.id] = self._own(new, owner, out_stage, depth)

    def _placed(self, op: Op, args: list[Signal], stage: int) -> tuple[Signal, int]:
        """The copy of ``op`` reading ``args`` at ``stage``, and the stage of its result (an
        accumulator delivers ``phases - 1`` stages later and records the stage it starts at)."""
        if op.kind == "accum":
            g, phases, reg_lo, reg_hi, _ = op.param
            return self._copy(op, tuple(args), (g, phases, reg_lo, reg_hi, stage)), stage + phases - 1
        return self._copy(op, tuple(args)), stage

    def _too_slow(self, op: Op, owner: str | None, depth: float) -> TooSlow:
        model = self.model
        assert model is not None and self.period is not None
        shortest = shortest_stage(self.src.live(), model)
        return TooSlow(
            f"ClockPeriod {self.period:g} ns cannot be met: a {op.out.width}-bit {op.kind} of layer {owner or 'top'} "
            f"takes {model.stage_ns(depth):.2f} ns from register to register on its own by the {model.flow} delay "
            f"model; the shortest period this design allows is {shortest:.2f} ns: set ClockPeriod to "
            "at least that, or narrow the layer's types"
        )

    def _op(self, op: Op) -> None:
        owner = self.low.owner.get(op.out.id)
        if self.model is not None:
            self._op_timed(op, owner)
            return
        n = self.every.get(owner, 0) if owner is not None else 0
        cost = LEVELS.get(op.kind, 0)
        abs_args = [self.m[a.id] for a in op.args if self.cls[a.id] == "abs"]
        stage = read_stage((self.st[a.id] for a in abs_args), cost, n)
        args, depth = [], 0
        for a in op.args:
            c = self.cls[a.id]
            if c == "abs":
                s = self.delay(self.m[a.id], stage)
                d = self.st[s.id][1]
            elif c == "rel":
                s, d = self.rel(a.id, stage)
            else:
                s, d = self.m[a.id], 0
            args.append(s)
            depth = max(depth, d)
        depth += cost
        new, out_stage = self._placed(op, args, stage)
        new = self._own(new, owner, out_stage, depth)
        if registers_output(depth, cost, n, op.out.id in self.boundary):
            r = self.out.reg(new)
            new = self._own(r, owner, out_stage + 1, 0)
        self.m[op.out.id] = new

    def _finish(self) -> Pipelined:
        src, out, low = self.src, self.out, self.low
        self.aligning_from = len(out.ops)
        finals = [[self.m[s.id] for s in sigs] for _, sigs, _ in src.outputs]
        stages = [self.st[s.id][0] for sigs in finals for s in sigs if not s.is_const]
        latency = max(stages, default=1)
        for (name, _, t), sigs in zip(src.outputs, finals):
            out.add_output(name, [self.delay(s, latency) for s in sigs], t)
        node_stages = {}
        for node in low.graph.nodes:
            if node.name not in low.node_outputs:
                continue
            ins = [self.m[s.id] for group in low.node_inputs[node.name] for s in group if s.id in self.m]
            outs = [self.m[s.id] for s in low.node_outputs[node.name] if s.id in self.m]
            s_in = max((self.st[s.id][0] for s in ins if not s.is_const), default=1)
            s_out = max((self.st[s.id][0] for s in outs if not s.is_const), default=s_in)
            node_stages[node.name] = (s_in, max(s_out, s_in))
        ii = max(out.fold_groups.values(), default=1)
        return Pipelined(out, self.owner, self.st, latency, ii, node_stages, self.every, self.period)


def pipeline(low: Lowered) -> Pipelined:
    """Registers per ``PipelineEvery``, balanced paths and the exact latency (see the module docstring)."""
    return Scheduler(low).run()
