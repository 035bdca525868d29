"""A project directory for any quantized model: firmware, verification, cost, energy, sweep, report.

:func:`build_project` runs, for a trained model and some inputs, what
``fpgaq demo`` runs after training: conversion checked bit for bit against
Keras; HLS C++ C-simulated with g++ and Verilog RTL co-simulated with cocotb
+ Verilator, both bit for bit against the reference; the resource estimate
next to Yosys (synthesized with the layer hierarchy kept, so each layer's
cells are counted); the QTools energy estimate; a design-space sweep; and the
HTML report (:mod:`fpgaq.report`).  Every step writes a record into the
directory, which is what ``fpgaq report DIR`` reads.  ``fpgaq project
MODEL -o DIR`` is the command.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_DEVICE", "PROJECT_STEPS", "build_project", "prepare_directory"]

DEFAULT_DEVICE = "xc7a100t"  # a preset of fpgaq.devices; its synthesis flow is Yosys' xc7
#: The steps :func:`build_project` takes (the demo adds data and training before them).
PROJECT_STEPS = 8


def prepare_directory(out: str | os.PathLike[str], force: bool) -> Path:
    """The project directory, created; an existing non-empty one only with ``force``.

    The refusal names no command: ``fpgaq`` prefixes its own ``fpgaq COMMAND:``.
    """
    root = Path(out)
    if root.exists() and (not root.is_dir() or any(root.iterdir())) and not force:
        raise FileExistsError(f"{root} exists and is not empty; choose a new directory or pass --force")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _write_json(path: Path, data: Any) -> None:
    """Write through a temporary file, so a record appears complete or not at all."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)


