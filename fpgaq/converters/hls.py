"""Design -> HLS C++ project (ac_fixed for Catapult, or ap_fixed for Vitis HLS).

Python decides, templates spell: :func:`render_hls` turns the typed graph
into template contexts (one :class:`~fpgaq.converters._hls_nodes.NodeSpec`
per node) and renders ``fpgaq/templates/hls/*.j2``; the layer kernels are the
static header ``templates/hls/include/fpgaq_layers.h``.  With ``Model.IOType:
io_stream`` the ports and the tensors between layers are streams of pixels
(``top_stream.cpp.j2``): convolutions and pooling use line-buffer kernels, the
other layers run their io_parallel kernel on the stream read into an array, so
the numbers are those of io_parallel.  :func:`write_hls`
writes the files into a temporary directory next to the target and renames
it into place, so a project appears complete or not at all, and it never
replaces an existing directory unless asked to.

Rendering is deterministic: the same design and arguments give byte-identical
files (no dates, no absolute paths, seeded test data).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from fpgaq.converters._hls_nodes import IO_TYPES, STREAM_KERNELS, HlsError, NodeSpec, node_spec, tensor_alias
from fpgaq.converters._project_files import check_new_directory, template_environment, write_files
from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Graph
from fpgaq.reference import evaluate, graph_input_mantissas, on_element_grids

__all__ = ["CXXFLAGS", "FLAVORS", "HlsError", "render_hls", "write_hls"]

FLAVORS = ("catapult", "vitis")
#: g++ flags of the C-simulation; the generated Makefile and fpgaq.sim.csim both use them.
CXXFLAGS = ("-std=c++17", "-O2", "-Wall", "-Werror")
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "hls"
INCLUDE_DIR = TEMPLATE_DIR / "include"
#: Static headers copied into every project's include/ (the ac_types ones only for Catapult).
_AC_HEADERS = ("ac_int.h", "ac_fixed.h", "fpgaq_bits.h")
_LAYER_HEADER = "fpgaq_layers.h"
DEFAULT_SAMPLES = 100
#: Largest table declared FPGAQ_CONST_TABLE (constexpr under fpgaq's ac_fixed: constant data, no start-up
#: code to compile).  g++ evaluates such a table as one constant expression and spends ~400 (up to ~1,600 for
#: types wider than 62 bits) of its default 33,554,432 constexpr operations per value, so larger tables stay
#: plain const.
CONSTEXPR_TABLE_MAX = 16_384
_TRACE_VALUES = 1_000_000  # keep the expected per-node trace file below ~10 MB
_MAX_IO_BITS = 62
_CPP_KEYWORDS = frozenset(
    [
        "alignas",
        "alignof",
        "and",
        "asm",
        "auto",
        "bitand",
        "bitor",
        "bool",
        "break",
        "case",
        "catch",
        "char",
        "class",
        "compl",
        "const",
        "constexpr",
        "continue",
        "decltype",
        "default",
        "delete",
        "do",
        "double",
        "else",
        "enum",
        "explicit",
        "export",
        "extern",
        "false",
        "float",
        "for",
        "friend",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "mutable",
        "namespace",
        "new",
        "noexcept",
        "not",
        "nullptr",
        "operator",
        "or",
        "private",
        "protected",
        "public",
        "register",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "struct",
        "switch",
        "template",
        "this",
        "throw",
        "true",
        "try",
        "typedef",
        "typeid",
        "typename",
        "union",
        "unsigned",
        "using",
        "virtual",
        "void",
        "volatile",
        "while",
        "xor",
        "main",
    ]
)


# ----------------------------------------------------------------------------- names and types
def _identifier(name: str) -> str:
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name)
    ident = re.sub(r"_+", "_", ident)
    if not ident or ident[0].isdigit() or ident.startswith("_"):
        ident = f"n{ident}" if ident.startswith("_") else f"n_{ident}"
    if ident in _CPP_KEYWORDS:
        ident = f"{ident}_"
    return ident


def _c_names(graph: Graph) -> dict[str, str]:
    """Unique C identifiers for every tensor and node name (a node and its output tensor share one)."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for name in [*graph.tensors, *(n.name for n in graph.nodes)]:
        if name in names:
            continue
        base = _identifier(name)
        ident, i = base, 1
        while ident in used:
            i += 1
            ident = f"{base}_{i}"
        names[name] = ident
        used.add(ident)
    return names


def _spell(t: FixedType, flavor: str) -> str:
    return t.ap_fixed() if flavor == "vitis" else t.ac_fixed()


def _top_name(graph: Graph) -> str:
    return _identifier(graph.name or "fpgaq_top")


# ----------------------------------------------------------------------------- test vectors
def _lines(rows: np.ndarray) -> str:
    return "".join(" ".join(str(int(v)) for v in row) + "\n" for row in rows)


