"""Nanoseconds per register stage, from what the RTL builds: the delay model behind ``ClockPeriod`` and Fmax.

A register-to-register path of fpgaq's RTL is a chain of netlist operations,
and nearly all of its delay comes from three things: the LUT levels it
crosses (with a net each), the carry chains it rides, and the fixed cost of
leaving one register and entering the next.  The model prices each
operation kind (:class:`DelayModel`: ``add``, ``add3``, ``compare``, ``mux``,
``rom``, ``multiply``) plus ``carry`` per carry-chain bit, and adds
``register`` once per stage.

Carry chains overlap.  In a ripple adder bit ``j`` of the result is ready
about ``j`` carry steps after the lowest bit, and an adder reading another
adder's result starts its own chain on the low bits, which come first: the
top bit of the second adder is ready ``carry * (w2 - w1)`` after the top
bit of the first, not ``carry * w2``.  So every signal carries the time its
*top* bit is ready, and whether its bits come with that ripple slope
(``sloped``: produced by a carry chain, or wiring of such a signal); an
operation reading a sloped operand of ``w_a`` bits that is still in logic
pays only the chain above it, ``carry * (w - w_a)``.  Summing whole chains
instead over-states a six-level adder tree by a third on 7-series.

A net's routing grows with the loads it drives: ``fanout`` prices each
doubling of an operand's fan-out (:func:`fanouts`: its readers, counted
through wiring, since a shift or a bit-select is the same wires), paid
where the operand is read.  On ECP5's routed critical paths a hop costs
0.87 ns plus 0.084 ns per doubling (:func:`fpgaq.calibrate_pnr.routing_by_fanout`);
an input bit of a fully parallel layer feeds dozens of adders.

Everything else (placement, congestion, LUT packing) is in the fitted
constants.  :mod:`fpgaq.calibrate_delay` fits them per timing flow:
``xc7``/``xcup`` against :mod:`fpgaq.sim.timing` (the cells' own delays plus
a routing allowance per net), ``ecp5`` against nextpnr's post-route timing;
the shipped values and their held-out errors are in ``fpgaq/data/delay_model.json``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any, NamedTuple

from fpgaq.devices import Device, get_device
from fpgaq.errors import SettingError

__all__ = [
    "CARRY_OPS",
    "DEFAULT_TIMING_DEVICE",
    "KIND_PARAMETER",
    "NET_WIRING_OPS",
    "PARAMETERS",
    "SOURCE_OPS",
    "WIRING_OPS",
    "DelayModel",
    "Operand",
    "count_loads",
    "delay_model",
    "extra_bits",
    "fanouts",
    "loaded_widths",
    "net_loads_and_widths",
    "op_arrival",
    "shortest_stage",
    "stage_delays",
]

#: Operations built on a carry chain (their result bits ripple up from the lowest).
CARRY_OPS = frozenset({"add", "add3", "neg", "accum", "max", "min", "clip", "mul", "mulc"})
#: Operations that are wires: no delay, and the slope of what they pass on.
WIRING_OPS = frozenset({"shl", "shr", "wrap", "bit", "sign", "hold"})
#: Of those, the ones that are the very wires of their operand (a ``hold`` is a register).
NET_WIRING_OPS = WIRING_OPS - {"hold"}
#: Operations whose output starts a path (registers, ports, constants, fold phase bits).
SOURCE_OPS = frozenset({"reg", "input", "const", "phase"})
KIND_PARAMETER = {
    "add": "add",
    "neg": "add",
    "accum": "add",
    "add3": "add3",
    "max": "compare",
    "min": "compare",
    "clip": "compare",
    "mul": "multiply",
    "mulc": "multiply",
    "mux": "mux",
    "rom": "rom",
}
#: The fitted constants, in the order the calibration's parameter vector uses.
PARAMETERS = (
    "register",
    "add",
    "add3",
    "compare",
    "mux",
    "rom",
    "rom_bit",
    "multiply",
    "multiply_bit",
    "carry",
    "fanout",
)
#: The part a ClockPeriod design is timed for when the config names none (Model.Device).
DEFAULT_TIMING_DEVICE = "xc7a100t"
#: Address bits one LUT level decodes (a LUT6 with MUXF7/F8 reaches 8 on Xilinx; the fit absorbs it).
ROM_BITS_PER_LEVEL = 6


class Operand(NamedTuple):
    """One operand as an operation reads it."""

    ns: float  # when its top bit is ready, since the last register (0: fresh from one)
    width: int
    sloped: bool  # its bits ripple up from a carry chain
    fanout: int = 1  # loads on its net (:func:`fanouts`)


@dataclasses.dataclass(frozen=True)
class DelayModel:
    """Fitted nanoseconds of one timing flow (see the module docstring for what each one prices)."""

    flow: str
    register: float
    add: float
    add3: float
    compare: float
    mux: float
    rom: float
    rom_bit: float
    multiply: float
    multiply_bit: float
    carry: float
    fanout: float = 0.0
    source: str = ""

    @classmethod
    def from_vector(cls, flow: str, values: Sequence[float], source: str = "") -> DelayModel:
        return cls(flow, *(float(v) for v in values), source=source)  # type: ignore[arg-type]

    def vector(self) -> list[float]:
        return [getattr(self, p) for p in PARAMETERS]

    def budget(self, period_ns: float) -> float:
        """The logic delay a stage may have at ``period_ns``: the period less the register's own cost."""
        return period_ns - self.register

    def stage_ns(self, depth: float) -> float:
        """The register-to-register delay of a stage whose deepest logic is ``depth`` ns."""
        return self.register + depth

    def wire(self, fanout: int) -> float:
        """What a net driving ``fanout`` loads adds over one driving a single load."""
        return self.fanout * math.log2(fanout) if fanout > 1 else 0.0