class Steps:
    """A rich progress bar over the demo's steps, with one result line printed per step."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        # soft_wrap: result lines and tables keep their width when stdout is a pipe or a log file.
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<34}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(soft_wrap=True, highlight=False),
        )
        self.total = total
        self.task = self.progress.add_task("fpgaq demo", total=total)
        self.number = 0
        self.seconds: dict[str, float] = {}
        self._start = 0.0
        self._key = ""

    def __enter__(self) -> Steps:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def start(self, key: str, title: str) -> None:
        self.number += 1
        self._key = key
        self._start = time.perf_counter()
        self.progress.update(self.task, description=f"[{self.number}/{self.total}] {title}")

    def done(self, text: str) -> None:
        seconds = time.perf_counter() - self._start
        self.seconds[self._key] = round(seconds, 2)
        self.progress.console.print(f"[{self.number}/{self.total}] {text}  ({seconds:.1f} s)", markup=False)
        self.progress.advance(self.task)

    def print(self, text: str) -> None:
        self.progress.console.print(text, markup=False)

    def epochs(self, label: str, total: int) -> Any:
        """A Keras callback that advances a sub-bar once per epoch."""
        import keras

        task = self.progress.add_task(f"    {label}", total=total)
        progress = self.progress

        class _EpochBar(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                progress.advance(task)

            def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
                progress.remove_task(task)

        return _EpochBar()


def _logits_model(model: Any) -> tuple[Any, str]:
    """The model up to a final softmax, which hardware computes with tables (an approximation by
    design); the comparison with Keras is exact on what comes before it."""
    import keras

    last = model.layers[-1]
    act = getattr(getattr(last, "activation", None), "__name__", None)
    if isinstance(last, keras.layers.Softmax) or (isinstance(last, keras.layers.Activation) and act == "softmax"):
        return keras.Model(model.inputs, last.input, name=f"{model.name}_logits"), "logits"
    return model, "outputs"


def _default_grid(device: str) -> dict[str, Any]:
    return {
        "device": device,
        "backend": "rtl",
        "budget": 1.0,
        "grid": {
            "weight_bits": [6, 4],
            "activation_bits": [6, 4],
            "reuse_factor": [1, 2],
            "pipeline_every": [0, 1],
            "multiplier": ["lut", "dsp"],
        },
    }


def build_project(
    model: Any,
    out: str | os.PathLike[str],
    x: Any = None,
    y: Any = None,
    *,
    device: str = DEFAULT_DEVICE,
    samples: int = 300,
    grid: Any = None,
    sweep: bool = True,
    seed: int = 0,
    force: bool = False,
    steps: Any = None,
    meta: dict[str, Any] | None = None,
    results: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Convert, verify, cost and report ``model`` into ``out``; returns the headline numbers.

    ``x``: inputs to check with (the first ``samples`` go through C-simulation
    and co-simulation; without them, seeded inputs that include saturating and
    half-way values); ``y``: labels (integers or one-hot), for accuracies and
    the sweep's accuracy axis.  ``grid``: the sweep grid (dict or YAML path;
    default a small one), ``sweep=False`` skips it.  ``steps``/``meta``/
    ``results`` let :func:`fpgaq.demo.run_demo` continue its own progress bar
    and records.  ``results["all_exact"]`` says whether every check was
    bit-exact.
    """
    import numpy as np

    import fpgaq
    from fpgaq.devices import get_device
    from fpgaq.qstats import qstats
    from fpgaq.report import PROJECT_SCHEMA, graph_to_dict, write_report
    from fpgaq.testing.inputs import edge_inputs

    get_device(device)  # a clear error before anything is written
    root = prepare_directory(out, force) if steps is None else Path(out)
    results = {} if results is None else results
    meta = {"schema": PROJECT_SCHEMA, "mode": "project", "seed": seed} if meta is None else meta
    meta["device"] = device
    files = {"model": "model.keras", "graph": "graph.json", "qstats": "qstats.json", "hls": "hls", "rtl": "rtl"}
    files |= {"verification": "verification.json", "estimate": "estimate.json", "qtools": "qtools.json"}
    files |= {"sweep": "sweep", "report": "report.html"}
    meta["files"] = files
    verification: dict[str, Any] = {"schema": "fpgaq-verification/1"}
    if not (root / files["model"]).exists():
        model.save(os.fspath(root / files["model"]))
    own_steps = steps is None
    if own_steps:
        steps = Steps(PROJECT_STEPS).__enter__()
    try:
        # The typed graph, checked against Keras.
        steps.start("convert", "conversion and reference check")
        design = fpgaq.convert(model)
        if x is None:
            x = edge_inputs(design, max(samples, 64), seed=seed, extremes=True)
            x = x[0] if len(x) == 1 else x
        ref_model, what = _logits_model(model)
        ref_design = design if ref_model is model else fpgaq.convert(ref_model)
        a, b = ref_design.predict(x), ref_model.predict(x, verbose=0)
        a, b = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
        diff = np.zeros(len(a[0]), dtype=bool)
        for u, v in zip(a, b):
            diff |= np.any(np.asarray(u).reshape(len(u), -1) != np.asarray(v).reshape(len(v), -1), axis=-1)
        verification["keras"] = {
            "simulator": "fpgaq.reference (NumPy) vs Keras",
            "samples": len(diff),
            "mismatches": int(np.sum(diff)),
            "bit_exact": not bool(np.any(diff)),
            "what": "logits (the layer before the softmax table)" if what == "logits" else what,
        }
        results["reference_exact"] = float(verification["keras"]["bit_exact"])
        y_ref = design.predict(x)
        if y is not None and not isinstance(y_ref, list):
            labels = np.argmax(y, axis=-1) if np.ndim(y) > 1 else np.asarray(y)
            results["reference_accuracy"] = float(np.mean(np.argmax(y_ref, axis=-1) == labels))
        _write_json(root / files["graph"], graph_to_dict(design.graph))
        _write_json(root / files["qstats"], qstats(model))
        steps.print(design.summary())
        steps.done(f"reference == Keras ({what}, {len(diff)} samples): {bool(results['reference_exact'])}")

        # HLS C++ and its g++ C-simulation.
        steps.start("csim", "HLS C++ and C-simulation")
        xs = x[:samples] if not isinstance(x, list) else [xi[:samples] for xi in x]
        n = len(xs) if not isinstance(xs, list) else len(xs[0])
        design.write_hls(root / files["hls"], force=True, x=xs if isinstance(xs, list) else xs[:256])
        got, want = design.predict_hls(xs), design.predict(xs)
        got, want = (got if isinstance(got, list) else [got]), (want if isinstance(want, list) else [want])
        bad_rows = np.zeros(n, dtype=bool)
        for g, w in zip(got, want):
            bad_rows |= np.any(np.asarray(g).reshape(n, -1) != np.asarray(w).reshape(n, -1), axis=-1)
        bad = int(bad_rows.sum())
        verification["csim"] = {"simulator": "g++ C-simulation", "samples": n, "mismatches": bad, "bit_exact": bad == 0}
        results["csim_exact"] = float(bad == 0)
        steps.done(f"HLS C-simulation == reference: {bad == 0}  ({bad} of {n} differ)")

        # Verilog RTL co-simulated with random idle cycles and back-pressure.
        steps.start("cosim", "RTL and co-simulation (Verilator)")
        rtl_dir = design.write_rtl(root / files["rtl"], force=True)
        verification["cosim"] = _cosim(rtl_dir, xs, design, seed)
        results["cosim_exact"] = float(bool(verification["cosim"].get("bit_exact")))
        steps.done(_cosim_line(verification["cosim"]))
        _write_json(root / files["verification"], verification)

        # The resource model (milliseconds).
        steps.start("estimate", "resource estimate")
        est = design.estimate(device=device, backend="rtl")
        _write_json(root / files["estimate"], est.to_dict())
        (root / "estimate.txt").write_text(est.table() + "\n")
        t = est.total
        steps.done(f"estimate on {device}: {t.lut:,.0f} LUT, {t.ff:,.0f} FF, {t.dsp} DSP, {t.latency_cycles} cycles")

        # Yosys with the hierarchy kept, so every layer's cells are counted on their own.
        steps.start("synth", "Yosys synthesis")
        synth = _synthesize_layers(rtl_dir, est.device.synth_device, [nd.name for nd in design.graph.nodes])
        if "error" in synth:
            files.pop("synth", None)
            steps.done(f"synthesis not run: {synth['error']}")
        else:
            files["synth"] = str(Path(synth["path"]).relative_to(root.resolve()))
            steps.done(
                f"Yosys {synth['device']}: {synth['luts']:,} LUT, {synth['ffs']:,} FF, {synth['dsp']} DSP "
                f"(estimate {t.lut:,.0f} / {t.ff:,.0f} / {t.dsp})"
            )

        # QTools energy (Horowitz 45 nm), as `fpgaq qtools --json` records it.
        steps.start("qtools", "QTools energy estimate")
        try:
            energy_sum = _qtools(model, root / files["qtools"])
            steps.done(f"QTools energy estimate: {energy_sum:,.1f} pJ per inference")
        except ValueError as err:
            files.pop("qtools", None)
            steps.done(f"QTools energy not computed: {err}")

        # A sweep of precision x reuse x pipelining x multiplier, estimated point by point.
        steps.start("sweep", "design-space sweep")
        if sweep:
            from fpgaq.sweep import sweep as run_sweep

            data = (x, y) if y is not None and not isinstance(x, list) else None
            res = run_sweep(design, grid or _default_grid(device), data=data, out_dir=root / files["sweep"],
                            progress=False)  # fmt: skip
            steps.done(f"sweep: {len(res.points)} points estimated, {len(res.pareto())} on the Pareto front")
        else:
            files.pop("sweep", None)
            steps.done("sweep: skipped")

        # The project record and the report that reads it.
        steps.start("report", "HTML report")
        meta["name"] = model.name
        meta["model"] = _describe(design)
        if "training" in meta and "reference_accuracy" in results:
            meta["training"]["reference_accuracy"] = results["reference_accuracy"]
        meta["seconds"] = steps.seconds
        _write_json(root / "project.json", meta)
        results["report"] = str(write_report(root))
        steps.done(f"report: {files['report']}")
    finally:
        if own_steps:
            steps.__exit__(None, None, None)
    results["all_exact"] = bool(results["reference_exact"] and results["csim_exact"] and results["cosim_exact"])
    _where(root.resolve(), files)
    return results


