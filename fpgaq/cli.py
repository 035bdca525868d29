"""The ``fpgaq`` command.

Subcommands that a later milestone delivers are listed, and say which
capability they are waiting for, instead of pretending to work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]

# Subcommands not built yet, and what will provide them.
_PLANNED = {
    "convert": "conversion of a model to HLS C++ or Verilog RTL (typed graph IR and back ends)",
    "csim": "HLS C-simulation with g++ (HLS back end)",
    "cosim": "cocotb + Verilator co-simulation (RTL back end)",
    "synth": "Yosys synthesis reports (resource model)",
    "calibrate": "resource-model calibration against Yosys (resource model)",
    "estimate": "resource and latency estimates (resource model)",
    "sweep": "design-space sweeps (resource model)",
    "qtools": "QTools data type map and energy estimate",
    "search": "automatic heterogeneous quantization search (AutoQ)",
    "report": "the HTML project report",
}


def _cmd_demo(args: argparse.Namespace) -> int:
    from fpgaq.demo import run_demo

    run_demo(quick=args.quick, epochs=args.epochs, seed=args.seed, out=args.out)
    return 0


def _cmd_qstats(args: argparse.Namespace) -> int:
    import keras

    import fpgaq.layers  # noqa: F401  (registers the layers for loading)
    from fpgaq.qreport import quantization_report

    try:
        model = keras.models.load_model(args.model, compile=False)
    except (OSError, ValueError) as err:
        print(f"fpgaq qstats: cannot load {args.model!r}: {err}", file=sys.stderr)
        return 2
    print(quantization_report(model))
    return 0


def _planned(name: str):
    def run(args: argparse.Namespace) -> int:
        print(
            f"fpgaq {name}: not available in this version of fpgaq; it is planned as part of {_PLANNED[name]}.",
            file=sys.stderr,
        )
        return 3

    return run


def build_parser() -> argparse.ArgumentParser:
    from fpgaq import __version__

    parser = argparse.ArgumentParser(
        prog="fpgaq", description="Quantized neural networks to proven-correct FPGA firmware."
    )
    parser.add_argument("--version", action="version", version=f"fpgaq {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="train the jet-tagging MLP with QAT and print its quantization report")
    demo.add_argument("--quick", action="store_true", help="small data and few epochs (about a minute)")
    demo.add_argument("--epochs", type=int, default=None, help="training epochs (default 30, or 6 with --quick)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("-o", "--out", default=None, help="directory to save the trained models (.keras) and report")
    demo.set_defaults(func=_cmd_demo)

    qs = sub.add_parser("qstats", help="print the per-layer quantization report of a saved .keras model")
    qs.add_argument("model", help="path to a model saved with model.save('m.keras')")
    qs.set_defaults(func=_cmd_qstats)

    for name, what in _PLANNED.items():
        p = sub.add_parser(name, help=f"(planned) {what}", add_help=True)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=_planned(name))
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