def extra_bits(op: Any) -> int:
    """The width that adds levels inside one operation: a table's address bits, a LUT multiplier's
    partial-product rows (the narrower operand, or the constant's bits)."""
    if op.kind == "rom" and op.args:
        return int(op.args[0].width)
    if op.kind == "mul" and len(op.args) == 2:
        return int(min(a.width for a in op.args))
    if op.kind == "mulc":
        return abs(int(op.param)).bit_length()
    return 0


def op_arrival(model: DelayModel, kind: str, width: int, args: Iterable[Operand], index_bits: int = 0) -> float:
    """When the top bit of an operation's result is ready, its operands ready as ``args`` say.

    A carry-chain operation pays its own constant and the chain above each
    operand that arrives still rippling (see the module docstring); an
    operand fresh from a register (ready at 0) pays the whole chain.  Every
    operand pays its net's fan-out where it is read; wiring passes its
    operand on untouched (the reader pays the net).
    """
    args = list(args)
    if kind in SOURCE_OPS:
        return 0.0
    if kind in WIRING_OPS or kind not in KIND_PARAMETER:
        return max((a.ns for a in args), default=0.0)
    base = getattr(model, KIND_PARAMETER[kind])
    if kind == "rom":
        base += model.rom_bit * max(0, index_bits - ROM_BITS_PER_LEVEL)
    elif kind in ("mul", "mulc"):
        base += model.multiply_bit * index_bits
    if kind not in CARRY_OPS:
        return base + max((a.ns + model.wire(a.fanout) for a in args), default=0.0)
    best = base + model.carry * width
    for a in args:
        above = width - a.width if a.ns > 0 and a.sloped else width
        best = max(best, a.ns + model.wire(a.fanout) + base + model.carry * max(above, 0))
    return best


def fanouts(ops: Iterable[Any]) -> dict[int, int]:
    """The loads each signal drives, by signal id: the operations reading it, a wiring reader (a
    shift, slice or bit: the same wires) counted by its own readers.  Counted downstream only (a
    shift's readers, not its source's other readers), so that a layer alone counts what it
    counts inside the whole design; constants drive nothing."""
    return count_loads((op.out.id, op.kind, [a.id for a in op.args if not a.is_const]) for op in ops)


def count_loads(readers: Iterable[tuple[int, str, Sequence[int]]]) -> dict[int, int]:
    """:func:`fanouts` of operations given as (result id, kind, ids of the signals read), in
    topological order (the resource model's programs hold them so)."""
    loads: dict[int, int] = {}
    for out, kind, args in reversed(list(readers)):  # every reader of ``out`` comes later: its loads are final
        n = loads.get(out, 0) if kind in NET_WIRING_OPS else 1
        for sid in set(args):
            loads[sid] = loads.get(sid, 0) + n
    return loads


