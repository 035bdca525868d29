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

import os
import time
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


def run_demo(
    quick: bool = False, epochs: int | None = None, seed: int = 0, out: str | None = None, force: bool = False
) -> dict[str, Any]:
    """Run the flow into ``out`` (default ``./fpgaq-demo``) and return its headline numbers.

    Refuses a non-empty ``out`` unless ``force``, so a user's files are never
    mixed with the demo's by accident.  The returned dict holds the accuracies,
    whether every check was bit-exact (``all_exact``) and the report's path.
    """
    from fpgaq import datasets, zoo
    from fpgaq.project import DEFAULT_DEVICE, PROJECT_STEPS, Steps, build_project, prepare_directory
    from fpgaq.qreport import quantization_report
    from fpgaq.report import PROJECT_SCHEMA
    from fpgaq.train import accuracy, train_classifier

    root = prepare_directory(out if out else DEFAULT_OUT, force)
    n = 12_000 if quick else 60_000
    epochs = epochs if epochs is not None else (6 if quick else 30)
    n_check = 300 if quick else 5_000  # samples through C-simulation and co-simulation
    results: dict[str, Any] = {}
    meta: dict[str, Any] = {"schema": PROJECT_SCHEMA, "mode": "quick" if quick else "full", "seed": seed}
    grid = {
        "device": DEFAULT_DEVICE,
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

    with Steps(2 + PROJECT_STEPS) as steps:
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
        report_text = quantization_report(model)
        (root / "quantization_report.txt").write_text(report_text + "\n")
        steps.print(report_text)
        cost = 100 * (results["float"] - results["quantized"])
        steps.done(f"QAT: {model.name}, quantization cost {cost:+.2f} points of accuracy")

        # 3-10. Conversion, C-sim, co-sim, estimate, Yosys, QTools, sweep, report (fpgaq.project).
        meta["training"] = {
            "epochs": epochs,
            "float_accuracy": results["float"],
            "quantized_accuracy": results["quantized"],
        }
        build_project(
            model,
            root,
            x_test,
            y_test,
            device=DEFAULT_DEVICE,
            samples=n_check,
            grid=grid,
            seed=seed,
            steps=steps,
            meta=meta,
            results=results,
        )
    return results
