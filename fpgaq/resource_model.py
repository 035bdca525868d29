"""LUT, FF, DSP, BRAM and latency of a design, in milliseconds, calibrated against Yosys.

RTL estimate.  The counts come from :mod:`fpgaq.rtl.features`: the RTL back
end's own decisions (CSD digits, shared odd multiples and pairs, adder
widths, folding, pipeline registers), counted per node without generating
the design.  Calibrated coefficients turn them into cells::

    LUT = a_add * adder bits + a_add3 * ternary adder bits + a_carry * carry-only bits
        + a_dspadd * adder bits fed by a product + a_cmp * compared bits + a_mux * mux bits
        + a_cmux * constant-mux bits + a_rom * table LUTs (minimal) + a_wide * table LUTs (bit by bit)
        + a_en * tables behind an enabled read port + a_mul * LUT-multiplier bits + a_srl * SRL cells
    FF  = b_reg * register bits + b_valid * latency + b_0
    DSP = sum over '*' operators of the DSP slices their operand widths need
    BRAM = the RAMB18s (/ 2) of tables Yosys' synth_xilinx puts in block RAM (xc7, xcup)

Tables (sigmoid, tanh, softmax's exp and reciprocal) are counted by
:mod:`fpgaq.rtl.table_logic` as the logic the mapper builds: the carry-free
cone around a table as one function of its source, in two ways (the fit
weighs them), and a table behind a register with a clock enable, or put in
block RAM, as ``synth_xilinx`` treats it.  A ternary adder bit is one LUT6_2
on 7-series and UltraScale (three operands for the LUT that two binary adder
bits take).

An adder of ``w`` carry-chain bits is ``w`` LUTs plus ``w / 4`` CARRY4 on
7-series (a sum bit and its carry share one LUT6 half), so ``a_add`` sits
near 1, except above the top of an unsigned operand, where the other operand
only takes a carry (the propagate term is its own bit: a carry cell, no LUT;
these carry-only bits are counted apart, as ``carry_bits``, and are most of
an adder fed by a narrow per-element operand of learned precision);
comparisons ride the same carry chains; multiplexers pack two bits
per LUT6 when the select is shared.  The coefficients per synthesis flow are
fitted by :mod:`fpgaq.calibrate` (``fpgaq calibrate``) with non-negative
least squares on synthesized layers and shipped in
``fpgaq/data/resource_model.json`` with their held-out errors.

Latency is exact, not fitted: it is the scheduler's stage count replayed on
the same netlists.  Logic depth is in carry-chain levels (adders,
comparisons, table look-ups) between registers.

HLS estimate (``backend="hls"``).  No HLS tool runs here, so these numbers
are a model of what Vitis HLS / Catapult do with fpgaq's kernels, NOT
calibrated: every non-zero product is a multiplier (a DSP when both operands
are wider than :data:`HLS_DSP_MIN_BITS` bits, else ``a * b / 2`` LUTs), products
are shared over ``ReuseFactor`` cycles, the accumulation tree costs an adder
of accumulator width per product, and a layer takes ``ceil(log2(fan-in)) + 2``
cycles plus ``ReuseFactor - 1``.  They are labelled as such everywhere they
are shown.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from fpgaq.devices import Device, get_device
from fpgaq.errors import SettingError
from fpgaq.ir.graph import Graph
from fpgaq.ir.opspec import is_linear, is_wiring

__all__ = [
    "BACKENDS",
    "FEW_WEIGHTS",
    "HLS_DSP_MIN_BITS",
    "Estimate",
    "NodeEstimate",
    "block_rams",
    "coefficients",
    "dsp_slices",
    "estimate",
    "ff_terms",
    "lut_terms",
]

BACKENDS = ("rtl", "hls")
#: A LUT product by a weight chosen among at most this many constants (a layer folded 2 to 4 times) is
#: counted as products by constants (``smul_bits``), a wider choice as a general multiplier (``gmul_bits``).
FEW_WEIGHTS = 4
LUT_FEATURES = (
    "lut_add_bits",
    "add3_bits",
    "carry_bits",
    "dsp_add_bits",
    "cmp_bits",
    "mux_bits",
    "cmux_bits",
    "fold_mux_bits",
    "rom_luts",
    "rom_wide_luts",
    "mul_bits",
    "smul_bits",
    "gmul_bits",
    "srl_cells",
)
#: FF = ff_bits * (other register bits) + dsp_reg_bits * (registers next to multipliers)
#:      + srl_cells * (SRL cells) + latency * cycles + const
FF_FEATURES = ("ff_bits", "dsp_reg_bits", "srl_cells", "latency", "const")
#: Vitis HLS binds a product to a DSP only from about this operand width on (HLS model, uncalibrated).
HLS_DSP_MIN_BITS = 5

# DSP slice multiplier shapes (signed operand widths) of the Xilinx families Yosys maps to.
_DSP_SHAPES = {"xc7": (25, 18), "xcup": (27, 18)}
# Flows whose synthesis puts large tables with a registered output into block RAM (fpgaq.rtl.table_logic).
_BLOCK_RAM_FLOWS = ("xc7", "xcup")


@dataclasses.dataclass
class NodeEstimate:
    name: str
    op: str
    lut: float = 0.0
    ff: float = 0.0
    dsp: int = 0
    bram: float = 0.0
    latency_cycles: int = 0
    ii: int = 1
    logic_depth: float = 0
    stage_ns: float = 0.0  # the longest register-to-register path by the delay model (0: not timed)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Estimate:
    """Per-node and total estimates for one design on one device and back end."""

    design: str
    device: Device
    backend: str
    clock_mhz: float
    nodes: list[NodeEstimate]
    total: NodeEstimate
    calibration: str
    clock_source: str = "the device's default clock"
    delay_model: str = ""

    @property
    def fmax_mhz(self) -> float | None:
        """The highest clock the design meets by the delay model (None: no delay model for the device)."""
        return 1000.0 / self.total.stage_ns if self.total.stage_ns > 0 else None

    @property
    def meets_clock(self) -> bool | None:
        fmax = self.fmax_mhz
        return None if fmax is None else fmax >= self.clock_mhz * (1 - 1e-9)

    @property
    def latency_ns(self) -> float:
        return self.total.latency_cycles * 1000.0 / self.clock_mhz

    def utilization(self) -> dict[str, float | None]:
        """Fraction of the device used per resource (None where the device sets no budget)."""
        out: dict[str, float | None] = {}
        for key, limit in self.device.budget().items():
            used = getattr(self.total, key)
            if limit is None:
                out[key] = None
            elif limit == 0:
                out[key] = 0.0 if used == 0 else math.inf
            else:
                out[key] = used / limit
        return out

    def fits(self, budget: float = 1.0) -> bool:
        return all(u is None or u <= budget for u in self.utilization().values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "fpgaq-estimate/1",
            "design": self.design,
            "device": self.device.name,
            "backend": self.backend,
            "label": self.label,
            "clock_mhz": self.clock_mhz,
            "clock_source": self.clock_source,
            "fmax_mhz": self.fmax_mhz,
            "meets_clock": self.meets_clock,
            "delay_model": self.delay_model,
            "latency_ns": self.latency_ns,
            "total": self.total.to_dict(),
            "utilization": self.utilization(),
            "fits": self.fits(),
            "nodes": [n.to_dict() for n in self.nodes],
            "calibration": self.calibration,
        }

    @property
    def label(self) -> str:
        if self.backend == "hls":
            return "HLS estimate (model of Vitis HLS / Catapult results; not calibrated against an HLS tool)"
        return f"RTL estimate (calibrated against {self.calibration})"

    def table(self) -> str:
        rows = [("node", "op", "LUT", "FF", "DSP", "BRAM", "cycles", "II", "depth", "ns")]
        for n in [*self.nodes, self.total]:
            rows.append(
                (
                    n.name,
                    n.op,
                    f"{n.lut:,.0f}",
                    f"{n.ff:,.0f}",
                    str(n.dsp),
                    f"{n.bram:g}",
                    str(n.latency_cycles),
                    str(n.ii),
                    f"{n.logic_depth:g}" if isinstance(n.logic_depth, int) else f"{n.logic_depth:.2f}",
                    f"{n.stage_ns:.2f}" if n.stage_ns else "-",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [f"{self.label}: {self.design} on {self.device.name} at {self.clock_mhz:.4g} MHz ({self.clock_source})"]
        for i, r in enumerate(rows):
            if i == len(rows) - 1:
                lines.append("  ".join("-" * w for w in widths))
            lines.append(
                "  ".join(c.rjust(w) if i and j > 1 else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths)))
            )
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append(f"latency {self.total.latency_cycles} cycles = {self.latency_ns:.1f} ns, II {self.total.ii}")
        if self.fmax_mhz is not None:
            verdict = "" if self.meets_clock else f"; the {self.clock_mhz:.4g} MHz clock is NOT met"
            lines.append(
                f"Fmax {self.fmax_mhz:.1f} MHz (longest stage {self.total.stage_ns:.2f} ns by the {self.delay_model} "
                f"delay model){verdict}"
            )
        use = ", ".join(f"{k} {v:.1%}" for k, v in self.utilization().items() if v is not None)
        if use:
            lines.append(f"utilization: {use}" + ("" if self.fits() else "  (does NOT fit)"))
        return "\n".join(lines)


# ----------------------------------------------------------------------------- coefficients
def _shipped() -> dict[str, Any]:
    """The shipped calibration, or the file that ``$FPGAQ_RESOURCE_MODEL`` names (``fpgaq calibrate -o``)."""
    return _load(os.environ.get("FPGAQ_RESOURCE_MODEL") or None)


@functools.lru_cache(maxsize=4)
def _load(path: str | None) -> dict[str, Any]:
    if path is None:
        return json.loads(resources.files("fpgaq").joinpath("data/resource_model.json").read_text())
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise SettingError(f"FPGAQ_RESOURCE_MODEL={path!r} is not a readable resource_model.json ({err})") from None


def coefficients(synth_device: str) -> dict[str, Any]:
    """The fitted coefficients of one synthesis flow (``xc7``, ``xcup``, ``generic-lut4``)."""
    data = _shipped()
    fams = data["flows"]
    if synth_device not in fams:
        raise SettingError(
            f"no resource-model calibration for synthesis flow {synth_device!r}; calibrated: {', '.join(fams)}; "
            "run `fpgaq calibrate --flow ...` to fit one"
        )
    return fams[synth_device]


def dsp_slices(a: int, b: int, synth_device: str, y: int | None = None) -> int:
    """DSP slices Yosys uses for an ``a`` x ``b`` bit signed multiplier with a ``y``-bit product
    (default ``a + b``); 0: it stays in LUTs.  Yosys' mul2dsp keeps a product narrower than 9
    bits, or an operand narrower than 2, in LUTs."""
    shape = _DSP_SHAPES.get(synth_device)
    if shape is None:
        return 0
    big, small = max(a, b), min(a, b)
    if small < 2 or (a + b if y is None else y) < 9:
        return 0
    da, db = shape
    return math.ceil((big - 1) / (da - 1)) * math.ceil((small - 1) / (db - 1))


# ----------------------------------------------------------------------------- the RTL model
def lut_terms(
    counts: Mapping[str, float], mul_shapes: Iterable[Sequence[int]], synth_device: str, use_dsp: bool = True
) -> tuple[dict[str, float], int]:
    """The LUT model's inputs (:data:`LUT_FEATURES`) from feature counts, and the DSP slices the
    multipliers take: the one place both the estimate and the calibration fit read them from."""
    dsp = 0
    lut_mul_bits = [0.0, 0.0, 0.0]  # products by a constant, by a weight among a few, general ones
    for shape, count in Counter(tuple(s) for s in mul_shapes).items():
        a, b, y = shape[:3]
        slices = dsp_slices(a, b, synth_device, y) if use_dsp else 0
        if slices:
            dsp += slices * count
            continue
        values = shape[3] if len(shape) > 3 else 0
        if values == 0:
            lut_mul_bits[0] += a * b * count
        elif 0 < values <= FEW_WEIGHTS:  # synthesis builds each constant product by shifts and adds
            lut_mul_bits[1] += max(a, b) * shape[4] * count  # and picks one: adder rows of the wider width
        else:
            # a general multiplier in LUTs is an array: a row of the wider operand's bits per bit of the
            # narrower one, summed by an adder per row after the first (Yosys 0.23 xc7, no DSP: 16x2 33
            # LUTs, 10x3 47, 8x4 61, 16x6 183, 16x8 310: about 2.3 LUTs per bit of those adders)
            wide, narrow = max(a, b), min(a, b)
            lut_mul_bits[2] += wide * max(narrow - 1, 1) * count
    terms = {k: float(counts.get(k, 0.0)) for k in LUT_FEATURES}
    if synth_device in _BLOCK_RAM_FLOWS:  # those tables are block RAM, not LUTs
        terms["rom_luts"] -= float(counts.get("bram_rom_luts", 0.0))
        terms["rom_wide_luts"] -= float(counts.get("bram_rom_wide_luts", 0.0))
    two_operand = counts["add_bits"] - counts.get("dsp_add_bits", 0.0) - counts.get("carry_bits", 0.0)
    # a ternary adder's bits are their own term (one LUT6_2 per bit for three operands on Xilinx)
    terms["lut_add_bits"] = max(two_operand - counts.get("add3_bits", 0.0), 0.0)
    terms["mul_bits"], terms["smul_bits"], terms["gmul_bits"] = lut_mul_bits
    return terms, dsp


def block_rams(counts: Mapping[str, float], synth_device: str) -> float:
    """Block RAMs (36 Kb units, two RAMB18 each) that the flow maps tables into."""
    return float(counts.get("rom_ramb18", 0.0)) / 2 if synth_device in _BLOCK_RAM_FLOWS else 0.0


def ff_terms(
    counts: Mapping[str, float],
    input_bits: float = 0.0,
    latency: float = 0.0,
    const: float = 0.0,
    synth_device: str | None = None,
) -> dict[str, float]:
    """The FF model's inputs (:data:`FF_FEATURES`): a node's registers, or a whole design's with
    its input registers, valid bits (``latency``) and constant (``const=1``); on ``synth_device``s
    that put tables in block RAM, the tables' output registers are the RAM's and leave the count."""
    dsp_regs = counts.get("dsp_reg_bits", 0.0)
    in_ram = counts.get("bram_reg_bits", 0.0) if synth_device in _BLOCK_RAM_FLOWS else 0.0
    return {
        "ff_bits": counts["reg_bits"] - counts.get("srl_bits", 0.0) - dsp_regs - in_ram + input_bits,
        "dsp_reg_bits": dsp_regs,
        "srl_cells": counts.get("srl_cells", 0.0),
        "latency": latency,
        "const": const,
    }


def _apply(coef: Mapping[str, float], terms: Mapping[str, float]) -> float:
    return sum(coef.get(k, 0.0) * v for k, v in terms.items())


def _rtl_node(nf: Any, coef: dict[str, Any], synth_device: str, use_dsp: bool, register_ns: float) -> NodeEstimate:
    luts, dsp = lut_terms(nf.features.counts, nf.features.mul_shapes, synth_device, use_dsp)
    return NodeEstimate(
        nf.name,
        nf.op,
        lut=_apply(coef["lut"], luts),
        ff=_apply(coef["ff"], ff_terms(nf.features.counts, synth_device=synth_device)),
        dsp=dsp,
        bram=block_rams(nf.features.counts, synth_device),
        latency_cycles=nf.stages,
        ii=nf.ii,
        logic_depth=nf.depth,
        stage_ns=register_ns + nf.ns if register_ns else 0.0,
    )


def _timing_model(graph: Graph, device: Device) -> Any:
    """The delay model that times the estimate: ``ClockPeriod``'s own device when the design was
    scheduled by one (its registers were placed for that part), else the estimate's device."""
    from fpgaq.rtl.delay import delay_model
    from fpgaq.rtl.pipeline import clock_period

    period, clock_device = clock_period(graph.nodes)
    if period is not None:
        return delay_model(clock_device)
    try:
        return delay_model(device)
    except SettingError:
        return None


