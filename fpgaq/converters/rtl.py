"""Design -> Verilog RTL project: fully parallel, pipelined, with an AXI-Stream style handshake.

The flow is ``lower`` (one exact integer netlist, op by op as the reference
computes, :mod:`fpgaq.rtl.build`) -> ``pipeline`` (registers per
``PipelineEvery``, balanced, exact latency, :mod:`fpgaq.rtl.pipeline`) ->
``emit_verilog`` (:mod:`fpgaq.rtl.verilog` and ``fpgaq/templates/rtl``).
Nothing numeric is decided here.

A project directory holds::

    rtl/*.v          one module per layer and the top level (named after the design)
    rtl/xc7/, rtl/xcup/, sim/xilinx/
                     with ternary adders (``Adders: ternary``) only: the adder module spelled with
                     Xilinx primitives per family, and fpgaq's simulation models of those primitives
    filelist.f       the Verilog files in compile order, relative to the project
    fpgaq_rtl.json   the manifest: top, latency, ii, bus layout, options, per-node timing, data files
    README.md        ports, bit order, latency and II, how to simulate and synthesize
    fpgaq.yaml       the conversion config
    data/*.npy       input mantissas and the reference's expected output mantissas (for ``fpgaq cosim``)

:func:`write_rtl` writes it into a temporary sibling directory and renames
it into place, so a project appears complete or not at all; it never
replaces an existing directory unless asked to.  The same design gives
byte-identical files (seeded test data, no dates, no absolute paths).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from fpgaq.converters._project_files import check_new_directory, write_files
from fpgaq.ir.graph import Graph
from fpgaq.ir.opspec import is_reusable
from fpgaq.reference import on_element_grids
from fpgaq.rtl.build import check_supported, lower
from fpgaq.rtl.delay import delay_model, stage_delays
from fpgaq.rtl.lower.registry import RtlLoweringError
from fpgaq.rtl.pipeline import Pipelined, clock_period, pipeline
from fpgaq.rtl.verilog import (
    ADDER_FAMILIES,
    PARTITIONS,
    adder_module,
    adder_module_name,
    emit_verilog,
    environment,
    uses_ternary_adders,
    verilog_identifier,
    xilinx_cell_models,
)

__all__ = [
    "DEFAULT_SAMPLES",
    "RtlLoweringError",
    "RtlProject",
    "build_rtl",
    "project_sources",
    "render_rtl",
    "top_name",
    "vector_inputs",
    "write_rtl",
]

#: Random test vectors written with a project (plus the extreme codes, see :func:`test_inputs`).
DEFAULT_SAMPLES = 256
MANIFEST = "fpgaq_rtl.json"


class RtlProject:
    """A rendered project: ``files`` (relative path -> text or bytes) and its ``pipelined`` netlist."""

    def __init__(self, files: dict[str, str | bytes], pipelined: Pipelined, manifest: dict[str, Any]) -> None:
        self.files = files
        self.pipelined = pipelined
        self.manifest = manifest

    @property
    def latency(self) -> int:
        return self.pipelined.latency

    @property
    def ii(self) -> int:
        return self.pipelined.ii


def top_name(graph: Graph) -> str:
    return verilog_identifier(graph.name or "fpgaq_top")


def build_rtl(design: Any) -> Pipelined:
    """The design's pipelined netlist (what the Verilog spells)."""
    check_supported(design.graph)
    return pipeline(lower(design.graph))


# ----------------------------------------------------------------------------- test vectors
def vector_inputs(graph: Graph, samples: int = DEFAULT_SAMPLES, seed: int = 0) -> list[np.ndarray]:
    """Input mantissas: every element at its type's minimum, maximum, zero, alternating extremes,
    then ``samples`` seeded uniform random codes; shape ``(N, *shape)`` per input."""
    rng = np.random.default_rng(seed)
    out = []
    for name in graph.inputs:
        tensor = graph.tensors[name]
        t = tensor.type
        lo, hi = t.min_int, t.max_int
        size = tensor.size
        alt = np.where(np.arange(size) % 2 == 0, lo, hi)
        fixed = np.stack([np.full(size, lo), np.full(size, hi), np.zeros(size, dtype=np.int64), alt, alt[::-1]])
        rand = rng.integers(lo, hi, size=(samples, size), endpoint=True, dtype=np.int64)
        codes = np.concatenate([fixed.astype(np.int64), rand]).reshape(-1, *tensor.shape)
        out.append(on_element_grids(tensor, codes))  # per-element inputs: codes their port carries
    return out


