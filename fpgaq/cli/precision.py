"""Precision commands: ``fpgaq ptq`` (post-training calibration), ``fpgaq train`` and ``fpgaq pareto`` (learned
precision).

``fpgaq ptq`` chooses every tensor's fixed-point range of a float model from calibration data.

Named ``ptq`` (post-training quantization) so as not to clash with ``fpgaq
calibrate``, which fits the resource model.  The output directory holds
``model.keras`` (the quantized model, loadable after ``import fpgaq``),
``ptq.json`` (settings, per-layer choices and scores, histograms),
``profile.html`` (the numerical profile) and ``config.yml`` (the conversion
config that types the model input as calibrated: ``fpgaq convert
OUT/model.keras -c OUT/config.yml``).  The files are written in a scratch
directory beside ``OUT``, which takes ``OUT``'s place only when all of them are complete.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fpgaq.cli._common import add_command, add_model_argument, check_out_dir, fail, load_arrays, load_model

__all__ = ["register", "register_learning", "run_pareto", "run_ptq", "run_train"]

_DATA_HELP = "NPZ with x_train (calibration) and optionally y_train, x_test, y_test (accuracy)"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ptq``, ``train`` and ``pareto`` to the ``fpgaq`` sub-commands."""
    _register_ptq(subparsers)
    register_learning(subparsers)


def _register_ptq(subparsers: argparse._SubParsersAction) -> None:
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
    p.add_argument("--force", action="store_true", help="replace an existing non-empty --out directory")


def run_ptq(args: argparse.Namespace) -> int:
    """Calibrate the model of ``args``, print the per-layer table and write the output directory."""
    import numpy as np

    from fpgaq.output_dirs import write_directory
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
    written: list[Path] = []
    write_directory(out, lambda scratch: written.extend(write_result(result, scratch)))
    print(f"wrote {', '.join(str(out / p.name) for p in written)}")
    return 0