def _describe(design: Any) -> str:
    """``name: 16 -> 16 -> 8 -> 5``: the widths along the graph's input and dense layers."""
    sizes = [str(design.graph.tensors[nd.output].size) for nd in design.graph.nodes if nd.op in ("input", "dense")]
    return f"{design.name}: " + " -> ".join(sizes)


def _cosim(rtl_dir: Path, xs: Any, design: Any, seed: int) -> dict[str, Any]:
    """Co-simulate and record samples, mismatching samples, latency and II, or why it could not run."""
    from fpgaq.sim.cosim import CosimError, cosimulate

    try:
        cos = cosimulate(rtl_dir, xs, design, seed=seed)
    except CosimError as err:
        return {"simulator": "cocotb + Verilator", "samples": 0, "bit_exact": False, "error": str(err)}
    return {
        "simulator": "cocotb + Verilator",
        "samples": cos.n_samples,
        "mismatches": len({m.sample for m in cos.mismatches}),
        "mismatching_elements": cos.mismatch_count,
        "bit_exact": cos.mismatch_count == 0,
        "passed": cos.passed,
        "latency_measured": cos.measured_latency,
        "latency_reported": cos.reported_latency,
        "ii_measured": cos.measured_ii,
        "ii_reported": cos.reported_ii,
        "protocol_errors": cos.protocol_errors,
        "timing_errors": cos.timing_errors,
        "stall_cycles": cos.stall_cycles,
        "idle_cycles": cos.idle_cycles,
    }


