"""``fpgaq demo``: the whole flow in one command, ending in an HTML report.

Steps: synthetic jet-like data; a float twin and QAT of the jet-tagging MLP;
conversion to the typed graph, checked bit for bit against Keras; HLS C++
C-simulated with g++ and Verilog RTL co-simulated with cocotb + Verilator,
both bit for bit against the reference; the resource estimate next to Yosys
(synthesized with the layer hierarchy kept, so each layer's cells are
counted); the QTools energy estimate; a design-space sweep; and the report
(:mod:`fpgaq.report`).  Every step writes a record into the project
directory, which is what ``fpgaq report DIR`` reads.

``quick`` runs the same flow on a 16-16-8-5 model with 8-bit inputs and
6-bit weights (a few thousand LUTs: Yosys takes seconds, not minutes), few
epochs and few simulated samples, so CI can run it; the full mode uses the
16-64-32-32-5 jet tagger of :mod:`fpgaq.zoo`.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_OUT", "run_demo", "small_jet_tagger"]

#: Where the demo writes when no directory is given.
DEFAULT_OUT = "fpgaq-demo"
DEVICE = "xc7a100t"  # a preset of fpgaq.devices; its synthesis flow is Yosys' xc7


def small_jet_tagger(quantized: bool = True) -> Any:
    """16 -> 16 -> 8 -> 5 with 8-bit inputs, 6-bit weights and ``quantized_relu(6)``: the quick demo's model.

    The float twin (``quantized=False``) has the same layers, so its trained
    weights start the quantization-aware training.
    """
    import keras

    from fpgaq.layers import QActivation, QDense

    inputs = keras.Input((16,), name="features")
    if not quantized:
        x = inputs
        for i, units in enumerate((16, 8)):
            x = keras.layers.Dense(units, activation="relu", name=f"fc{i + 1}")(x)
        x = keras.layers.Dense(5, name="output")(x)
        return keras.Model(inputs, keras.layers.Activation("softmax", name="softmax")(x), name="jet_tagger_small_float")
    wq = "quantized_bits(6,0,alpha=1)"
    # Standardised features stay within +-8: ac_fixed<8, 4> keeps them with 1/16 resolution.
    x = QActivation("quantized_bits(8,3,alpha=1)", name="input_q")(inputs)
    for i, units in enumerate((16, 8)):
        x = QDense(units, kernel_quantizer=wq, bias_quantizer=wq, name=f"fc{i + 1}")(x)
        x = QActivation("quantized_relu(6)", name=f"relu{i + 1}")(x)
    x = QDense(5, kernel_quantizer=wq, bias_quantizer=wq, name="output")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="softmax")(x), name="jet_tagger_small")


def _write_json(path: Path, data: Any) -> None:
    """Write through a temporary file, so a record appears complete or not at all."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)


class _Steps:
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

    def __enter__(self) -> _Steps:
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