def _npy(a: np.ndarray) -> bytes:
    arr = np.asarray(a)
    if arr.dtype == object:
        wide = any(int(v).bit_length() > 62 for v in arr.ravel())
        arr = arr.astype(str) if wide else arr.astype(np.int64)
    else:
        arr = arr.astype(np.int64)
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _vectors(design: Any, samples: int, seed: int) -> tuple[dict[str, bytes], dict[str, Any]]:
    graph = design.graph
    mants = vector_inputs(graph, samples, seed)
    if any(graph.tensors[t].type.width > 53 for t in graph.inputs):
        return {}, {}
    floats = [graph.tensors[t].type.from_int(m) for t, m in zip(graph.inputs, mants)]
    expected = design.predict_int(floats)
    files: dict[str, bytes] = {}
    names: dict[str, list[str]] = {}
    for kind, arrays, stem in (("inputs", mants, "inputs_int"), ("expected", expected, "expected_int")):
        names[kind] = [f"data/{stem}.npy"] if len(arrays) == 1 else [f"data/{stem}_{k}.npy" for k in range(len(arrays))]
        for path, a, tname in zip(names[kind], arrays, graph.inputs if kind == "inputs" else graph.outputs):
            shape = graph.tensors[tname].shape
            files[path] = _npy(np.asarray(a).reshape(len(a), *shape))
    return files, {"samples": len(mants[0]), **names}


# ----------------------------------------------------------------------------- manifest and README
def _bus(graph: Graph, names: list[str], port: str) -> list[dict[str, Any]]:
    entries, offset = [], 0
    for name in names:
        tensor = graph.tensors[name]
        t = tensor.type
        entries.append(
            {
                "tensor": name,
                "port": port,
                "shape": list(tensor.shape),
                "elements": tensor.size,
                "width": t.width,
                "signed": t.signed,
                "type": t.ac_fixed(),
                "frac": t.frac,
                "offset": offset,
            }
        )
        offset += t.width * tensor.size
    return entries


def _options(graph: Graph, partition: str) -> dict[str, Any]:
    opts = {}
    for key in ("multiplier", "pipeline_every", "reuse_factor", "adders"):
        values = sorted({str(n.options.get(key)) for n in graph.nodes if n.op != "input" and key in n.options})
        opts[key] = values[0] if len(values) == 1 else values
    for key in ("pipeline_every", "reuse_factor"):
        if isinstance(opts[key], str) and opts[key].isdigit():
            opts[key] = int(opts[key])
    if opts["adders"] == []:  # a graph traced before the setting existed
        del opts["adders"]
    opts["partition"] = partition
    opts["input_registers"] = True
    return opts


def _manifest(design: Any, p: Pipelined, top: str, verilog: list[str], data: dict[str, Any], partition: str) -> dict:
    graph = design.graph
    nodes = []
    for node in graph.nodes:
        if node.name not in p.node_stages:
            continue
        s_in, s_out = p.node_stages[node.name]
        folded = is_reusable(node.op) and int(node.options.get("reuse_factor", 1) or 1) > 1
        nodes.append(
            {
                "name": node.name,
                "op": node.op,
                "latency": s_out - s_in,
                "ii": int(node.options.get("reuse_factor", 1)) if folded else 1,
                "stages": [s_in, s_out],
                "options": {
                    k: node.options[k]
                    for k in sorted(node.options)
                    if k in _NODE_OPTIONS and node.options[k] is not None
                },
            }
        )
    manifest = {
        "format": 1,
        "top": top,
        "latency": p.latency,
        "ii": p.ii,
        "files": verilog,
        "inputs": _bus(graph, list(graph.inputs), "in_data"),
        "outputs": _bus(graph, list(graph.outputs), "out_data"),
        "options": _options(graph, partition),
        "nodes": nodes,
        "resources": _counts(p),
        "timing": _timing(graph, p),
    }
    if data:
        manifest["data"] = data
    return manifest


def _timing(graph: Any, p: Pipelined) -> dict[str, Any]:
    """The longest stage by the delay model of ClockPeriod's device (or the default part's): what
    ``fpgaq synth`` and place and route are compared with."""
    _, device = clock_period(graph.nodes)
    model = delay_model(device)
    stage = model.stage_ns(max(stage_delays(p.net, model).values(), default=0.0))
    return {
        "clock_period_ns": p.clock_period,
        "device": device,
        "model_stage_ns": round(stage, 3),
        "model_fmax_mhz": round(1000.0 / stage, 1),
    }


_NODE_OPTIONS = ("multiplier", "pipeline_every", "reuse_factor", "adders", "clock_period")