def _io_check(graph: Graph) -> None:
    for t in [*graph.inputs, *graph.outputs]:
        tt = graph.tensors[t].type
        if tt.width > _MAX_IO_BITS:
            raise HlsError(
                f"tensor {t!r} has type {tt.ap_fixed()}: {tt.width} bits are more than the testbench's 62-bit "
                "integers carry; give it a narrower type"
            )


def _input_mantissas(graph: Graph, x: Any, samples: int) -> list[np.ndarray]:
    """Input mantissas: from ``x`` (floats assigned into the input types), else seeded random codes."""
    if x is not None:
        return graph_input_mantissas(graph, x)
    rng = np.random.default_rng(0)
    out = []
    for t in graph.inputs:
        tensor = graph.tensors[t]
        lo, hi = tensor.type.min_int, tensor.type.max_int
        codes = rng.integers(lo, hi, size=(samples, *tensor.shape), endpoint=True, dtype=np.int64)
        out.append(on_element_grids(tensor, codes))
    return out


def _trace_layout(graph: Graph, names: dict[str, str]) -> list[dict[str, Any]]:
    """Per-node output tensors in node order, as the FPGAQ_TRACE build stores them per sample."""
    layout, offset = [], 0
    for node in graph.nodes:
        if node.op == "input":
            continue
        tensor = graph.tensors[node.output]
        if tensor.type.width > _MAX_IO_BITS:
            continue  # too wide for 64-bit integers: not traced
        layout.append({"node": node.name, "tensor": names[node.output], "offset": offset, "size": tensor.size})
        offset += tensor.size
    return layout


