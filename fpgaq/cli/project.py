"""``fpgaq demo``, ``project`` and ``report``: the whole flow into a project directory, and its HTML report.

``demo`` and ``project`` exit with 1 when a step's results disagree with
the reference.  matplotlib and jinja2 are imported when a command runs, so
``fpgaq --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fpgaq.cli._common import add_command, add_model_argument, load_arrays, load_model

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demo``, ``project`` and ``report`` to the ``fpgaq`` sub-commands."""
    demo = add_command(
        subparsers,
        "demo",
        run_demo,
        help="the whole flow on the jet tagger: QAT, HLS + C-sim, RTL + co-sim, estimate, Yosys, QTools, sweep, report",
    )
    demo.add_argument("--quick", action="store_true", help="a smaller model, few epochs and samples (1-3 minutes)")
    demo.add_argument("--epochs", type=int, default=None, help="training epochs (default 30, or 6 with --quick)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("-o", "--out", default=None, help="project directory to write (default ./fpgaq-demo)")
    demo.add_argument("--force", action="store_true", help="write into a non-empty --out directory")

    pj = add_command(
        subparsers,
        "project",
        run_project,
        help="your model's project: HLS + C-sim, RTL + co-sim, estimate, Yosys, QTools, sweep and report.html",
    )
    add_model_argument(pj, help="a .keras model (or a QKeras .h5)")
    pj.add_argument("-o", "--out", required=True, help="project directory to create")
    pj.add_argument("--data", default=None, help="NPZ with inputs x (and labels y) to verify with and score accuracy")
    pj.add_argument("--device", default="xc7a100t", help="device preset for the estimate and Yosys (default xc7a100t)")
    pj.add_argument("-n", "--samples", type=int, default=300, help="samples through C-sim and co-sim (default 300)")
    pj.add_argument("--grid", default=None, help="sweep grid (YAML; default a small one)")
    pj.add_argument("--no-sweep", action="store_true", help="skip the sweep")
    pj.add_argument("--seed", type=int, default=0)
    pj.add_argument("--force", action="store_true", help="write into a non-empty --out directory")

    rp = add_command(
        subparsers,
        "report",
        run_report,
        help="write DIR/report.html: graph, types, resources, verification, energy and sweep of a project",
        description=(
            "Read the records of a project directory (written by `fpgaq demo -o DIR`) and write one "
            "self-contained HTML page (inline CSS, images embedded) with the typed graph, a per-layer table, "
            "resource charts, the verification record, the QTools energy estimate and the sweep's Pareto plot."
        ),
    )
    rp.add_argument("directory", help="project directory (holds project.json)")
    rp.add_argument("-o", "--output", default=None, help="HTML file to write (default DIR/report.html)")


def run_demo(args: argparse.Namespace) -> int:
    """The whole flow on the jet tagger: 0 when every step is bit-exact, 1 otherwise."""
    from fpgaq.demo import run_demo as demo

    results = demo(quick=args.quick, epochs=args.epochs, seed=args.seed, out=args.out, force=args.force)
    return 0 if results.get("all_exact", False) else 1


def run_project(args: argparse.Namespace) -> int:
    """The user's model through the whole flow: 0 when every step is bit-exact, 1 otherwise."""
    from fpgaq.project import build_project

    model = load_model(args)
    x = y = None
    if args.data:
        arrays = load_arrays(args.data, ("x",), optional=("y",))
        x, y = arrays["x"], arrays.get("y")
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
    return 0 if results.get("all_exact") else 1


def run_report(args: argparse.Namespace) -> int:
    """Write the project's self-contained HTML report."""
    from fpgaq.report import write_report

    out = write_report(args.directory, args.output)
    print(f"wrote {Path(out).resolve()}")
    return 0