# ---------------------------------------------------------------- learned precision: train and pareto
def _learning_data(path: str):  # returns fpgaq.learned.flow.Data (imported lazily)
    from fpgaq.learned.flow import Data

    arrays = load_arrays(path, ("x_train", "y_train", "x_test", "y_test"))
    return Data(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"])


def _learning_arguments(p: argparse.ArgumentParser) -> None:
    add_model_argument(p, help="a float .keras model (its learned twin is trained) or one with learned_bits")
    p.add_argument("--data", required=True, help="NPZ with x_train, y_train, x_test, y_test (labels: class ids)")
    p.add_argument("--epochs", type=int, default=60, help="training epochs (60)")
    p.add_argument("--batch-size", type=int, default=256, help="batch size (256)")
    p.add_argument("--learning-rate", type=float, default=3e-3, help="Adam learning rate, cosine-decayed (3e-3)")
    p.add_argument("--seed", type=int, default=0, help="training seed (0)")
    p.add_argument("-o", "--out", required=True, help="output directory")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out directory")


def _beta(text: str) -> float | tuple[float, float]:
    parts = text.split(":")
    try:
        values = [float(v) for v in parts]
    except ValueError:
        fail(f"--beta {text!r}: give a number (1e-5) or a ramp START:END (1e-6:1e-4)")
    if len(values) not in (1, 2) or any(not (v >= 0) for v in values):
        fail(f"--beta {text!r}: give a non-negative number (1e-5) or a ramp START:END (1e-6:1e-4)")
    return values[0] if len(values) == 1 else (values[0], values[1])


def register_learning(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``pareto`` to the ``fpgaq`` sub-commands."""
    from fpgaq.learned.flow import PRECISIONS

    p = add_command(
        subparsers,
        "train",
        run_train,
        help="train every weight's and activation's bit width against the LUT cost (learned precision)",
        description="Quantization-aware training with learned precision: a float model becomes its learned_bits "
        "twin (ranges calibrated on x_train), then trains on cross-entropy + BETA x the surrogate LUT cost. Writes "
        "OUT/model.keras (loadable after `import fpgaq`) and OUT/train.json (accuracy, surrogate LUTs, estimate).",
    )
    _learning_arguments(p)
    p.add_argument("--precision", default="learned", choices=PRECISIONS, help="what trains (learned)")
    p.add_argument("--beta", default="1e-5", help="LUT weight: a number, or a geometric ramp START:END (1e-5)")
    p = add_command(
        subparsers,
        "pareto",
        run_pareto,
        help="train one learned-precision model per beta (an Optuna study) and keep the accuracy/LUT front",
        description="One learned-precision training per --betas value, as trials of an Optuna study (share "
        "--storage between machines to split the work), every point estimated, the front written as "
        "pareto.csv, pareto.json and pareto.png, its cheapest --synthesize points synthesized with Yosys.",
    )
    _learning_arguments(p)
    p.add_argument("--betas", required=True, help="comma-separated betas, e.g. 1e-6,1e-5,1e-4")
    p.add_argument("--storage", default=None, help="Optuna storage (a SQLite path or database URL) to share")
    p.add_argument("--study-name", default="fpgaq-pareto", help="Optuna study name (fpgaq-pareto)")
    p.add_argument("--synthesize", type=int, default=0, help="synthesize this many front points with Yosys (0)")


def _check_counts(args: argparse.Namespace) -> None:
    if args.epochs < 1:
        fail(f"--epochs must be >= 1, got {args.epochs}")
    if args.batch_size < 1:
        fail(f"--batch-size must be >= 1, got {args.batch_size}")


def run_train(args: argparse.Namespace) -> int:
    from fpgaq.learned.flow import save_point, train_point

    out = Path(args.out)
    check_out_dir(out, args.force)
    _check_counts(args)
    beta = _beta(args.beta)
    data = _learning_data(args.data)
    model, record = train_point(
        load_model(args),
        data,
        beta,
        epochs=args.epochs,
        precision=args.precision,
        seed=args.seed,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
    )
    save_point(out, model, record, force=True)
    est = record["estimate"]
    print(
        f"accuracy {100 * record['accuracy']:.2f}%  surrogate {record['surrogate_lut']:,.0f} LUT  "
        f"estimate {est['lut']:,.0f} LUT, {est['ff']:,.0f} FF, {est['latency_cycles']} cycles"
    )
    print(f"wrote {out / 'model.keras'} and {out / 'train.json'}")
    return 0


def run_pareto(args: argparse.Namespace) -> int:
    from fpgaq.learned.flow import pareto

    out = Path(args.out)
    if args.storage is None:
        check_out_dir(out, args.force)
    _check_counts(args)
    try:
        betas = [float(b) for b in args.betas.split(",") if b.strip()]
    except ValueError:
        fail(f"--betas {args.betas!r}: give comma-separated numbers, e.g. 1e-6,1e-5,1e-4")
    if args.synthesize < 0:
        fail(f"--synthesize must be >= 0, got {args.synthesize}")
    load_model(args)  # a model that does not load fails before any training
    points = pareto(
        args.model,
        _learning_data(args.data),
        betas,
        out,
        epochs=args.epochs,
        storage=args.storage,
        study_name=args.study_name,
        synthesize=args.synthesize,
        force=args.force,
        seed=args.seed,
        weights=args.weights,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
    )
    print(f"{'beta':>9}  {'accuracy':>8}  {'surrogate':>9}  {'estimate':>8}  {'Yosys':>6}  front")
    for p in sorted(points, key=lambda p: p.beta):
        synth = f"{p.synth_lut:6.0f}" if p.synth_lut is not None else "     -"
        print(
            f"{p.beta:9.2e}  {100 * p.accuracy:7.2f}%  {p.surrogate_lut:9.0f}  {p.estimate_lut:8.0f}  {synth}  "
            f"{'*' if p.on_front else ''}"
        )
    print(f"wrote {out / 'pareto.csv'}, {out / 'pareto.json'} and {out / 'pareto.png'}")
    return 0
