"""Quantization-aware training of the bit widths against the LUT cost, keeping a Pareto front.

The loss is ``task loss + beta * cost`` with the cost in LUTs (:mod:`fpgaq.learned.cost`).
``beta`` may ramp geometrically over the epochs (``beta=(start, end)``): early epochs
learn the task at generous widths, later ones trade accuracy for LUTs.  After every
epoch the model's validation accuracy and cost are measured, and every epoch that is
not dominated (more accurate or cheaper than every other) keeps a copy of its weights:
one run gives a whole accuracy/LUT front, as HGQ's training does.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from fpgaq.autoq.costs import pareto_mask
from fpgaq.learned.cost import CostPlan, cost_plan
from fpgaq.learned.model import tighten_ranges
from fpgaq.train import accuracy

__all__ = ["Checkpoint", "TrainResult", "beta_schedule", "train_learned"]


@dataclasses.dataclass
class Checkpoint:
    """One epoch's model: its accuracy, cost (surrogate LUTs) and weights."""

    epoch: int
    beta: float
    accuracy: float
    cost: float
    weights: list[np.ndarray] = dataclasses.field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "beta": self.beta, "accuracy": self.accuracy, "cost": self.cost}


@dataclasses.dataclass
class TrainResult:
    history: list[dict[str, float]]
    front: list[Checkpoint]

    def best(self, min_accuracy: float | None = None) -> Checkpoint:
        """The cheapest front point at or above ``min_accuracy`` (default: the most accurate point)."""
        if min_accuracy is None:
            return max(self.front, key=lambda c: (c.accuracy, -c.cost))
        ok = [c for c in self.front if c.accuracy >= min_accuracy]
        if not ok:
            return max(self.front, key=lambda c: (c.accuracy, -c.cost))
        return min(ok, key=lambda c: c.cost)


class _CostAware(keras.Model):
    """Trains ``inner`` on ``loss + beta * cost``; ``inner`` keeps its own layers and weights."""

    def __init__(self, inner: keras.Model, plan: CostPlan, beta: keras.Variable) -> None:
        super().__init__(name=f"{inner.name}_cost_aware")
        self.inner = inner
        self.plan = plan
        self.beta = beta

    def call(self, x: Any, training: Any = None) -> Any:
        return self.inner(x, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        return loss + self.beta * self.plan()


def _front(points: list[Checkpoint]) -> list[Checkpoint]:
    """The points no other beats on both accuracy and cost, cheapest first."""
    keep = pareto_mask([p.accuracy for p in points], [p.cost for p in points])
    return sorted((p for p, k in zip(points, keep) if k), key=lambda c: c.cost)


class _FrontKeeper(keras.callbacks.Callback):
    def __init__(
        self,
        model: keras.Model,
        plan: CostPlan,
        beta: keras.Variable,
        betas: Sequence[float],
        val: tuple[np.ndarray, np.ndarray],
        verbose: int,
    ) -> None:
        super().__init__()
        self.inner, self.plan, self.beta_var, self.betas = model, plan, beta, betas
        self.val, self.verbose = val, verbose
        self.points: list[Checkpoint] = []
        self.history: list[dict[str, float]] = []

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.beta_var.assign(self.betas[min(epoch, len(self.betas) - 1)])

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        x, y = self.val
        acc = accuracy(self.inner, x, y)
        cost = float(keras.ops.convert_to_numpy(self.plan()))
        beta = float(self.betas[min(epoch, len(self.betas) - 1)])
        self.history.append({"epoch": epoch, "beta": beta, "accuracy": acc, "cost": cost, **(logs or {})})
        self.points.append(Checkpoint(epoch, beta, acc, cost, [w.copy() for w in self.inner.get_weights()]))
        self.points = _front(self.points)
        if self.verbose:
            print(f"epoch {epoch + 1}: beta {beta:.2e}  accuracy {acc:.4f}  cost {cost:,.0f} LUT", flush=True)


def beta_schedule(beta: float | tuple[float, float], epochs: int) -> list[float]:
    """Per-epoch betas: a constant, or a geometric ramp from ``start`` to ``end``."""
    if isinstance(beta, (int, float)):
        return [float(beta)] * epochs
    start, end = (float(b) for b in beta)
    if start <= 0 or end <= 0:
        return [start + (end - start) * k / max(epochs - 1, 1) for k in range(epochs)]
    return [start * math.exp(math.log(end / start) * k / max(epochs - 1, 1)) for k in range(epochs)]


def train_learned(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    beta: float | tuple[float, float] = 1e-5,
    epochs: int = 30,
    batch_size: int = 256,
    learning_rate: float = 3e-3,
    input_bits: float = 16.0,
    from_logits: bool | None = None,
    seed: int = 0,
    verbose: int = 0,
    tighten: bool = True,
    schedule: str = "cosine",
) -> TrainResult:
    """Train ``model`` (with learned_bits quantizers) on ``loss + beta * LUTs``; the model ends at its last epoch.

    Returns every epoch's record and the non-dominated epochs (accuracy on ``x_val``
    vs surrogate LUTs) with their weights: ``model.set_weights(result.best(...).weights)``.
    With ``tighten`` every front point's activation ranges are then cut to what they
    use on ``x`` (:func:`fpgaq.learned.tighten_ranges`), and the front is taken again;
    the model itself is left at its (tightened) last epoch.
    """
    keras.utils.set_random_seed(seed)
    if from_logits is None:
        last = model.layers[-1]
        from_logits = getattr(getattr(last, "activation", None), "__name__", "") != "softmax" and type(
            last
        ).__name__ not in ("Softmax",)
    plan = cost_plan(model, input_bits)
    beta_var = keras.Variable(0.0, trainable=False, name="beta")
    wrapper = _CostAware(model, plan, beta_var)
    steps = max(1, math.ceil(len(x) / batch_size)) * epochs
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule={schedule!r} is not supported; choose 'cosine' or 'constant'")
    rate: Any = learning_rate
    if schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps, alpha=0.1)
    wrapper.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
    )
    keeper = _FrontKeeper(model, plan, beta_var, beta_schedule(beta, epochs), (x_val, y_val), verbose)
    wrapper.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True, callbacks=[keeper])
    front = keeper.points
    if tighten:
        last = model.get_weights()
        front = [_tightened(model, plan, c, x, x_val, y_val) for c in front]
        model.set_weights(last)
        tighten_ranges(model, x)
        front = _front(front)
    return TrainResult(keeper.history, front)


def _tightened(
    model: keras.Model, plan: CostPlan, c: Checkpoint, x: np.ndarray, x_val: np.ndarray, y_val: np.ndarray
) -> Checkpoint:
    model.set_weights(c.weights)
    tighten_ranges(model, x)
    acc = accuracy(model, x_val, y_val)
    cost = float(keras.ops.convert_to_numpy(plan()))
    return Checkpoint(c.epoch, c.beta, acc, cost, [w.copy() for w in model.get_weights()])
