"""``fpgaq qstats``, ``summary``, ``config`` and ``convert``: a saved model, its types, its config, its project."""

from __future__ import annotations

import argparse
from pathlib import Path

from fpgaq.cli._common import add_command, add_model_argument, check_new_file, load_model

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``qstats``, ``summary``, ``config`` and ``convert`` to the ``fpgaq`` sub-commands."""
    qs = add_command(
        subparsers, "qstats", run_qstats, help="print the per-layer quantization report of a saved .keras model"
    )
    add_model_argument(qs, help="path to a model saved with model.save('m.keras')")

    sm = add_command(
        subparsers, "summary", run_summary, help="convert a saved model and print every node's fixed-point types"
    )
    add_model_argument(sm)
    sm.add_argument("-c", "--config", default=None, help="conversion config (YAML)")

    cf = add_command(
        subparsers, "config", run_config, help="write a complete, editable conversion config for a saved model"
    )
    add_model_argument(cf)
    cf.add_argument("-g", "--granularity", choices=("model", "type", "name"), default="name")
    cf.add_argument("-o", "--output", default=None, help="YAML file to write (default: print)")
    cf.add_argument("--force", action="store_true", help="overwrite an existing file")

    cv = add_command(
        subparsers, "convert", run_convert, help="convert a saved model into an HLS C++ or a Verilog RTL project"
    )
    add_model_argument(cv)
    cv.add_argument("--backend", choices=("hls", "rtl"), default="hls", help="hls (C++) or rtl (Verilog)")
    cv.add_argument("-o", "--output", required=True, help="project directory to create")
    cv.add_argument("-c", "--config", default=None, help="conversion config (YAML)")
    cv.add_argument("--hls-flavor", choices=("catapult", "vitis"), default="catapult", help="ac_fixed or ap_fixed")
    cv.add_argument("--force", action="store_true", help="replace an existing directory")


def run_qstats(args: argparse.Namespace) -> int:
    """Print the model's per-layer quantization report."""
    from fpgaq.qreport import quantization_report

    print(quantization_report(load_model(args)))
    return 0


def run_summary(args: argparse.Namespace) -> int:
    """Convert the model and print every node's types."""
    from fpgaq.design import convert

    print(convert(load_model(args), args.config).summary())
    return 0


def run_config(args: argparse.Namespace) -> int:
    """Print (or write to ``-o``) the model's complete conversion config."""
    from fpgaq.config import config_from_model, load_config

    text = load_config(config_from_model(load_model(args), args.granularity)).to_yaml()
    if args.output is None:
        print(text, end="")
        return 0
    check_new_file(args.output, args.force)
    Path(args.output).write_text(text)
    print(f"wrote {Path(args.output)}")
    return 0


def run_convert(args: argparse.Namespace) -> int:
    """Write the model's HLS C++ or Verilog RTL project."""
    import json

    from fpgaq.design import convert

    design = convert(load_model(args), args.config)
    if args.backend == "rtl":
        out = design.write_rtl(args.output, force=args.force)
        top = json.loads((out / "fpgaq_rtl.json").read_text())
        print(f"wrote RTL project {out} (top {top['top']}, latency {top['latency']} cycles, II {top['ii']})")
        return 0
    from fpgaq.converters.hls import write_hls

    out = write_hls(design, args.output, flavor=args.hls_flavor, force=args.force)
    print(f"wrote {args.hls_flavor} HLS project {out}")
    return 0