def _test_vectors(graph: Graph, x: Any, samples: int, layout: list[dict[str, Any]]) -> dict[str, str]:
    mants = _input_mantissas(graph, x, samples)
    n = len(mants[0])
    floats = [graph.tensors[t].type.from_int(m) for t, m in zip(graph.inputs, mants)]
    outs = evaluate(graph, floats)
    inputs = np.concatenate([m.reshape(n, -1) for m in mants], axis=1)
    expected = np.concatenate([np.asarray(outs[t]).reshape(n, -1) for t in graph.outputs], axis=1)
    per_sample = max(sum(e["size"] for e in layout), 1)
    n_trace = min(n, max(1, _TRACE_VALUES // per_sample))
    kept = evaluate(graph, [f[:n_trace] for f in floats], keep=True)
    by_tensor = {graph.node(e["node"]).output: e for e in layout}
    trace = np.concatenate(
        [np.asarray(kept[t]).reshape(n_trace, -1) for t in by_tensor] or [np.zeros((n_trace, 0))], axis=1
    )
    return {
        "tb_data/inputs.txt": _lines(inputs),
        "tb_data/expected.txt": _lines(expected),
        "tb_data/trace_expected.txt": _lines(trace),
        "_samples": str(n),
        "_trace_samples": str(n_trace),
    }


# ----------------------------------------------------------------------------- rendering
def _environment(flavor: str) -> jinja2.Environment:
    env = template_environment(TEMPLATE_DIR)
    env.filters["ctype"] = lambda t: _spell(t, flavor)
    env.filters["chunks"] = lambda values, n: [values[i : i + n] for i in range(0, len(values), n)]
    return env


def _tensor_context(graph: Graph, names: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "name": t.name,
            "cname": names[t.name],
            "alias": tensor_alias(names[t.name]),
            "type": t.type,
            "shape": "x".join(map(str, t.shape)) or "1",
            "size": t.size,
            # io_stream: one pixel holds the last axis (the channels), the stream carries size / chan pixels
            "chan": t.shape[-1] if t.shape else 1,
            "npix": t.size // (t.shape[-1] if t.shape else 1),
            "stype": f"fpgaq::stream<fpgaq::pixel<{tensor_alias(names[t.name])}, {t.shape[-1] if t.shape else 1}> >",
        }
        for t in graph.tensors.values()
        if t.type is not None
    ]


def _check_unique(specs: list[NodeSpec], tensors: list[dict[str, Any]], top: str) -> None:
    seen: dict[str, str] = {}
    idents = [(top, "top function")] + [(t["cname"], "tensor") for t in tensors]
    idents += [(t["alias"], "tensor type") for t in tensors]
    for s in specs:
        idents.append((f"config_{s.name}", "config struct"))
        idents += [(alias, "type") for alias, _ in s.types]
        idents += [(w.name, "weights") for w in s.weights]
    for ident, what in idents:
        if ident in seen:
            raise HlsError(
                f"the generated C++ name {ident!r} is used for a {what} and a {seen[ident]}; rename the layer "
                "so that its name does not collide"
            )
        seen[ident] = what


def render_hls(
    design: Any,
    flavor: str = "catapult",
    x: Any = None,
    samples: int = DEFAULT_SAMPLES,
    part: str = "xcvu9p-flga2104-2-e",
    clock_period: float = 5.0,
    test_data: bool = True,
) -> dict[str, str]:
    """Every file of the project, as ``{relative path: text}``.

    ``x`` gives the testbench inputs (floats, assigned into the input types);
    without it ``samples`` seeded random input codes are used.  Without
    ``test_data`` the reference is not run and ``tb_data/`` is left out (what
    a C-simulation library needs).
    """
    if flavor not in FLAVORS:
        raise HlsError(f"HLS flavor {flavor!r} is not supported; choose one of {', '.join(FLAVORS)}")
    io_type = design.config.model.io_type
    if io_type not in IO_TYPES:
        raise HlsError(
            f"Model.IOType {io_type!r} is not supported by the HLS back end; use one of {', '.join(IO_TYPES)}"
        )
    graph: Graph = design.graph
    _io_check(graph)
    names = _c_names(graph)
    top = _top_name(graph)
    specs = [node_spec(graph, n, names) for n in graph.nodes if n.op != "input"]
    tensors = _tensor_context(graph, names)
    _check_unique(specs, tensors, top)
    by_name = {t["name"]: t for t in tensors}
    layout = _trace_layout(graph, names)
    no_data = {"_samples": "0", "_trace_samples": "0"}
    vectors = _test_vectors(graph, x, samples, layout) if test_data else no_data
    trace_by_node = {e["node"]: e for e in layout}
    inputs = [by_name[t] for t in graph.inputs]
    outputs = [by_name[t] for t in graph.outputs]
    ports = {t["name"] for t in inputs + outputs}
    nodes = []
    for spec in specs:
        out = graph.tensors[graph.node(spec.node).output]
        nodes.append(
            {
                "spec": spec,
                "declare": out.name not in ports,
                "out": by_name[out.name],
                "trace": trace_by_node.get(spec.node),
            }
        )
    streams = _stream_plan(graph, nodes, by_name, inputs, outputs) if io_type == "io_stream" else {}
    ctx = {
        "io_stream": io_type == "io_stream",
        "streams": streams,
        "top": top,
        "flavor": flavor,
        "name": graph.name,
        "tensors": tensors,
        "nodes": nodes,
        "inputs": inputs,
        "outputs": outputs,
        "input_size": sum(t["size"] for t in inputs),
        "output_size": sum(t["size"] for t in outputs),
        "trace_size": sum(e["size"] for e in layout),
        "cxxflags": " ".join(CXXFLAGS),
        "part": part,
        "clock_period": clock_period,
        "samples": int(vectors["_samples"]),
        "trace_samples": int(vectors["_trace_samples"]),
        "strategy": _strategy(graph),
        "ac_headers": [h for h in _AC_HEADERS if (INCLUDE_DIR / h).is_file()] if flavor == "catapult" else [],
        "constexpr_tables": _constexpr_tables(specs),
    }
    env = _environment(flavor)
    files: dict[str, str] = {}

    def render(template: str, path: str, **extra: Any) -> None:
        files[path] = env.get_template(template).render(**ctx, **extra)

    render("defines.h.j2", "firmware/defines.h")
    render("parameters.h.j2", "firmware/parameters.h")
    for node in nodes:
        if node["spec"].weights:
            render("weights.h.j2", f"firmware/weights/{node['spec'].name}.h", node=node)
    render("top.h.j2", f"firmware/{top}.h")
    render("top_stream.cpp.j2" if ctx["io_stream"] else "top.cpp.j2", f"firmware/{top}.cpp")
    render("test.cpp.j2", f"tb/{top}_test.cpp")
    render("bridge.cpp.j2", f"tb/{top}_bridge.cpp")
    render("Makefile.j2", "Makefile")
    render(f"build_{flavor}.tcl.j2", "build_prj.tcl")
    render("README.md.j2", "README.md")
    for key in ("tb_data/inputs.txt", "tb_data/expected.txt", "tb_data/trace_expected.txt"):
        if key in vectors:
            files[key] = vectors[key]
    files["fpgaq.yaml"] = design.config.to_yaml()
    files["fpgaq_project.json"] = _manifest(ctx, layout)
    headers = [*ctx["ac_headers"], _LAYER_HEADER]
    for h in headers:
        files[f"include/{h}"] = (INCLUDE_DIR / h).read_text(encoding="utf-8")
    return files


def _stream_plan(
    graph: Graph,
    nodes: list[dict[str, Any]],
    by_name: dict[str, dict[str, Any]],
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
) -> dict[str, Any]:
    """Which stream each node reads and writes (io_stream).

    A stream is read once, so a tensor with several readers (consumer nodes, and the
    output port) is copied pixel by pixel into one stream per reader right after it is
    produced.  Each node's context gets ``reads``/``writes`` (stream names) and
    ``stream_kernel`` (a line-buffer kernel, or None: the node runs on arrays).
    """
    readers: dict[str, list[str]] = {t: [] for t in graph.tensors}
    for node in graph.nodes:
        for t in node.inputs:
            readers[t].append(node.name)
    out_ports = set(graph.outputs)
    declared: list[dict[str, Any]] = []
    fanouts: dict[str, dict[str, Any]] = {}  # tensor -> copy plan
    read_from: dict[str, list[tuple[str, str]]] = {}  # tensor -> (reader node, stream), in reader order
    source: dict[str, str] = {}
    for tname, tensor in by_name.items():
        if tname not in graph.tensors:
            continue
        cname = tensor["cname"]
        n_readers = len(readers[tname]) + (1 if tname in out_ports else 0)
        src = f"{cname}_all" if tname in out_ports and n_readers > 1 else cname
        source[tname] = src
        if n_readers > 1:
            targets = [cname] if tname in out_ports else []
            for k, reader in enumerate(readers[tname]):
                target = f"{cname}_to{k}"
                read_from.setdefault(tname, []).append((reader, target))
                targets.append(target)
            fanouts[tname] = {"tensor": tensor, "source": src, "targets": targets}
        else:
            read_from[tname] = [(reader, src) for reader in readers[tname]]
    ports = {t["name"] for t in inputs + outputs}
    for tname, tensor in by_name.items():
        if tname not in graph.tensors:
            continue
        names_here = [] if tname in ports else [source[tname]]
        if tname in fanouts:
            names_here += [t for t in fanouts[tname]["targets"] if t != tensor["cname"]]
            if tname in ports and source[tname] != tensor["cname"]:
                names_here.append(source[tname])
        for n in dict.fromkeys(names_here):
            declared.append({"name": n, "tensor": tensor})
    cnames = {t["cname"] for t in by_name.values()}
    for d in declared:
        if d["name"] != d["tensor"]["cname"] and d["name"] in cnames:
            raise HlsError(
                f"io_stream: the copy {d['name']!r} of tensor {d['tensor']['name']!r} (read by several layers) "
                "has the C++ name of another tensor; rename that layer"
            )
    for item in nodes:
        node = graph.node(item["spec"].node)
        reads = []
        for t in node.inputs:
            pending = read_from[t]
            k = next(i for i, (reader, _) in enumerate(pending) if reader == node.name)
            reads.append(pending.pop(k)[1])
        item["reads"] = reads
        item["in_tensors"] = [by_name[t] for t in node.inputs]
        item["writes"] = source[node.output]
        item["fanout"] = fanouts.get(node.output)
        item["stream_kernel"] = STREAM_KERNELS.get(item["spec"].kernel)
    return {"declared": declared, "input_fanouts": [fanouts[t] for t in graph.inputs if t in fanouts]}


def _constexpr_tables(specs: list[NodeSpec]) -> set[str]:
    """Fixed-point tables small enough for g++ to evaluate as constants (see CONSTEXPR_TABLE_MAX)."""
    return {w.name for s in specs for w in s.weights if w.type_alias and w.size <= CONSTEXPR_TABLE_MAX}


def _strategy(graph: Graph) -> str:
    for node in graph.nodes:
        rf = int(node.options.get("reuse_factor", 1) or 1)
        if rf > 1 or str(node.options.get("strategy", "Latency")).lower() == "resource":
            return "Resource"
    return "Latency"


def _manifest(ctx: dict[str, Any], layout: list[dict[str, Any]]) -> str:
    """What fpgaq.sim.csim needs to run and read the testbench without the Design."""

    def io(t: dict[str, Any]) -> dict[str, Any]:
        return {"name": t["name"], "cname": t["cname"], "size": t["size"], "type": t["type"].short()}

    data = {
        "format": 1,
        "top": ctx["top"],
        "flavor": ctx["flavor"],
        "inputs": [io(t) for t in ctx["inputs"]],
        "outputs": [io(t) for t in ctx["outputs"]],
        "trace": layout,
        "samples": ctx["samples"],
        "trace_samples": ctx["trace_samples"],
    }
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


# ----------------------------------------------------------------------------- writing
def write_hls(
    design: Any,
    directory: str | os.PathLike[str],
    flavor: str = "catapult",
    force: bool = False,
    x: Any = None,
    samples: int = DEFAULT_SAMPLES,
    **options: Any,
) -> Path:
    """Render the project and write it to ``directory`` (complete or not at all)."""
    check_new_directory(directory, force)
    files = render_hls(design, flavor=flavor, x=x, samples=samples, **options)
    return write_files(files, directory, force=force)
