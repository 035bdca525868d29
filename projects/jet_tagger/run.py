#!/usr/bin/env python3
"""Jet-tagging MLP end to end: QAT, HLS C++ and Verilog RTL proven bit-exact, estimated, synthesized, swept.

Self-contained: copy this directory and run ``python run.py --quick`` (a small model, about two
minutes) or ``python run.py`` (the 16-64-32-32-5 model, 10k co-simulated samples, the full sweep:
about 10 minutes, most of it Yosys). Every number lands in ``OUT/summary.json``; see README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

import fpgaq
from fpgaq import datasets, zoo
from fpgaq.sim.cosim import cosimulate
from fpgaq.sim.synth import synthesize_project
from fpgaq.sweep import sweep
from fpgaq.train import accuracy, train_classifier

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small model, few epochs and samples, tiny sweep (~2 min)")
    p.add_argument("--out", default="./out", help="output directory (default ./out); must be empty unless --force")
    p.add_argument("--force", action="store_true", help="write into --out even if it is not empty")
    p.add_argument("--epochs", type=int, default=None, help="QAT epochs (default 10 with --quick, else 30)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data, the split and the training")
    p.add_argument("--device", default=None, help="fpgaq.devices preset (default: the one sweep.yaml names)")
    return p.parse_args(argv)


def report(number: int, title: str, start: float, text: str) -> float:
    """Print a step's one result line with its wall time, and return that time for summary.json."""
    seconds = time.perf_counter() - start
    print(f"[{number}/6] {title:<8} {text}  ({seconds:.1f} s)", flush=True)
    return round(seconds, 2)


