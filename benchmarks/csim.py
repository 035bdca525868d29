"""C-simulation of the jet tagger: g++ build time and samples per second.

Prints the time to write and compile the HLS project into its C-simulation
library from an empty cache, and the throughput of ``design.predict_hls``
next to the Python reference (``design.predict``) in the same process, with
a bit-exactness check.  Run: ``python benchmarks/csim.py [--samples N]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from fpgaq import datasets, zoo
from fpgaq.design import convert
from fpgaq.train import train_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=20_000)
    args = parser.parse_args()

    x, y = datasets.jet_like(10_000, seed=0)
    model = zoo.jet_tagger()
    train_classifier(model, x, y, epochs=1)
    design = convert(model)
    data = datasets.jet_like(args.samples, seed=1)[0]

    with tempfile.TemporaryDirectory() as cache:
        os.environ["FPGAQ_CACHE"] = cache  # an empty cache: measure a real build
        start = time.perf_counter()
        design.compile()
        t_build = time.perf_counter() - start
        design.predict_hls(data[:100])
        start = time.perf_counter()
        hls = design.predict_hls(data)
        t_hls = time.perf_counter() - start
    start = time.perf_counter()
    ref = design.predict(data)
    t_ref = time.perf_counter() - start

    n = len(data)
    print(f"jet tagger (16-64-32-32-5 + softmax table), {n} samples")
    print(f"  generate + g++ build of the C-sim library : {t_build:8.2f} s")
    print(f"  C-simulation (predict_hls)                : {n / t_hls:12,.0f} samples/s")
    print(f"  Python reference (predict)                : {n / t_ref:12,.0f} samples/s")
    print(f"  bit-exact C-sim vs reference              : {np.array_equal(hls, ref)}")


if __name__ == "__main__":
    main()
