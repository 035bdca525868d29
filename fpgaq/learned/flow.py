"""The learned-precision flow behind ``fpgaq train`` and ``fpgaq pareto``.

``train_point`` takes a float model (its learned twin is made and calibrated) or a
model that already has ``learned_bits`` quantizers, trains it against ``beta`` times
its LUT cost, and records what a user chooses by: accuracy, the surrogate LUTs, the
resource model's estimate of the converted design.  ``pareto`` runs one such
training per beta as an Optuna study, so that several machines can share the work
through one database; every finished point is estimated, the accuracy/LUT front is
kept, and the front's designs can be synthesized with Yosys.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from fpgaq.autoq.costs import pareto_mask
from fpgaq.keras_walk import walk_layers
from fpgaq.learned.cost import model_cost
from fpgaq.learned.model import LearnedPrecisionError, calibrate_ranges, learned_quantizers, to_learned
from fpgaq.learned.training import train_learned
from fpgaq.output_dirs import write_directory
from fpgaq.quantizers import BaseQuantizer
from fpgaq.train import accuracy

__all__ = ["PRECISIONS", "Data", "ParetoPoint", "estimate_design", "pareto", "prepare", "train_point"]

PRECISIONS = ("learned",)


@dataclasses.dataclass
class Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _fixed_quantizers(model: keras.Model) -> list[str]:
    found = []
    for visit in walk_layers(model):
        layer = visit.layer
        for q in [*getattr(layer, "get_quantizers", list)(), getattr(layer, "activation", None)]:
            if isinstance(q, BaseQuantizer) and not hasattr(q, "learns_range"):
                found.append(f"{visit.cls} {layer.name!r}: {q}")
    return found


def prepare(model: keras.Model, x_calibration: np.ndarray, precision: str = "learned", **twin: Any) -> keras.Model:
    """The model to train: a float model's calibrated learned twin, or the model itself if it already learns."""
    if precision not in PRECISIONS:
        raise LearnedPrecisionError(
            f"--precision {precision!r} is not supported; supported: {', '.join(PRECISIONS)} "
            "(for fixed bit widths use `fpgaq search` or QAT with your own quantizers)"
        )
    if learned_quantizers(model):
        return model
    fixed = _fixed_quantizers(model)
    if fixed:
        raise LearnedPrecisionError(
            f"model {model.name!r} already has fixed quantizers ({'; '.join(fixed[:3])}"
            f"{' ...' if len(fixed) > 3 else ''}); learned precision starts from the float model, or from "
            "`fpgaq ptq MODEL --form learned`"
        )
    learned = to_learned(model, **twin)
    calibrate_ranges(learned, x_calibration)
    return learned


def estimate_design(model: keras.Model, device: str = "xc7a100t") -> dict[str, Any]:
    """The converted design's RTL estimate (LUT, FF, latency) without DSPs, as the LUT fronts are compared."""
    from fpgaq.design import convert

    est = convert(model).estimate(device=device, backend="rtl", use_dsp=False)
    return {"lut": float(est.total.lut), "ff": float(est.total.ff), "latency_cycles": int(est.total.latency_cycles)}


def train_point(
    model: keras.Model,
    data: Data,
    beta: float | tuple[float, float],
    epochs: int = 60,
    precision: str = "learned",
    seed: int = 0,
    estimate: bool = True,
    verbose: int = 0,
    **options: Any,
) -> tuple[keras.Model, dict[str, Any]]:
    """Train one learned-precision model; returns it (at its last epoch) and its record."""
    keras.utils.set_random_seed(seed)
    learned = prepare(model, data.x_train, precision)
    result = train_learned(
        learned,
        data.x_train,
        data.y_train,
        data.x_test,
        data.y_test,
        beta=beta,
        epochs=epochs,
        seed=seed,
        verbose=verbose,
        **options,
    )
    record: dict[str, Any] = {
        "beta": beta if isinstance(beta, (int, float)) else list(beta),
        "epochs": epochs,
        "accuracy": accuracy(learned, data.x_test, data.y_test),
        "surrogate_lut": model_cost(learned),
        "history": result.history,
    }
    if estimate:
        record["estimate"] = estimate_design(learned)
    return learned, record


def _write_whole(out: Path, force: bool, write: Any) -> None:
    """Write a directory whole or not at all; a non-empty one only with ``force``."""
    out = Path(out)
    if out.exists() and out.is_dir() and any(out.iterdir()) and not force:
        raise LearnedPrecisionError(f"output directory {str(out)!r} is not empty; pass --force to replace it")
    write_directory(out, write)


def save_point(out: Path, model: keras.Model, record: dict[str, Any], force: bool = False) -> None:
    """``out/model.keras`` and ``out/train.json``."""

    def write(directory: Path) -> None:
        model.save(directory / "model.keras")
        (directory / "train.json").write_text(json.dumps(record, indent=2, sort_keys=True, default=float) + "\n")

    _write_whole(Path(out), force, write)


