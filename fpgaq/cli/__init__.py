"""The ``fpgaq`` command: one subcommand per step of the flow (see ``fpgaq --help``).

Subcommands of larger features live in their own ``*_cli`` modules and are
registered here; all of them load models through :mod:`fpgaq.model_io`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


# Subcommands not built yet, and what will provide them.
def _cmd_demo(args: argparse.Namespace) -> int:
    from fpgaq.demo import run_demo

    try:
        results = run_demo(quick=args.quick, epochs=args.epochs, seed=args.seed, out=args.out, force=args.force)
    except FileExistsError as err:
        print(err, file=sys.stderr)
        return 2
    return 0 if results.get("all_exact", False) else 1


def _cmd_project(args: argparse.Namespace) -> int:
    import numpy as np

    from fpgaq.project import build_project

    model = _load_model(args.model, "project")
    if model is None:
        return 2
    x = y = None
    if args.data:
        try:
            with np.load(args.data) as data:
                if "x" not in data.files:
                    print(f"fpgaq project: {args.data} has no array 'x'; save it with np.savez(path, x=..., y=...)",
                          file=sys.stderr)  # fmt: skip
                    return 2
                x = data["x"]
                y = data["y"] if "y" in data.files else None
        except (OSError, ValueError) as err:
            print(f"fpgaq project: cannot read {args.data!r}: {err}", file=sys.stderr)
            return 2
    try:
        results = build_project(
            model,
            args.out,
            x,
            y,
            device=args.device,
            samples=args.samples,
            grid=args.grid,
            sweep=not args.no_sweep,
            seed=args.seed,
            force=args.force,
        )
    except (FileExistsError, ValueError) as err:
        print(f"fpgaq project: {err}", file=sys.stderr)
        return 2
    return 0 if results.get("all_exact") else 1


def _cmd_qstats(args: argparse.Namespace) -> int:
    from fpgaq.qreport import quantization_report

    model = _load_model(args.model, "qstats")
    if model is None:
        return 2
    print(quantization_report(model))
    return 0


def _load_model(path: str, command: str):
    """A .keras model, or a QKeras / Keras 2 HDF5 model (imported without QKeras); None after an error."""
    from fpgaq.model_io import load_model

    try:
        return load_model(path)
    except (OSError, ValueError) as err:
        print(f"fpgaq {command}: cannot load {path!r}: {err}", file=sys.stderr)
        return None


def _cmd_summary(args: argparse.Namespace) -> int:
    from fpgaq.config import ConfigError
    from fpgaq.design import convert
    from fpgaq.ir.trace import UnsupportedLayerError

    model = _load_model(args.model, "summary")
    if model is None:
        return 2
    try:
        design = convert(model, args.config)
    except (ConfigError, UnsupportedLayerError) as err:
        print(f"fpgaq summary: {err}", file=sys.stderr)
        return 2
    print(design.summary())
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fpgaq.config import config_from_model, load_config

    model = _load_model(args.model, "config")
    if model is None:
        return 2
    text = load_config(config_from_model(model, args.granularity)).to_yaml()
    if args.output is None:
        print(text, end="")
        return 0
    out = Path(args.output)
    if out.exists() and not args.force:
        print(f"fpgaq config: {out} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    out.write_text(text)
    print(f"wrote {out}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from fpgaq.config import ConfigError
    from fpgaq.converters.hls import HlsError, write_hls
    from fpgaq.design import convert
    from fpgaq.ir.trace import UnsupportedLayerError

    model = _load_model(args.model, "convert")
    if model is not None and args.backend == "rtl":
        return _convert_rtl(model, args)
    if model is None:
        return 2
    try:
        design = convert(model, args.config)
        out = write_hls(design, args.output, flavor=args.hls_flavor, force=args.force)
    except (ConfigError, UnsupportedLayerError, HlsError, FileExistsError) as err:
        print(f"fpgaq convert: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.hls_flavor} HLS project {out}")
    return 0


def _convert_rtl(model: object, args: argparse.Namespace) -> int:
    import json

    from fpgaq.config import ConfigError
    from fpgaq.design import convert
    from fpgaq.ir.trace import UnsupportedLayerError
    from fpgaq.rtl.lower import RtlLoweringError

    try:
        design = convert(model, args.config)
        out = design.write_rtl(args.output, force=args.force)
    except (ConfigError, UnsupportedLayerError, RtlLoweringError, FileExistsError) as err:
        print(f"fpgaq convert: {err}", file=sys.stderr)
        return 2
    manifest = json.loads((out / "fpgaq_rtl.json").read_text())
    print(f"wrote RTL project {out} (top {manifest['top']}, latency {manifest['latency']} cycles, II {manifest['ii']})")
    return 0


def _cmd_csim(args: argparse.Namespace) -> int:
    from fpgaq.sim.csim import CsimError, csim

    try:
        report = csim(args.directory, samples=args.samples)
    except CsimError as err:
        print(f"fpgaq csim: {err}", file=sys.stderr)
        return 2
    print(report)
    return 0 if report.passed else 1


def _cmd_synth(args: argparse.Namespace) -> int:
    from fpgaq.sim.synth import ManifestError, SynthError, YosysNotFound, synthesize_project

    try:
        result, report = synthesize_project(
            args.directory, device=args.device, dsp=not args.no_dsp, report=args.output, timeout=args.timeout
        )
    except (ManifestError, YosysNotFound) as err:
        print(f"fpgaq synth: {err}", file=sys.stderr)
        return 2
    except SynthError as err:
        print(f"fpgaq synth: {err}", file=sys.stderr)
        if err.log_path:
            print(f"fpgaq synth: Yosys log: {err.log_path}", file=sys.stderr)
        return 1
    print(result.table())
    print(f"report: {report}\nlog:    {result.log_path}")
    return 0


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability in [0, 1)")
    return value


def _cmd_cosim(args: argparse.Namespace) -> int:
    from fpgaq.sim.cosim import CosimError, cosimulate, read_vectors

    try:
        inputs, expected = read_vectors(args.directory)
        result = cosimulate(
            args.directory,
            inputs,
            expected=expected,
            samples=args.samples,
            idle=args.idle,
            backpressure=args.backpressure,
            seed=args.seed,
            waves=args.waves,
        )
    except CosimError as err:
        print(f"fpgaq cosim: {err}", file=sys.stderr)
        return 2
    print(result.report())
    return 0 if result.passed else 1


def build_parser() -> argparse.ArgumentParser:
    from fpgaq import __version__

    parser = argparse.ArgumentParser(
        prog="fpgaq", description="Quantized neural networks to proven-correct FPGA firmware."
    )
    parser.add_argument("--version", action="version", version=f"fpgaq {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="the whole flow on the jet tagger: QAT, HLS + C-sim, RTL + co-sim, estimate, Yosys, QTools, sweep, report",
    )
    demo.add_argument("--quick", action="store_true", help="a smaller model, few epochs and samples (1-3 minutes)")
    demo.add_argument("--epochs", type=int, default=None, help="training epochs (default 30, or 6 with --quick)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("-o", "--out", default=None, help="project directory to write (default ./fpgaq-demo)")
    demo.add_argument("--force", action="store_true", help="write into a non-empty --out directory")
    demo.set_defaults(func=_cmd_demo)

    pj = sub.add_parser(
        "project",
        help="your model's project: HLS + C-sim, RTL + co-sim, estimate, Yosys, QTools, sweep and report.html",
    )
    pj.add_argument("model", help="a .keras model (or a QKeras .h5)")
    pj.add_argument("-o", "--out", required=True, help="project directory to create")
    pj.add_argument("--data", default=None, help="NPZ with inputs x (and labels y) to verify with and score accuracy")
    pj.add_argument("--device", default="xc7a100t", help="device preset for the estimate and Yosys (default xc7a100t)")
    pj.add_argument("-n", "--samples", type=int, default=300, help="samples through C-sim and co-sim (default 300)")
    pj.add_argument("--grid", default=None, help="sweep grid (YAML; default a small one)")
    pj.add_argument("--no-sweep", action="store_true", help="skip the sweep")
    pj.add_argument("--seed", type=int, default=0)
    pj.add_argument("--force", action="store_true", help="write into a non-empty --out directory")
    pj.set_defaults(func=_cmd_project)

    qs = sub.add_parser("qstats", help="print the per-layer quantization report of a saved .keras model")
    qs.add_argument("model", help="path to a model saved with model.save('m.keras')")
    qs.set_defaults(func=_cmd_qstats)

    sm = sub.add_parser("summary", help="convert a saved model and print every node's fixed-point types")
    sm.add_argument("model", help="path to a .keras model")
    sm.add_argument("-c", "--config", default=None, help="conversion config (YAML)")
    sm.set_defaults(func=_cmd_summary)

    cf = sub.add_parser("config", help="write a complete, editable conversion config for a saved model")
    cf.add_argument("model", help="path to a .keras model")
    cf.add_argument("-g", "--granularity", choices=("model", "type", "name"), default="name")
    cf.add_argument("-o", "--output", default=None, help="YAML file to write (default: print)")
    cf.add_argument("--force", action="store_true", help="overwrite an existing file")
    cf.set_defaults(func=_cmd_config)

    cv = sub.add_parser("convert", help="convert a saved model into an HLS C++ or a Verilog RTL project")
    cv.add_argument("model", help="path to a .keras model")
    cv.add_argument("--backend", choices=("hls", "rtl"), default="hls", help="hls (C++) or rtl (Verilog)")
    cv.add_argument("-o", "--output", required=True, help="project directory to create")
    cv.add_argument("-c", "--config", default=None, help="conversion config (YAML)")
    cv.add_argument("--hls-flavor", choices=("catapult", "vitis"), default="catapult", help="ac_fixed or ap_fixed")
    cv.add_argument("--force", action="store_true", help="replace an existing directory")
    cv.set_defaults(func=_cmd_convert)

    cs = sub.add_parser("csim", help="C-simulate an HLS project with g++ and compare with the reference")
    cs.add_argument("directory", help="a project written by fpgaq convert")
    cs.add_argument("-n", "--samples", type=int, default=None, help="number of samples (default: all in tb_data)")
    cs.set_defaults(func=_cmd_csim)

    sy = sub.add_parser("synth", help="synthesize an RTL project with Yosys and report LUT/FF/DSP/BRAM counts")
    sy.add_argument("directory", help="an RTL project written by fpgaq convert --backend rtl (with fpgaq_rtl.json)")
    sy.add_argument("--device", choices=("xc7", "xcup", "lut4", "lut6"), default="xc7", help="target (default xc7)")
    sy.add_argument("--no-dsp", action="store_true", help="map multipliers to LUTs, not DSP48 (Xilinx devices)")
    sy.add_argument("-o", "--output", default=None, help="report JSON (default DIR/synth/<device>.json)")
    sy.add_argument("--timeout", type=float, default=3600.0, help="seconds before Yosys is stopped (default 3600)")
    sy.set_defaults(func=_cmd_synth)

    co = sub.add_parser("cosim", help="co-simulate an RTL project with cocotb + Verilator, bit for bit")
    co.add_argument("directory", help="a project written by fpgaq convert --backend rtl")
    co.add_argument("-n", "--samples", type=int, default=None, help="number of samples (default: all in data/)")
    co.add_argument(
        "--waves", action="store_true", help="dump every signal into DIR/sim/ (FST, or VCD without lz4); keep -n small"
    )
    co.add_argument("--seed", type=int, default=0, help="seed of the idle and back-pressure patterns")
    co.add_argument("--idle", type=_probability, default=0.2, help="probability of an idle cycle before an input")
    co.add_argument("--backpressure", type=_probability, default=0.2, help="probability of out_ready low")
    co.set_defaults(func=_cmd_cosim)

    from fpgaq import qtools_cli, report_cli, search_cli, sweep_cli
    from fpgaq.resource_cli import add_parsers as add_resource_parsers

    add_resource_parsers(sub)
    sweep_cli.add_parser(sub)
    qtools_cli.add_parser(sub)
    search_cli.add_parser(sub)
    report_cli.add_parser(sub)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
