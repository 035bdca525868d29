"""The AutoQ search: one Optuna study per block, trials trained with QAT and pruned on poor curves."""

from __future__ import annotations

import math
import os
import re
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from fpgaq.autoq.costs import bit_profile, bits_cost, forgiving_factor, goal_cost, pareto_mask
from fpgaq.autoq.results import Candidate, plot_candidates, write_csv
from fpgaq.autoq.settings import (
    FILTER_RANGE,
    SAMPLERS,
    SCHEDULES,
    SEARCHABLE_LAYERS,
    TUNE_FILTERS,
    check_regex,
    normalize_patterns,
    setting_error,
    validate_goal,
    validate_quantization_config,
)
from fpgaq.autoq.sites import (
    Site,
    assign_blocks,
    assign_groups,
    find_sites,
    limited_choices,
    merge_group_choices,
)
from fpgaq.autoq.storage import make_sampler, open_storage, open_study, storage_url
from fpgaq.autoq.training import EpochWatcher, top1_accuracy

__all__ = ["AutoQ"]


class AutoQ:
    """Automatic heterogeneous quantization of a float Keras model (see the module docstring).

    ``storage``: ``None`` (in memory), a SQLite file path, or a database URL
    (``sqlite:///autoq.db``, ``postgresql://user:pw@host/db``); with a URL,
    every worker running the same search with the same ``study_name`` shares
    the study.  ``sampler``: ``tpe`` (multi-objective TPE, default), ``nsga2``
    or ``random``, seeded with ``seed`` (mixed with the process id when the
    storage is shared, so that workers explore different points, unless
    ``worker_seed`` fixes it).  ``output_dir``: where each trained trial's
    weights are kept, so that any worker can return any trial's model without
    retraining it.
    """

    def __init__(
        self,
        model: keras.Model,
        quantization_config: Mapping[str, Mapping[str, float]] | None = None,
        goal: Mapping[str, Any] | str | None = None,
        limit: Mapping[str, Any] | None = None,
        tune_filters: str = "none",
        tune_filters_exceptions: str | None = None,
        groups: Sequence[str] | Mapping[str, str] | None = None,
        blocks: Sequence[str] | None = None,
        schedule_block: str = "sequential",
        storage: str | os.PathLike[str] | None = None,
        study_name: str | None = None,
        seed: int = 0,
        sampler: str = "tpe",
        transfer_weights: bool = True,
        prune_margin: float = 0.05,
        prune_min_trials: int = 3,
        worker_seed: int | None = None,
        output_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if not isinstance(model, keras.Model):
            raise setting_error("model", f"expected a keras.Model (the float model), got {type(model).__name__}")
        self.model = model
        self.quantization_config = validate_quantization_config(quantization_config)
        self.goal, self.goal_params = validate_goal(goal)
        if limit is not None and not isinstance(limit, Mapping):
            raise setting_error(
                "limit", f"expected a mapping of layer name / regex / class / 'default' to limits, got {limit!r}"
            )
        self.limit = dict(limit or {})
        for key in self.limit:
            if key != "default" and key not in SEARCHABLE_LAYERS and key not in ("Activation", "ReLU"):
                check_regex(f"limit key {key!r}", key)
        if tune_filters not in TUNE_FILTERS:
            raise setting_error(
                "tune_filters",
                f"{tune_filters!r} is not supported; use 'none', 'layer' (a width per layer) or 'block' "
                "(one width per search block)",
            )
        self.tune_filters = tune_filters
        self.tune_filters_exceptions = (
            None if tune_filters_exceptions is None else check_regex("tune_filters_exceptions", tune_filters_exceptions)
        )
        if schedule_block not in SCHEDULES:
            raise setting_error(
                "schedule_block",
                f"{schedule_block!r} is not supported; use 'sequential' (blocks in the listed order) or 'cost' "
                "(most expensive block first)",
            )
        self.schedule_block = schedule_block
        if sampler not in SAMPLERS:
            raise setting_error("sampler", f"{sampler!r} is not supported; use one of {', '.join(SAMPLERS)}")
        self.sampler = sampler
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise setting_error("seed", f"must be an integer, got {seed!r}")
        self.seed = seed
        self.worker_seed = worker_seed
        self.transfer_weights = bool(transfer_weights)
        if not float(prune_margin) >= 0:
            raise setting_error(
                "prune_margin", f"must be >= 0 (accuracy points as a fraction, e.g. 0.05), got {prune_margin!r}"
            )
        self.prune_margin = float(prune_margin)
        self.prune_min_trials = int(prune_min_trials)
        self.storage_url = storage_url(storage)
        self.study_name = study_name or f"autoq-{model.name}"
        self.output_dir = Path(output_dir) if output_dir is not None else None

        self.sites, self.skipped = find_sites(model)
        self.groups = assign_groups(self.sites, normalize_patterns("groups", groups))
        for site in self.sites:
            for field in site.fields:
                site.choices[field] = limited_choices(site, field, self.quantization_config, self.limit)
        merge_group_choices(self.sites)
        self.blocks = normalize_patterns("blocks", blocks)
        self.block_labels = assign_blocks(self.sites, self.blocks)

        self.reference_model = self._reference_model()
        self.reference_cost = self.cost(self.reference_model)
        self.block_order = self._schedule()
        self._weights: dict[tuple[str, int], list[np.ndarray]] = {}
        self._fit_settings: dict[str, Any] | None = None
        self.my_trials: list[tuple[str, int]] = []  # (study, number) of the trials this process ran
        self._storage_obj: Any = None
        self._studies: dict[int, Any] = {}

    # -- set-up ----------------------------------------------------------------------------------

    def _schedule(self) -> list[int]:
        indexes = sorted({s.block for s in self.sites if s.block is not None})
        if self.schedule_block == "sequential":
            return indexes
        costs = self.block_costs()
        return sorted(indexes, key=lambda i: (-costs[i], i))

    def block_costs(self) -> dict[int, float]:
        """Each block's share of the reference model, in bits (parameters + activations of its layers)."""
        profile = bit_profile(self.reference_model)
        costs = dict.fromkeys(range(max(1, len(self.blocks))), 0.0)
        for site in self.sites:
            if site.block is not None and site.name in profile:
                costs[site.block] += profile[site.name]["parameters"] + profile[site.name]["activations"]
        return costs

    # -- models ------------------------------------------------------------------------------

    def search_space(self, block: int | None = None) -> dict[str, list[Any]]:
        """Optuna parameter name -> its choices (all blocks, or one)."""
        space: dict[str, list[Any]] = {}
        for site in self.sites:
            if block is not None and site.block != block:
                continue
            for field in site.fields:
                space[f"{site.unit}/{field}"] = list(site.choices[field])
            if self._resizable(site):
                space[self._filters_key(site)] = list(FILTER_RANGE)
        return space

    def _filters_key(self, site: Site) -> str:
        return f"{site.unit}/filters" if self.tune_filters == "layer" else f"block{site.block}/filters"

    def _resizable(self, site: Site) -> bool:
        if self.tune_filters == "none" or not site.resizable:
            return False
        return not (self.tune_filters_exceptions is not None and self.tune_filters_exceptions.search(site.name))

    def default_assignment(self) -> dict[str, Any]:
        """The stand-in for layers not searched yet: their most precise allowed quantizer, width 1."""
        out: dict[str, Any] = {}
        for name, choices in self.search_space().items():
            if name.endswith("/filters"):
                out[name] = 1.0
                continue
            field = name.rsplit("/", 1)[1]
            costs = self.quantization_config[field]
            out[name] = max(choices, key=lambda q: (costs[q], -choices.index(q)))
        return out

    def _layer_choices(self, assignment: Mapping[str, Any]) -> tuple[dict[str, dict[str, str]], dict[str, float]]:
        quantizers: dict[str, dict[str, str]] = {}
        filters: dict[str, float] = {}
        for site in self.sites:
            quantizers[site.name] = {f: str(assignment[f"{site.unit}/{f}"]) for f in site.fields}
            if self._resizable(site):
                factor = float(assignment[self._filters_key(site)])
                if factor != 1.0:
                    filters[site.name] = factor
        return quantizers, filters

    def _quantize_config(self, quantizers: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for site in self.sites:
            chosen = quantizers[site.name]
            if site.cls in SEARCHABLE_LAYERS:
                entry: dict[str, Any] = dict.fromkeys(SEARCHABLE_LAYERS[site.cls][0], chosen["kernel"])
                if "bias" in chosen:
                    entry["bias_quantizer"] = chosen["bias"]
                if "activation" in chosen:
                    entry["activation"] = chosen["activation"]
            else:
                entry = {"activation": chosen.get("activation", chosen.get("linear"))}
            config[site.name] = entry
        return config

    def build_model(
        self, quantizers: Mapping[str, Mapping[str, str]], filters: Mapping[str, float] | None = None
    ) -> keras.Model:
        """The quantized model with these per-layer quantizers and width factors, weights from the float model.

        A resized layer keeps the overlapping slice of its float weights (the
        first units/filters) as a warm start; the rest keep their initializer.
        """
        from fpgaq.quantize_model import quantize_model

        config = self._quantize_config(quantizers)
        filters = dict(filters or {})
        if not filters:
            qmodel, _ = quantize_model(self.model, config, transfer_weights=self.transfer_weights)
            return qmodel
        widths = {name: factor for name, factor in filters.items() if factor != 1.0}

        def resize(layer: keras.layers.Layer) -> keras.layers.Layer:
            cfg = layer.get_config()
            site = next((s for s in self.sites if s.name == layer.name), None)
            if layer.name in widths and site is not None and site.width_attr:
                cfg[site.width_attr] = max(1, int(cfg[site.width_attr] * widths[layer.name]))
            return layer.__class__.from_config(cfg)

        keras.utils.set_random_seed(self.seed)
        resized = keras.models.clone_model(self.model, clone_function=resize)
        qmodel, _ = quantize_model(resized, config, transfer_weights=False)
        if self.transfer_weights:
            for old, new in zip(self.model.layers, qmodel.layers):
                old_w, new_w = old.get_weights(), new.get_weights()
                if not old_w or len(old_w) != len(new_w):
                    continue
                merged = []
                for a, b in zip(old_w, new_w):
                    b = b.copy()
                    overlap = tuple(slice(0, min(p, q)) for p, q in zip(a.shape, b.shape))
                    b[overlap] = a[overlap]
                    merged.append(b)
                new.set_weights(merged)
        return qmodel

    def model_for(self, assignment: Mapping[str, Any]) -> keras.Model:
        """The (untrained) quantized model of a full parameter assignment."""
        return self.build_model(*self._layer_choices(assignment))

    def _reference_model(self) -> keras.Model:
        ref = self.goal_params["reference"]
        quantizers = {s.name: {f: ref[f] for f in s.fields} for s in self.sites}
        return self.build_model(quantizers)

    def cost(self, model: keras.Model) -> float:
        """The goal's cost of a quantized model (pJ, bits, LUTs or cycles)."""
        return goal_cost(model, self.goal, self.goal_params)

    def score(self, accuracy: float, cost: float) -> tuple[float, float]:
        """(forgiving factor, accuracy times it) of a trial."""
        p = self.goal_params
        ff = forgiving_factor(self.reference_cost, cost, p["delta_p"], p["delta_n"], p["rate"], p["stress"])
        return ff, accuracy * ff

    # -- the search ----------------------------------------------------------------------------

    def _block_study_name(self, block: int) -> str:
        return self.study_name if len(self.block_order) == 1 else f"{self.study_name}:block{block}"

    def _make_sampler(self) -> Any:
        seed = self.seed if self.storage_url is None else self.seed + os.getpid()
        if self.worker_seed is not None:
            seed = self.worker_seed
        return make_sampler(self.sampler, seed)

    def _storage(self) -> Any:
        if self._storage_obj is None:
            self._storage_obj = open_storage(self.storage_url)
        return self._storage_obj

    def study(self, block: int | None = None) -> Any:
        """The Optuna study of a block (the first scheduled one by default), created if needed."""
        block = self.block_order[0] if block is None else block
        if block in self._studies:
            return self._studies[block]
        study = open_study(self._storage(), self._block_study_name(block), self._make_sampler(), self.storage_url)
        study.set_user_attr("reference_cost", self.reference_cost)
        study.set_user_attr("goal", self.goal)
        self._studies[block] = study
        return study

    def _trials(self, block: int, states: Sequence[Any] | None = None) -> list[Any]:
        import optuna

        states = states or (optuna.trial.TrialState.COMPLETE,)
        return self.study(block).get_trials(deepcopy=False, states=tuple(states))

    def _best_assignment(self, block: int) -> dict[str, Any] | None:
        done = self._trials(block)
        if not done:
            return None
        best = max(done, key=lambda t: (t.user_attrs["score"], -t.number))
        return dict(best.user_attrs["assignment"])

    def _trials_per_block(self, n_trials: int) -> dict[int, int]:
        if len(self.block_order) == 1:
            return {self.block_order[0]: n_trials}
        costs = self.block_costs()
        total = sum(costs[b] for b in self.block_order) or 1.0
        share = {b: max(1, math.floor(n_trials * costs[b] / total)) for b in self.block_order}
        for b in sorted(self.block_order, key=lambda b: -costs[b]):
            if sum(share.values()) >= n_trials:
                break
            share[b] += 1
        return share

    def fit(
        self,
        x: Any,
        y: Any,
        validation_data: tuple[Any, Any] | None = None,
        epochs: int = 3,
        n_trials: int = 20,
        timeout: float | None = None,
        batch_size: int = 256,
        learning_rate: float = 3e-3,
        progress: bool = False,
        wait_for_workers: float = 3600.0,
    ) -> AutoQ:
        """Run the search: ``n_trials`` trials in total over the (shared) study, ``epochs`` of QAT each.

        Without ``validation_data`` a seeded 20 % of ``(x, y)`` is held out.
        Labels may be integers or one-hot.  With several workers on one
        storage, each stops when the study has ``n_trials`` finished trials;
        with blocks, a worker waits (up to ``wait_for_workers`` s) for the
        other workers' trials of a block before starting the next one.
        """
        import optuna

        from fpgaq.datasets import train_test_split

        for key, value, minimum in (("epochs", epochs, 1), ("n_trials", n_trials, 1), ("batch_size", batch_size, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise setting_error(f"fit {key}", f"must be an integer >= {minimum}, got {value!r}")
        x = np.asarray(x)
        y = self._labels(y, "y")
        if validation_data is None:
            x, y, x_val, y_val = train_test_split(x, y, test_fraction=0.2, seed=self.seed)
        else:
            if not isinstance(validation_data, (list, tuple)) or len(validation_data) != 2:
                raise setting_error("fit validation_data", "expected a pair (x_val, y_val)")
            x_val, y_val = np.asarray(validation_data[0]), self._labels(validation_data[1], "validation_data y")
        self._fit_settings = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate}
        self._data = (x, y, x_val, y_val)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        start = time.monotonic()
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_trials, desc="AutoQ", unit="trial")
        try:
            shares = self._trials_per_block(n_trials)
            fixed: dict[str, Any] = self.default_assignment()
            for block in self.block_order:
                left = None if timeout is None else max(0.0, timeout - (time.monotonic() - start))
                if left is not None and left <= 0:
                    break
                self._run_block(block, fixed, shares[block], left, bar)
                self._wait_for_block(block, wait_for_workers)
                best = self._best_assignment(block)
                if best is not None:
                    block_keys = set(self.search_space(block))
                    fixed.update({k: v for k, v in best.items() if k in block_keys})
        finally:
            if bar is not None:
                bar.close()
        return self

    @staticmethod
    def _labels(y: Any, what: str) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            return np.argmax(y, axis=1)
        if y.ndim == 2 and y.shape[1] == 1:
            return y[:, 0].astype(np.int64)
        if y.ndim != 1:
            raise setting_error(
                f"fit {what}", f"labels must be integers (n,) or one-hot (n, classes), got shape {y.shape}"
            )
        return y.astype(np.int64)

    def _run_block(self, block: int, fixed: dict[str, Any], n_trials: int, timeout: float | None, bar: Any) -> None:
        import optuna

        study = self.study(block)
        finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)

        def count() -> int:
            return len(study.get_trials(deepcopy=False, states=finished))

        remaining = n_trials - count()
        if remaining <= 0:
            return

        def stop_when_full(study: Any, trial: Any) -> None:
            if bar is not None:
                bar.update(1)
                done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
                if done:
                    best = max(done, key=lambda t: t.user_attrs["score"])
                    bar.set_postfix(
                        best_acc=f"{best.values[0]:.3f}",
                        cost_ratio=f"{self.reference_cost / best.values[1]:.2f}x",
                        block=self.block_labels[block],
                    )
            if count() >= n_trials:
                study.stop()

        study.optimize(
            lambda trial: self._objective(trial, block, fixed),
            n_trials=remaining,
            timeout=timeout,
            callbacks=[stop_when_full],
            gc_after_trial=True,
        )

    def _wait_for_block(self, block: int, patience: float) -> None:
        import optuna

        if self.storage_url is None:
            return
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            running = self._trials(block, (optuna.trial.TrialState.RUNNING,))
            if not running or len(self.block_order) == 1:
                return
            time.sleep(1.0)

    def _objective(self, trial: Any, block: int, fixed: Mapping[str, Any]) -> tuple[float, float]:
        import optuna

        from fpgaq.train import train_classifier

        assert self._fit_settings is not None
        x, y, x_val, y_val = self._data
        assignment = dict(fixed)
        for name, choices in self.search_space(block).items():
            assignment[name] = trial.suggest_categorical(name, choices)
        quantizers, filters = self._layer_choices(assignment)
        model = self.build_model(quantizers, filters)
        bits = bits_cost(model)
        trial.set_user_attr("assignment", assignment)
        trial.set_user_attr("quantizers", quantizers)
        trial.set_user_attr("filters", filters)
        trial.set_user_attr("bits", bits)
        study = trial.study
        epochs = self._fit_settings["epochs"]

        def should_prune(epoch: int, acc: float) -> bool:
            trial.set_user_attr("curve", [*watcher.curve])
            peers = [
                t.user_attrs["curve"][epoch]
                for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                if t.user_attrs.get("bits", math.inf) <= bits and len(t.user_attrs.get("curve", ())) > epoch
            ]
            if len(peers) < self.prune_min_trials:
                return False
            return acc < statistics.median(peers) - self.prune_margin

        watcher = EpochWatcher(lambda: top1_accuracy(model, x_val, y_val), should_prune, epochs)
        train_classifier(
            model,
            x,
            y,
            epochs=epochs,
            batch_size=self._fit_settings["batch_size"],
            learning_rate=self._fit_settings["learning_rate"],
            seed=self.seed,
            callbacks=[watcher],
        )
        trial.set_user_attr("curve", watcher.curve)
        self.my_trials.append((study.study_name, trial.number))
        if watcher.pruned:
            raise optuna.TrialPruned(f"accuracy {watcher.curve[-1]:.3f} after epoch {len(watcher.curve)}")
        acc = watcher.curve[-1]
        cost = self.cost(model)
        ff, score = self.score(acc, cost)
        trial.set_user_attr("forgiving_factor", ff)
        trial.set_user_attr("score", score)
        self._weights[(study.study_name, trial.number)] = model.get_weights()
        if self.output_dir is not None:
            path = self._weights_path(study.study_name, trial.number)
            path.parent.mkdir(parents=True, exist_ok=True)
            model.save_weights(os.fspath(path))
        return acc, cost

    def _weights_path(self, study_name: str, number: int) -> Path:
        assert self.output_dir is not None
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", study_name)
        return self.output_dir / "trials" / f"{safe}-{number}.weights.h5"

    # -- results ---------------------------------------------------------------------------------

    def completed(self) -> list[Candidate]:
        """Every completed trial of every block, in block order then trial number."""
        out = []
        for block in self.block_order:
            name = self._block_study_name(block)
            for t in sorted(self._trials(block), key=lambda t: t.number):
                out.append(
                    Candidate(
                        study=name,
                        number=t.number,
                        accuracy=float(t.values[0]),
                        cost=float(t.values[1]),
                        reference_cost=self.reference_cost,
                        forgiving_factor=float(t.user_attrs["forgiving_factor"]),
                        score=float(t.user_attrs["score"]),
                        quantizers=dict(t.user_attrs["quantizers"]),
                        filters=dict(t.user_attrs["filters"]),
                    )
                )
        return out

    def _trained(self, candidate: Candidate) -> keras.Model:
        """The candidate's trained model: from memory, from ``output_dir``, or trained again (same seed)."""
        from fpgaq.train import train_classifier

        model = self.build_model(candidate.quantizers, candidate.filters)
        key = (candidate.study, candidate.number)
        if key in self._weights:
            model.set_weights(self._weights[key])
        elif self.output_dir is not None and self._weights_path(*key).exists():
            model.load_weights(os.fspath(self._weights_path(*key)))
        elif self._fit_settings is not None:
            x, y, _, _ = self._data
            s = self._fit_settings
            train_classifier(model, x, y, s["epochs"], s["batch_size"], s["learning_rate"], seed=self.seed)
        else:
            raise setting_error(
                "best_model",
                f"trial {candidate.number} of {candidate.study!r} ran on another worker without output_dir; "
                "call fit() first (it retrains the model) or give every worker the same output_dir",
            )
        return model

    def best_model(self) -> keras.Model:
        """The trained model of the completed trial with the highest forgiving-factor score."""
        done = self.completed()
        if not done:
            raise setting_error("best_model", "no completed trial yet; call fit() with n_trials >= 1 first")
        best = max(done, key=lambda c: (c.score, -c.number))
        return self._trained(best)

    def best(self) -> Candidate:
        """The metrics of the trial :meth:`best_model` returns."""
        done = self.completed()
        if not done:
            raise setting_error("best", "no completed trial yet; call fit() with n_trials >= 1 first")
        return max(done, key=lambda c: (c.score, -c.number))

    def pareto_front(self, models: bool = True) -> list[Candidate]:
        """The non-dominated completed trials (accuracy up, cost down), cheapest first, with their models."""
        done = self.completed()
        mask = pareto_mask([c.accuracy for c in done], [c.cost for c in done])
        front = sorted((c for c, keep in zip(done, mask) if keep), key=lambda c: (c.cost, -c.accuracy, c.number))
        if models:
            for c in front:
                c.model = self._trained(c)
        return front

    def to_csv(self, path: str | os.PathLike[str], pareto_only: bool = False) -> Path:
        """One row per completed trial (or per Pareto point): metrics and each layer's choices."""
        return write_csv(path, self.completed(), self.goal, pareto_only)

    def plot(self, path: str | os.PathLike[str], reference_accuracy: float | None = None) -> Path:
        """Accuracy against cost (relative to the 8-bit reference), Pareto front and best trial marked."""
        done = self.completed()
        front = self.pareto_front(models=False) if done else []
        best = self.best() if done else None
        return plot_candidates(path, done, front, best, self.goal, f"AutoQ: {self.model.name}", reference_accuracy)