def _rtl(graph: Graph, device: Device, use_dsp: bool, exact: bool) -> tuple[list[NodeEstimate], NodeEstimate, Any]:
    from fpgaq.rtl.features import graph_features
    from fpgaq.rtl.lower.driver import check_supported

    check_supported(graph)  # the same refusals as the RTL writer (an op it cannot build, io_stream)
    model = _timing_model(graph, device)
    nfs, latency, input_bits = graph_features(graph, exact_timing=exact, report=model)
    coef = coefficients(device.synth_device)
    use_dsp = use_dsp and bool(device.dsps)
    register_ns = model.register if model is not None else 0.0
    nodes = [_rtl_node(nf, coef, device.synth_device, use_dsp, register_ns) for nf in nfs]
    top = {"reg_bits": 0.0}  # the top level's registers: inputs and valid bits
    total = NodeEstimate(
        "total",
        "",
        lut=sum(n.lut for n in nodes),
        ff=sum(n.ff for n in nodes) + _apply(coef["ff"], ff_terms(top, input_bits, latency, const=1.0)),
        dsp=sum(n.dsp for n in nodes),
        bram=sum(n.bram for n in nodes),
        latency_cycles=latency,
        ii=max((n.ii for n in nodes), default=1),
        logic_depth=max((n.logic_depth for n in nodes), default=0),
        stage_ns=max((n.stage_ns for n in nodes), default=register_ns),
    )
    return nodes, total, model


