"""Bulk RTL proof at simulator speed (issue 14): ``design.predict_rtl`` against the reference and cocotb.

For the jet tagger (16-64-32-32-5, logits) and the digits CNN, in one process:

* the Verilator build of the bulk model from an empty cache (seconds);
* samples/s of ``design.predict_rtl`` (Verilator, our harness) on one thread and on every CPU
  (model instances running at once; best and median of ``--repeat`` runs), of ``design.predict``
  (the Python reference) and of the cocotb co-simulation (``fpgaq.sim.cosim.design_cosim``,
  without idle cycles or back-pressure, on fewer samples: it is the slow path), with ratios;
* that all three agree bit for bit on the samples they share.

    python benchmarks/rtl_emulation.py [--samples 200000] [--cocotb-samples 2000] [--threads T]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import fpgaq
from fpgaq import datasets, zoo
from fpgaq.sim import bulk
from fpgaq.sim.cosim import design_cosim


def logits(model: keras.Model) -> keras.Model:
    return keras.Model(model.inputs, model.get_layer("output").output, name=model.name)


def timed(run, repeat: int) -> tuple[object, float, float]:
    """The result, the best and the median seconds of ``repeat`` runs (this VM's CPUs come and go)."""
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t)
    return result, min(times), float(np.median(times))


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:12,.0f} samples/s"


def run(name: str, design: fpgaq.Design, x: np.ndarray, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="fpgaq-rtl-emulation-") as cache:
        os.environ["FPGAQ_CACHE"] = cache  # an empty cache: the build is timed from scratch
        t = time.perf_counter()
        design.rtl_model()
        build = time.perf_counter() - t
        design.predict_rtl(x[:2000], threads=1)  # the library's code paged in: not what is timed
        one, t_one, t_one_med = timed(lambda: design.predict_rtl(x, threads=1), args.repeat)
        got, t_rtl, t_rtl_med = timed(lambda: design.predict_rtl(x, threads=args.threads), args.repeat)
        t = time.perf_counter()
        want = design.predict(x)
        t_ref = time.perf_counter() - t
        m = min(args.cocotb_samples, len(x))
        design_cosim(design, x[:8], idle=0.0, backpressure=0.0)  # its build, cached: not what is timed
        t = time.perf_counter()
        result = design_cosim(design, x[:m], idle=0.0, backpressure=0.0)
        t_cocotb = time.perf_counter() - t
    exact = np.array_equal(got, want) and np.array_equal(one, want)
    print(f"{name}: Verilator build from an empty cache {build:.1f} s; bit-exact with the reference: {exact}")
    threads = args.threads or bulk.default_threads()
    print(f"  predict_rtl, 1 thread   {rate(len(x), t_one)}   (median of {args.repeat}: {rate(len(x), t_one_med)})")
    print(
        f"  predict_rtl, {threads} threads  {rate(len(x), t_rtl)}   (median: {rate(len(x), t_rtl_med)})"
        f"   {t_one / t_rtl:.2f}x one thread"
    )
    print(f"  predict (reference)     {rate(len(x), t_ref)}   predict_rtl / reference {t_ref / t_rtl:.2f}x")
    print(
        f"  cocotb co-simulation    {rate(m, t_cocotb)}   predict_rtl / cocotb {(len(x) / t_rtl) / (m / t_cocotb):.0f}x"
        f"  (passed: {result.passed})",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=200_000)
    p.add_argument("--cocotb-samples", type=int, default=2_000)
    p.add_argument("--threads", type=int, default=None, help="model instances at once (default: one per CPU)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs of predict_rtl; best and median are printed")
    args = p.parse_args(argv)
    x, _ = datasets.jet_like(n=args.samples, seed=1)
    run("jet tagger", fpgaq.convert(logits(zoo.jet_tagger())), x.astype(np.float32), args)
    digits, _ = datasets.digits()
    reps = max(1, args.samples // (10 * len(digits)))
    run("digits CNN", fpgaq.convert(logits(zoo.digits_cnn())), np.concatenate([digits] * reps), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
