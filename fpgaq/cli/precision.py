"""``fpgaq ptq``: choose every tensor's fixed-point range of a float model from calibration data.

Named ``ptq`` (post-training quantization) so as not to clash with ``fpgaq
calibrate``, which fits the resource model.  The output directory holds
``model.keras`` (the quantized model, loadable after ``import fpgaq``),
``ptq.json`` (settings, per-layer choices and scores, histograms),
``profile.html`` (the numerical profile) and ``config.yml`` (the conversion
config that types the model input as calibrated: ``fpgaq convert
OUT/model.keras -c OUT/config.yml``).  The files are written in a scratch
directory beside ``OUT`` and moved in only when all of them are complete.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from fpgaq.cli._common import add_command, add_model_argument, check_out_dir, fail, load_arrays, load_model

__all__ = ["register", "run_ptq"]

_DATA_HELP = "NPZ with x_train (calibration) and optionally y_train, x_test, y_test (accuracy)"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ptq`` to the ``fpgaq`` sub-commands."""
    from fpgaq.ptq import FORMS, GRANULARITIES, METHODS

    p = add_command(
        subparsers,
        "ptq",
        run_ptq,
        help="post-training calibration: per-layer/channel fixed-point ranges from data (max, percentile, KL)",
        description="Calibrate a float Keras model: each kernel, bias and layer output gets a power-of-two range "
        "from the calibration data (max, percentile or TensorRT's KL divergence) and the fraction bits the "
        "--bits budget leaves.  Writes the quantized model, ptq.json, profile.html and config.yml.",
    )
    add_model_argument(p, help="path to the float .keras model")
    p.add_argument("--data", required=True, help=_DATA_HELP)
    p.add_argument("--method", default="max", choices=METHODS, help="how activations' ranges are chosen (max)")
    p.add_argument(
        "--weight-method", default="max", choices=METHODS, help="how kernels' and biases' ranges are chosen (max)"
    )
    p.add_argument("--percentile", type=float, default=99.99, help="percentile of |x| for --method percentile")
    p.add_argument("--bits", type=int, default=8, help="bits per tensor, sign included (default 8)")
    p.add_argument("--granularity", default="layer", choices=GRANULARITIES, help="one range per layer or channel")
    p.add_argument("--form", default="qkeras", choices=FORMS, help="QKeras-style quantizers or learned_bits (QAT)")
    p.add_argument("--samples", type=int, default=2000, help="calibration samples drawn from x_train (2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration subsample (0)")
    p.add_argument("-o", "--out", required=True, help="directory for model.keras, ptq.json, profile.html, config.yml")
    p.add_argument("--force", action="store_true", help="write into an existing non-empty --out directory")


def run_ptq(args: argparse.Namespace) -> int:
    """Calibrate the model of ``args``, print the per-layer table and write the output directory."""
    import numpy as np

    from fpgaq.ptq import calibrate_model, write_result

    out = Path(args.out)
    check_out_dir(out, args.force)
    if args.samples < 1:
        fail(f"--samples must be >= 1, got {args.samples}")
    arrays = load_arrays(args.data, ("x_train",), optional=("y_train", "x_test", "y_test"))
    x = arrays["x_train"]
    keep = np.arange(len(x))
    if len(x) > args.samples:
        keep = np.sort(np.random.default_rng(args.seed).permutation(len(x))[: args.samples])
    if "x_test" in arrays:
        x_eval, y_eval = arrays["x_test"], arrays.get("y_test")
    else:
        x_eval, y_eval = x[keep], arrays["y_train"][keep] if "y_train" in arrays else None
    result = calibrate_model(
        load_model(args),
        x[keep],
        method=args.method,
        weight_method=args.weight_method,
        bits=args.bits,
        percentile=args.percentile,
        granularity=args.granularity,
        form=args.form,
        x_test=x_eval,
        y_test=y_eval,
    )
    print(result.table())
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        written = write_result(result, scratch)
        out.mkdir(exist_ok=True)
        for path in written:
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"wrote {', '.join(str(out / p.name) for p in written)}")
    return 0
