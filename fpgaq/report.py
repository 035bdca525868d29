"""``fpgaq report DIR``: one self-contained HTML page per project.

A project directory (what ``fpgaq demo -o DIR`` writes) holds JSON records
of every stage of the flow; this module reads them, decides what to show and
draws the plots with matplotlib, and the jinja2 template
``templates/report/report.html.j2`` only spells the page.  The page is
self-contained (inline CSS, images as base64 PNG data URIs, no script, no
external request), so it can be mailed or attached to a CI run as one file.

Project layout (every file but ``project.json`` is optional; a missing one
turns its section into a sentence that says what is missing and how to get it)::

    project.json        name, mode, device, data, training, timings, file map   (required)
    graph.json          the typed graph: every node and tensor with its FixedType (graph_to_dict)
    model.keras         the trained model
    hls/                HLS C++ project
    rtl/                RTL project; rtl/synth/<device>.json is the Yosys record, with
                        per-layer counts under "layers" when synthesized with hierarchy kept
    verification.json   {"keras": ..., "csim": ..., "cosim": ...}: samples, mismatches, simulator
    estimate.json       Estimate.to_dict() of the resource model
    qstats.json         fpgaq.qstats.qstats(model): operations by type per layer
    qtools.json         QTools data type map with "energy" (as ``fpgaq qtools --json`` writes it)
    sweep/              sweep.json and pareto.png of fpgaq.sweep
    ptq/ptq.json        fpgaq.ptq's record (`fpgaq ptq MODEL -o DIR/ptq`; or ptq.json at the top): when present,
                        a "Numerical profile" section follows the others (per-layer ranges and histograms)
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fpgaq.errors import FpgaqError
from fpgaq.figures import figure, png_data_uri, png_uri

__all__ = [
    "PROJECT_FILE",
    "SECTIONS",
    "ReportError",
    "graph_to_dict",
    "load_project",
    "render_report",
    "write_report",
]

PROJECT_FILE = "project.json"
PROJECT_SCHEMA = "fpgaq-project/1"
#: Section ids of the page, in order; tests and links rely on them.
SECTIONS = ("summary", "graph", "layers", "resources", "verification", "energy", "sweep")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "report"


class ReportError(FpgaqError, ValueError):
    """The directory cannot be reported on (not a project, or an unreadable project.json)."""


# ----------------------------------------------------------------------------- writing the records
def graph_to_dict(graph: Any) -> dict[str, Any]:
    """The typed graph as JSON: what the report draws without importing Keras or rebuilding the design.

    Each node keeps its inputs (tensor names), its output tensor, and the
    fixed-point types that decide its numbers (output, accumulator, weights),
    spelled both short and as ``ac_fixed``.
    """
    import numpy as np

    def spell(t: Any) -> dict[str, Any] | None:
        if t is None:
            return None
        return {"short": t.short(), "ac_fixed": t.ac_fixed(), "width": t.width, "integer": t.integer}

    nodes = []
    for node in graph.nodes:
        out = graph.tensors[node.output]
        weights = {
            k: {"type": spell(w.type), "size": int(w.values.size), "nonzero": w.nonzero, "quantizer": w.quantizer}
            for k, w in node.weights.items()
        }
        nodes.append(
            {
                "name": node.name,
                "op": node.op,
                "function": node.attrs.get("function"),
                "inputs": list(node.inputs),
                "output": node.output,
                "shape": [int(v) for v in out.shape],
                "type": spell(out.type),
                "accum": spell(node.types.get("accum")),
                "weights": weights,
                "source": node.source,
            }
        )
    tensors = {
        name: {
            "shape": [int(v) for v in t.shape],
            "size": int(np.prod(t.shape)) if t.shape else 1,
            "type": spell(t.type),
        }
        for name, t in graph.tensors.items()
    }
    return {
        "schema": "fpgaq-graph/1",
        "name": graph.name,
        "inputs": list(graph.inputs),
        "outputs": list(graph.outputs),
        "nodes": nodes,
        "tensors": tensors,
    }


# ----------------------------------------------------------------------------- reading the records
class _Project:
    """The records of one project directory; a missing or unreadable file is None plus a note saying why."""

    def __init__(self, root: Path, meta: dict[str, Any]) -> None:
        self.root = root
        self.meta = meta
        self.problems: dict[str, str] = {}

    def path(self, key: str, default: str) -> Path:
        files = self.meta.get("files") if isinstance(self.meta.get("files"), Mapping) else {}
        return self.root / str(files.get(key, default))

    def json(self, key: str, default: str) -> Any:
        path = self.path(key, default)
        if not path.is_file():
            self.problems[key] = f"{path.relative_to(self.root) if path.is_relative_to(self.root) else path} is missing"
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as err:
            self.problems[key] = f"{path.name} could not be read ({err})"
            return None


def load_project(directory: str | os.PathLike[str]) -> _Project:
    """Open a project directory; raises :class:`ReportError` if it is not one."""
    root = Path(directory)
    if not root.is_dir():
        raise ReportError(
            f"fpgaq report: {str(directory)!r} is not a directory; give a project directory written by "
            "`fpgaq demo -o DIR`"
        )
    meta_path = root / PROJECT_FILE
    if not meta_path.is_file():
        raise ReportError(
            f"fpgaq report: {root} is not an fpgaq project: {PROJECT_FILE} is missing; "
            "create a project with `fpgaq demo -o DIR` (or write the records listed in fpgaq/report.py)"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as err:
        raise ReportError(
            f"fpgaq report: {meta_path} is not valid JSON ({err}); rewrite it or rerun the flow"
        ) from None
    if not isinstance(meta, dict) or meta.get("schema") != PROJECT_SCHEMA:
        found = meta.get("schema") if isinstance(meta, dict) else type(meta).__name__
        raise ReportError(
            f"fpgaq report: {meta_path} has schema {found!r}; supported: {PROJECT_SCHEMA!r}; "
            "rerun `fpgaq demo -o DIR` to write a current project"
        )
    return _Project(root, meta)


# ----------------------------------------------------------------------------- plots
def _levels(graph: Mapping[str, Any]) -> dict[str, int]:
    """Longest distance of each node from an input, so that every arrow points right."""
    producer = {n["output"]: n["name"] for n in graph["nodes"]}
    level: dict[str, int] = {}
    for n in graph["nodes"]:  # nodes are in topological order
        parents = [producer[t] for t in n["inputs"] if t in producer]
        level[n["name"]] = 1 + max((level[p] for p in parents if p in level), default=-1)
    return level


def _graph_plot(graph: Mapping[str, Any]) -> str:
    """Boxes per node (name, op, output shape and type), arrows along the tensors, left to right."""
    from matplotlib.patches import FancyBboxPatch

    nodes = graph["nodes"]
    level = _levels(graph)
    columns: dict[int, list[str]] = {}
    for n in nodes:
        columns.setdefault(level[n["name"]], []).append(n["name"])
    rows = max(len(v) for v in columns.values())
    box_w, box_h, gap_x, gap_y = 3.0, 1.4, 0.9, 0.5
    pos = {
        name: (i * (box_w + gap_x), -(j - (len(names) - 1) / 2) * (box_h + gap_y))
        for i, names in sorted(columns.items())
        for j, name in enumerate(names)
    }
    width = len(columns) * (box_w + gap_x)
    height = rows * (box_h + gap_y)
    scale = min(1.0, 26.0 / max(width, 1.0))  # very wide graphs shrink instead of growing without bound
    fig = figure(max(4.0, width * scale), max(1.6, height * scale))
    ax = fig.add_subplot()
    producer = {n["output"]: n["name"] for n in nodes}
    colours = {"input": "#dbe9f6", "dense": "#fde5c8", "conv1d": "#fde5c8", "conv2d": "#fde5c8"}
    for n in nodes:
        x, y = pos[n["name"]]
        op = n["op"] + (f"[{n['function']}]" if n.get("function") else "")
        t = n["type"]["short"] if n.get("type") else "untyped"
        shape = "x".join(map(str, n["shape"])) or "scalar"
        ax.add_patch(
            FancyBboxPatch(
                (x - box_w / 2, y - box_h / 2),
                box_w,
                box_h,
                boxstyle="round,pad=0.02,rounding_size=0.12",
                facecolor=colours.get(n["op"], "#e6f2e1"),
                edgecolor="#444444",
                linewidth=1.0,
            )
        )
        font = 9 * scale + 1
        ax.text(x, y + 0.42, n["name"], ha="center", va="center", fontsize=font, fontweight="bold")
        ax.text(x, y + 0.14, op, ha="center", va="center", fontsize=font - 1)
        ax.text(x, y - 0.14, f"shape {shape}", ha="center", va="center", fontsize=font - 1)
        ax.text(x, y - 0.42, t, ha="center", va="center", fontsize=font - 2, family="monospace")
        for tensor in n["inputs"]:
            src = producer.get(tensor)
            if src is None:
                continue
            sx, sy = pos[src]
            ax.annotate(
                "",
                xy=(x - box_w / 2, y),
                xytext=(sx + box_w / 2, sy),
                arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 1.0, "shrinkA": 0, "shrinkB": 0},
            )
    ax.set_xlim(-box_w / 2 - 0.2, width - gap_x - box_w / 2 + 0.2)
    ax.set_ylim(-height / 2 - 0.1, height / 2 + 0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    return png_uri(fig)


def _bars(rows: Sequence[Mapping[str, Any]], have_synth: bool) -> str:
    """LUT, FF and DSP per layer: the resource model's estimate next to Yosys where it counted the layer."""
    import numpy as np

    names = [r["name"] for r in rows]
    fig = figure(max(6.0, 1.1 * len(names) + 3.0), 3.4)
    axes = fig.subplots(1, 3)
    x = np.arange(len(names))
    width = 0.38 if have_synth else 0.6
    for ax, key, label in zip(axes, ("lut", "ff", "dsp"), ("LUT", "FF", "DSP")):
        est = [r["est"][key] if r["est"] else 0 for r in rows]
        ax.bar(x - (width / 2 if have_synth else 0), est, width, label="estimate", color="#4c78a8")
        if have_synth:
            syn = [r["synth"][key] if r["synth"] else 0 for r in rows]
            ax.bar(x + width / 2, syn, width, label="Yosys", color="#f58518")
        ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return png_uri(fig)


