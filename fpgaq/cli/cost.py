"""``fpgaq estimate`` and ``fpgaq calibrate``: the resource model on the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["add_parsers"]


def _cmd_estimate(args: argparse.Namespace) -> int:
    from fpgaq.cli import _load_model
    from fpgaq.config import ConfigError
    from fpgaq.design import convert
    from fpgaq.ir.trace import UnsupportedLayerError
    from fpgaq.rtl.lower import RtlLoweringError

    model = _load_model(args.model, "estimate")
    if model is None:
        return 2
    try:
        design = convert(model, args.config)
        est = design.estimate(device=args.device, backend=args.backend, clock_mhz=args.clock, use_dsp=not args.no_dsp)
    except (ConfigError, UnsupportedLayerError, RtlLoweringError, ValueError) as err:
        print(f"fpgaq estimate: {err}", file=sys.stderr)
        return 2
    print(est.table())
    if args.json:
        Path(args.json).write_text(json.dumps(est.to_dict(), indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from fpgaq.calibrate import run_calibration
    from fpgaq.sim.synth import SynthError, YosysNotFound

    out = Path(args.output)
    if out.exists() and any(out.iterdir()) and not args.force and not args.refit:
        print(f"fpgaq calibrate: {out} is not empty; pass --force to update it, or choose another -o", file=sys.stderr)
        return 2
    try:
        run_calibration(
            flows=args.flow or ["xc7"],
            n_fit=args.fit,
            n_holdout=args.holdout,
            n_big=args.big,
            data_dir=out,
            resynthesize=not args.refit,
        )
    except (SynthError, YosysNotFound, ValueError, FileNotFoundError) as err:
        print(f"fpgaq calibrate: {err}", file=sys.stderr)
        return 2
    print(
        f"wrote {out / 'resource_model.json'}; use it with FPGAQ_RESOURCE_MODEL={out / 'resource_model.json'} "
        "(or regenerate the shipped one with -o fpgaq/data in a source checkout)"
    )
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from fpgaq.devices import DEVICES

    es = sub.add_parser("estimate", help="LUT/FF/DSP/BRAM, latency and II per layer, in milliseconds")
    es.add_argument("model", help="path to a .keras model")
    es.add_argument("-c", "--config", default=None, help="conversion config (YAML)")
    es.add_argument("--device", default="xc7a100t", help=f"device preset: {', '.join(DEVICES)} (default xc7a100t)")
    es.add_argument("--backend", choices=("rtl", "hls"), default="rtl", help="rtl (calibrated) or hls (model)")
    es.add_argument("--clock", type=float, default=None, help="target clock in MHz (default: the device's)")
    es.add_argument("--no-dsp", action="store_true", help="estimate a synthesis without DSP slices")
    es.add_argument("--json", default=None, help="also write the estimate as JSON")
    es.set_defaults(func=_cmd_estimate)

    ca = sub.add_parser("calibrate", help="synthesize a corpus of layers with Yosys and fit the resource model")
    ca.add_argument("--flow", action="append", choices=("xc7", "xcup", "generic-lut4"), help="repeatable (default xc7)")
    ca.add_argument("--fit", type=int, default=48, help="designs to fit on (default 48)")
    ca.add_argument("--holdout", type=int, default=24, help="held-out designs to report errors on (default 24)")
    ca.add_argument("--big", type=int, default=8, help="large dense layers to fit on (default 8; half held out)")
    ca.add_argument("-o", "--output", default="fpgaq-calibration", help="directory for resource_model.json and data")
    ca.add_argument("--refit", action="store_true", help="refit the records already in -o without synthesizing")
    ca.add_argument("--force", action="store_true", help="update a non-empty output directory")
    ca.set_defaults(func=_cmd_calibrate)