def small_jet_tagger() -> Any:
    """16 -> 16 -> 8 -> 5 with the zoo model's quantizers: the same flow on a tenth of the logic (--quick)."""
    import keras

    from fpgaq.layers import QActivation, QDense

    wq = "quantized_bits(6,0,alpha=1)"
    inputs = keras.Input((16,), name="features")
    x = QActivation("quantized_bits(16,5,alpha=1)", name="input_q")(inputs)
    for i, units in enumerate((16, 8)):
        x = QDense(units, kernel_quantizer=wq, bias_quantizer=wq, name=f"fc{i + 1}")(x)
        x = QActivation("quantized_relu(6)", name=f"relu{i + 1}")(x)
    x = QDense(5, kernel_quantizer=wq, bias_quantizer=wq, name="output")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="softmax")(x), name="jet_tagger_small")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.force:
        print(f"run.py: {out} exists and is not empty; choose another --out or pass --force", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    quick = args.quick
    epochs = args.epochs if args.epochs is not None else (10 if quick else 30)
    n_check = 500 if quick else 10_000  # samples through C-simulation and co-simulation
    summary: dict[str, Any] = {"project": "jet_tagger", "mode": "quick" if quick else "full", "seed": args.seed}
    seconds: dict[str, float] = {}
    grid = yaml.safe_load((HERE / "sweep.yaml").read_text())
    device = grid["device"] = args.device or grid["device"]  # one target for the estimate, Yosys and the sweep
    summary["device"] = device

    # 1. Data: seeded, so every run of the script sees the same samples.
    t = time.perf_counter()
    x, y = datasets.jet_like(20_000 if quick else 60_000, seed=args.seed)
    x_train, y_train, x_test, y_test = datasets.train_test_split(x, y, seed=args.seed)
    summary["data"] = {"train": len(x_train), "test": len(x_test), "features": x.shape[1], "classes": 5}
    seconds["data"] = report(1, "data", t, f"jet-like, {len(x_train)} training and {len(x_test)} test samples")

    # 2. QAT with the quantizers in the loop; the reference (design.predict) is what the firmware computes.
    t = time.perf_counter()
    model = small_jet_tagger() if quick else zoo.jet_tagger()
    train_classifier(model, x_train, y_train, epochs=epochs, seed=args.seed)
    model.save(out / "model.keras")
    design = fpgaq.convert(model)
    y_ref = design.predict(x_test)
    keras_acc = accuracy(model, x_test, y_test)
    ref_acc = float(np.mean(np.argmax(y_ref, axis=-1) == y_test))
    same = float(np.mean(np.argmax(y_ref, axis=-1) == np.argmax(model.predict(x_test, verbose=0), axis=-1)))
    summary["training"] = {"model": model.name, "epochs": epochs, "keras_accuracy": keras_acc}
    summary["training"] |= {"reference_accuracy": ref_acc, "same_class_fraction": same}
    text = f"{model.name}, {epochs} epochs: test accuracy Keras {keras_acc:.2%}, reference {ref_acc:.2%}"
    seconds["train"] = report(2, "QAT", t, f"{text} (same class on {same:.2%})")

    # 3. HLS C++ and its g++ C-simulation, bit for bit against the reference.
    t = time.perf_counter()
    xs = x_test[:n_check]
    design.write_hls(out / "hls_project", force=True, x=xs[:256])
    bad = int(np.sum(np.any(design.predict_hls(xs) != y_ref[:n_check], axis=-1)))
    summary["csim"] = {"samples": len(xs), "mismatches": bad, "bit_exact": bad == 0}
    seconds["csim"] = report(3, "C-sim", t, f"g++ C-simulation vs reference: {bad} of {len(xs)} samples differ")

    # 4. Verilog RTL, co-simulated in Verilator with random stalls; latency measured against the manifest.
    t = time.perf_counter()
    rtl_dir = design.write_rtl(out / "rtl_project", force=True)
    cos = cosimulate(rtl_dir, xs, design, seed=args.seed)
    summary["cosim"] = {"samples": cos.n_samples, "mismatches": cos.mismatch_count, "passed": cos.passed}
    summary["cosim"] |= {"latency_measured": cos.measured_latency, "latency_reported": cos.reported_latency}
    summary["cosim"] |= {"ii_measured": cos.measured_ii, "ii_reported": cos.reported_ii}
    summary["cosim"] |= {"protocol_errors": cos.protocol_errors, "timing_errors": cos.timing_errors}
    text = f"Verilator vs reference: {cos.mismatch_count} wrong outputs in {cos.n_samples} samples; latency"
    text += f" {cos.measured_latency} cycles (reported {cos.reported_latency}), II {cos.measured_ii}"
    seconds["cosim"] = report(4, "co-sim", t, text)

    # 5. The resource model (milliseconds) next to Yosys (the real count), with the estimate's error.
    t = time.perf_counter()
    est = design.estimate(device=device, backend="rtl")
    syn, _ = synthesize_project(rtl_dir, device=est.device.synth_device)
    pairs = {"lut": (est.total.lut, syn.luts), "ff": (est.total.ff, syn.ffs), "dsp": (est.total.dsp, syn.dsp)}
    pairs["logic_depth"] = (est.total.logic_depth, syn.logic_depth)
    compare = {
        k: {"estimate": e, "synth": s, "error_pct": round(100.0 * (e - s) / s, 1) if s else None}
        for k, (e, s) in pairs.items()
    }
    (out / "estimate.txt").write_text(est.table() + "\n")
    summary["estimate"] = est.to_dict()
    summary["estimate_latency"] = {"cycles": est.total.latency_cycles, "ns": est.latency_ns}
    summary["estimate_latency"]["measured_cycles"] = cos.measured_latency
    summary["synth"] = {"device": syn.device, "luts": syn.luts, "ffs": syn.ffs, "dsp": syn.dsp, "carry": syn.carry}
    summary["synth"] |= {"logic_depth": syn.logic_depth, "yosys": syn.yosys, "runtime_s": syn.runtime_s}
    summary["estimate_vs_synth"] = compare
    cells = [f"{k} {c['estimate']:.0f} vs {c['synth']}" + _pct(c["error_pct"]) for k, c in compare.items()]
    cells.append(f"latency {est.total.latency_cycles} vs {cos.measured_latency} cycles measured")
    seconds["estimate"] = report(5, "estimate", t, f"{device} vs Yosys {syn.device}: " + ", ".join(cells))

    # 6. A sweep of precision x reuse x pipelining x multiplier style, estimated point by point.
    t = time.perf_counter()
    if quick:  # at most two values per axis: the whole flow in CI time
        grid["grid"] = {k: list(v)[:2] for k, v in grid["grid"].items()}
    sweep_dir = out / "sweep"  # the sweep writes sweep.csv, sweep.json and its Pareto plot here
    res = sweep(design, grid, data=(x_test, y_test), synthesize=0 if quick else 2, out_dir=sweep_dir, progress=True)
    pareto = res.pareto()
    (sweep_dir / "pareto.txt").write_text(res.table() + "\n")
    summary["sweep"] = {"points": len(res.points), "survivors": len(res.survivors), "pareto": len(pareto)}
    summary["sweep"]["files"] = sorted(str(f.relative_to(out)) for f in sweep_dir.glob("*.*"))
    text = f"{len(res.points)} points estimated, {len(res.survivors)} within budget, {len(pareto)} on the Pareto front"
    seconds["sweep"] = report(6, "sweep", t, text)

    summary["seconds"] = seconds
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"\nWritten to {out.resolve()}:")
    for name, what in (
        ("model.keras", "the trained model (keras.models.load_model after import fpgaq)"),
        ("hls_project/", "HLS C++ (make -C hls_project runs its C-simulation)"),
        ("rtl_project/", "Verilog RTL; the co-simulation run in sim/, the Yosys run in synth/"),
        ("estimate.txt", "per-layer resource and latency estimate"),
        ("sweep/", "every sweep point (CSV, JSON), the Pareto plot and table"),
        ("summary.json", "every number printed above"),
    ):
        print(f"  {name:<14} {what}")
    return 0 if summary["csim"]["bit_exact"] and cos.passed else 1


def _pct(error: float | None) -> str:
    return "" if error is None else f" ({error:+.1f} %)"


if __name__ == "__main__":
    sys.exit(main())