def _cosim_line(c: dict[str, Any]) -> str:
    if "error" in c:
        return f"RTL co-simulation not run: {c['error']}"
    return (
        f"RTL co-simulation (cocotb + Verilator) == reference: {c['bit_exact']}  "
        f"({c['mismatches']} of {c['samples']} differ); latency {c['latency_measured']} cycles "
        f"(reported {c['latency_reported']}), II {c['ii_measured']}"
    )


_INSTANCE = re.compile(r"^(?:\$flatten)?\\?([^.\\]+)\.")


def _synthesize_layers(rtl_dir: Path, device: str, node_names: list[str]) -> dict[str, Any]:
    """Synthesize with the hierarchy kept and count each layer instance's cells.

    ``synthesize_project`` flattens before mapping, which loses the layers;
    with ``flatten=False`` every layer module is mapped on its own and the
    final (counting) flatten prefixes each cell with its instance name
    (``u_<layer>``), so the netlist splits by layer.  Cells of the top module
    itself (input registers, glue) are counted under ``layers_unassigned``.
    The record goes where ``fpgaq synth`` puts its own: ``rtl/synth/<device>.json``.
    """
    from fpgaq.sim.synth import SynthError, YosysNotFound, synthesize, tally_cells

    manifest = json.loads((rtl_dir / "fpgaq_rtl.json").read_text())
    workdir = rtl_dir / "synth" / device
    try:
        result = synthesize(
            [rtl_dir / f for f in manifest["files"]], manifest["top"], device=device, flatten=False, workdir=workdir
        )
    except (SynthError, YosysNotFound) as err:
        return {"error": str(err).splitlines()[0]}
    netlist = json.loads((workdir / "netlist.json").read_text())
    cells = netlist["modules"][manifest["top"]]["cells"]
    instance_of = {}
    for name in node_names:
        for candidate in (f"u_{name}", f"u_{name}_"):
            instance_of[candidate] = name
    groups: dict[str, dict[str, Any]] = {}
    for cell_name, cell in cells.items():
        match = _INSTANCE.match(cell_name)
        layer = instance_of.get(match.group(1), "") if match else ""
        groups.setdefault(layer, {})[cell_name] = cell
    generic = device.startswith("generic")
    keys = ("luts", "ffs", "carry", "dsp", "bram18", "bram36", "lutram", "srl")
    layers = {}
    for layer, group in groups.items():
        tally = tally_cells(group, generic)
        layers[layer] = {k: tally[k] for k in keys} | {"cells": sum(Counter(tally["cells"]).values())}
    record = result.to_dict()
    record["hierarchy"] = "kept (flatten=False); cells counted per layer instance"
    record["layers_unassigned"] = layers.pop("", {k: 0 for k in keys})
    record["layers"] = dict(sorted(layers.items(), key=lambda kv: node_names.index(kv[0])))
    path = rtl_dir / "synth" / f"{device}.json"
    _write_json(path, record)
    return record | {"path": str(path)}


def _qtools(model: Any, path: Path) -> float:
    """QTools' data type map and energy with its default memory options; returns the energy in pJ."""
    from fpgaq.qtools import QTools

    qt = QTools(model)
    options = {"parameters_on_memory": "dram", "activations_on_memory": "dram", "min_sram_size": 0}
    options["rd_wr_on_io"] = True
    energy = qt.pe(**options)
    total = qt.extract_energy_sum(energy)
    data = qt.stats
    data["energy"] = {
        "options": options,
        "layers": qt.extract_energy_profile(energy),
        "total_cost": energy["total_cost"],
        "energy_sum": total,
    }
    _write_json(path, data)
    return total


def _where(root: Path, files: dict[str, str]) -> None:
    """Tell the user where everything is."""
    what = {
        "report": "the HTML report: open it in a browser (self-contained, one file)",
        "model": "the trained QAT model (keras.models.load_model after import fpgaq)",
        "hls": "HLS C++ project (make -C hls runs its C-simulation)",
        "rtl": "Verilog RTL; co-simulation run in rtl/sim/, Yosys run in rtl/synth/",
        "synth": "Yosys counts, in total and per layer",
        "verification": "what was simulated, on how many samples, and whether it was bit-exact",
        "estimate": "per-layer resource and latency estimate (also estimate.txt)",
        "qtools": "QTools data type map and energy estimate",
        "sweep": "every sweep point (CSV, JSON) and the Pareto plot",
        "graph": "the typed graph: every tensor's fixed-point type",
        "qstats": "operation counts per layer",
    }
    print(f"\nfpgaq: everything is in {root}")
    for key, desc in what.items():
        if key in files:
            print(f"  {files[key]:<20} {desc}")
    print(f"\nOpen {root / files['report']}")