def _energy_plot(layers: Sequence[Mapping[str, Any]]) -> str:
    """Stacked energy terms per layer (pJ)."""
    import numpy as np

    names = [r["name"] for r in layers]
    fig = figure(max(5.0, 0.9 * len(names) + 2.5), 3.2)
    ax = fig.add_subplot()
    bottom = np.zeros(len(names))
    for key in ("inputs", "outputs", "parameters", "op_cost"):
        values = np.array([r["terms"].get(key, 0.0) for r in layers], dtype=float)
        ax.bar(names, values, bottom=bottom, label=key)
        bottom += values
    ax.set_ylabel("energy (pJ)")
    ax.tick_params(axis="x", rotation=45, labelsize=8)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return png_uri(fig)


# ----------------------------------------------------------------------------- sections
def _missing(what: str, problem: str | None, how: str) -> dict[str, Any]:
    return {"available": False, "missing": f"{what}: {problem or 'not recorded'}. {how}"}


def _summary(p: _Project) -> dict[str, Any]:
    meta = p.meta
    items = []
    for label, key in (("model", "model"), ("mode", "mode"), ("device", "device"), ("seed", "seed")):
        if key in meta:
            items.append((label, str(meta[key])))
    data = meta.get("data") or {}
    if data:
        items.append(("data", ", ".join(f"{k} {v}" for k, v in data.items())))
    for key, value in (meta.get("training") or {}).items():
        items.append((key.replace("_", " "), _fmt(value)))
    seconds = meta.get("seconds") or {}
    files = sorted((k, v) for k, v in (meta.get("files") or {}).items())
    return {"available": True, "items": items, "seconds": list(seconds.items()), "files": files}


