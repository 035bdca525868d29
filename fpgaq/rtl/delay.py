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

Everything else (routing that grows with fan-out and placement, LUT packing)
is in the fitted constants.  :mod:`fpgaq.calibrate_delay` fits them per
timing flow: ``xc7``/``xcup`` against :mod:`fpgaq.sim.timing` (the cells'
own delays plus a routing allowance per net), ``ecp5`` against nextpnr's
post-route timing; the shipped values and their held-out errors are in
``fpgaq/data/delay_model.json``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

from fpgaq.devices import Device, get_device
from fpgaq.errors import SettingError

__all__ = [
    "CARRY_OPS",
    "DEFAULT_TIMING_DEVICE",
    "KIND_PARAMETER",
    "PARAMETERS",
    "SOURCE_OPS",
    "WIRING_OPS",
    "DelayModel",
    "delay_model",
    "extra_bits",
    "op_arrival",
    "shortest_stage",
    "stage_delays",
]

#: Operations built on a carry chain (their result bits ripple up from the lowest).
CARRY_OPS = frozenset({"add", "add3", "neg", "accum", "max", "min", "clip", "mul", "mulc"})
#: Operations that are wires: no delay, and the slope of what they pass on.
WIRING_OPS = frozenset({"shl", "shr", "wrap", "bit", "sign", "hold"})
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
PARAMETERS = ("register", "add", "add3", "compare", "mux", "rom", "rom_bit", "multiply", "multiply_bit", "carry")
#: The part a ClockPeriod design is timed for when the config names none (Model.Device).
DEFAULT_TIMING_DEVICE = "xc7a100t"
#: Address bits one LUT level decodes (a LUT6 with MUXF7/F8 reaches 8 on Xilinx; the fit absorbs it).
ROM_BITS_PER_LEVEL = 6

Arrival = tuple[float, int, bool]  # (ns since the last register, width, sloped) of one operand


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


def op_arrival(model: DelayModel, kind: str, width: int, args: Iterable[Arrival], index_bits: int = 0) -> float:
    """When the top bit of an operation's result is ready, its operands ready as ``args`` say.

    A carry-chain operation pays its own constant and the chain above each
    operand that arrives still rippling (see the module docstring); an
    operand fresh from a register (ready at 0) pays the whole chain.
    """
    args = list(args)
    if kind in SOURCE_OPS:
        return 0.0
    if kind in WIRING_OPS or kind not in KIND_PARAMETER:
        return max((d for d, _, _ in args), default=0.0)
    base = getattr(model, KIND_PARAMETER[kind])
    if kind == "rom":
        base += model.rom_bit * max(0, index_bits - ROM_BITS_PER_LEVEL)
    elif kind in ("mul", "mulc"):
        base += model.multiply_bit * index_bits
    if kind not in CARRY_OPS:
        return base + max((d for d, _, _ in args), default=0.0)
    best = base + model.carry * width
    for d, w_a, sloped in args:
        if d > 0:
            above = width - w_a if sloped else width
            best = max(best, d + base + model.carry * max(above, 0))
    return best


def shortest_stage(ops: Iterable[Any], model: DelayModel) -> float:
    """The shortest register-to-register delay ``ops`` allow: their slowest operation with every
    operand fresh from a register, plus the register's own cost (no clock period can be shorter)."""
    slowest = 0.0
    for op in ops:
        fresh = [(0.0, a.width, False) for a in op.args if not a.is_const]
        slowest = max(slowest, op_arrival(model, op.kind, op.out.width, fresh, extra_bits(op)))
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
    for op in net.ops:
        live = [a for a in op.args if not a.is_const]
        index_bits = extra_bits(op)
        at[op.out.id] = op_arrival(
            model,
            op.kind,
            op.out.width,
            ((at.get(a.id, 0.0), a.width, sloped.get(a.id, False)) for a in live),
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
    return DelayModel.from_vector(dev.timing_flow, [entry["ns"][p] for p in PARAMETERS], entry.get("source", ""))
