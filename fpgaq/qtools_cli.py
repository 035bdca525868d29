"""``fpgaq qtools MODEL``: the QTools data type map and energy estimate of a saved model.

Kept apart from :mod:`fpgaq.cli` so that the command's options live next to
what they drive; ``cli.py`` only calls :func:`add_parser`.  Nothing heavy is
imported until the command runs, so ``fpgaq --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fpgaq.model_io import load_model

__all__ = ["add_parser", "run"]


def _sram_bits(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of bits") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; give a size in bits >= 0")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``qtools`` on the ``fpgaq`` subcommand parser and return its parser."""
    p = subparsers.add_parser(
        "qtools",
        help="QTools data type map and Horowitz energy estimate of a saved .keras model",
        description=(
            "Print each layer's input, weight, bias, multiplier, accumulator and output types and "
            "operation count, and the energy estimate (pJ, Horowitz 45 nm) as QKeras' QTools computes it."
        ),
    )
    p.add_argument("model", help="path to a model saved with model.save('m.keras')")
    p.add_argument("--json", dest="json_out", default=None, help="also write the data type map and energy here")
    p.add_argument(
        "--reference",
        choices=("int8", "fp32"),
        default=None,
        help="count every layer as unquantized: int8 (int32 accumulators) or fp32",
    )
    p.add_argument(
        "--input-quantizer",
        action="append",
        default=None,
        metavar="Q",
        help="type of a model input, e.g. 'quantized_bits(16,5,alpha=1)' or int8; repeat once per input "
        "(default quantized_bits(8,0,alpha=1))",
    )
    p.add_argument("--parameters-on-memory", choices=("dram", "sram", "fixed"), default="dram")
    p.add_argument("--activations-on-memory", choices=("dram", "sram", "fixed"), default="dram")
    p.add_argument(
        "--is-inference",
        action="store_true",
        help="the weights are trained: cost po2-weight products as muxes over the distinct weight values (QKeras)",
    )
    p.add_argument(
        "--weights-path", default=None, help="load these weights into the model first (QKeras' weights_path)"
    )
    p.add_argument("--min-sram-size", type=_sram_bits, default=0, help="smallest SRAM in bits (default 0)")
    p.add_argument(
        "--no-rd-wr-on-io",
        action="store_true",
        help="model inputs and outputs are already in SRAM (no DRAM transfer)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``fpgaq qtools``: 0 on success, 2 for a model or option it cannot handle."""

    import fpgaq.layers  # noqa: F401  (registers the layers for loading)
    from fpgaq.qtools import REFERENCES, QTools, QToolsError, format_energy_table

    out = Path(args.json_out) if args.json_out else None
    if out is not None and out.exists() and not args.force:
        print(f"fpgaq qtools: {out} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    try:
        model = load_model(args.model)
    except (OSError, ValueError) as err:
        print(f"fpgaq qtools: cannot load {args.model!r}: {err}", file=sys.stderr)
        return 2
    try:
        if args.reference:
            kq, ka = REFERENCES[args.reference]
            qt = QTools(
                model,
                source_quantizers=args.input_quantizer,
                is_inference=args.is_inference,
                weights_path=args.weights_path,
                keras_quantizer=kq,
                keras_accumulator=ka,
                for_reference=True,
            )
        else:
            qt = QTools(
                model,
                source_quantizers=args.input_quantizer,
                is_inference=args.is_inference,
                weights_path=args.weights_path,
            )
        energy = qt.pe(
            parameters_on_memory=args.parameters_on_memory,
            activations_on_memory=args.activations_on_memory,
            min_sram_size=args.min_sram_size,
            rd_wr_on_io=not args.no_rd_wr_on_io,
        )
    except QToolsError as err:
        print(f"fpgaq qtools: {err}", file=sys.stderr)
        return 2
    total = qt.extract_energy_sum(energy)
    print(qt.table())
    print()
    print(format_energy_table(energy))
    if out is not None:
        data = qt.stats
        data["energy"] = {
            "options": {
                "parameters_on_memory": args.parameters_on_memory,
                "activations_on_memory": args.activations_on_memory,
                "min_sram_size": args.min_sram_size,
                "rd_wr_on_io": not args.no_rd_wr_on_io,
            },
            "layers": qt.extract_energy_profile(energy),
            "total_cost": energy["total_cost"],
            "energy_sum": total,
        }
        out.write_text(json.dumps(data, indent=2) + "\n")
        print(f"wrote {out}")
    return 0
