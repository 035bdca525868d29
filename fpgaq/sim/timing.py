"""Static timing of a synthesized Xilinx netlist from the cells' own delays, with a stated routing allowance.

No vendor tool runs here, so the critical path of an ``xc7`` / ``xcup``
netlist (the JSON that :func:`fpgaq.sim.synth.synthesize` writes) is found by
a longest-path walk over its bits: every cell input pin -> output pin arc has
a delay, every net adds ``routing_ns``, and the worst arrival at a timing
endpoint is the path delay.

The cell delays (picoseconds, :data:`XC7_CELL_DELAYS_PS`) are facts taken
from the ``specify`` blocks of Yosys' ``techlibs/xilinx/cells_sim.v`` (the
same in Yosys 0.23 and 0.70), which cite Project X-Ray's measured Artix-7
timing (``prjxray-db/artix7/timings/CLBLL_L.sdf`` and ``slicel.sdf``): LUT
pin to output, CARRY4 per pin and bit, MUXF7/F8, FDRE clock to Q and
set-up.  Two choices are ours, not the data's:

* ``LUT6_2``: O6 has LUT6's arcs and O5 LUT5's (I0-I4), as the cell is one
  LUT6 whose lower half drives O5;
* ``CARRY8`` (UltraScale) has no delay data in Yosys: it is timed as two
  CARRY4 in a chain (lower half CO[3] into the upper half's CI), and xcup
  netlists use the Artix-7 numbers throughout, so xcup figures are a 7-series
  estimate of the same netlist, not an UltraScale+ timing.

Routing: one ``routing_ns`` (default :data:`DEFAULT_ROUTING_NS`, an
allowance, not a measurement) per net a path crosses, except the dedicated
wires inside a slice: a carry cell's CO into the next carry cell's CI, and a
LUT output into a carry cell's S or DI pin (Vivado packs such a LUT into the
carry's slice).  Each result states the allowance, and splits the critical
path's delay into cell delay and routing, so another allowance can be
applied as ``cell_ns + nets * allowance`` (exact for that path only).

Endpoints: flip-flop D (set-up 0 ps: the SDF's -46 ps clipped, as Yosys
does), CE (109 ps), R/S (404 ps); top-level outputs (0).  Start points:
flip-flop Q (303 ps after the clock) and top-level inputs (0).  Other
sequential cells (SRL, LUT-RAM, DSP48, block RAM) are start and end points
with FDRE's clock-to-Q and no set-up, and are named in ``approximated``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

__all__ = [
    "DEFAULT_ROUTING_NS",
    "XC7_CELL_DELAYS_PS",
    "PathStep",
    "TimingResult",
    "critical_path",
]

MAX_ENDPOINTS = 1000
"""``endpoints`` keeps the worst this many destination registers and outputs."""

DEFAULT_ROUTING_NS = 0.4
"""Routing allowance per net (ns): of the order of a short general-interconnect hop on a 7-series device."""

# Pin -> output delays in ps from Yosys' techlibs/xilinx/cells_sim.v specify blocks (Project X-Ray, Artix-7).
_LUT_PIN_PS = {
    1: (127,),
    2: (238, 127),
    3: (407, 238, 127),
    4: (472, 407, 238, 127),
    5: (631, 472, 407, 238, 127),
    6: (642, 631, 472, 407, 238, 127),
}
# CARRY4: (input pin, input bit) -> delay to O[i] and CO[i]; a missing entry means no dependence.
_CARRY4_O_PS = (
    {("CYINIT", 0): 482, ("S", 0): 223, ("CI", 0): 222},
    {("CYINIT", 0): 598, ("DI", 0): 407, ("S", 0): 400, ("S", 1): 205, ("CI", 0): 334},
    {("CYINIT", 0): 584, ("DI", 0): 556, ("DI", 1): 537, ("S", 0): 523, ("S", 1): 558, ("S", 2): 226, ("CI", 0): 239},
    {
        ("CYINIT", 0): 642,
        ("DI", 0): 615,
        ("DI", 1): 596,
        ("DI", 2): 438,
        ("S", 0): 582,
        ("S", 1): 618,
        ("S", 2): 330,
        ("S", 3): 227,
        ("CI", 0): 313,
    },
)
_CARRY4_CO_PS = (
    {("CYINIT", 0): 536, ("DI", 0): 379, ("S", 0): 340, ("CI", 0): 271},
    {("CYINIT", 0): 494, ("DI", 0): 465, ("DI", 1): 445, ("S", 0): 433, ("S", 1): 469, ("CI", 0): 157},
    {
        ("CYINIT", 0): 592,
        ("DI", 0): 540,
        ("DI", 1): 520,
        ("DI", 2): 356,
        ("S", 0): 512,
        ("S", 1): 548,
        ("S", 2): 292,
        ("CI", 0): 228,
    },
    {
        ("CYINIT", 0): 580,
        ("DI", 0): 526,
        ("DI", 1): 507,
        ("DI", 2): 398,
        ("DI", 3): 385,
        ("S", 0): 508,
        ("S", 1): 528,
        ("S", 2): 378,
        ("S", 3): 380,
        ("CI", 0): 114,
    },
)
_MUXF_PS = {"MUXF7": {"I0": 217, "I1": 223, "S": 296}, "MUXF8": {"I0": 104, "I1": 94, "S": 273}}
_FF_CLK_TO_Q_PS = 303
_FF_SETUP_PS = {"D": 0, "CE": 109, "R": 404, "S": 404, "CLR": 404, "PRE": 404}
_INV_PS = 127

XC7_CELL_DELAYS_PS: dict[str, Any] = {
    "LUT": _LUT_PIN_PS,
    "CARRY4.O": _CARRY4_O_PS,
    "CARRY4.CO": _CARRY4_CO_PS,
    **_MUXF_PS,
    "INV": _INV_PS,
    "FD*.clk_to_q": _FF_CLK_TO_Q_PS,
    "FD*.setup": _FF_SETUP_PS,
}
"""The cell delay table (ps), for reports; source in the module docstring."""

_SOURCE = (
    "cell delays: Yosys techlibs/xilinx/cells_sim.v specify blocks (Project X-Ray Artix-7 SDF); "
    "routing: {r} ns per net except carry CO->CI and LUT->carry S/DI"
)
_FF = re.compile(r"^FD[RSCP]E(_1)?$")
_SEQUENTIAL = re.compile(r"^(FD[RSCP]E(_1)?|SRL\w*|RAM\w*|DSP48\w*|RAMB\w*|FIFO\w*)$")
_LUT = re.compile(r"^LUT([1-6])$")
_CARRY = ("CARRY4", "CARRY8")

Pin = tuple[str, int]
Arcs = dict[Pin, dict[Pin, int]]  # output pin -> {input pin: delay ps}


def _lut_arcs(k: int, output: str = "O") -> Arcs:
    return {(output, 0): {(f"I{i}", 0): d for i, d in enumerate(_LUT_PIN_PS[k])}}


def _carry4_arcs() -> Arcs:
    arcs: Arcs = {}
    for i in range(4):
        arcs["O", i] = dict(_CARRY4_O_PS[i])
        arcs["CO", i] = dict(_CARRY4_CO_PS[i])
    return arcs


def _carry8_arcs() -> Arcs:
    """Two CARRY4 in a chain: the upper half's CI is the lower half's CO[3] (CI_TOP for a split chain)."""
    low = _carry4_arcs()
    arcs: Arcs = {pin: {p: d for p, d in ins.items() if p[0] != "CYINIT"} for pin, ins in low.items()}
    through = {p: d for p, d in low["CO", 3].items() if p[0] != "CYINIT"}
    for i in range(4):
        for port in ("O", "CO"):
            upper: dict[Pin, int] = {}
            for (name, bit), d in low[port, i].items():
                if name == "CYINIT":
                    continue
                if name == "CI":
                    for pin, d_low in through.items():
                        upper[pin] = max(upper.get(pin, 0), d_low + d)
                    upper["CI_TOP", 0] = d
                else:
                    upper[name, bit + 4] = d
            arcs[port, i + 4] = upper
    return arcs


def _init_bits(value: Any, size: int) -> int | None:
    """A LUT's INIT parameter as an integer (Yosys JSON writes it as a bit string), None when unreadable."""
    try:
        return (value if isinstance(value, int) else int(str(value), 2)) & ((1 << size) - 1)
    except ValueError:
        return None


