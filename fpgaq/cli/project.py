"""``fpgaq report DIR``: write the project's self-contained HTML report.

Kept apart from :mod:`fpgaq.cli` so that the command's options live next to
what they drive; ``cli.py`` only calls :func:`add_parser`.  matplotlib and
jinja2 are imported when the command runs, so ``fpgaq --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``report`` on the ``fpgaq`` subcommand parser and return its parser."""
    p = subparsers.add_parser(
        "report",
        help="write DIR/report.html: graph, types, resources, verification, energy and sweep of a project",
        description=(
            "Read the records of a project directory (written by `fpgaq demo -o DIR`) and write one "
            "self-contained HTML page (inline CSS, images embedded) with the typed graph, a per-layer table, "
            "resource charts, the verification record, the QTools energy estimate and the sweep's Pareto plot."
        ),
    )
    p.add_argument("directory", help="project directory (holds project.json)")
    p.add_argument("-o", "--output", default=None, help="HTML file to write (default DIR/report.html)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``fpgaq report``: 0 on success, 2 when the directory is not a project."""
    from fpgaq.report import ReportError, write_report

    try:
        out = write_report(args.directory, args.output)
    except ReportError as err:
        print(str(err), file=sys.stderr)
        return 2
    print(f"wrote {Path(out).resolve()}")
    return 0
