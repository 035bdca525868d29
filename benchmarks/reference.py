"""Throughput of the bit-exact reference against Keras on the jet tagger.

Prints samples per second of ``design.predict`` and of Keras' own
``model.predict`` (same model, same 100,000 inputs, same process) and their
ratio.  Run: ``python benchmarks/reference.py [--samples N]``.
"""

from __future__ import annotations

import argparse
import os
import time

# The same TensorFlow set-up fpgaq makes on import, before Keras loads here.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from fpgaq import datasets, zoo
from fpgaq.design import convert
from fpgaq.train import train_classifier


def _best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    x, y = datasets.jet_like(20_000, seed=0)
    model = zoo.jet_tagger()
    train_classifier(model, x, y, epochs=2)
    logits = keras.Model(model.inputs, model.get_layer("output").output, name="jet_logits")
    design = convert(logits)
    data = datasets.jet_like(args.samples, seed=1)[0]

    # warm-up (graph tracing in Keras, allocation in NumPy), then best of N
    logits.predict(data[:1024], batch_size=4096, verbose=0)
    design.predict(data[:1024])
    t_keras = _best_of(lambda: logits.predict(data, batch_size=4096, verbose=0), args.repeats)
    t_ref = _best_of(lambda: design.predict(data), args.repeats)
    same = np.array_equal(design.predict(data), logits.predict(data, batch_size=4096, verbose=0).astype(np.float64))

    n = len(data)
    print(f"jet tagger (16-64-32-32-5, 6-bit weights, 16-bit input), {n} samples")
    print(f"  keras model.predict      : {n / t_keras:12,.0f} samples/s")
    print(f"  fpgaq design.predict     : {n / t_ref:12,.0f} samples/s")
    print(f"  ratio reference / keras  : {t_keras / t_ref:12.2f} x")
    print(f"  bit-exact against keras  : {same}")


if __name__ == "__main__":
    main()
