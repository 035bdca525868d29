"""``fpgaq sweep`` and ``fpgaq search``: explore precisions and back-end options, keep the Pareto front.

``sweep`` estimates a grid (:mod:`fpgaq.sweep`); ``search`` trains quantized
variants of a float model (:mod:`fpgaq.autoq`).  Many workers, many machines:
start the same ``search`` with the same ``--storage`` database URL and
``--study`` name on every worker; each takes new trials from the shared
study until it holds ``--trials`` trials.

The search file (``search --config autoq.yaml``) holds AutoQ's settings::

    goal: {type: energy, params: {delta_p: 8.0, delta_n: 8.0, rate: 2.0, stress: 1.0}}
    quantization_config: {kernel: {...}, bias: {...}, activation: {...}, linear: {...}}
    limit: {Dense: [4, 8, 4], default: 8}
    tune_filters: none            # none | layer | block
    tune_filters_exceptions: "^output$"
    groups: ["fc[23]"]
    blocks: ["fc1", "fc[23]", "output"]
    schedule_block: sequential    # sequential | cost
    sampler: tpe                  # tpe | nsga2 | random
    epochs: 3
    batch_size: 256
    learning_rate: 0.003
    seed: 0
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from fpgaq.cli._common import add_command, add_model_argument, check_out_dir, fail, load_arrays, load_model

__all__ = ["CONFIG_KEYS", "QUICK", "load_search_config", "register"]

#: Keys of the search file and what each takes (used in error messages).
CONFIG_KEYS: dict[str, str] = {
    "goal": "{type: energy|bits|fpga, params: {...}}",
    "quantization_config": "{kernel|bias|activation|linear: {quantizer: bits}}",
    "limit": "{layer name|regex|class|default: bits, [kernel, bias, activation] or {field: ...}}",
    "tune_filters": "none, layer or block",
    "tune_filters_exceptions": "a regular expression of layers not to resize",
    "groups": "a list of regular expressions (or a mapping label -> regex)",
    "blocks": "a list of regular expressions",
    "schedule_block": "sequential or cost",
    "sampler": "tpe, nsga2 or random",
    "transfer_weights": "true or false",
    "prune_margin": "a fraction >= 0",
    "epochs": "an integer >= 1",
    "batch_size": "an integer >= 1",
    "learning_rate": "a number > 0",
    "seed": "an integer",
}
_FIT_KEYS = ("epochs", "batch_size", "learning_rate")

#: What ``--quick`` changes: few epochs and at most this many training samples.
QUICK = {"epochs": 2, "max_train": 6000}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sweep`` and ``search`` to the ``fpgaq`` sub-commands."""
    sw = add_command(
        subparsers,
        "sweep",
        run_sweep,
        help="estimate a grid of precisions and back-end options, keep the Pareto front (LUT, latency, accuracy)",
        description="Estimate every point of a precision x reuse x pipelining x multiplier grid in milliseconds, "
        "discard points over the device budget or latency bound, optionally score accuracy with the bit-exact "
        "reference and synthesize Pareto points with Yosys.",
    )
    add_model_argument(sw, help="path to a quantized .keras model")
    sw.add_argument("--grid", required=True, help="sweep grid (YAML): device, backend, budget, grid: {...}")
    sw.add_argument("-c", "--config", default=None, help="conversion config (YAML) applied before sweeping")
    sw.add_argument("--data", default=None, help="NPZ with arrays x (inputs) and y (labels or one-hot) for accuracy")
    sw.add_argument("--synthesize", type=int, default=0, metavar="N", help="synthesize up to N Pareto points (Yosys)")
    sw.add_argument("-o", "--out", default=None, help="directory for sweep.csv, sweep.json and pareto.png")
    sw.add_argument("--force", action="store_true", help="write into an existing non-empty --out directory")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar")

    se = add_command(
        subparsers,
        "search",
        run_search,
        help="AutoQ: search per-layer quantizers (accuracy vs energy, bits or FPGA cost), keep the Pareto front",
        description="Automatic heterogeneous quantization (AutoQKeras' workflow on Optuna): trains quantized "
        "variants of a float model, keeps the Pareto front of accuracy against cost and the best model by the "
        "forgiving factor.  Several workers share a search through --storage and --study.",
    )
    add_model_argument(se, help="path to the float .keras model")
    se.add_argument(
        "--data",
        required=True,
        help="NPZ with x and y (a validation split is held out), or x_train, y_train, x_val, y_val",
    )
    se.add_argument("-c", "--config", default=None, help="search settings (YAML), see `fpgaq.cli.explore`")
    se.add_argument("--trials", type=int, default=20, help="trials of the whole study (all workers), default 20")
    se.add_argument("--timeout", type=float, default=None, help="stop this worker after this many seconds")
    se.add_argument("--storage", default=None, help="Optuna storage: a SQLite file or a database URL (default memory)")
    se.add_argument("--study", default=None, help="study name shared by the workers (default autoq-<model name>)")
    se.add_argument("--epochs", type=int, default=None, help="epochs of training per trial (overrides the config)")
    se.add_argument("--quick", action="store_true", help=f"{QUICK['epochs']} epochs, <= {QUICK['max_train']} samples")
    se.add_argument("-o", "--out", default=None, help="directory for pareto.csv, trials.csv, pareto.png, best.keras")
    se.add_argument("--force", action="store_true", help="write into an existing non-empty --out directory")
    se.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_sweep(args: argparse.Namespace) -> int:
    """Run the sweep described by ``args`` and print its Pareto front."""
    from fpgaq.sweep import load_grid, sweep

    out = Path(args.out) if args.out else None
    check_out_dir(out, args.force)
    if args.synthesize < 0:
        fail(f"--synthesize must be >= 0, got {args.synthesize}")
    grid = load_grid(args.grid)
    data = None
    if args.data is not None:
        arrays = load_arrays(args.data, ("x", "y"))
        data = arrays["x"], arrays["y"]
    result = sweep(
        load_model(args),
        grid,
        data=data,
        synthesize=args.synthesize,
        out_dir=out,
        progress=not args.no_progress,
        config=args.config,
    )
    print(result.table())
    t = result.timing
    print(f"estimated {len(result.points)} points in {t['estimate']:.2f} s ({t['points_per_s']:.0f} points/s)")
    if out is not None:
        print(f"wrote {out / 'sweep.csv'}, {out / 'sweep.json'}, {out / 'pareto.png'}")
    return 0


