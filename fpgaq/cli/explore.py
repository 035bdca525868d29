"""``fpgaq sweep MODEL --grid sweep.yaml``: the command-line face of :mod:`fpgaq.sweep`.

Wiring into ``fpgaq/cli.py`` is two lines::

    from fpgaq import sweep_cli
    sweep_cli.add_parser(sub)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fpgaq.model_io import load_model

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to an ``add_subparsers()`` object; returns its parser."""
    p = subparsers.add_parser(
        "sweep",
        help="estimate a grid of precisions and back-end options, keep the Pareto front (LUT, latency, accuracy)",
        description="Estimate every point of a precision x reuse x pipelining x multiplier grid in milliseconds, "
        "discard points over the device budget or latency bound, optionally score accuracy with the bit-exact "
        "reference and synthesize Pareto points with Yosys.",
    )
    p.add_argument("model", help="path to a quantized .keras model")
    p.add_argument("--grid", required=True, help="sweep grid (YAML): device, backend, budget, grid: {...}")
    p.add_argument("-c", "--config", default=None, help="conversion config (YAML) applied before sweeping")
    p.add_argument("--data", default=None, help="NPZ with arrays x (inputs) and y (labels or one-hot) for accuracy")
    p.add_argument("--synthesize", type=int, default=0, metavar="N", help="synthesize up to N Pareto points (Yosys)")
    p.add_argument("-o", "--out", default=None, help="directory for sweep.csv, sweep.json and pareto.png")
    p.add_argument("--force", action="store_true", help="write into an existing non-empty --out directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _fail(message: str) -> int:
    print(f"fpgaq sweep: {message}", file=sys.stderr)
    return 2


def _load_data(path: str) -> tuple[Any, Any]:
    import numpy as np

    with np.load(path) as npz:
        missing = [k for k in ("x", "y") if k not in npz.files]
        if missing:
            raise ValueError(
                f"{path!r} has arrays {', '.join(npz.files) or 'none'} but needs {' and '.join(missing)}; save it "
                "with numpy.savez(path, x=inputs, y=labels)"
            )
        return npz["x"], npz["y"]


def run(args: argparse.Namespace) -> int:
    """Run the sweep described by ``args``; 0 on success, 2 on bad input."""
    from fpgaq.config import ConfigError
    from fpgaq.ir.trace import UnsupportedLayerError
    from fpgaq.sweep import SweepError, load_grid, sweep

    out = Path(args.out) if args.out else None
    if out is not None and out.exists():
        if not out.is_dir():
            return _fail(f"--out {str(out)!r} exists and is not a directory; choose another path")
        if any(out.iterdir()) and not args.force:
            return _fail(f"--out {str(out)!r} is not empty; pass --force to write into it, or choose a new directory")
    if args.synthesize < 0:
        return _fail(f"--synthesize must be >= 0, got {args.synthesize}")
    try:
        grid = load_grid(args.grid)
    except SweepError as err:
        return _fail(str(err))
    data = None
    if args.data is not None:
        try:
            data = _load_data(args.data)
        except (OSError, ValueError) as err:
            return _fail(f"--data: {err}")

    import fpgaq.layers  # noqa: F401  (registers the layers for loading)

    try:
        model = load_model(args.model)
    except (OSError, ValueError) as err:
        return _fail(f"cannot load {args.model!r}: {err}")
    try:
        result = sweep(
            model,
            grid,
            data=data,
            synthesize=args.synthesize,
            out_dir=out,
            progress=not args.no_progress,
            config=args.config,
        )
    except (SweepError, ConfigError, UnsupportedLayerError) as err:
        return _fail(str(err))
    print(result.table())
    t = result.timing
    print(f"estimated {len(result.points)} points in {t['estimate']:.2f} s ({t['points_per_s']:.0f} points/s)")
    if out is not None:
        print(f"wrote {out / 'sweep.csv'}, {out / 'sweep.json'}, {out / 'pareto.png'}")
    return 0