@dataclasses.dataclass
class ParetoPoint:
    beta: float
    accuracy: float
    surrogate_lut: float
    estimate_lut: float
    model_path: str
    synth_lut: float | None = None
    synth_ff: float | None = None
    on_front: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def pareto(
    model_path: str | os.PathLike[str],
    data: Data,
    betas: Sequence[float],
    out: str | os.PathLike[str],
    epochs: int = 60,
    storage: str | None = None,
    study_name: str = "fpgaq-pareto",
    synthesize: int = 0,
    force: bool = False,
    seed: int = 0,
    verbose: int = 0,
    weights: str | None = None,
    **options: Any,
) -> list[ParetoPoint]:
    """One learned-precision training per beta (an Optuna study), the front, and Yosys on its first points."""
    import optuna

    from fpgaq.autoq.storage import open_storage, open_study, storage_url
    from fpgaq.model_io import load_model

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force and storage is None:
        raise LearnedPrecisionError(f"output directory {str(out)!r} is not empty; pass --force to replace it")
    bad = [b for b in betas if not (isinstance(b, (int, float)) and math.isfinite(b) and b >= 0)]
    if bad or not betas:
        raise LearnedPrecisionError(
            f"--betas {list(betas)!r}: give one or more non-negative numbers, e.g. 1e-6,1e-5,1e-4"
        )
    (out / "points").mkdir(parents=True, exist_ok=True)
    url = storage_url(storage)
    study = open_study(open_storage(url), study_name, optuna.samplers.RandomSampler(seed=seed), url)
    done = {float(t.params.get("beta", -1)) for t in study.trials}
    for b in betas:
        if float(b) not in done:
            study.enqueue_trial({"beta": float(b)}, skip_if_exists=True)

    def objective(trial: Any) -> tuple[float, float]:
        beta = trial.suggest_float("beta", 0.0, 1.0)
        model = load_model(model_path, weights=weights)
        learned, record = train_point(model, data, beta, epochs=epochs, seed=seed, verbose=verbose, **options)
        target = out / "points" / f"beta_{beta:.3g}"
        save_point(target, learned, record, force=True)
        trial.set_user_attr("model_path", str(target / "model.keras"))
        trial.set_user_attr("surrogate_lut", record["surrogate_lut"])
        return record["accuracy"], record["estimate"]["lut"]

    waiting = sum(1 for t in study.trials if t.state == optuna.trial.TrialState.WAITING)
    if waiting:
        study.optimize(objective, n_trials=waiting)
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    points = [
        ParetoPoint(
            beta=float(t.params["beta"]),
            accuracy=float(t.values[0]),
            surrogate_lut=float(t.user_attrs.get("surrogate_lut", float("nan"))),
            estimate_lut=float(t.values[1]),
            model_path=str(t.user_attrs.get("model_path", "")),
        )
        for t in finished
    ]
    for p, keep in zip(points, pareto_mask([p.accuracy for p in points], [p.estimate_lut for p in points])):
        p.on_front = keep
    front = sorted((p for p in points if p.on_front), key=lambda p: p.estimate_lut)
    for p in front[: max(0, synthesize)]:
        p.synth_lut, p.synth_ff = _synthesize(p.model_path)
    _write_results(out, sorted(points, key=lambda p: p.beta))
    return points


def _synthesize(model_path: str) -> tuple[float, float]:
    from fpgaq.design import convert
    from fpgaq.model_io import load_model
    from fpgaq.sim.synth import synthesize_project

    with tempfile.TemporaryDirectory() as tmp:
        convert(load_model(model_path)).write_rtl(Path(tmp) / "rtl")
        result, _ = synthesize_project(Path(tmp) / "rtl", device="xc7", dsp=False)
        return float(result.luts), float(result.ffs)


def _write_results(out: Path, points: list[ParetoPoint]) -> None:
    import csv

    from fpgaq.figures import figure, save_figure

    rows = [p.to_dict() for p in points]
    (out / "pareto.json").write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")
    with (out / "pareto.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["beta"])
        writer.writeheader()
        writer.writerows(rows)
    fig = figure(6, 4)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter([p.estimate_lut for p in points], [100 * p.accuracy for p in points], label="estimate", alpha=0.6)
    synth = [p for p in points if p.synth_lut is not None]
    if synth:
        ax.scatter([p.synth_lut for p in synth], [100 * p.accuracy for p in synth], marker="x", label="Yosys")
    ax.set_xscale("log")
    ax.set_xlabel("LUTs")
    ax.set_ylabel("accuracy (%)")
    ax.legend()
    save_figure(fig, out / "pareto.png")