def run_demo(
    quick: bool = False, epochs: int | None = None, seed: int = 0, out: str | None = None, force: bool = False
) -> dict[str, Any]:
    """Run the flow into ``out`` (default ``./fpgaq-demo``) and return its headline numbers.

    Refuses a non-empty ``out`` unless ``force``, so a user's files are never
    mixed with the demo's by accident.  The returned dict holds the accuracies,
    whether every check was bit-exact (``all_exact``) and the report's path.
    """
    import keras
    import numpy as np

    import fpgaq
    from fpgaq import datasets, zoo
    from fpgaq.qreport import quantization_report
    from fpgaq.qstats import qstats
    from fpgaq.report import PROJECT_SCHEMA, graph_to_dict, write_report
    from fpgaq.train import accuracy, train_classifier

    root = Path(out if out else DEFAULT_OUT)
    if root.exists() and (not root.is_dir() or any(root.iterdir())) and not force:
        raise FileExistsError(f"fpgaq demo: {root} exists and is not empty; choose a new directory or pass --force")
    root.mkdir(parents=True, exist_ok=True)
    n = 12_000 if quick else 60_000
    epochs = epochs if epochs is not None else (6 if quick else 30)
    n_check = 300 if quick else 5_000  # samples through C-simulation and co-simulation
    results: dict[str, Any] = {}
    meta: dict[str, Any] = {"schema": PROJECT_SCHEMA, "mode": "quick" if quick else "full", "seed": seed}
    meta["device"] = DEVICE
    files = {"model": "model.keras", "graph": "graph.json", "qstats": "qstats.json", "hls": "hls", "rtl": "rtl"}
    files |= {"verification": "verification.json", "estimate": "estimate.json", "qtools": "qtools.json"}
    files |= {"sweep": "sweep", "report": "report.html"}
    meta["files"] = files
    verification: dict[str, Any] = {"schema": "fpgaq-verification/1"}

    with _Steps(10) as steps:
        # 1. Data: seeded, so two runs see the same samples.
        steps.start("data", "data")
        x, y = datasets.jet_like(n, seed=seed)
        x_train, y_train, x_test, y_test = datasets.train_test_split(x, y, seed=seed)
        meta["data"] = {"kind": "synthetic jet-like", "train": len(x_train), "test": len(x_test), "features": 16}
        steps.done(f"data: jet-like, {len(x_train)} training and {len(x_test)} test samples, {epochs} epochs")

        # 2. Float twin, then QAT from its weights with the quantizers in the loop.
        steps.start("train", "training (float, then QAT)")
        models = {}
        for label, quantized in (("float", False), ("quantized", True)):
            model = small_jet_tagger(quantized) if quick else zoo.jet_tagger(quantized=quantized)
            start = time.perf_counter()
            bar = steps.epochs(f"{label} epochs", epochs)
            if quantized:
                model.set_weights(models["float"].get_weights())
                train_classifier(model, x_train, y_train, epochs=epochs, seed=seed, learning_rate=1e-3, callbacks=[bar])
            else:
                train_classifier(model, x_train, y_train, epochs=epochs, seed=seed, callbacks=[bar])
            results[label] = accuracy(model, x_test, y_test)
            models[label] = model
            steps.print(
                f"  {label:9} model: test accuracy {100 * results[label]:5.2f} %  "
                f"(trained in {time.perf_counter() - start:.1f} s)"
            )
        model = models["quantized"]
        models["float"].save(os.fspath(root / "model_float.keras"))
        model.save(os.fspath(root / files["model"]))
        report_text = quantization_report(model)
        (root / "quantization_report.txt").write_text(report_text + "\n")
        steps.print(report_text)
        cost = 100 * (results["float"] - results["quantized"])
        steps.done(f"QAT: {model.name}, quantization cost {cost:+.2f} points of accuracy")

        # 3. The typed graph, checked against Keras on the logits (softmax is a table in hardware).
        steps.start("convert", "conversion and reference check")
        design = fpgaq.convert(model)
        logits = keras.Model(model.inputs, model.get_layer("output").output, name=f"{model.name}_logits")
        diff = np.any(fpgaq.convert(logits).predict(x_test) != logits.predict(x_test, verbose=0), axis=-1)
        verification["keras"] = {
            "simulator": "fpgaq.reference (NumPy) vs Keras",
            "samples": len(x_test),
            "mismatches": int(np.sum(diff)),
            "bit_exact": not bool(np.any(diff)),
            "what": "logits (the layer before the softmax table)",
        }
        results["reference_exact"] = float(verification["keras"]["bit_exact"])
        y_ref = design.predict(x_test)
        results["reference_accuracy"] = float(np.mean(np.argmax(y_ref, axis=-1) == y_test))
        _write_json(root / files["graph"], graph_to_dict(design.graph))
        _write_json(root / files["qstats"], qstats(model))
        steps.print(design.summary())
        steps.done(
            f"reference == Keras (logits, {len(x_test)} test samples): {bool(results['reference_exact'])}; "
            f"reference accuracy {100 * results['reference_accuracy']:.2f} %"
        )

        # 4. HLS C++ and its g++ C-simulation.
        steps.start("csim", "HLS C++ and C-simulation")
        xs = x_test[:n_check]
        design.write_hls(root / files["hls"], force=True, x=xs[:256])
        bad = int(np.sum(np.any(design.predict_hls(xs) != y_ref[:n_check], axis=-1)))
        verification["csim"] = {"simulator": "g++ C-simulation", "samples": len(xs), "mismatches": bad}
        verification["csim"]["bit_exact"] = bad == 0
        results["csim_exact"] = float(bad == 0)
        steps.done(f"HLS C-simulation == reference (incl. softmax tables): {bad == 0}  ({bad} of {len(xs)} differ)")

        # 5. Verilog RTL co-simulated with random idle cycles and back-pressure.
        steps.start("cosim", "RTL and co-simulation (Verilator)")
        rtl_dir = design.write_rtl(root / files["rtl"], force=True)
        verification["cosim"] = _cosim(rtl_dir, xs, design, seed)
        results["cosim_exact"] = float(bool(verification["cosim"].get("bit_exact")))
        steps.done(_cosim_line(verification["cosim"]))
        _write_json(root / files["verification"], verification)

        # 6. The resource model (milliseconds).
        steps.start("estimate", "resource estimate")
        est = design.estimate(device=DEVICE, backend="rtl")
        _write_json(root / files["estimate"], est.to_dict())
        (root / "estimate.txt").write_text(est.table() + "\n")
        t = est.total
        steps.done(f"estimate on {DEVICE}: {t.lut:,.0f} LUT, {t.ff:,.0f} FF, {t.dsp} DSP, {t.latency_cycles} cycles")

        # 7. Yosys with the hierarchy kept, so every layer's cells are counted on their own.
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

        # 8. QTools energy (Horowitz 45 nm), as `fpgaq qtools --json` records it.
        steps.start("qtools", "QTools energy estimate")
        energy_sum = _qtools(model, root / files["qtools"])
        steps.done(f"QTools energy estimate: {energy_sum:,.1f} pJ per inference")

        # 9. A sweep of precision x reuse x pipelining x multiplier, estimated point by point.
        steps.start("sweep", "design-space sweep")
        from fpgaq.sweep import sweep

        grid = {
            "device": DEVICE,
            "backend": "rtl",
            "budget": 1.0,
            "grid": {
                "weight_bits": [6, 4] if quick else [8, 6, 4],
                "activation_bits": [6, 4] if quick else [8, 6, 4],
                "reuse_factor": [1, 2] if quick else [1, 2, 4],
                "pipeline_every": [0, 1] if quick else [0, 2, 1],
                "multiplier": ["lut", "dsp"],
            },
        }
        res = sweep(design, grid, data=(x_test, y_test), out_dir=root / files["sweep"], progress=False)
        steps.done(f"sweep: {len(res.points)} points estimated, {len(res.pareto())} on the Pareto front")

        # 10. The project record and the report that reads it.
        steps.start("report", "HTML report")
        meta["name"] = model.name
        meta["model"] = _describe(design)
        meta["training"] = {
            "epochs": epochs,
            "float_accuracy": results["float"],
            "quantized_accuracy": results["quantized"],
            "reference_accuracy": results["reference_accuracy"],
        }
        meta["seconds"] = steps.seconds
        _write_json(root / "project.json", meta)
        results["report"] = str(write_report(root))
        steps.done(f"report: {files['report']}")
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
    from fpgaq.sim.synth import SynthError, YosysNotFound, _tally, synthesize

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
        tally = _tally(group, generic)
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
    print(f"\nfpgaq demo: everything is in {root}")
    for key, desc in what.items():
        if key in files:
            print(f"  {files[key]:<20} {desc}")
    print(f"\nOpen {root / files['report']}")