# ----------------------------------------------------------------------------- the HLS model
def _hls(graph: Graph, device: Device) -> tuple[list[NodeEstimate], NodeEstimate]:
    nodes = []
    for node in graph.nodes:
        if node.op == "input":
            continue
        out = graph.tensors[node.output]
        if is_linear(node.op):
            kernel = node.weights["kernel"]
            x_t = graph.tensors[node.inputs[0]].type
            acc = node.types.get("accum") or out.type
            rf = max(1, int(node.options.get("reuse_factor", 1) or 1))
            w = np.asarray(kernel.mantissa)
            positions = out.size // max(w.shape[-1], 1) if node.op in ("dense", "conv1d", "conv2d") else 1
            nonzero = int(np.count_nonzero(w)) * max(positions, 1)
            fan_in = max(int(np.prod(w.shape[:-1])), 1)
            wbits = kernel.type.width
            big = x_t.width >= HLS_DSP_MIN_BITS and wbits >= HLS_DSP_MIN_BITS and bool(device.dsps)
            mults = math.ceil(nonzero / rf)
            dsp = mults * (dsp_slices(x_t.width, wbits, device.synth_device) or 1) if big else 0
            lut = (0 if big else mults * x_t.width * wbits / 2) + mults * acc.width + out.size * out.type.width
            ff = mults * acc.width / 2 + out.size * out.type.width
            cycles = math.ceil(math.log2(fan_in)) + 2 + (rf - 1)
            nodes.append(NodeEstimate(node.name, node.op, lut, ff, dsp, 0.0, cycles, rf, 0))
        else:
            bits = out.size * (out.type.width if out.type else 16)
            wiring = is_wiring(node.op)
            nodes.append(NodeEstimate(node.name, node.op, 0.0 if wiring else bits, bits, 0, 0.0, 0 if wiring else 1))
    total = NodeEstimate(
        "total",
        "",
        lut=sum(n.lut for n in nodes),
        ff=sum(n.ff for n in nodes),
        dsp=sum(n.dsp for n in nodes),
        bram=0.0,
        latency_cycles=sum(n.latency_cycles for n in nodes),
        ii=max((n.ii for n in nodes), default=1),
        logic_depth=0,
    )
    return nodes, total