def _counts(p: Pipelined) -> dict[str, int]:
    """Operation counts of the generated logic (adders include subtractors and negations)."""
    counts = {"adders": 0, "adder_bits": 0, "comparisons": 0, "multipliers": 0, "roms": 0, "register_bits": 0}
    for op in p.net.live():
        k = op.kind
        if k in ("add", "add3", "neg"):
            counts["adders"] += 1
            counts["adder_bits"] += op.out.width
            if k == "add3":
                counts["ternary_adders"] = counts.get("ternary_adders", 0) + 1
        elif k in ("max", "min", "clip"):
            counts["comparisons"] += 1
        elif k in ("mul", "mulc"):
            counts["multipliers"] += 1
        elif k == "rom":
            counts["roms"] += 1
        if k in ("reg", "hold"):
            counts["register_bits"] += op.out.width
        elif k == "accum":
            counts["adders"] += 1
            counts["register_bits"] += op.out.width
    return counts


def render_rtl(
    design: Any, samples: int = DEFAULT_SAMPLES, seed: int = 0, partition: str = "layer", test_data: bool = True
) -> RtlProject:
    """Every file of the project (``{relative path: text or bytes}``), without touching the disk."""
    if partition not in PARTITIONS:
        raise ValueError(f"partition {partition!r} is not supported; choose one of {', '.join(PARTITIONS)}")
    graph = design.graph
    p = build_rtl(design)
    top = top_name(graph)
    verilog = emit_verilog(p, top, partition)
    files: dict[str, str | bytes] = dict(verilog)
    order = list(verilog)
    by_family: dict[str, list[str]] = {}
    if uses_ternary_adders(p):
        adders = _adder_files(top)
        files.update(adders)
        by_family = {family: [path, *order] for path, family in zip(adders, ADDER_FAMILIES)}
        order = by_family["generic"]
    files["filelist.f"] = "".join(f"{path}\n" for path in order)
    vec_files, data = _vectors(design, samples, seed) if test_data else ({}, {})
    files.update(vec_files)
    manifest = _manifest(design, p, top, order, data, partition)
    if by_family:
        manifest["device_files"] = {family: by_family[family] for family in ADDER_FAMILIES[1:]}
        manifest["simulation_files"] = _SIMULATED_CELLS + by_family[SIMULATED_FAMILY]
        files.update({path: text for path, text in zip(_SIMULATED_CELLS, xilinx_cell_models().values())})
    files[MANIFEST] = json.dumps(manifest, indent=1) + "\n"
    files["fpgaq.yaml"] = design.config.to_yaml()
    bits = {f"{kind}_bits": sum(t["width"] * t["elements"] for t in manifest[f"{kind}puts"]) for kind in ("in", "out")}
    files["README.md"] = environment().get_template("README.md.j2").render(m=manifest, name=graph.name, **bits)
    return RtlProject(files, p, manifest)


# ----------------------------------------------------------------------------- ternary adders
#: The spelling of the ternary adders that simulators compile (what is synthesized for xc7).
SIMULATED_FAMILY = "xc7"
_SIMULATED_CELLS = [f"sim/xilinx/{cell}.v" for cell in ("LUT6_2", "CARRY4", "CARRY8")]


def _adder_files(top: str) -> dict[str, str]:
    """The ternary adder module, one file per spelling (in :data:`ADDER_FAMILIES` order)."""
    name = adder_module_name(top)
    paths = {"generic": f"rtl/{name}.v", "xc7": f"rtl/xc7/{name}.v", "xcup": f"rtl/xcup/{name}.v"}
    return {paths[family]: adder_module(top, family) for family in ADDER_FAMILIES}


def project_sources(manifest: dict[str, Any], device: str | None = None) -> list[str]:
    """The Verilog files (relative to the project) that a tool reads, in compile order.

    ``device`` None: a simulator's list, which has the Xilinx spelling of the ternary adders with
    fpgaq's own models of the primitives (so co-simulation checks what is synthesized for xc7).
    A synthesis device (``xc7``, ``xcup``, ``generic-lut4``, ...): the ternary adder spelled for it,
    with Xilinx primitives on the Xilinx families and ``+`` elsewhere; never the models.
    Projects without ternary adders have one list for everything: ``files``.
    """
    files = list(manifest["files"])
    if device is None:
        return list(manifest.get("simulation_files", files))
    return list(manifest.get("device_files", {}).get(device, files))


# ----------------------------------------------------------------------------- writing
def _write_atomic(files: dict[str, str | bytes], directory: str | os.PathLike[str], force: bool) -> Path:
    return write_files(files, directory, force)


def write_rtl(
    design: Any,
    directory: str | os.PathLike[str],
    *,
    force: bool = False,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    partition: str = "layer",
) -> Path:
    """Render the RTL project and write it to ``directory`` (complete or not at all)."""
    check_new_directory(directory, force)
    project = render_rtl(design, samples=samples, seed=seed, partition=partition)
    return _write_atomic(project.files, directory, force)
