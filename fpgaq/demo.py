"""``fpgaq demo``: the end-to-end flow as far as this version of fpgaq goes.

Today: the jet-tagging MLP trained in float on synthetic jet-like data and
fine-tuned with quantization-aware training, its per-layer quantization
report, its typed graph checked bit for bit against Keras, and its HLS C++
C-simulated with g++ and checked bit for bit against the reference.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["run_demo"]


def run_demo(
    quick: bool = False, epochs: int | None = None, seed: int = 0, out: str | None = None, force: bool = False
) -> dict[str, float]:
    from fpgaq import datasets, zoo
    from fpgaq.qreport import quantization_report
    from fpgaq.train import accuracy, train_classifier

    if out and Path(out).exists() and any(Path(out).iterdir()) and not force:
        raise FileExistsError(f"fpgaq demo: {out} exists and is not empty; choose a new directory or pass --force")
    n = 12_000 if quick else 60_000
    epochs = epochs if epochs is not None else (6 if quick else 30)
    x, y = datasets.jet_like(n, seed=seed)
    x_train, y_train, x_test, y_test = datasets.train_test_split(x, y, seed=seed)
    print(f"fpgaq demo: jet-like data, {len(x_train)} training and {len(x_test)} test samples, {epochs} epochs")

    results: dict[str, float] = {}
    models = {}
    for label, quantized in (("float", False), ("quantized", True)):
        model = zoo.jet_tagger(quantized=quantized)
        start = time.perf_counter()
        if quantized:
            # QAT as usual: start from the float weights, fine-tune with the quantizers in the loop.
            model.set_weights(models["float"].get_weights())
            train_classifier(model, x_train, y_train, epochs=epochs, seed=seed, learning_rate=1e-3)
        else:
            train_classifier(model, x_train, y_train, epochs=epochs, seed=seed)
        acc = accuracy(model, x_test, y_test)
        results[label] = acc
        models[label] = model
        print(f"  {label:9} model: test accuracy {100 * acc:5.2f} %  (trained in {time.perf_counter() - start:.1f} s)")
    print(f"  quantization cost: {100 * (results['float'] - results['quantized']):+.2f} points of accuracy\n")
    report = quantization_report(models["quantized"])
    print(report)
    results.update(_firmware(models["quantized"], x_test, out))
    if out:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        models["float"].save(os.fspath(path / "jet_tagger_float.keras"))
        models["quantized"].save(os.fspath(path / "jet_tagger.keras"))
        (path / "quantization_report.txt").write_text(report + "\n")
        print(f"\nSaved the models, the report and the HLS project in {path.resolve()}")
    return results


def _firmware(model, x_test, out: str | None) -> dict[str, float]:
    """Convert to the typed graph, check it against Keras, and C-simulate the HLS C++."""
    import keras
    import numpy as np

    from fpgaq.design import convert

    print("\nConversion: typed graph, bit-exact reference, HLS C++ and its C-simulation")
    design = convert(model)
    logits = keras.Model(model.inputs, model.get_layer("output").output, name="jet_logits")
    same_logits = np.array_equal(convert(logits).predict(x_test), logits.predict(x_test, verbose=0))
    print(f"  reference == Keras (logits, {len(x_test)} test samples): {same_logits}")
    start = time.perf_counter()
    hls = design.predict_hls(x_test)
    same_hls = np.array_equal(hls, design.predict(x_test))
    print(
        f"  HLS C-simulation == reference (incl. softmax tables): {same_hls}  "
        f"(g++ build and run {time.perf_counter() - start:.1f} s)"
    )
    if out:
        design.write_hls(Path(out) / "hls_project", force=True)
    return {"reference_exact": float(same_logits), "csim_exact": float(same_hls)}
