"""Speed of a 1,000-point sweep of the jet tagger against the 10 s target.

Every point derives its own graph (re-quantization once per precision,
back-end options per point) and runs the resource model; nothing is
simulated or synthesized.  As the baseline, the same process times one
``fpgaq.convert`` of the jet tagger and extrapolates it to 1,000 points:
what a sweep that re-converted the Keras model for every point would pay
before estimating anything.  Run: ``python benchmarks/sweep_speed.py``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fpgaq import zoo
from fpgaq.design import convert
from fpgaq.ir.passes.requantize import reopen_types, requantize, with_options
from fpgaq.sweep import load_grid, sweep

TARGET_S = 10.0

# 5 x 5 x 5 x 4 x 2 = 1,000 points
GRID = {
    "device": "xcvu9p",
    "backend": "rtl",
    "budget": 1.0,
    "grid": {
        "weight_bits": [3, 4, 5, 6, 8],
        "activation_bits": [3, 4, 5, 6, 8],
        "reuse_factor": [1, 2, 4, 8, 16],
        "pipeline_every": [0, 1, 2, 3],
        "multiplier": ["lut", "dsp"],
    },
}


def _best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("rtl", "hls"), default="rtl")
    args = parser.parse_args(argv)
    grid = load_grid({**GRID, "backend": args.backend})
    assert len(grid) == 1000, len(grid)
    model = zoo.jet_tagger()
    convert(model)  # warm-up: Keras traces lazily the first time

    t_convert = _best_of(lambda: convert(model), 5)
    design = convert(model)
    opened = reopen_types(design.graph, design.config)
    t_requantize = _best_of(lambda: requantize(opened, 4, 4, config=design.config), 5)
    t_options = _best_of(lambda: with_options(design.graph, 2, 1, "dsp"), 20)

    start = time.perf_counter()
    result = sweep(model, grid, progress=True)
    total = time.perf_counter() - start

    n = len(result.points)
    estimated = sum(p.lut is not None for p in result.points)
    print(f"jet tagger, {n} sweep points ({args.backend}, {grid.device}): {estimated} estimated, "
          f"{len(result.survivors)} within budget, {len(result.pareto())} on the Pareto front")  # fmt: skip
    print(f"  sweep total            {total:8.2f} s   ({n / total:7.1f} points/s)   target {TARGET_S:.0f} s: "
          f"{'MET' if total <= TARGET_S else 'MISSED'} ({total / TARGET_S:.2f}x the target)")  # fmt: skip
    print(f"  of which estimating    {result.timing['estimate']:8.2f} s   (graphs + resource model)")
    print(f"  per precision          {t_requantize * 1e3:8.2f} ms  (requantize + precision inference, "
          f"{len(grid.weight_bits) * len(grid.activation_bits)} precisions)")  # fmt: skip
    print(f"  per point options      {t_options * 1e3:8.3f} ms  (with_options)")
    per_point = result.timing["estimate"] / n
    print(f"  per point, all in      {per_point * 1e3:8.2f} ms")
    print(f"baseline: one fpgaq.convert {t_convert * 1e3:.1f} ms x {n} = {t_convert * n:.1f} s before any estimate "
          f"(graph derivation here: {(t_requantize * 25 + t_options * n):.2f} s, "
          f"{t_convert * n / (t_requantize * 25 + t_options * n):.0f}x less)")  # fmt: skip


if __name__ == "__main__":
    main()