def loaded_widths(ops: Iterable[Any], keep: set[int]) -> dict[int, int]:
    """Bits of each signal that some op reads, by signal id: the others drive nothing and
    synthesis removes them (the low bits a rounding shift drops, the high bits a wrap drops), so
    a register holds only these and a carry chain is only this long.  Signals in ``keep`` leave
    the netlist and count whole; a signal nothing reads is absent."""
    spans: dict[int, tuple[int, int]] = {}
    for op in ops:
        for a in op.args:
            w = a.width
            if op.kind == "shr":
                lo, hi = min(op.param, w), w
            elif op.kind == "wrap":
                lo, hi = 0, min(op.param[0] if isinstance(op.param, tuple) else op.param, w)
            elif op.kind == "bit":
                lo, hi = op.param, op.param + 1
            else:
                lo, hi = 0, w
            old = spans.get(a.id)
            spans[a.id] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))
    return {sid: max(hi - lo, 1) for sid, (lo, hi) in spans.items() if sid not in keep}


def net_loads_and_widths(net: Any) -> tuple[dict[int, int], dict[int, int]]:
    """:func:`fanouts` and :func:`loaded_widths` of a netlist's live operations (its outputs count
    whole): what a walk of the netlist by the delay model reads of each operand."""
    live = net.live()
    return fanouts(live), loaded_widths(live, {s.id for _, sigs, _ in net.outputs for s in sigs})


def shortest_stage(ops: Iterable[Any], model: DelayModel) -> float:
    """The shortest register-to-register delay ``ops`` allow: their slowest operation with every
    operand fresh from a register, plus the register's own cost (no clock period can be shorter)."""
    ops = list(ops)
    loads = fanouts(ops)
    widths = loaded_widths(ops, set())
    slowest = 0.0
    for op in ops:
        fresh = [Operand(0.0, widths.get(a.id, a.width), False, loads.get(a.id, 1)) for a in op.args if not a.is_const]
        width = widths.get(op.out.id, op.out.width)
        slowest = max(slowest, op_arrival(model, op.kind, width, fresh, extra_bits(op)))
    return model.stage_ns(slowest)


def sloped_output(kind: str, args_sloped: Iterable[bool]) -> bool:
    """Whether a result's bits ripple (a carry chain's), so that a reader's chain overlaps it; a
    source's (:data:`SOURCE_OPS`: a register, port, constant or phase bit) never do."""
    if kind in CARRY_OPS:
        return True
    if kind in WIRING_OPS:
        return any(args_sloped)
    return False


def stage_delays(net: Any, model: DelayModel) -> dict[int, float]:
    """Every signal's logic delay since its last register (ns), walking a scheduled netlist.

    The generated design's own timing by the model, used to check the
    resource model's replay and to calibrate: a ``reg`` restarts the clock.
    """
    at: dict[int, float] = {}
    sloped: dict[int, bool] = {}
    loads, widths = net_loads_and_widths(net)
    for op in net.ops:
        live = [a for a in op.args if not a.is_const]
        index_bits = extra_bits(op)
        at[op.out.id] = op_arrival(
            model,
            op.kind,
            widths.get(op.out.id, op.out.width),
            (
                Operand(at.get(a.id, 0.0), widths.get(a.id, a.width), sloped.get(a.id, False), loads.get(a.id, 1))
                for a in live
            ),
            index_bits,
        )
        sloped[op.out.id] = sloped_output(op.kind, (sloped.get(a.id, False) for a in live))
    return at


# ---------------------------------------------------------------- the shipped constants
@functools.cache
def _shipped() -> dict[str, Any]:
    text = resources.files("fpgaq").joinpath("data/delay_model.json").read_text()
    return json.loads(text)


def shipped_flows() -> Mapping[str, Any]:
    """Every calibrated timing flow: its constants, what they were fitted on and their errors."""
    return _shipped()["flows"]


def delay_model(device: str | Device) -> DelayModel:
    """The delay model of a device preset (by its timing flow)."""
    dev = get_device(device)
    flows = shipped_flows()
    if dev.timing_flow not in flows:
        raise SettingError(
            f"no delay model for {dev.name} (timing flow {dev.timing_flow!r}); calibrated flows: {', '.join(flows)}; "
            "choose a device of one of them"
        )
    entry = flows[dev.timing_flow]
    values = [entry["ns"].get(p, 0.0) for p in PARAMETERS]  # a flow fitted before a constant existed: 0
    return DelayModel.from_vector(dev.timing_flow, values, entry.get("source", ""))
