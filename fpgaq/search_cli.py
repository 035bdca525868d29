"""``fpgaq search MODEL.keras --data data.npz``: the command-line face of :mod:`fpgaq.autoq`.

Wiring into ``fpgaq/cli.py`` is two lines (and ``search`` leaves ``_PLANNED``)::

    from fpgaq import search_cli
    search_cli.add_parser(sub)

Many workers, many machines: start the same command with the same
``--storage`` database URL and ``--study`` name on every worker; each takes
new trials from the shared study until it holds ``--trials`` trials.

The search file (``--config autoq.yaml``) holds AutoQ's settings::

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
import sys
from pathlib import Path
from typing import Any

from fpgaq.model_io import load_model

__all__ = ["CONFIG_KEYS", "QUICK", "add_parser", "load_search_config", "run"]

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


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``search`` subcommand to an ``add_subparsers()`` object; returns its parser."""
    p = subparsers.add_parser(
        "search",
        help="AutoQ: search per-layer quantizers (accuracy vs energy, bits or FPGA cost), keep the Pareto front",
        description="Automatic heterogeneous quantization (AutoQKeras' workflow on Optuna): trains quantized "
        "variants of a float model, keeps the Pareto front of accuracy against cost and the best model by the "
        "forgiving factor.  Several workers share a search through --storage and --study.",
    )
    p.add_argument("model", help="path to the float .keras model")
    p.add_argument(
        "--data",
        required=True,
        help="NPZ with x and y (a validation split is held out), or x_train, y_train, x_val, y_val",
    )
    p.add_argument("-c", "--config", default=None, help="search settings (YAML), see `fpgaq.search_cli`")
    p.add_argument("--trials", type=int, default=20, help="trials of the whole study (all workers), default 20")
    p.add_argument("--timeout", type=float, default=None, help="stop this worker after this many seconds")
    p.add_argument("--storage", default=None, help="Optuna storage: a SQLite file or a database URL (default memory)")
    p.add_argument("--study", default=None, help="study name shared by the workers (default autoq-<model name>)")
    p.add_argument("--epochs", type=int, default=None, help="epochs of training per trial (overrides the config)")
    p.add_argument("--quick", action="store_true", help=f"{QUICK['epochs']} epochs, <= {QUICK['max_train']} samples")
    p.add_argument("-o", "--out", default=None, help="directory for pareto.csv, trials.csv, pareto.png, best.keras")
    p.add_argument("--force", action="store_true", help="write into an existing non-empty --out directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _fail(message: str) -> int:
    print(f"fpgaq search: {message}", file=sys.stderr)
    return 2


def load_search_config(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The search file as a dict, with unknown keys rejected (AutoQ validates the values)."""
    if path is None:
        return {}
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise ValueError(f"--config: cannot read {os.fspath(path)!r}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ValueError(f"--config: {os.fspath(path)!r} is not valid YAML: {err}") from None
    raw = raw if raw is not None else {}
    if not isinstance(raw, dict):
        raise ValueError(f"--config: expected a mapping with keys {', '.join(CONFIG_KEYS)}, got {type(raw).__name__}")
    for key in raw:
        if key not in CONFIG_KEYS:
            raise ValueError(
                f"--config: unknown key {key!r}; the search file takes "
                + "; ".join(f"{k} ({v})" for k, v in CONFIG_KEYS.items())
            )
    return raw


def _load_data(path: str) -> tuple[Any, Any, tuple[Any, Any] | None]:
    import numpy as np

    with np.load(path) as npz:
        names = set(npz.files)
        if {"x_train", "y_train", "x_val", "y_val"} <= names:
            return npz["x_train"], npz["y_train"], (npz["x_val"], npz["y_val"])
        if {"x", "y"} <= names:
            return npz["x"], npz["y"], None
        raise ValueError(
            f"{path!r} has arrays {', '.join(sorted(names)) or 'none'}; it needs x and y, or x_train, y_train, "
            "x_val and y_val (save it with numpy.savez(path, x=inputs, y=labels))"
        )


def run(args: argparse.Namespace) -> int:
    """Run (or join) the search described by ``args``; 0 on success, 2 on bad input."""
    from fpgaq.autoq import AutoQ, AutoQError

    out = Path(args.out) if args.out else None
    if out is not None and out.exists():
        if not out.is_dir():
            return _fail(f"--out {str(out)!r} exists and is not a directory; choose another path")
        if any(out.iterdir()) and not args.force and args.storage is None:
            return _fail(f"--out {str(out)!r} is not empty; pass --force to write into it, or choose a new directory")
    if args.trials < 1:
        return _fail(f"--trials must be >= 1, got {args.trials}")
    try:
        settings = load_search_config(args.config)
        x, y, validation = _load_data(args.data)
    except (OSError, ValueError) as err:
        return _fail(str(err) if str(err).startswith("--") else f"--data: {err}")
    fit_kwargs = {k: settings.pop(k) for k in _FIT_KEYS if k in settings}
    if args.quick:
        fit_kwargs["epochs"] = QUICK["epochs"]
        if len(x) > QUICK["max_train"]:
            import numpy as np

            keep = np.random.default_rng(settings.get("seed", 0)).permutation(len(x))[: QUICK["max_train"]]
            x, y = x[np.sort(keep)], y[np.sort(keep)]
    if args.epochs is not None:
        fit_kwargs["epochs"] = args.epochs

    import fpgaq.layers  # noqa: F401  (registers the layers for loading)

    try:
        model = load_model(args.model)
    except (OSError, ValueError) as err:
        return _fail(f"cannot load {args.model!r}: {err}")
    try:
        search = AutoQ(
            model,
            storage=args.storage,
            study_name=args.study,
            output_dir=out,
            **settings,
        )
        search.fit(
            x,
            y,
            validation_data=validation,
            n_trials=args.trials,
            timeout=args.timeout,
            progress=not args.no_progress,
            **fit_kwargs,
        )
    except (AutoQError, TypeError) as err:
        return _fail(str(err))
    front = search.pareto_front(models=False)
    if not front:
        return _fail("no trial completed (all pruned or timed out); raise --trials or --timeout")
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