def load_search_config(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The search file as a dict, with unknown keys rejected (AutoQ validates the values)."""
    if path is None:
        return {}
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        fail(f"--config: cannot read {os.fspath(path)!r}: {err.strerror or err}")
    except yaml.YAMLError as err:
        fail(f"--config: {os.fspath(path)!r} is not valid YAML: {err}")
    raw = raw if raw is not None else {}
    if not isinstance(raw, dict):
        fail(f"--config: expected a mapping with keys {', '.join(CONFIG_KEYS)}, got {type(raw).__name__}")
    for key in raw:
        if key not in CONFIG_KEYS:
            fail(
                f"--config: unknown key {key!r}; the search file takes "
                + "; ".join(f"{k} ({v})" for k, v in CONFIG_KEYS.items())
            )
    return raw


def run_search(args: argparse.Namespace) -> int:
    """Run (or join) the search described by ``args`` and print its Pareto front."""
    from fpgaq.autoq import AutoQ

    out = Path(args.out) if args.out else None
    check_out_dir(out, args.force or args.storage is not None)
    if args.trials < 1:
        fail(f"--trials must be >= 1, got {args.trials}")
    settings = load_search_config(args.config)
    arrays = load_arrays(args.data, ("x_train", "y_train", "x_val", "y_val"), ("x", "y"))
    if "x" in arrays:
        x, y, validation = arrays["x"], arrays["y"], None
    else:
        x, y, validation = arrays["x_train"], arrays["y_train"], (arrays["x_val"], arrays["y_val"])
    fit_kwargs = {k: settings.pop(k) for k in _FIT_KEYS if k in settings}
    if args.quick:
        fit_kwargs["epochs"] = QUICK["epochs"]
        if len(x) > QUICK["max_train"]:
            import numpy as np

            keep = np.random.default_rng(settings.get("seed", 0)).permutation(len(x))[: QUICK["max_train"]]
            x, y = x[np.sort(keep)], y[np.sort(keep)]
    if args.epochs is not None:
        fit_kwargs["epochs"] = args.epochs

    model = load_model(args)
    try:
        search = AutoQ(model, storage=args.storage, study_name=args.study, output_dir=out, **settings)
        search.fit(
            x,
            y,
            validation_data=validation,
            n_trials=args.trials,
            timeout=args.timeout,
            progress=not args.no_progress,
            **fit_kwargs,
        )
    except TypeError as err:  # a search-file value of the wrong type, found by AutoQ or Keras
        fail(str(err))
    front = search.pareto_front(models=False)
    if not front:
        fail("no trial completed (all pruned or timed out); raise --trials or --timeout")
    best = search.best()
    print(f"\nPareto front of {search.study_name!r} ({len(search.completed())} completed trials, goal {search.goal}):")
    print(f"  {'trial':>10}  {'accuracy':>8}  {'cost':>12}  {'vs 8-bit':>8}  {'score':>7}")
    for c in front:
        mark = "  <- best" if (c.study, c.number) == (best.study, best.number) else ""
        print(f"  {c.number:>10}  {100 * c.accuracy:7.2f}%  {c.cost:12.4g}  {c.cost_ratio:7.2f}x  {c.score:7.4f}{mark}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        search.to_csv(out / "pareto.csv", pareto_only=True)
        search.to_csv(out / "trials.csv")
        search.plot(out / "pareto.png")
        search.best_model().save(os.fspath(out / "best.keras"))
        print(f"wrote {out / 'pareto.csv'}, {out / 'trials.csv'}, {out / 'pareto.png'}, {out / 'best.keras'}")
    return 0