def _graph(p: _Project, graph: Any) -> dict[str, Any]:
    if graph is None:
        return _missing("The typed graph", p.problems.get("graph"), "Rerun `fpgaq demo` to record graph.json.")
    tensors = [
        (name, "x".join(map(str, t["shape"])), t["type"]["ac_fixed"] if t.get("type") else "untyped")
        for name, t in graph.get("tensors", {}).items()
    ]
    return {"available": True, "image": _graph_plot(graph), "tensors": tensors, "name": graph.get("name", "")}


def _synth_record(p: _Project) -> Any:
    files = p.meta.get("files") or {}
    if "synth" in files:
        return p.json("synth", files["synth"])
    found = sorted((p.root / "rtl" / "synth").glob("*.json"))
    if not found:
        p.problems["synth"] = "no Yosys record under rtl/synth/"
        return None
    return p.json("synth", str(found[0].relative_to(p.root)))


def _layers(
    p: _Project, graph: Any, est: Any, synth: Any, qstats: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
    """The per-layer table: one row per graph node that computes (inputs left out)."""
    est_nodes = {n["name"]: n for n in (est or {}).get("nodes", [])}
    syn_layers = (synth or {}).get("layers") or {}
    q_layers = (qstats or {}).get("layers") or {}
    if graph is not None:
        order = [n for n in graph["nodes"] if n["op"] != "input"]
    elif est is not None:
        order = [{"name": n["name"], "op": n["op"]} for n in est.get("nodes", [])]
    else:
        return (
            _missing(
                "Per-layer numbers",
                "neither graph.json nor estimate.json is present",
                "Rerun `fpgaq demo` to record them.",
            ),
            [],
            False,
        )
    rows = []
    for n in order:
        name = n["name"]
        q = q_layers.get(name)
        kernel = (n.get("weights") or {}).get("kernel")
        e = est_nodes.get(name)
        s = syn_layers.get(name)
        rows.append(
            {
                "name": name,
                "op": n["op"] + (f"[{n['function']}]" if n.get("function") else ""),
                "ops": f"{q['operations']:,} x {q['operation']}" if q else "",
                "weight": kernel["type"]["short"] if kernel else "",
                "nonzero": f"{kernel['nonzero']}/{kernel['size']}" if kernel else "",
                "accum": n["accum"]["short"] if n.get("accum") else "",
                "output": n["type"]["short"] if n.get("type") else "",
                "est": {k: e[k] for k in ("lut", "ff", "dsp")} if e else None,
                "synth": {"lut": s["luts"], "ff": s["ffs"], "dsp": s["dsp"]} if s else None,
                "latency": e["latency_cycles"] if e else None,
            }
        )
    have_synth = any(r["synth"] for r in rows)
    total_e = (est or {}).get("total")
    total = {
        "est": {k: total_e[k] for k in ("lut", "ff", "dsp")} if total_e else None,
        "synth": {"lut": synth["luts"], "ff": synth["ffs"], "dsp": synth["dsp"]} if synth else None,
        "latency": total_e["latency_cycles"] if total_e else None,
    }
    notes = []
    if est is None:
        notes.append(f"No resource estimate: {p.problems.get('estimate')}.")
    else:
        notes.append(
            f"Estimate: {est.get('label', 'resource model')}, on {est.get('device')} "
            f"at {_fmt(est.get('clock_mhz'))} MHz; "
            f"latency {total_e['latency_cycles']} cycles = {_fmt(est.get('latency_ns'))} ns."
        )
    if synth is None:
        notes.append(f"No synthesis: {p.problems.get('synth')}; run `fpgaq synth DIR/rtl`.")
    else:
        where = "per layer (hierarchy kept, cells attributed to each layer's instance)" if have_synth else "in total"
        unassigned = (synth.get("layers_unassigned") or {}).get("luts")
        extra = f"; {unassigned} LUTs of top-level glue belong to no layer" if unassigned else ""
        notes.append(
            f"Synthesized: {synth.get('yosys', 'Yosys').split(' (')[0]} for {synth.get('device')}, "
            f"counted {where}{extra}."
        )
    if qstats is None:
        notes.append(f"No operation counts: {p.problems.get('qstats')}.")
    ops = sorted((qstats or {}).get("operations", {}).items())
    section = {"available": True, "rows": rows, "total": total, "have_synth": have_synth, "notes": notes, "ops": ops}
    return section, rows, have_synth


def _resources(p: _Project, rows: list[dict[str, Any]], have_synth: bool) -> dict[str, Any]:
    if not any(r["est"] or r["synth"] for r in rows):
        return _missing(
            "Resources per layer",
            p.problems.get("estimate") or "no per-layer numbers",
            "Rerun `fpgaq demo` (it writes estimate.json and synthesizes the RTL).",
        )
    caption = "Estimate (blue) next to Yosys (orange) per layer." if have_synth else "Resource-model estimate per layer"
    if not have_synth:
        caption += " (no per-layer synthesis counts recorded: the synthesized total is in the table above)."
    return {"available": True, "image": _bars(rows, have_synth), "caption": caption}


def _verification(p: _Project, ver: Any) -> dict[str, Any]:
    if not ver:
        return _missing(
            "Verification record", p.problems.get("verification"), "Rerun `fpgaq demo` to simulate and record it."
        )
    runs = []
    for key, title in (("keras", "Reference vs Keras"), ("csim", "HLS C-simulation"), ("cosim", "RTL co-simulation")):
        r = ver.get(key)
        if not r:
            runs.append({"title": title, "recorded": False})
            continue
        details = []
        if r.get("latency_measured") is not None or r.get("latency_reported") is not None:
            details.append(f"latency {r.get('latency_measured')} cycles measured, {r.get('latency_reported')} reported")
        if r.get("ii_measured") is not None:
            details.append(f"II {r.get('ii_measured')} measured, {r.get('ii_reported')} reported")
        for k in ("protocol_errors", "timing_errors"):
            if r.get(k):
                details.append(f"{k.replace('_', ' ')}: {'; '.join(map(str, r[k]))}")
        if r.get("what"):
            details.append(str(r["what"]))
        exact = bool(r.get("bit_exact", r.get("mismatches") == 0))
        runs.append(
            {
                "title": title,
                "recorded": True,
                "simulator": r.get("simulator", "?"),
                "samples": r.get("samples"),
                "mismatches": r.get("mismatches"),
                "bit_exact": exact,
                "details": details,
            }
        )
    return {"available": True, "runs": runs}


def _energy(p: _Project, qt: Any) -> dict[str, Any]:
    energy = (qt or {}).get("energy")
    if not energy or not energy.get("layers"):
        problem = p.problems.get("qtools") or ("qtools.json has no energy estimate" if qt else None)
        return _missing(
            "QTools energy estimate", problem, "Write it with `fpgaq qtools DIR/model.keras --json DIR/qtools.json`."
        )
    layers = [
        {"name": name, "terms": item.get("energy", {}), "total": item.get("total", 0.0)}
        for name, item in energy["layers"].items()
    ]
    options = ", ".join(f"{k} {v}" for k, v in (energy.get("options") or {}).items())
    return {
        "available": True,
        "layers": layers,
        "total": energy.get("energy_sum", sum(r["total"] for r in layers)),
        "options": options,
        "process": (qt or {}).get("process", "horowitz"),
        "image": _energy_plot(layers),
    }


def _sweep(p: _Project) -> dict[str, Any]:
    folder = p.path("sweep", "sweep")
    png = folder / "pareto.png"
    data = None
    if (folder / "sweep.json").is_file():
        try:
            data = json.loads((folder / "sweep.json").read_text())
        except (OSError, ValueError):
            data = None  # the plot alone still stands; the table of Pareto points is then left out
    if not png.is_file():
        why = "no sweep was run" if not folder.is_dir() else f"{folder.name}/pareto.png is missing"
        return _missing("Design-space sweep", why, "Run `fpgaq sweep DIR/model.keras --grid GRID -o DIR/sweep`.")
    raw = png.read_bytes()
    if not raw.startswith(_PNG_MAGIC):
        return _missing("Design-space sweep", "pareto.png is not a PNG file", "Rerun the sweep.")
    front = [pt for pt in (data or {}).get("points", []) if pt.get("pareto")]
    counts = (data or {}).get("counts") or {}
    return {"available": True, "image": png_data_uri(raw), "front": front, "counts": counts}


def _ptq_record(p: _Project) -> Any:
    """The post-training calibration record, or None when the project has none (then no section is shown)."""
    for default in ("ptq/ptq.json", "ptq.json"):
        if p.path("ptq", default).is_file():
            return p.json("ptq", default)
    return None


def _profile(record: Mapping[str, Any]) -> dict[str, Any]:
    """The numerical profile: per layer and tensor the chosen bits and score alone, and the histograms."""
    from fpgaq.ptq import profile_figures

    rows = []
    for layer in record["layers"]:
        for k, (kind, t) in enumerate(layer["tensors"].items()):
            rows.append(
                {
                    "layer": layer["name"] if k == 0 else "",
                    "tensor": kind,
                    "bits": t["bits"],
                    "integer": t["integer"],
                    "fraction": t["fraction"],
                    "channels": t.get("channel_integer"),
                    "threshold": f"{t['threshold']:.4g}",
                    "clipped": f"{100 * t['clipped']:.3g} %",
                    "alone": None if k or layer["score_alone"] is None else f"{100 * layer['score_alone']:.2f} %",
                }
            )
    settings = ", ".join(f"{k} {v}" for k, v in record["settings"].items() if v is not None)
    scores = [(label, record.get(key)) for label, key in (("float", "float"), ("quantized", "quantized"))]
    return {
        "available": True,
        "metric": record["metric"],
        "settings": settings,
        "scores": [(label, f"{100 * v:.2f} %") for label, v in scores if v is not None],
        "rows": rows,
        "images": profile_figures(record),
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


# ----------------------------------------------------------------------------- the page
def render_report(directory: str | os.PathLike[str]) -> str:
    """The HTML text of a project's report (see :func:`write_report`)."""
    import jinja2

    p = load_project(directory)
    graph = p.json("graph", "graph.json")
    est = p.json("estimate", "estimate.json")
    synth = _synth_record(p)
    qstats = p.json("qstats", "qstats.json")
    layers, rows, have_synth = _guard(
        "Per-layer numbers", lambda: _layers(p, graph, est, synth, qstats), lambda m: (m, [], False)
    )
    sections = {
        "summary": _summary(p),
        "graph": _guard("The typed graph", lambda: _graph(p, graph)),
        "layers": layers,
        "resources": _guard("Resources per layer", lambda: _resources(p, rows, have_synth)),
        "verification": _guard(
            "Verification record", lambda: _verification(p, p.json("verification", "verification.json"))
        ),
        "energy": _guard("QTools energy estimate", lambda: _energy(p, p.json("qtools", "qtools.json"))),
        "sweep": _guard("Design-space sweep", lambda: _sweep(p)),
    }
    order = SECTIONS
    ptq = _ptq_record(p)
    if ptq is not None:
        sections["profile"] = _guard("Numerical profile", lambda: _profile(ptq))
        order = (*SECTIONS, "profile")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _number
    title = str(p.meta.get("name") or p.meta.get("model") or p.root.name)
    return env.get_template("report.html.j2").render(title=title, sections=sections, order=order)


def _guard(what: str, build: Any, wrap: Any = None) -> Any:
    """Build one section; a record with an unexpected shape turns into a sentence, not a crash of the whole page."""
    try:
        return build()
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        missing = _missing(what, f"a record has an unexpected shape ({type(err).__name__}: {err})", "Rerun the flow.")
        return wrap(missing) if wrap else missing


def _number(value: Any) -> str:
    """Counts with thousands separators, blanks for what was not measured."""
    if value is None:
        return "\N{EN DASH}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_report(directory: str | os.PathLike[str], output: str | os.PathLike[str] | None = None) -> Path:
    """Write ``DIR/report.html`` (or ``output``) and return its path; written whole or not at all."""
    text = render_report(directory)
    out = Path(output) if output is not None else Path(directory) / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