# ----------------------------------------------------------------------------- the API
def estimate(
    design: Any,
    device: str | Device = "xc7a100t",
    backend: str = "rtl",
    clock_mhz: float | None = None,
    use_dsp: bool = True,
    exact: bool = True,
) -> Estimate:
    """Estimate a Design (or its Graph) on ``device`` for the ``rtl`` or ``hls`` back end.

    ``use_dsp=False`` estimates a synthesis that forbids DSP slices (as
    ``fpgaq synth --no-dsp`` does), so every ``*`` becomes LUT logic.
    ``exact=False`` (what sweeps use) schedules each layer as if all its
    inputs arrived with the latest one: the latency is then an upper bound
    (by at most a cycle per pipelined layer) instead of exact, and thousands
    of points cost seconds instead of minutes.

    The RTL estimate is timed by the device's delay model
    (:mod:`fpgaq.rtl.delay`): without ``clock_mhz`` the design is taken to
    run at its Fmax, so the latency in ns is what a deeper pipeline buys;
    with ``clock_mhz``, ``meets_clock`` says whether it can.
    """
    graph = design if isinstance(design, Graph) else design.graph
    dev = get_device(device)
    if backend not in BACKENDS:
        raise SettingError(f"estimate: backend {backend!r} is not supported; choose one of {', '.join(BACKENDS)}")
    if clock_mhz is not None and not float(clock_mhz) > 0:
        raise SettingError(f"estimate: clock_mhz must be positive, got {clock_mhz!r}")
    model = None
    if backend == "rtl":
        nodes, total, model = _rtl(graph, dev, use_dsp, exact)
        calibration = _shipped().get("source", "Yosys")
    else:
        nodes, total = _hls(graph, dev)
        calibration = "none (HLS model)"
    if clock_mhz is not None:
        clock, source = float(clock_mhz), "given"
    elif total.stage_ns > 0:
        clock, source = 1000.0 / total.stage_ns, "its Fmax by the delay model"
    else:
        clock, source = dev.clock_mhz, "the device's default clock"
    flow = f"{model.flow}" if model is not None else ""
    return Estimate(graph.name, dev, backend, clock, nodes, total, calibration, source, flow)
