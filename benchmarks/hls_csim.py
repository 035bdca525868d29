"""HLS back end: conversion time, C-simulation build time and throughput.

For the jet tagger (16-64-32-32-5 with a softmax table) and the digits CNN,
prints the time of ``fpgaq.convert`` (Keras model -> typed IR), of writing
the HLS project and building its g++ C-simulation library from an empty
cache, and the throughput of ``design.predict_hls`` next to the Python
reference ``design.predict`` measured in the same process, with a
bit-exactness check.  Run: ``python benchmarks/hls_csim.py [--samples N]``.

Peers measured on the same 2-core machine (see the project README):
hls4ml 1.3 converts the jet tagger in 0.05 s, compiles its C-simulation in
about 5 s and simulates 16k samples/s.
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

HLS4ML_CSIM_BUILD_S = 5.0
HLS4ML_CSIM_SAMPLES_PER_S = 16_000


def _models(samples: int):
    x, y = datasets.jet_like(10_000, seed=0)
    jet = zoo.jet_tagger()
    train_classifier(jet, x, y, epochs=1)
    yield "jet tagger (16-64-32-32-5 + softmax table)", jet, datasets.jet_like(samples, seed=1)[0]
    images, labels = datasets.digits()[:2]
    cnn = zoo.digits_cnn()
    train_classifier(cnn, images, labels, epochs=1)
    reps = -(-samples // len(images))
    yield "digits CNN (8x8 conv-pool-conv-dense)", cnn, np.concatenate([images] * reps)[:samples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=20_000)
    args = parser.parse_args()
    for title, model, data in _models(args.samples):
        start = time.perf_counter()
        design = convert(model)
        t_convert = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as cache:
            os.environ["FPGAQ_CACHE"] = cache  # an empty cache: measure a real build
            start = time.perf_counter()
            design.compile()
            t_build = time.perf_counter() - start
            design.predict_hls(data[:100])
            start = time.perf_counter()
            hls = design.predict_hls(data)
            t_hls = time.perf_counter() - start
        design.predict(data[:100])
        start = time.perf_counter()
        ref = design.predict(data)
        t_ref = time.perf_counter() - start
        n = len(data)
        print(f"{title}, {n} samples")
        print(f"  convert (Keras -> typed IR)                : {t_convert:8.2f} s")
        print(
            f"  write project + g++ build of the C-sim lib : {t_build:8.2f} s"
            f"   (hls4ml ~{HLS4ML_CSIM_BUILD_S:.0f} s: x{HLS4ML_CSIM_BUILD_S / t_build:.2f})"
        )
        print(
            f"  C-simulation (predict_hls)                 : {n / t_hls:12,.0f} samples/s"
            f"   (hls4ml 16k/s: x{n / t_hls / HLS4ML_CSIM_SAMPLES_PER_S:.1f})"
        )
        print(f"  Python reference (predict)                 : {n / t_ref:12,.0f} samples/s")
        print(f"  bit-exact C-sim vs reference               : {np.array_equal(hls, ref)}")


if __name__ == "__main__":
    main()
