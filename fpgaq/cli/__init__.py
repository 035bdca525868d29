"""The ``fpgaq`` command: one sub-command per step of the flow (see ``fpgaq --help``).

Each family of sub-commands lives in its own module and adds itself with
``register(subparsers)``; they share :mod:`fpgaq.cli._common` (the model
argument with ``--weights``, model and NPZ loading, ``fail``).  Commands do
not catch errors: :func:`main` reports any :class:`~fpgaq.errors.FpgaqError`
(and any OSError, such as a missing file) the same way, as
``fpgaq COMMAND: message`` on stderr with exit code 2.  Exit code 1 means a
check ran and failed (C-sim, co-sim, Yosys, the demo's bit-exactness).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fpgaq.cli import convert, cost, explore, precision, project, verify
from fpgaq.errors import FpgaqError

__all__ = ["build_parser", "main"]

#: The command families, in the order ``fpgaq --help`` lists them.
FAMILIES = (project, convert, verify, cost, explore, precision)


def build_parser() -> argparse.ArgumentParser:
    """The ``fpgaq`` argument parser with every family's sub-commands."""
    from fpgaq import __version__

    parser = argparse.ArgumentParser(
        prog="fpgaq", description="Quantized neural networks to proven-correct FPGA firmware."
    )
    parser.add_argument("--version", action="version", version=f"fpgaq {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for family in FAMILIES:
        family.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``fpgaq`` command; its exit code (2 for any error it reports)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args))
    except (FpgaqError, OSError) as err:
        print(f"fpgaq {args.command}: {err}", file=sys.stderr)
        return 2