def _reads(table: int, inputs: int) -> set[int]:
    """The inputs a truth table of ``inputs`` inputs really depends on."""
    used = set()
    for i in range(inputs):
        step = 1 << i
        if any(((table >> k) & 1) != ((table >> (k | step)) & 1) for k in range(1 << inputs) if not k & step):
            used.add(i)
    return used


def lut_reads(kind: str, parameters: dict[str, Any]) -> dict[str, set[str]] | None:
    """For a LUT cell, the input pins each output depends on by its INIT (None if not a LUT or no INIT).

    A ternary adder's LUT6_2 has O5 read only its own bit's operands although I3 carries the previous
    bit's majority into O6: taking every pin as a path would make each adder a ripple through all its
    LUTs, in logic depth and in delay.
    """
    lut = _LUT.match(kind)
    if lut is None and kind != "LUT6_2":
        return None
    k = int(lut.group(1)) if lut else 6
    table = _init_bits(parameters.get("INIT"), 1 << k)
    if table is None:
        return None
    if lut:
        return {"O": {f"I{i}" for i in _reads(table, k)}}
    low = table & 0xFFFFFFFF
    return {"O6": {f"I{i}" for i in _reads(table, 6)}, "O5": {f"I{i}" for i in _reads(low, 5)}}


def _arcs(kind: str) -> Arcs | None:
    """The arcs of a combinational cell kind, or None when the table has none."""
    lut = _LUT.match(kind)
    if lut:
        return _lut_arcs(int(lut.group(1)))
    if kind == "LUT6_2":
        return {**_lut_arcs(6, "O6"), ("O5", 0): {(f"I{i}", 0): d for i, d in enumerate(_LUT_PIN_PS[5])}}
    if kind == "INV":
        return {("O", 0): {("I", 0): _INV_PS}}
    if kind in _MUXF_PS:
        return {("O", 0): {(p, 0): d for p, d in _MUXF_PS[kind].items()}}
    if kind == "CARRY4":
        return _carry4_arcs()
    if kind == "CARRY8":
        return _carry8_arcs()
    return None


