"""``fpgaq estimate``, ``calibrate`` and ``qtools``: what a model costs, and the resource model's calibration.

``estimate`` is the resource and latency model (milliseconds per model),
``calibrate`` refits it against Yosys, and ``qtools`` is QKeras' QTools: the
data type map and the Horowitz energy estimate.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fpgaq.cli._common import add_command, add_model_argument, check_new_file, fail, load_model

__all__ = ["register"]


def _sram_bits(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of bits") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; give a size in bits >= 0")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``estimate``, ``calibrate`` and ``qtools`` to the ``fpgaq`` sub-commands."""
    from fpgaq.devices import DEVICES

    es = add_command(
        subparsers, "estimate", run_estimate, help="LUT/FF/DSP/BRAM, latency and II per layer, in milliseconds"
    )
    add_model_argument(es)
    es.add_argument("-c", "--config", default=None, help="conversion config (YAML)")
    es.add_argument("--device", default="xc7a100t", help=f"device preset: {', '.join(DEVICES)} (default xc7a100t)")
    es.add_argument("--backend", choices=("rtl", "hls"), default="rtl", help="rtl (calibrated) or hls (model)")
    es.add_argument("--clock", type=float, default=None, help="target clock in MHz (default: the device's)")
    es.add_argument("--no-dsp", action="store_true", help="estimate a synthesis without DSP slices")
    es.add_argument("--json", default=None, help="also write the estimate as JSON")

    ca = add_command(
        subparsers,
        "calibrate",
        run_calibrate,
        help="synthesize a corpus of layers with Yosys and fit the resource model",
    )
    ca.add_argument("--flow", action="append", choices=("xc7", "xcup", "generic-lut4"), help="repeatable (default xc7)")
    ca.add_argument("--fit", type=int, default=48, help="designs to fit on (default 48)")
    ca.add_argument("--holdout", type=int, default=24, help="held-out designs to report errors on (default 24)")
    ca.add_argument("--big", type=int, default=8, help="large dense layers to fit on (default 8; half held out)")
    ca.add_argument("-o", "--output", default="fpgaq-calibration", help="directory for resource_model.json and data")
    ca.add_argument("--refit", action="store_true", help="refit the records already in -o without synthesizing")
    ca.add_argument("--force", action="store_true", help="update a non-empty output directory")

    qt = add_command(
        subparsers,
        "qtools",
        run_qtools,
        help="QTools data type map and Horowitz energy estimate of a saved .keras model",
        description=(
            "Print each layer's input, weight, bias, multiplier, accumulator and output types and "
            "operation count, and the energy estimate (pJ, Horowitz 45 nm) as QKeras' QTools computes it."
        ),
    )
    add_model_argument(qt, help="path to a model saved with model.save('m.keras')")
    qt.add_argument("--json", dest="json_out", default=None, help="also write the data type map and energy here")
    qt.add_argument(
        "--reference",
        choices=("int8", "fp32"),
        default=None,
        help="count every layer as unquantized: int8 (int32 accumulators) or fp32",
    )
    qt.add_argument(
        "--input-quantizer",
        action="append",
        default=None,
        metavar="Q",
        help="type of a model input, e.g. 'quantized_bits(16,5,alpha=1)' or int8; repeat once per input "
        "(default quantized_bits(8,0,alpha=1))",
    )
    qt.add_argument("--parameters-on-memory", choices=("dram", "sram", "fixed"), default="dram")
    qt.add_argument("--activations-on-memory", choices=("dram", "sram", "fixed"), default="dram")
    qt.add_argument(
        "--is-inference",
        action="store_true",
        help="the weights are trained: cost po2-weight products as muxes over the distinct weight values (QKeras)",
    )
    qt.add_argument(
        "--weights-path", default=None, help="load these weights into the model first (QKeras' weights_path)"
    )
    qt.add_argument("--min-sram-size", type=_sram_bits, default=0, help="smallest SRAM in bits (default 0)")
    qt.add_argument(
        "--no-rd-wr-on-io",
        action="store_true",
        help="model inputs and outputs are already in SRAM (no DRAM transfer)",
    )
    qt.add_argument("--force", action="store_true", help="overwrite an existing --json file")


def run_estimate(args: argparse.Namespace) -> int:
    """Print the estimate per layer (and write it as JSON with ``--json``)."""
    from fpgaq.design import convert

    design = convert(load_model(args), args.config)
    est = design.estimate(device=args.device, backend=args.backend, clock_mhz=args.clock, use_dsp=not args.no_dsp)
    print(est.table())
    if args.json:
        Path(args.json).write_text(json.dumps(est.to_dict(), indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    """Synthesize the corpus (or refit stored records) and write ``resource_model.json``."""
    from fpgaq.calibrate import run_calibration

    out = Path(args.output)
    if out.exists() and any(out.iterdir()) and not args.force and not args.refit:
        fail(f"{out} is not empty; pass --force to update it, or choose another -o")
    run_calibration(
        flows=args.flow or ["xc7"],
        n_fit=args.fit,
        n_holdout=args.holdout,
        n_big=args.big,
        data_dir=out,
        resynthesize=not args.refit,
    )
    print(
        f"wrote {out / 'resource_model.json'}; use it with FPGAQ_RESOURCE_MODEL={out / 'resource_model.json'} "
        "(or regenerate the shipped one with -o fpgaq/data in a source checkout)"
    )
    return 0


def run_qtools(args: argparse.Namespace) -> int:
    """Print the data type map and energy table (and write them as JSON with ``--json``)."""
    from fpgaq.qtools import REFERENCES, QTools, format_energy_table

    out = Path(args.json_out) if args.json_out else None
    check_new_file(out, args.force)
    model = load_model(args)
    reference = {}
    if args.reference:
        kq, ka = REFERENCES[args.reference]
        reference = {"keras_quantizer": kq, "keras_accumulator": ka, "for_reference": True}
    qt = QTools(
        model,
        source_quantizers=args.input_quantizer,
        is_inference=args.is_inference,
        weights_path=args.weights_path,
        **reference,
    )
    energy = qt.pe(
        parameters_on_memory=args.parameters_on_memory,
        activations_on_memory=args.activations_on_memory,
        min_sram_size=args.min_sram_size,
        rd_wr_on_io=not args.no_rd_wr_on_io,
    )
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