# ----------------------------------------------------------------------------- results
@dataclasses.dataclass(frozen=True)
class PathStep:
    """One cell on a path: the arc it was entered and left by, and the arrival time at its output."""

    cell: str
    kind: str
    arc: str
    arrival_ns: float
    fanout: int


@dataclasses.dataclass
class TimingResult:
    """The worst paths of a netlist by kind (``reg->reg``, ``in->reg``, ``reg->out``, ``in->out``)."""

    device: str
    routing_ns: float
    delay_ns: float | None
    fmax_mhz: float | None
    kind: str | None
    start: str | None
    end: str | None
    cell_ns: float | None
    nets: int
    lut_levels: int
    carry_cells: int
    worst_by_kind: dict[str, float]
    endpoints: list[dict[str, Any]]
    steps: list[PathStep]
    approximated: list[str]
    source: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One line: delay, Fmax and what the critical path is made of."""
        if self.delay_ns is None:
            return "no timed path"
        fmax = f" ({self.fmax_mhz:.0f} MHz)" if self.fmax_mhz else ""
        return (
            f"{self.delay_ns:.2f} ns {self.kind}{fmax}: {self.lut_levels} LUT levels, {self.carry_cells} carry "
            f"cells, {self.cell_ns:.2f} ns in cells + {self.nets} nets x {self.routing_ns} ns"
        )


# ----------------------------------------------------------------------------- the walk
@dataclasses.dataclass
class _Cell:
    name: str
    kind: str
    arcs: Arcs
    inputs: dict[Pin, Any]
    outputs: dict[Pin, Any]


# How a bit got its arrival: (cell, input pin, output pin, the input bit, whether the wire is a slice's dedicated
# one), or None at a start point.
_Back = tuple[str, Pin, Pin, int, bool] | None
_Endpoint = tuple[int, str, str, int]  # (arrival ps incl. set-up, kind, endpoint name, last bit)


def _pins(cell: dict[str, Any], direction: str) -> Iterator[tuple[Pin, Any]]:
    directions = cell.get("port_directions", {})
    for port, bits in cell["connections"].items():
        if directions.get(port) == direction:
            for i, bit in enumerate(bits):
                yield (port, i), bit


def _pin_name(pin: Pin, cell: _Cell) -> str:
    width = sum(1 for p in (*cell.inputs, *cell.outputs) if p[0] == pin[0])
    return f"{pin[0]}[{pin[1]}]" if width > 1 else pin[0]


def _base_name(name: str) -> str:
    return re.sub(r"\[\d+\]$", "", name)


def _rank(name: str) -> tuple[bool, int, int, str]:
    return "$" in name, -name.count("."), len(name), name


def _bit_names(module: dict[str, Any]) -> dict[int, str]:
    """A readable name per net bit: one without ``$``, then the deepest in the hierarchy (the module it is in), then
    the shortest."""
    names: dict[int, str] = {}
    for name, net in module.get("netnames", {}).items():
        for i, bit in enumerate(net["bits"]):
            if not isinstance(bit, int):
                continue
            label = f"{name}[{i}]" if len(net["bits"]) > 1 else name
            old = names.get(bit)
            if old is None or _rank(old) > _rank(label):
                names[bit] = label
    return names


def _topological(cells: dict[str, _Cell], driver: dict[int, tuple[str, Pin]]) -> list[str] | None:
    """Cells in an order where every cell comes after the cells driving its inputs; None on a loop."""
    fanin = {
        name: {driver[b][0] for b in c.inputs.values() if isinstance(b, int) and b in driver}
        for name, c in cells.items()
    }
    users: dict[str, list[str]] = {name: [] for name in cells}
    for name, sources in fanin.items():
        for src in sources:
            users[src].append(name)
    pending = {name: len(sources) for name, sources in fanin.items()}
    ready = [name for name, n in pending.items() if n == 0]
    order = []
    while ready:
        name = ready.pop()
        order.append(name)
        for user in users[name]:
            pending[user] -= 1
            if pending[user] == 0:
                ready.append(user)
    return order if len(order) == len(cells) else None


def _trace(
    bit: int, back: dict[int, _Back], cells: dict[str, _Cell], fanout: dict[int, int], arrival: dict[int, int]
) -> tuple[list[PathStep], int, int]:
    """The cells on the path that ends at ``bit``, first to last; with the start bit and the routed nets."""
    steps: list[PathStep] = []
    nets = 0
    while back[bit] is not None:
        name, in_pin, out_pin, src, dedicated = back[bit]
        c = cells[name]
        arc = f"{_pin_name(in_pin, c)}->{_pin_name(out_pin, c)}"
        steps.append(PathStep(name, c.kind, arc, arrival[bit] / 1000, fanout.get(bit, 0)))
        nets += not dedicated
        bit = src
    steps.reverse()
    return steps, bit, nets


def _no_timing(device: str, routing_ns: float, approximated: list[str]) -> TimingResult:
    return TimingResult(
        device=device,
        routing_ns=routing_ns,
        delay_ns=None,
        fmax_mhz=None,
        kind=None,
        start=None,
        end=None,
        cell_ns=None,
        nets=0,
        lut_levels=0,
        carry_cells=0,
        worst_by_kind={},
        endpoints=[],
        steps=[],
        approximated=approximated,
        source=_SOURCE.format(r=routing_ns),
    )


def critical_path(module: dict[str, Any], device: str = "xc7", routing_ns: float = DEFAULT_ROUTING_NS) -> TimingResult:
    """The longest path of a flattened ``synth_xilinx`` netlist module (Yosys JSON), timed as the module says.

    ``delay_ns``/``fmax_mhz`` are those of the worst register-to-register path
    when there is one (what limits the clock), else of the worst path of any
    kind; ``worst_by_kind`` has all four kinds, and ``endpoints`` the worst
    arrival per destination register or output (net name without the bit
    index), worst first (at most :data:`MAX_ENDPOINTS`), with the LUT levels
    and carry cells of that path: the per-stage delays of a pipeline.  None for the delay when the netlist has
    a combinational loop or no timed path.
    """
    if device not in ("xc7", "xcup"):
        raise ValueError(f"critical_path: device {device!r} has no cell delay table; use 'xc7' or 'xcup'")
    if routing_ns < 0:
        raise ValueError(f"critical_path: routing_ns must be >= 0, got {routing_ns}")
    routing_ps = round(routing_ns * 1000)
    approximated: set[str] = set()
    cells: dict[str, _Cell] = {}
    sequential: dict[str, dict[str, Any]] = {}
    for name, cell in module["cells"].items():
        kind = cell["type"]
        if kind in ("$scopeinfo", "GND", "VCC"):
            continue
        if _SEQUENTIAL.match(kind):
            sequential[name] = cell
            if not _FF.match(kind):
                approximated.add(kind)
            continue
        arcs = _arcs(kind)
        if arcs is None:  # not in the table: every input to every output at a LUT6's slowest arc
            approximated.add(kind)
            ins = [p for p, _ in _pins(cell, "input")]
            arcs = {p: dict.fromkeys(ins, _LUT_PIN_PS[6][0]) for p, _ in _pins(cell, "output")}
        reads = lut_reads(kind, cell.get("parameters", {}))
        if reads is not None:  # only the pins the truth table depends on start an arc
            arcs = {out: {p: d for p, d in ins.items() if p[0] in reads[out[0]]} for out, ins in arcs.items()}
        cells[name] = _Cell(name, kind, arcs, dict(_pins(cell, "input")), dict(_pins(cell, "output")))

    driver: dict[int, tuple[str, Pin]] = {}
    for c in cells.values():
        for pin, bit in c.outputs.items():
            if isinstance(bit, int):
                driver[bit] = (c.name, pin)
    ports = module.get("ports", {})
    fanout: dict[int, int] = {}
    readers: list[Any] = [c.inputs.values() for c in cells.values()]
    readers += [[b for _, b in _pins(cell, "input")] for cell in sequential.values()]
    readers += [p["bits"] for p in ports.values() if p["direction"] == "output"]
    for bits in readers:
        for bit in bits:
            if isinstance(bit, int):
                fanout[bit] = fanout.get(bit, 0) + 1

    def dedicated(bit: int, cell: _Cell, pin: Pin) -> bool:
        """A slice's dedicated wire (carry CO -> CI, LUT -> carry S/DI), which gets no routing allowance."""
        source = driver.get(bit)
        if source is None or cell.kind not in _CARRY:
            return False
        src_kind = cells[source[0]].kind
        if src_kind in _CARRY:
            return source[1][0] == "CO" and pin[0] in ("CI", "CI_TOP")
        return bool(_LUT.match(src_kind) or src_kind == "LUT6_2") and pin[0] in ("S", "DI")

    # Arrival (ps) at each net bit per start kind ("reg": a sequential cell's output, "in": a top-level input).
    arrival: dict[str, dict[int, int]] = {"reg": {}, "in": {}}
    back: dict[str, dict[int, _Back]] = {"reg": {}, "in": {}}
    for port in ports.values():
        if port["direction"] == "input":
            for bit in port["bits"]:
                if isinstance(bit, int):
                    arrival["in"][bit], back["in"][bit] = 0, None
    for cell in sequential.values():
        for _, bit in _pins(cell, "output"):
            if isinstance(bit, int):
                arrival["reg"][bit], back["reg"][bit] = _FF_CLK_TO_Q_PS, None

    order = _topological(cells, driver)
    if order is None:
        return _no_timing(device, routing_ns, sorted(approximated))
    for name in order:
        c = cells[name]
        for out_pin, ins in c.arcs.items():
            out_bit = c.outputs.get(out_pin)
            if not isinstance(out_bit, int):
                continue
            for start in ("reg", "in"):
                best: int | None = None
                how: _Back = None
                for in_pin, delay in ins.items():
                    src = c.inputs.get(in_pin)
                    if not isinstance(src, int) or src not in arrival[start]:
                        continue
                    direct = dedicated(src, c, in_pin)
                    t = arrival[start][src] + (0 if direct else routing_ps) + delay
                    if best is None or t > best:
                        best, how = t, (name, in_pin, out_pin, src, direct)
                if best is not None:
                    arrival[start][out_bit], back[start][out_bit] = best, how

    names = _bit_names(module)
    ends: list[_Endpoint] = []
    for name, cell in sequential.items():
        is_ff = _FF.match(cell["type"]) is not None
        q = next((b for _, b in _pins(cell, "output") if isinstance(b, int)), None)
        label = _base_name(names.get(q, name)) if q is not None else name
        for pin, bit in _pins(cell, "input"):
            if not isinstance(bit, int) or pin[0] in ("C", "CLK", "CLKARDCLK", "CLKBWRCLK"):
                continue
            setup = _FF_SETUP_PS.get(pin[0], 0) if is_ff else 0
            for start in ("reg", "in"):
                if bit in arrival[start]:
                    ends.append((arrival[start][bit] + routing_ps + setup, f"{start}->reg", label, bit))
    for port_name, port in ports.items():
        if port["direction"] == "output":
            for bit in port["bits"]:
                for start in ("reg", "in"):
                    if isinstance(bit, int) and bit in arrival[start]:
                        ends.append((arrival[start][bit] + routing_ps, f"{start}->out", port_name, bit))
    if not ends:
        return _no_timing(device, routing_ns, sorted(approximated))

    def describe(end: _Endpoint) -> tuple[list[PathStep], dict[str, Any]]:
        start = end[1].split("->")[0]
        steps, first, nets = _trace(end[3], back[start], cells, fanout, arrival[start])
        nets += 1  # the net into the endpoint
        facts = {
            "start": _base_name(names.get(first, str(first))),
            "nets": nets,
            "cell_ns": (end[0] - nets * routing_ps) / 1000,
            "lut_levels": sum(1 for s in steps if _LUT.match(s.kind) or s.kind in ("LUT6_2", "INV")),
            "carry_cells": sum(1 for s in steps if s.kind in _CARRY),
        }
        return steps, facts

    worst_by_kind: dict[str, float] = {}
    per_end: dict[str, _Endpoint] = {}
    for end in ends:
        worst_by_kind[end[1]] = max(worst_by_kind.get(end[1], 0.0), end[0] / 1000)
        if end[2] not in per_end or end[0] > per_end[end[2]][0]:
            per_end[end[2]] = end
    endpoints = []
    for end in sorted(per_end.values(), key=lambda e: (-e[0], e[2]))[:MAX_ENDPOINTS]:
        endpoints.append({"endpoint": end[2], "kind": end[1], "delay_ns": end[0] / 1000, **describe(end)[1]})
    worst = max((e for e in ends if e[1] == "reg->reg"), default=None, key=lambda e: e[0]) or max(ends)
    steps, facts = describe(worst)
    delay_ns = worst[0] / 1000
    return TimingResult(
        device=device,
        routing_ns=routing_ns,
        delay_ns=delay_ns,
        fmax_mhz=round(1000.0 / delay_ns, 1) if delay_ns > 0 else None,
        kind=worst[1],
        start=facts["start"],
        end=worst[2],
        cell_ns=facts["cell_ns"],
        nets=facts["nets"],
        lut_levels=facts["lut_levels"],
        carry_cells=facts["carry_cells"],
        worst_by_kind=worst_by_kind,
        endpoints=endpoints,
        steps=steps,
        approximated=sorted(approximated),
        source=_SOURCE.format(r=routing_ns),
    )
